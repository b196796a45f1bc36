/* Autograd from Lua: requires_grad, backward, tau.grad, no_grad, detach, graph_dot. */
#include "ltau.h"
#include <stdlib.h>
#include <string.h>

static int m_requires_grad(lua_State *L) {
    const char *fn = "Tensor:requires_grad";
    tau_tensor *t = ltau_check(L, 1, fn);
    int on = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    if (t->dtype != TAU_F32) return ltau_raisef(L, "%s: only float32 tensors can require grad", fn);
    if (!on && t->grad_fn) return ltau_raisef(L, "%s: cannot turn off requires_grad of a non-leaf tensor; use detach()", fn);
    t->requires_grad = on;
    lua_settop(L, 1);
    return 1;
}

static int m_detach(lua_State *L) {
    tau_tensor *t = ltau_check(L, 1, "Tensor:detach");
    ltau_push(L, tau_alias(t), "Tensor:detach");
    return 1;
}

static int m_zero_grad(lua_State *L) {
    tau_tensor *t = ltau_check(L, 1, "Tensor:zero_grad");
    tau_release(t->grad);
    t->grad = NULL;
    return 0;
}

static const ltau_opt backward_opts[] = {{"retain_graph", LTAU_OPT_BOOLEAN, NULL}, {NULL, 0, NULL}};
static const ltau_opt grad_opts[] = {{"grad", LTAU_OPT_TENSOR, NULL}, {"retain_graph", LTAU_OPT_BOOLEAN, NULL},
                                     {NULL, 0, NULL}};

/* t:backward([gradient], [{retain_graph = bool}]) */
static int m_backward(lua_State *L) {
    const char *fn = "Tensor:backward";
    tau_tensor *t = ltau_check(L, 1, fn);
    tau_tensor *seed = ltau_test(L, 2);
    int opt = seed ? 3 : 2;
    if (!seed && !lua_isnoneornil(L, 2) && !lua_istable(L, 2))
        return ltau_raisef(L, "%s: argument 2 must be a gradient tensor or an options table, got %s", fn, luaL_typename(L, 2));
    ltau_checkopts(L, opt, fn, backward_opts);
    int retain = ltau_optbool(L, opt, "retain_graph", 0, fn);
    tau_interrupted = 0;
    if (tau_backward(t, seed, retain)) return ltau_error(L, fn);
    return 0;
}

/* tau.grad(output, {inputs...} or input, [{grad = seed, retain_graph = bool}]) */
static int f_grad(lua_State *L) {
    const char *fn = "tau.grad";
    lua_settop(L, 3);
    tau_tensor *out = ltau_check(L, 1, fn);
    int single = ltau_test(L, 2) != NULL;
    int n = 1;
    if (!single) {
        if (!lua_istable(L, 2)) return ltau_raisef(L, "%s: argument 2 must be a tensor or a list of tensors, got %s", fn, luaL_typename(L, 2));
        n = (int)luaL_len(L, 2);
        if (n < 1 || n > 4096) return ltau_raisef(L, "%s: expected 1 to 4096 input tensors, got %d", fn, n);
    }
    tau_tensor **ins = lua_newuserdatauv(L, sizeof(tau_tensor *) * 2 * (size_t)n, 0);
    tau_tensor **res = ins + n;
    for (int i = 0; i < n; i++) {
        if (single) ins[i] = ltau_test(L, 2);
        else {
            lua_geti(L, 2, i + 1);
            ins[i] = ltau_test(L, -1);
            if (!ins[i]) return ltau_raisef(L, "%s: input %d is not a tensor (%s)", fn, i + 1, luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    }
    tau_tensor *seed = NULL;
    ltau_checkopts(L, 3, fn, grad_opts);
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "grad");
        seed = ltau_test(L, -1);
        lua_pop(L, 1);
    }
    int retain = ltau_optbool(L, 3, "retain_graph", 0, fn);
    tau_interrupted = 0;
    if (tau_grad(out, seed, ins, n, res, retain)) return ltau_error(L, fn);
    /* results become userdata one by one; a failure to push releases the rest */
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        if (res[i]) {
            tau_tensor **slot = ltau_newslot(L);
            *slot = res[i];
            res[i] = NULL;
        } else {
            /* an input the output does not depend on has a zero gradient */
            tau_tensor **slot = ltau_newslot(L);
            *slot = tau_zeros(TAU_F32, ins[i]->ndim, ins[i]->shape);
            ltau_done(L, slot, fn);
        }
        lua_rawseti(L, -2, i + 1);
    }
    if (single) lua_geti(L, -1, 1);
    return 1;
}

static int restore_grad(lua_State *L, int status, lua_KContext ctx) {
    tau_grad_enabled = (int)ctx;
    if (status != LUA_OK && status != LUA_YIELD) return lua_error(L);
    return lua_gettop(L) - 1;
}

/* tau.no_grad(fn, ...): runs fn with gradient recording off, restoring the mode after. */
static int f_no_grad(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    int prev = tau_grad_enabled;
    tau_grad_enabled = 0;
    lua_pushvalue(L, 1);
    lua_insert(L, 2);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, prev, restore_grad);
    return restore_grad(L, status, prev);
}

static int f_set_grad_enabled(lua_State *L) {
    int prev = tau_grad_enabled;
    tau_grad_enabled = lua_toboolean(L, 1);
    lua_pushboolean(L, prev);
    return 1;
}

static int f_is_grad_enabled(lua_State *L) { lua_pushboolean(L, tau_grad_enabled); return 1; }

static int f_graph_dot(lua_State *L) {
    tau_tensor *t = ltau_check(L, 1, "tau.graph_dot");
    char *s = tau_graph_dot(t);
    if (!s) return ltau_raisef(L, "tau.graph_dot: out of memory");
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static const luaL_Reg methods[] = {
    {"requires_grad", m_requires_grad}, {"requires_grad_", m_requires_grad}, {"detach", m_detach},
    {"backward", m_backward}, {"zero_grad", m_zero_grad}, {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"grad", f_grad}, {"no_grad", f_no_grad}, {"set_grad_enabled", f_set_grad_enabled},
    {"is_grad_enabled", f_is_grad_enabled}, {"graph_dot", f_graph_dot}, {NULL, NULL}};

int ltau_open_autograd(lua_State *L) {
    luaL_getmetatable(L, LTAU_TENSOR);
    lua_getfield(L, -1, "__methods");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
    luaL_setfuncs(L, functions, 0);
    ltau_declare_opts(L, "Tensor:backward", backward_opts);
    ltau_declare_opts(L, "tau.grad", grad_opts);
    return 0;
}
