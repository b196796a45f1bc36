/* tau.F: the functional neural-network ops, differentiable. */
#include "ltau.h"
#include "nn/ops_nn.h"
#include <math.h>
#include <string.h>

static int push(lua_State *L, tau_tensor *t, const char *fn) { ltau_push(L, t, fn); return 1; }

/* A tensor argument that may be nil. */
static tau_tensor *opt_tensor(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_isnoneornil(L, idx)) return NULL;
    tau_tensor *t = ltau_test(L, idx);
    if (!t) ltau_raisef(L, "%s: %s must be a tensor or nil, got %s", fn, what, luaL_typename(L, idx));
    return t;
}

/* An option that is a number or a pair {h, w}. */
static void opt_pair(lua_State *L, int idx, const char *key, int64_t def, int64_t out[2], const char *fn) {
    out[0] = out[1] = def;
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx)) ltau_raisef(L, "%s: options must be a table, got %s", fn, luaL_typename(L, idx));
    int ty = lua_getfield(L, idx, key);
    if (ty == LUA_TNUMBER) {
        out[0] = out[1] = ltau_checkint(L, -1, fn, key);
    } else if (ty == LUA_TTABLE) {
        for (int i = 0; i < 2; i++) {
            lua_geti(L, -1, i + 1);
            out[i] = ltau_checkint(L, -1, fn, key);
            lua_pop(L, 1);
        }
    } else if (ty != LUA_TNIL) {
        ltau_raisef(L, "%s: option '%s' must be a number or a pair {h, w}, got %s", fn, key, lua_typename(L, ty));
    }
    lua_pop(L, 1);
}

static int reduction_of(lua_State *L, int idx, const char *fn) {
    const char *r = ltau_optstring(L, idx, "reduction", "mean", fn);
    if (!strcmp(r, "mean")) return TAU_REDUCTION_MEAN;
    if (!strcmp(r, "sum")) return TAU_REDUCTION_SUM;
    if (!strcmp(r, "none")) return TAU_REDUCTION_NONE;
    return ltau_raisef(L, "%s: reduction must be 'mean', 'sum' or 'none', got '%s'", fn, r);
}

/* The options of each function, checked before any is read (ltau.h). */
#define PAIR (LTAU_OPT_INTEGER | LTAU_OPT_TABLE)
#define REDUCTION {"reduction", LTAU_OPT_STRING, "mean|sum|none"}
#define END {NULL, 0, NULL}
static const ltau_opt conv2d_opts[] = {{"stride", PAIR, NULL}, {"padding", PAIR, NULL}, {"dilation", PAIR, NULL},
                                       {"groups", LTAU_OPT_INTEGER, NULL}, END};
/* F.max_pool2d(x, k, {stride, ...}) or F.max_pool2d(x, {kernel = k, stride, ...}) */
static const ltau_opt pool_opts[] = {{"stride", PAIR, NULL}, {"padding", PAIR, NULL}, {"ceil_mode", LTAU_OPT_BOOLEAN, NULL},
                                     {"count_include_pad", LTAU_OPT_BOOLEAN, NULL}, END};
static const ltau_opt pool_kernel_opts[] = {{"kernel", PAIR, NULL}, {"stride", PAIR, NULL}, {"padding", PAIR, NULL},
                                            {"ceil_mode", LTAU_OPT_BOOLEAN, NULL},
                                            {"count_include_pad", LTAU_OPT_BOOLEAN, NULL}, END};
static const ltau_opt batch_norm_opts[] = {{"training", LTAU_OPT_BOOLEAN, NULL}, {"momentum", LTAU_OPT_NUMBER, NULL},
                                           {"eps", LTAU_OPT_NUMBER, NULL}, END};
static const ltau_opt layer_norm_opts[] = {{"eps", LTAU_OPT_NUMBER, NULL}, {"dims", LTAU_OPT_INTEGER, NULL}, END};
static const ltau_opt gelu_opts[] = {{"approximate", LTAU_OPT_STRING, "none|tanh"}, END};
static const ltau_opt dropout_opts[] = {{"training", LTAU_OPT_BOOLEAN, NULL}, END};
static const ltau_opt softmax_opts[] = {{"dim", LTAU_OPT_INTEGER, NULL}, {"tau", LTAU_OPT_NUMBER, NULL}, END};
static const ltau_opt cross_entropy_opts[] = {{"tau", LTAU_OPT_NUMBER, NULL}, {"label_smoothing", LTAU_OPT_NUMBER, NULL},
                                              REDUCTION, END};
static const ltau_opt reduction_opts[] = {REDUCTION, END};
static const ltau_opt attention_opts[] = {{"mask", LTAU_OPT_TENSOR, NULL}, {"causal", LTAU_OPT_BOOLEAN, NULL},
                                          {"training", LTAU_OPT_BOOLEAN, NULL}, {"dropout", LTAU_OPT_NUMBER, NULL},
                                          {"scale", LTAU_OPT_NUMBER, NULL}, END};

static int f_linear(lua_State *L) {
    const char *fn = "tau.F.linear";
    return push(L, tau_op_linear(ltau_check(L, 1, fn), ltau_check(L, 2, fn), opt_tensor(L, 3, fn, "bias")), fn);
}

static int f_conv2d(lua_State *L) {
    const char *fn = "tau.F.conv2d";
    tau_tensor *x = ltau_check(L, 1, fn), *w = ltau_check(L, 2, fn), *b = opt_tensor(L, 3, fn, "bias");
    tau_conv_opts o;
    ltau_checkopts(L, 4, fn, conv2d_opts);
    opt_pair(L, 4, "stride", 1, o.stride, fn);
    opt_pair(L, 4, "padding", 0, o.pad, fn);
    opt_pair(L, 4, "dilation", 1, o.dil, fn);
    o.groups = (int64_t)ltau_optnumber(L, 4, "groups", 1, fn);
    return push(L, tau_op_conv2d(x, w, b, &o), fn);
}

/* F.max_pool2d(x, kernel [, {stride, padding, ceil_mode}]) or F.max_pool2d(x, {kernel = k, ...}) */
static int pool(lua_State *L, int avg, const char *fn) {
    tau_tensor *x = ltau_check(L, 1, fn);
    tau_pool_opts o;
    int opt = 3;
    if (lua_istable(L, 2)) opt = 2;
    ltau_checkopts(L, opt, fn, opt == 2 ? pool_kernel_opts : pool_opts);
    if (opt == 2) opt_pair(L, 2, "kernel", 0, o.kernel, fn);
    else if (lua_type(L, 2) == LUA_TNUMBER) o.kernel[0] = o.kernel[1] = ltau_checkint(L, 2, fn, "kernel size");
    else return ltau_raisef(L, "%s: kernel size must be a number or an options table, got %s", fn, luaL_typename(L, 2));
    if (o.kernel[0] < 1 || o.kernel[1] < 1) return ltau_raisef(L, "%s: kernel size must be positive", fn);
    opt_pair(L, opt, "stride", 0, o.stride, fn);
    if (o.stride[0] == 0) o.stride[0] = o.kernel[0];
    if (o.stride[1] == 0) o.stride[1] = o.kernel[1];
    opt_pair(L, opt, "padding", 0, o.pad, fn);
    o.ceil_mode = ltau_optbool(L, opt, "ceil_mode", 0, fn);
    o.count_include_pad = ltau_optbool(L, opt, "count_include_pad", 1, fn);
    return push(L, avg ? tau_op_avg_pool2d(x, &o) : tau_op_max_pool2d(x, &o), fn);
}

static int f_max_pool2d(lua_State *L) { return pool(L, 0, "tau.F.max_pool2d"); }
static int f_avg_pool2d(lua_State *L) { return pool(L, 1, "tau.F.avg_pool2d"); }

static int f_adaptive_avg_pool2d(lua_State *L) {
    const char *fn = "tau.F.adaptive_avg_pool2d";
    tau_tensor *x = ltau_check(L, 1, fn);
    int64_t s[2];
    if (lua_istable(L, 2)) {
        for (int i = 0; i < 2; i++) { lua_geti(L, 2, i + 1); s[i] = ltau_checkint(L, -1, fn, "output size"); lua_pop(L, 1); }
    } else s[0] = s[1] = ltau_checkint(L, 2, fn, "output size");
    return push(L, tau_op_adaptive_avg_pool2d(x, s[0], s[1]), fn);
}

static int f_batch_norm(lua_State *L) {
    const char *fn = "tau.F.batch_norm";
    tau_tensor *x = ltau_check(L, 1, fn);
    tau_tensor *rm = opt_tensor(L, 2, fn, "running_mean"), *rv = opt_tensor(L, 3, fn, "running_var");
    tau_tensor *g = opt_tensor(L, 4, fn, "weight"), *b = opt_tensor(L, 5, fn, "bias");
    ltau_checkopts(L, 6, fn, batch_norm_opts);
    int training = ltau_optbool(L, 6, "training", 0, fn);
    double momentum = ltau_optnumber(L, 6, "momentum", 0.1, fn), eps = ltau_optnumber(L, 6, "eps", 1e-5, fn);
    if (training && ((rm && tau_check_inplace(fn, rm)) || (rv && tau_check_inplace(fn, rv)))) return ltau_error(L, fn);
    return push(L, tau_op_batch_norm(x, rm, rv, g, b, training, momentum, eps), fn);
}

/* F.layer_norm(x, weight, bias, {eps, dims}): normalises over the last `dims` dimensions
 * (the weight's number of dimensions, or 1). */
static int f_layer_norm(lua_State *L) {
    const char *fn = "tau.F.layer_norm";
    tau_tensor *x = ltau_check(L, 1, fn), *g = opt_tensor(L, 2, fn, "weight"), *b = opt_tensor(L, 3, fn, "bias");
    ltau_checkopts(L, 4, fn, layer_norm_opts);
    int dims = (int)ltau_optnumber(L, 4, "dims", g ? g->ndim : 1, fn);
    return push(L, tau_op_layer_norm(x, dims, g, b, ltau_optnumber(L, 4, "eps", 1e-5, fn)), fn);
}

static int f_relu(lua_State *L) { const char *fn = "tau.F.relu"; return push(L, tau_op_unary(TAU_RELU, ltau_check(L, 1, fn), 0, 0), fn); }
static int f_sigmoid(lua_State *L) { const char *fn = "tau.F.sigmoid"; return push(L, tau_op_unary(TAU_SIGMOID, ltau_check(L, 1, fn), 0, 0), fn); }
static int f_tanh(lua_State *L) { const char *fn = "tau.F.tanh"; return push(L, tau_op_unary(TAU_TANH, ltau_check(L, 1, fn), 0, 0), fn); }

static int f_gelu(lua_State *L) {
    const char *fn = "tau.F.gelu";
    tau_tensor *x = ltau_check(L, 1, fn);
    ltau_checkopts(L, 2, fn, gelu_opts);
    const char *a = ltau_optstring(L, 2, "approximate", "none", fn);
    return push(L, tau_op_gelu(x, !strcmp(a, "tanh")), fn);
}

static int f_dropout(lua_State *L) {
    const char *fn = "tau.F.dropout";
    tau_tensor *x = ltau_check(L, 1, fn);
    double p = luaL_optnumber(L, 2, 0.5);
    ltau_checkopts(L, 3, fn, dropout_opts);
    return push(L, tau_op_dropout(x, p, ltau_optbool(L, 3, "training", 1, fn)), fn);
}

static int softmax(lua_State *L, int log, const char *fn) {
    tau_tensor *z = ltau_check(L, 1, fn);
    int dim = z->ndim - 1;
    ltau_checkopts(L, 2, fn, softmax_opts);
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "dim");
        if (!lua_isnil(L, -1)) dim = ltau_checkdim(L, -1, z->ndim, fn);
        lua_pop(L, 1);
    }
    double tau = ltau_optnumber(L, 2, "tau", 1.0, fn);
    return push(L, tau_op_softmax(z, dim, tau, log), fn);
}

static int f_softmax(lua_State *L) { return softmax(L, 0, "tau.F.softmax"); }
static int f_log_softmax(lua_State *L) { return softmax(L, 1, "tau.F.log_softmax"); }

/* The 0-based labels for a loss on (N, K) scores; other shapes are left to the op to reject. */
static tau_tensor *labels0(lua_State *L, const tau_tensor *z, tau_tensor *y, const char *fn) {
    if (z->ndim != 2) return y;
    return ltau_checklabels(L, y, z->shape[0], z->shape[1], fn, "label", "row");
}

static int f_cross_entropy(lua_State *L) {
    const char *fn = "tau.F.cross_entropy";
    tau_tensor *z = ltau_check(L, 1, fn), *y = ltau_check(L, 2, fn);
    ltau_checkopts(L, 3, fn, cross_entropy_opts);
    double tau = ltau_optnumber(L, 3, "tau", 1.0, fn), ls = ltau_optnumber(L, 3, "label_smoothing", 0.0, fn);
    int reduction = reduction_of(L, 3, fn);
    return push(L, tau_op_cross_entropy(z, labels0(L, z, y, fn), tau, ls, reduction), fn);
}

static int f_nll_loss(lua_State *L) {
    const char *fn = "tau.F.nll_loss";
    tau_tensor *logp = ltau_check(L, 1, fn), *y = ltau_check(L, 2, fn);
    ltau_checkopts(L, 3, fn, reduction_opts);
    int reduction = reduction_of(L, 3, fn);
    return push(L, tau_op_nll_loss(logp, labels0(L, logp, y, fn), reduction), fn);
}

static int f_mse_loss(lua_State *L) {
    const char *fn = "tau.F.mse_loss";
    ltau_checkopts(L, 3, fn, reduction_opts);
    return push(L, tau_op_mse_loss(ltau_check(L, 1, fn), ltau_check(L, 2, fn), reduction_of(L, 3, fn)), fn);
}

static int f_attention(lua_State *L) {
    const char *fn = "tau.F.attention";
    tau_tensor *q = ltau_check(L, 1, fn), *k = ltau_check(L, 2, fn), *v = ltau_check(L, 3, fn), *mask = NULL;
    ltau_checkopts(L, 4, fn, attention_opts);
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "mask");
        mask = opt_tensor(L, -1, fn, "mask");
        lua_pop(L, 1); /* the options table keeps it alive */
    }
    int causal = ltau_optbool(L, 4, "causal", 0, fn), training = ltau_optbool(L, 4, "training", 1, fn);
    double dropout = ltau_optnumber(L, 4, "dropout", 0, fn), scale = ltau_optnumber(L, 4, "scale", 0, fn);
    return push(L, tau_op_attention(q, k, v, mask, causal, training ? dropout : 0, scale), fn);
}

static int f_pad(lua_State *L) {
    const char *fn = "tau.F.pad";
    tau_tensor *x = ltau_check(L, 1, fn);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)luaL_len(L, 2);
    if (n % 2 || n > 2 * TAU_MAXDIM) return ltau_raisef(L, "%s: padding must be an even-length list (before, after, ...)", fn);
    int64_t pads[2 * TAU_MAXDIM];
    for (int i = 0; i < n; i++) { lua_geti(L, 2, i + 1); pads[i] = ltau_checkint(L, -1, fn, "padding"); lua_pop(L, 1); }
    double value = luaL_optnumber(L, 3, 0);
    return push(L, tau_op_pad(x, n / 2, pads, value), fn);
}

static int f_flatten(lua_State *L) {
    /* F.flatten(x [, start_dim = 2]): keeps the batch dimension by default */
    const char *fn = "tau.F.flatten";
    tau_tensor *x = ltau_check(L, 1, fn);
    int s = lua_isnoneornil(L, 2) ? (x->ndim > 1 ? 1 : 0) : ltau_checkdim(L, 2, x->ndim, fn);
    int64_t shape[TAU_MAXDIM];
    int nd = 0;
    for (int i = 0; i < s; i++) shape[nd++] = x->shape[i];
    int64_t p = 1;
    for (int i = s; i < x->ndim; i++) p *= x->shape[i];
    shape[nd++] = p;
    return push(L, tau_op_reshape(x, nd, shape), fn);
}

static const luaL_Reg functions[] = {
    {"linear", f_linear}, {"conv2d", f_conv2d}, {"max_pool2d", f_max_pool2d}, {"avg_pool2d", f_avg_pool2d},
    {"adaptive_avg_pool2d", f_adaptive_avg_pool2d}, {"batch_norm", f_batch_norm}, {"layer_norm", f_layer_norm},
    {"relu", f_relu}, {"gelu", f_gelu}, {"sigmoid", f_sigmoid}, {"tanh", f_tanh}, {"dropout", f_dropout},
    {"softmax", f_softmax}, {"log_softmax", f_log_softmax}, {"cross_entropy", f_cross_entropy},
    {"nll_loss", f_nll_loss}, {"mse_loss", f_mse_loss}, {"attention", f_attention}, {"pad", f_pad},
    {"flatten", f_flatten}, {NULL, NULL}};

int ltau_open_nn(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    lua_setfield(L, -2, "F");
    static const struct { const char *fn; const ltau_opt *spec; } specs[] = {
        {"tau.F.conv2d", conv2d_opts}, {"tau.F.max_pool2d", pool_opts}, {"tau.F.avg_pool2d", pool_opts},
        {"tau.F.batch_norm", batch_norm_opts}, {"tau.F.layer_norm", layer_norm_opts}, {"tau.F.gelu", gelu_opts},
        {"tau.F.dropout", dropout_opts}, {"tau.F.softmax", softmax_opts}, {"tau.F.log_softmax", softmax_opts},
        {"tau.F.cross_entropy", cross_entropy_opts}, {"tau.F.nll_loss", reduction_opts},
        {"tau.F.mse_loss", reduction_opts}, {"tau.F.attention", attention_opts}};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) ltau_declare_opts(L, specs[i].fn, specs[i].spec);
    return 0;
}
