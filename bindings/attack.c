/* tau._attack: the fused attack kernels for scripts/tau/attack.lua. Every function takes an
 * options table; its field `name` sets the function named in error messages, so that a failure
 * inside tau.attack.pgd reads "tau.attack.pgd: ..." rather than naming this internal layer. */
#include "ltau.h"
#include "robust/attack.h"
#include <math.h>
#include <string.h>

static const char *name_of(lua_State *L, int opt, const char *def) {
    if (!lua_istable(L, opt)) return def;
    const char *n = def;
    if (lua_getfield(L, opt, "name") == LUA_TSTRING) n = lua_tostring(L, -1); /* kept alive by the table */
    lua_pop(L, 1);
    return n;
}

/* The options of these private kernels are checked too: a key the caller misspells must not be
 * dropped on the way to the core. */
static const ltau_opt step_opts[] = {
    {"name", LTAU_OPT_STRING, NULL}, {"alpha", LTAU_OPT_NUMBER | LTAU_OPT_TENSOR, NULL}, {"eps", LTAU_OPT_NUMBER, NULL},
    {"norm", LTAU_OPT_STRING, NULL}, {"lo", LTAU_OPT_NUMBER, NULL}, {"hi", LTAU_OPT_NUMBER, NULL},
    {"momentum", LTAU_OPT_NUMBER, NULL}, {"descend", LTAU_OPT_BOOLEAN, NULL}, {NULL, 0, NULL}};
static const ltau_opt norm_opts[] = {{"name", LTAU_OPT_STRING, NULL}, {"norm", LTAU_OPT_STRING, NULL}, {NULL, 0, NULL}};
static const ltau_opt check_opts[] = {{"name", LTAU_OPT_STRING, NULL}, {"lo", LTAU_OPT_NUMBER, NULL},
                                      {"hi", LTAU_OPT_NUMBER, NULL}, {"range", LTAU_OPT_BOOLEAN, NULL},
                                      {"what", LTAU_OPT_STRING, NULL}, {NULL, 0, NULL}};
static const ltau_opt margin_opts[] = {{"name", LTAU_OPT_STRING, NULL}, {"kind", LTAU_OPT_STRING, NULL},
                                       {"target", LTAU_OPT_TENSOR, NULL}, {NULL, 0, NULL}};

static void read_opts(lua_State *L, int opt, const char *fn, tau_attack_opts *o, tau_tensor **alpha, int need_eps) {
    ltau_checkopts(L, opt, fn, step_opts);
    const char *norm = ltau_optstring(L, opt, "norm", "linf", fn);
    if (tau_attack_parse_norm(fn, norm, &o->norm)) ltau_error(L, fn);
    o->eps = ltau_optnumber(L, opt, "eps", NAN, fn);
    if (need_eps && isnan(o->eps)) ltau_raisef(L, "%s: option 'eps' is required", fn);
    o->lo = ltau_optnumber(L, opt, "lo", 0.0, fn);
    o->hi = ltau_optnumber(L, opt, "hi", 1.0, fn);
    o->momentum = ltau_optnumber(L, opt, "momentum", 0.75, fn);
    o->descend = ltau_optbool(L, opt, "descend", 0, fn);
    o->alpha = NAN;
    if (alpha) {
        *alpha = NULL;
        int ty = lua_istable(L, opt) ? lua_getfield(L, opt, "alpha") : LUA_TNIL;
        if (ty == LUA_TNUMBER) o->alpha = lua_tonumber(L, -1);
        else if (ty != LUA_TNIL && !(*alpha = ltau_test(L, -1)))
            ltau_raisef(L, "%s: option 'alpha' must be a number or a tensor of per-sample step sizes, got %s", fn,
                       lua_typename(L, ty));
        else if (ty == LUA_TNIL) ltau_raisef(L, "%s: option 'alpha' (the step size) is required", fn);
        if (lua_istable(L, opt)) lua_pop(L, 1); /* the table keeps the tensor alive */
    }
}

/* tau._attack.pgd_step(x, grad, x0, {alpha, eps, norm, lo, hi, descend}) -> x_new, zero_grad_count */
static int f_pgd_step(lua_State *L) {
    const char *fn = name_of(L, 4, "tau._attack.pgd_step");
    tau_tensor *x = ltau_check(L, 1, fn), *g = ltau_check(L, 2, fn), *x0 = ltau_check(L, 3, fn), *alpha;
    tau_attack_opts o;
    read_opts(L, 4, fn, &o, &alpha, 1);
    int64_t nz = 0;
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_attack_step(x, g, x0, alpha, &o, &nz);
    ltau_done(L, slot, fn);
    lua_pushinteger(L, (lua_Integer)nz);
    return 2;
}

/* tau._attack.apgd_step(x, x_prev, grad, x0, {alpha, eps, norm, momentum, lo, hi, descend}) */
static int f_apgd_step(lua_State *L) {
    const char *fn = name_of(L, 5, "tau._attack.apgd_step");
    tau_tensor *x = ltau_check(L, 1, fn), *xp = ltau_check(L, 2, fn), *g = ltau_check(L, 3, fn);
    tau_tensor *x0 = ltau_check(L, 4, fn), *alpha;
    tau_attack_opts o;
    read_opts(L, 5, fn, &o, &alpha, 1);
    int64_t nz = 0;
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_attack_apgd_step(x, xp, g, x0, alpha, &o, &nz);
    ltau_done(L, slot, fn);
    lua_pushinteger(L, (lua_Integer)nz);
    return 2;
}

/* tau._attack.project(x, x0, {eps, norm, lo, hi}) */
static int f_project(lua_State *L) {
    const char *fn = name_of(L, 3, "tau._attack.project");
    tau_tensor *x = ltau_check(L, 1, fn), *x0 = ltau_check(L, 2, fn);
    tau_attack_opts o;
    read_opts(L, 3, fn, &o, NULL, 1);
    ltau_push(L, tau_attack_project(x, x0, &o), fn);
    return 1;
}

/* tau._attack.random_start(x0, {eps, norm, lo, hi}) */
static int f_random_start(lua_State *L) {
    const char *fn = name_of(L, 2, "tau._attack.random_start");
    tau_tensor *x0 = ltau_check(L, 1, fn);
    tau_attack_opts o;
    read_opts(L, 2, fn, &o, NULL, 1);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_attack_random_start(x0, &o);
    ltau_done(L, slot, fn);
    return 1;
}

/* tau._attack.perturbation_norm(x, x0, {norm}) -> (N) */
static int f_norms(lua_State *L) {
    const char *fn = name_of(L, 3, "tau._attack.perturbation_norm");
    tau_tensor *x = ltau_check(L, 1, fn), *x0 = ltau_check(L, 2, fn);
    tau_norm norm;
    ltau_checkopts(L, 3, fn, norm_opts);
    if (tau_attack_parse_norm(fn, ltau_optstring(L, 3, "norm", "linf", fn), &norm)) return ltau_error(L, fn);
    ltau_push(L, tau_attack_norms(x, x0, norm), fn);
    return 1;
}

/* tau._attack.check_images(x, {lo, hi, range = true, what = "images"}): raises on NaN, or on a
 * value outside [lo, hi] when range is set. */
static int f_check_images(lua_State *L) {
    const char *fn = name_of(L, 2, "tau._attack.check_images");
    tau_tensor *x = ltau_check(L, 1, fn);
    ltau_checkopts(L, 2, fn, check_opts);
    double lo = ltau_optnumber(L, 2, "lo", 0.0, fn), hi = ltau_optnumber(L, 2, "hi", 1.0, fn);
    int range = ltau_optbool(L, 2, "range", 1, fn);
    const char *what = ltau_optstring(L, 2, "what", "images", fn);
    if (tau_attack_check_images(fn, what, x, range, lo, hi)) return ltau_error(L, fn);
    return 0;
}

/* tau._attack.margin_loss(logits, labels, {kind = "cw" | "dlr", target = labels or nil}) -> (N) */
static int f_margin_loss(lua_State *L) {
    const char *fn = name_of(L, 3, "tau._attack.margin_loss");
    tau_tensor *z = ltau_check(L, 1, fn), *y = ltau_check(L, 2, fn), *t = NULL;
    ltau_checkopts(L, 3, fn, margin_opts);
    const char *kind = ltau_optstring(L, 3, "kind", "cw", fn);
    tau_margin_kind k;
    if (!strcmp(kind, "cw")) k = TAU_MARGIN_CW;
    else if (!strcmp(kind, "dlr")) k = TAU_MARGIN_DLR;
    else return ltau_raisef(L, "%s: unknown margin loss '%s' (expected 'cw' or 'dlr')", fn, kind);
    if (lua_istable(L, 3)) {
        if (lua_getfield(L, 3, "target") != LUA_TNIL && !(t = ltau_test(L, -1)))
            return ltau_raisef(L, "%s: option 'target' must be a tensor of labels, got %s", fn, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    if (z->ndim == 2) {
        y = ltau_checklabels(L, y, z->shape[0], z->shape[1], fn, "label", "sample");
        if (t) t = ltau_checklabels(L, t, z->shape[0], z->shape[1], fn, "target label", "sample");
    }
    ltau_push(L, tau_op_margin_loss(z, y, t, k), fn);
    return 1;
}

static const luaL_Reg functions[] = {
    {"pgd_step", f_pgd_step}, {"apgd_step", f_apgd_step}, {"project", f_project},
    {"random_start", f_random_start}, {"perturbation_norm", f_norms}, {"check_images", f_check_images},
    {"margin_loss", f_margin_loss}, {NULL, NULL}};

int ltau_open_attack(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    lua_setfield(L, -2, "_attack");
    return 0;
}
