/* Argument checking and the tensor userdata life cycle, shared by the binding files. */
#include "ltau.h"
#include "base/alloc.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

/* The collector does not see tensor memory, so each new tensor steps it in proportion, and a
 * full collection runs when live tensor bytes double since the last one. */
static size_t gc_last_live, gc_threshold = (size_t)256 << 20;

static void gc_pressure(lua_State *L) {
    size_t live = tau_live_bytes();
    if (live > gc_last_live) lua_gc(L, LUA_GCSTEP, (int)((live - gc_last_live) >> 10 > 1000000 ? 1000000 : (live - gc_last_live) >> 10));
    gc_last_live = tau_live_bytes();
    if (gc_last_live > gc_threshold) {
        lua_gc(L, LUA_GCCOLLECT);
        gc_last_live = tau_live_bytes();
        gc_threshold = gc_last_live * 2 > ((size_t)256 << 20) ? gc_last_live * 2 : ((size_t)256 << 20);
    }
}

void ltau_make_room(lua_State *L, const tau_tensor *t) {
    if (t && tau_numel(t) >= ((int64_t)1 << 18)) lua_gc(L, LUA_GCSTEP, 0);
}

tau_tensor **ltau_newslot(lua_State *L) {
    tau_tensor **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, LTAU_TENSOR);
    return slot;
}

int ltau_raisef(lua_State *L, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ltau_where(L);
    lua_pushstring(L, buf);
    lua_concat(L, 2);
    return lua_error(L);
}

int ltau_error(lua_State *L, const char *fn) {
    const char *msg = tau_errmsg();
    /* the core names its own operation; the binding's name is the one the user called */
    const char *p = msg;
    size_t fl = strlen(fn);
    if (!strncmp(msg, fn, fl) && msg[fl] == ':' && msg[fl + 1] == ' ') p = msg + fl;
    else while (*p && (isalnum((unsigned char)*p) || *p == '_')) p++;
    if (p != msg && p[0] == ':' && p[1] == ' ') msg = p + 2;
    if (tau_interrupted) tau_interrupted = 0;
    return ltau_raisef(L, "%s: %s", fn, msg);
}

void ltau_done(lua_State *L, tau_tensor **slot, const char *fn) {
    if (!*slot) ltau_error(L, fn);
    gc_pressure(L);
}

void ltau_push(lua_State *L, tau_tensor *t, const char *fn) {
    if (!t) ltau_error(L, fn);
    tau_tensor **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = t;
    luaL_setmetatable(L, LTAU_TENSOR);
    gc_pressure(L);
}

tau_tensor *ltau_test(lua_State *L, int idx) {
    tau_tensor **slot = luaL_testudata(L, idx, LTAU_TENSOR);
    return slot ? *slot : NULL;
}

static const char *type_of(lua_State *L, int idx) {
    if (luaL_testudata(L, idx, LTAU_TENSOR)) return "a released tensor";
    return luaL_typename(L, idx);
}

tau_tensor *ltau_check(lua_State *L, int idx, const char *fn) {
    tau_tensor *t = ltau_test(L, idx);
    if (!t) ltau_raisef(L, "%s: argument %d must be a tensor, got %s", fn, idx, type_of(L, idx));
    return t;
}

tau_tensor *ltau_checkoperand(lua_State *L, int idx, const char *fn, tau_dtype like) {
    tau_tensor *t = ltau_test(L, idx);
    if (t) return t;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        /* an integer keeps int32 arithmetic only when it fits int32 */
        tau_dtype dt = (like == TAU_I32 && lua_isinteger(L, idx) && v >= INT32_MIN && v <= INT32_MAX) ? TAU_I32 : TAU_F32;
        tau_tensor **slot = ltau_newslot(L);
        *slot = tau_full(dt, 0, NULL, v);
        ltau_done(L, slot, fn);
        return *slot;
    }
    ltau_raisef(L, "%s: argument %d must be a tensor or a number, got %s", fn, idx, type_of(L, idx));
    return NULL;
}

int64_t ltau_checkint(lua_State *L, int idx, const char *fn, const char *what) {
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            ltau_raisef(L, "%s: %s must be an integer, got %s", fn, what, lua_tostring(L, idx));
        ltau_raisef(L, "%s: %s must be an integer, got %s", fn, what, type_of(L, idx));
    }
    return (int64_t)v;
}

int ltau_checkdim(lua_State *L, int idx, int ndim, const char *fn) {
    int64_t d = ltau_checkint(L, idx, fn, "dimension");
    int n = ndim ? ndim : 1;
    if (d == 0 || d > n || d < -n)
        ltau_raisef(L, "%s: dimension %lld out of range for a %d-dimensional tensor (use 1..%d or -%d..-1)",
                   fn, (long long)d, ndim, n, n);
    return (int)(d > 0 ? d - 1 : n + d);
}

int ltau_checkshape(lua_State *L, int idx, int64_t *shape, const char *fn) {
    int n = 0;
    if (lua_istable(L, idx)) {
        int len = (int)luaL_len(L, idx);
        if (len > TAU_MAXDIM) ltau_raisef(L, "%s: %d dimensions given, at most %d are supported", fn, len, TAU_MAXDIM);
        for (int i = 1; i <= len; i++) {
            lua_geti(L, idx, i);
            shape[n++] = ltau_checkint(L, -1, fn, "size");
            lua_pop(L, 1);
        }
    } else {
        int top = lua_gettop(L);
        for (int i = idx; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
            if (n == TAU_MAXDIM) ltau_raisef(L, "%s: at most %d dimensions are supported", fn, TAU_MAXDIM);
            shape[n++] = ltau_checkint(L, i, fn, "size");
        }
    }
    return n;
}

static int get_option(lua_State *L, int idx, const char *key, const char *fn) {
    if (lua_isnoneornil(L, idx)) return 0;
    if (!lua_istable(L, idx)) ltau_raisef(L, "%s: options must be a table, got %s", fn, luaL_typename(L, idx));
    return lua_getfield(L, idx, key) != LUA_TNIL ? 1 : (lua_pop(L, 1), 0);
}

double ltau_optnumber(lua_State *L, int idx, const char *key, double def, const char *fn) {
    if (!get_option(L, idx, key, fn)) return def;
    if (lua_type(L, -1) != LUA_TNUMBER)
        ltau_raisef(L, "%s: %s must be a number, got %s", fn, key, luaL_typename(L, -1));
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

int ltau_optbool(lua_State *L, int idx, const char *key, int def, const char *fn) {
    if (!get_option(L, idx, key, fn)) return def;
    if (!lua_isboolean(L, -1)) ltau_raisef(L, "%s: %s must be a boolean, got %s", fn, key, luaL_typename(L, -1));
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *ltau_optstring(lua_State *L, int idx, const char *key, const char *def, const char *fn) {
    if (!get_option(L, idx, key, fn)) return def;
    if (lua_type(L, -1) != LUA_TSTRING) ltau_raisef(L, "%s: %s must be a string, got %s", fn, key, luaL_typename(L, -1));
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the options table */
    return v;
}

void ltau_register(lua_State *L, const luaL_Reg *fns) { luaL_setfuncs(L, fns, 0); }

/* {====== Class labels: the only place where Lua's 1..C meets the core's 0..C-1 ====== */

tau_tensor *ltau_checklabels(lua_State *L, tau_tensor *labels, int64_t n, int64_t k, const char *fn,
                             const char *what, const char *unit) {
    if (labels->dtype != TAU_I32 || labels->ndim != 1 || labels->shape[0] != n) return labels;
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_empty(TAU_I32, 1, &n);
    ltau_done(L, slot, fn);
    const int32_t *src = tau_i32(labels);
    int32_t *dst = tau_i32(*slot);
    for (int64_t i = 0; i < n; i++) {
        int32_t v = src[i * labels->stride[0]];
        if (v < 1 || v > k)
            ltau_raisef(L, "%s: %s %d out of range 1..%lld at %s %lld", fn, what, (int)v, (long long)k, unit,
                        (long long)i + 1);
        dst[i] = v - 1;
    }
    return *slot;
}

void ltau_pushlabels(lua_State *L, const int32_t *labels, int64_t n, const char *fn) {
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_empty(TAU_I32, 1, &n);
    ltau_done(L, slot, fn);
    int32_t *dst = tau_i32(*slot);
    for (int64_t i = 0; i < n; i++) dst[i] = (int32_t)ltau_label_tolua(labels[i]);
}

/* }====== */
