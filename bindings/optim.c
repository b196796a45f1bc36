/* Fused optimiser kernels for scripts/tau/optim.lua: tau._sgd_step, tau._adam_step,
 * tau._clip_grad_norm. They read a parameter's gradient straight from the tensor, so a step
 * makes no Lua objects and no tensor memory in the steady state. */
#include "ltau.h"
#include "tensor/autograd.h"
#include "nn/optim.h"
#include <math.h>

/* A contiguous float32 tensor the kernels may write (parameters and optimiser state). */
static float *check_state(lua_State *L, int idx, const tau_tensor *like, const char *fn, const char *what) {
    tau_tensor *t = ltau_test(L, idx);
    if (!t) ltau_raisef(L, "%s: %s must be a tensor, got %s", fn, what, luaL_typename(L, idx));
    char a[160], b[160];
    if (t->dtype != TAU_F32) ltau_raisef(L, "%s: %s must be float32, got %s", fn, what, tau_dtype_name(t->dtype));
    if (!tau_is_contiguous(t)) ltau_raisef(L, "%s: %s must be contiguous", fn, what);
    if (like && !tau_same_shape(t, like))
        ltau_raisef(L, "%s: %s has size %s, the parameter %s", fn, what, tau_shape_str(t, a, sizeof a),
                   tau_shape_str(like, b, sizeof b));
    tau_bump_version(t);
    return tau_f32(t);
}

/* The parameter at idx and its gradient as a contiguous array, or NULL when it has none. A
 * non-contiguous gradient (only when set by hand) is copied, the copy kept on the stack. */
static const float *param_grad(lua_State *L, int idx, tau_tensor **param, const char *fn) {
    tau_tensor *p = ltau_check(L, idx, fn);
    *param = p;
    if (p->dtype != TAU_F32) ltau_raisef(L, "%s: parameter must be float32, got %s", fn, tau_dtype_name(p->dtype));
    if (!tau_is_contiguous(p)) ltau_raisef(L, "%s: parameter must be contiguous", fn);
    tau_tensor *g = p->grad;
    if (!g) return NULL;
    if (!tau_same_shape(g, p)) {
        char a[160], b[160];
        ltau_raisef(L, "%s: gradient has size %s, the parameter %s", fn, tau_shape_str(g, a, sizeof a),
                   tau_shape_str(p, b, sizeof b));
    }
    if (g->dtype == TAU_F32 && tau_is_contiguous(g)) return tau_f32(g);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_to_dtype(g, TAU_F32);
    ltau_done(L, slot, fn);
    tau_tensor *c = tau_contiguous(*slot);
    if (!c) ltau_error(L, fn);
    tau_release(*slot);
    *slot = c;
    return tau_f32(c);
}

/* tau._sgd_step(p, buf | nil, first, lr, momentum, dampening, weight_decay, nesterov) -> stepped */
static int f_sgd_step(lua_State *L) {
    const char *fn = "tau._sgd_step";
    tau_tensor *p;
    const float *g = param_grad(L, 1, &p, fn);
    if (!g) { lua_pushboolean(L, 0); return 1; }
    tau_sgd_opts o = {luaL_checknumber(L, 4), luaL_checknumber(L, 5), luaL_checknumber(L, 6),
                      luaL_checknumber(L, 7), lua_toboolean(L, 8)};
    float *buf = lua_isnil(L, 2) ? NULL : check_state(L, 2, p, fn, "momentum buffer");
    float *pd = check_state(L, 1, NULL, fn, "parameter");
    if (tau_sgd_step(pd, g, buf, tau_numel(p), &o, lua_toboolean(L, 3))) return ltau_error(L, fn);
    lua_pushboolean(L, 1);
    return 1;
}

/* tau._adam_step(p, m, v, vmax | nil, step, lr, beta1, beta2, eps, weight_decay, decoupled)
 * -> stepped; amsgrad is on when vmax is given. */
static int f_adam_step(lua_State *L) {
    const char *fn = "tau._adam_step";
    tau_tensor *p;
    const float *g = param_grad(L, 1, &p, fn);
    if (!g) { lua_pushboolean(L, 0); return 1; }
    int64_t step = ltau_checkint(L, 5, fn, "step");
    tau_adam_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                       luaL_checknumber(L, 9), luaL_checknumber(L, 10), lua_toboolean(L, 11),
                       !lua_isnil(L, 4)};
    float *m = check_state(L, 2, p, fn, "first moment");
    float *v = check_state(L, 3, p, fn, "second moment");
    float *vmax = o.amsgrad ? check_state(L, 4, p, fn, "maximum second moment") : NULL;
    float *pd = check_state(L, 1, NULL, fn, "parameter");
    if (tau_adam_step(pd, g, m, v, vmax, tau_numel(p), step, &o)) return ltau_error(L, fn);
    lua_pushboolean(L, 1);
    return 1;
}

/* tau._clip_grad_norm(params, max_norm [, norm_type = 2]) -> total norm of the gradients
 * (those present), scaled in place by max_norm / (norm + 1e-6) when the norm exceeds it. */
static int f_clip_grad_norm(lua_State *L) {
    const char *fn = "tau._clip_grad_norm";
    luaL_checktype(L, 1, LUA_TTABLE);
    double max_norm = luaL_checknumber(L, 2), q = luaL_optnumber(L, 3, 2);
    if (!(q > 0)) return ltau_raisef(L, "%s: norm type must be positive, got %f", fn, q);
    lua_Integer n = luaL_len(L, 1);
    double acc = 0;
    for (int pass = 0; pass < 2; pass++) {
        double coef = 1;
        if (pass == 1) {
            double total = isinf(q) ? acc : q == 2 ? sqrt(acc) : pow(acc, 1 / q);
            lua_pushnumber(L, total);
            coef = max_norm / (total + 1e-6);
            if (!(coef < 1)) return 1; /* NaN norms are reported, not spread into the gradients */
        }
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, 1, i);
            tau_tensor *p = ltau_test(L, -1);
            if (!p) return ltau_raisef(L, "%s: element %d of the list is not a tensor (%s)", fn, (int)i, luaL_typename(L, -1));
            lua_pop(L, 1); /* the list keeps it alive */
            tau_tensor *g = p->grad;
            if (!g) continue;
            if (g->dtype != TAU_F32 || !tau_is_contiguous(g)) {
                tau_tensor *c = tau_to_dtype(g, TAU_F32), *cc = c ? tau_contiguous(c) : NULL;
                tau_release(c);
                if (!cc) return ltau_error(L, fn);
                tau_release(p->grad);
                p->grad = g = cc;
            }
            int64_t k = tau_numel(g);
            if (pass == 0) {
                if (isinf(q)) { double m = tau_absmax(tau_f32(g), k); if (m > acc || isnan(m)) acc = m; }
                else acc += q == 2 ? tau_sumsq(tau_f32(g), k) : tau_sumpow(tau_f32(g), k, q);
            } else {
                tau_scale_(tau_f32(g), k, (float)coef);
                tau_bump_version(g);
            }
        }
    }
    return 1;
}

static const luaL_Reg functions[] = {
    {"_sgd_step", f_sgd_step}, {"_adam_step", f_adam_step}, {"_clip_grad_norm", f_clip_grad_norm}, {NULL, NULL}};

int ltau_open_optim(lua_State *L) {
    luaL_setfuncs(L, functions, 0);
    return 0;
}
