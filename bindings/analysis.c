/* tau._analysis: t-SNE and embedding separation measures (core/tsne.h) for
 * scripts/tau/analysis.lua, which checks the option tables and passes values through in order;
 * values and tensors are checked here or in the core, with messages naming the public function.
 *
 *   tsne(x, dims, perplexity, iters, seed, theta, exact, learning_rate, exaggeration,
 *        exaggeration_iters)                      -> (n, dims) float32; exact: -1 auto, 0, 1
 *   knn_accuracy(x, labels, k)                    -> number
 *   silhouette(x, labels)                         -> number
 */
#include "ltau.h"
#include "analysis/tsne.h"
#include <math.h>

#define FN_TSNE "tau.analysis.tsne"
#define FN_KNN "tau.analysis.knn_accuracy"
#define FN_SIL "tau.analysis.silhouette"

/* Argument idx as a contiguous float32 (n, d) tensor; a copy, when needed, is kept on the stack. */
static tau_tensor *check_points(lua_State *L, int idx, const char *fn, const char *what) {
    tau_tensor *t = ltau_test(L, idx);
    if (!t) return ltau_raisef(L, "%s: %s must be a float32 tensor (N, D), got %s", fn, what, luaL_typename(L, idx)), NULL;
    char shp[160];
    if (t->dtype != TAU_F32 || t->ndim != 2)
        return ltau_raisef(L, "%s: %s must be a float32 tensor (N, D), got %s %s", fn, what,
                           tau_dtype_name(t->dtype), tau_shape_str(t, shp, sizeof shp)), NULL;
    if (t->shape[0] < 1 || t->shape[1] < 1)
        return ltau_raisef(L, "%s: %s is empty, size %s", fn, what, tau_shape_str(t, shp, sizeof shp)), NULL;
    if (tau_is_contiguous(t)) return t;
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_contiguous(t);
    ltau_done(L, slot, fn);
    return *slot;
}

/* Labels 1..C as a 1-D int32 tensor of length n, returned 0-based in a buffer the stack owns;
 * *classes is the largest label. */
static int32_t *check_labels(lua_State *L, int idx, int64_t n, int *classes, const char *fn) {
    tau_tensor *t = ltau_test(L, idx);
    char shp[160];
    if (!t || t->dtype != TAU_I32 || t->ndim != 1)
        return ltau_raisef(L, "%s: labels must be a 1-D int32 tensor of classes 1..C, got %s%s%s", fn,
                           t ? tau_dtype_name(t->dtype) : luaL_typename(L, idx), t ? " " : "",
                           t ? tau_shape_str(t, shp, sizeof shp) : ""), NULL;
    if (t->shape[0] != n)
        return ltau_raisef(L, "%s: %lld labels for %lld points", fn, (long long)t->shape[0], (long long)n), NULL;
    int32_t *out = lua_newuserdatauv(L, (size_t)n * sizeof(int32_t), 0);
    const int32_t *src = tau_i32(t);
    int32_t top = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t v = src[i * t->stride[0]];
        if (v < 1) return ltau_raisef(L, "%s: label %d at position %lld is out of range (labels are 1..C)", fn, v, (long long)i + 1), NULL;
        out[i] = v - 1;
        if (v > top) top = v;
    }
    *classes = top;
    return out;
}

static double check_num(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        return ltau_raisef(L, "%s: option '%s' must be a number, got %s", fn, what, luaL_typename(L, idx)), 0;
    double v = lua_tonumber(L, idx);
    if (isnan(v)) return ltau_raisef(L, "%s: option '%s' is NaN", fn, what), 0;
    return v;
}

static int check_integer(lua_State *L, int idx, const char *fn, const char *what, lua_Integer lo, lua_Integer hi) {
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (lua_type(L, idx) != LUA_TNUMBER || !isint || v < lo || v > hi)
        return ltau_raisef(L, "%s: option '%s' must be an integer in %lld..%lld, got %s", fn, what, (long long)lo,
                           (long long)hi, luaL_tolstring(L, idx, NULL));
    return (int)v;
}

static int f_tsne(lua_State *L) {
    lua_settop(L, 10);
    tau_tensor *x = check_points(L, 1, FN_TSNE, "x");
    tau_tsne_opts o;
    tau_tsne_defaults(&o);
    o.dims = check_integer(L, 2, FN_TSNE, "dims", 1, 64);
    o.perplexity = check_num(L, 3, FN_TSNE, "perplexity");
    o.iters = check_integer(L, 4, FN_TSNE, "iters", 1, 1000000);
    int isint = 0;
    lua_Integer seed = lua_tointegerx(L, 5, &isint);
    if (!isint) return ltau_raisef(L, "%s: option 'seed' must be an integer, got %s", FN_TSNE, luaL_tolstring(L, 5, NULL));
    o.seed = (uint64_t)seed;
    o.theta = check_num(L, 6, FN_TSNE, "theta");
    o.exact = check_integer(L, 7, FN_TSNE, "exact", -1, 1);
    o.learning_rate = check_num(L, 8, FN_TSNE, "learning_rate");
    o.exaggeration = check_num(L, 9, FN_TSNE, "exaggeration");
    o.exaggeration_iters = check_integer(L, 10, FN_TSNE, "exaggeration_iters", -1, 1000000);
    int64_t shape[2] = {x->shape[0], o.dims};
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_empty(TAU_F32, 2, shape);
    ltau_done(L, slot, FN_TSNE);
    tau_interrupted = 0;
    if (tau_tsne(tau_f32(x), x->shape[0], x->shape[1], &o, tau_f32(*slot)) != TAU_OK) return ltau_error(L, FN_TSNE);
    return 1;
}

static int f_knn_accuracy(lua_State *L) {
    lua_settop(L, 3);
    tau_tensor *x = check_points(L, 1, FN_KNN, "emb");
    int classes = 0;
    int32_t *labels = check_labels(L, 2, x->shape[0], &classes, FN_KNN);
    int k = check_integer(L, 3, FN_KNN, "k", 1, 1 << 30);
    double acc = 0;
    if (tau_knn_accuracy(tau_f32(x), labels, x->shape[0], x->shape[1], classes, k, &acc) != TAU_OK)
        return ltau_error(L, FN_KNN);
    lua_pushnumber(L, acc);
    return 1;
}

static int f_silhouette(lua_State *L) {
    lua_settop(L, 2);
    tau_tensor *x = check_points(L, 1, FN_SIL, "emb");
    int classes = 0;
    int32_t *labels = check_labels(L, 2, x->shape[0], &classes, FN_SIL);
    double s = 0;
    if (tau_silhouette(tau_f32(x), labels, x->shape[0], x->shape[1], classes, &s) != TAU_OK)
        return ltau_error(L, FN_SIL);
    lua_pushnumber(L, s);
    return 1;
}

static const luaL_Reg functions[] = {
    {"tsne", f_tsne}, {"knn_accuracy", f_knn_accuracy}, {"silhouette", f_silhouette}, {NULL, NULL}};

int ltau_open_analysis(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    lua_setfield(L, -2, "_analysis");
    return 0;
}
