/* The tensor userdata: metatable, methods, operators, printing and creation functions. */
#include "ltau.h"
#include "base/parallel.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SELF(fn) ltau_check(L, 1, fn)

/* ---------------------------------------------------------------- life cycle */

static int t_gc(lua_State *L) {
    tau_tensor **slot = luaL_checkudata(L, 1, LTAU_TENSOR);
    tau_release(*slot);
    *slot = NULL;
    return 0;
}

/* ---------------------------------------------------------------- creation */

static tau_dtype check_dtype(lua_State *L, int idx, tau_dtype def, const char *fn) {
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) == LUA_TSTRING) { /* not lua_tostring first: it would turn a number into a string */
        const char *s = lua_tostring(L, idx);
        if (!strcmp(s, "float32") || !strcmp(s, "float")) return TAU_F32;
        if (!strcmp(s, "int32") || !strcmp(s, "int")) return TAU_I32;
        ltau_raisef(L, "%s: unknown dtype '%s' (float32 or int32)", fn, s);
    }
    ltau_raisef(L, "%s: dtype must be a string, got %s", fn, luaL_typename(L, idx));
    return def;
}

/* Index of the first argument after the sizes (numbers or one table). */
static int after_shape(lua_State *L, int idx) {
    if (lua_istable(L, idx)) return idx + 1;
    while (lua_type(L, idx) == LUA_TNUMBER) idx++;
    return idx;
}

static int make_filled(lua_State *L, const char *fn, double v, int has_value) {
    int64_t shape[TAU_MAXDIM];
    int next = after_shape(L, 1);
    /* tau.full(2, 3, v): with sizes given one by one, the last number is the value */
    if (has_value && !lua_istable(L, 1) && next > 1 && lua_type(L, next) != LUA_TNUMBER) next--;
    lua_Number value = has_value ? luaL_checknumber(L, next) : 0;
    int nd = 0;
    if (lua_istable(L, 1)) nd = ltau_checkshape(L, 1, shape, fn);
    else
        for (int i = 1; i < next; i++) {
            if (nd == TAU_MAXDIM) ltau_raisef(L, "%s: at most %d dimensions are supported", fn, TAU_MAXDIM);
            shape[nd++] = ltau_checkint(L, i, fn, "size");
        }
    if (has_value) { v = value; next++; }
    tau_dtype dt = check_dtype(L, next, TAU_F32, fn);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_full(dt, nd, shape, v);
    ltau_done(L, slot, fn);
    return 1;
}

static int f_zeros(lua_State *L) { return make_filled(L, "tau.zeros", 0, 0); }
static int f_ones(lua_State *L) { return make_filled(L, "tau.ones", 1, 0); }
static int f_full(lua_State *L) { return make_filled(L, "tau.full", 0, 1); }
static int f_empty(lua_State *L) { return make_filled(L, "tau.empty", 0, 0); }

static int make_random(lua_State *L, const char *fn, tau_tensor *(*gen)(int, const int64_t *)) {
    int64_t shape[TAU_MAXDIM];
    int nd = ltau_checkshape(L, 1, shape, fn);
    tau_tensor **slot = ltau_newslot(L);
    *slot = gen(nd, shape);
    ltau_done(L, slot, fn);
    return 1;
}

static int f_rand(lua_State *L) { return make_random(L, "tau.rand", tau_rand); }
static int f_randn(lua_State *L) { return make_random(L, "tau.randn", tau_randn); }

static int f_randint(lua_State *L) {
    const char *fn = "tau.randint";
    int64_t lo = ltau_checkint(L, 1, fn, "lower bound"), hi = ltau_checkint(L, 2, fn, "upper bound");
    int64_t shape[TAU_MAXDIM];
    int nd = ltau_checkshape(L, 3, shape, fn);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_randint(lo, hi, nd, shape);
    ltau_done(L, slot, fn);
    return 1;
}

static int f_randperm(lua_State *L) {
    const char *fn = "tau.randperm";
    int64_t n = ltau_checkint(L, 1, fn, "n");
    if (n < 0) return ltau_raisef(L, "%s: n must be non-negative, got %lld", fn, (long long)n);
    tau_tensor *p = tau_randperm(n);
    if (!p) return ltau_error(L, fn);
    tau_tensor *one = tau_full(TAU_I32, 0, NULL, 1);
    tau_tensor *r = one ? tau_binary_forward(TAU_ADD, p, one) : NULL; /* values 1..n, as Lua indexes */
    tau_release(p);
    tau_release(one);
    ltau_push(L, r, fn);
    return 1;
}

static int f_arange(lua_State *L) {
    const char *fn = "tau.arange";
    /* arange(stop) = 1..stop, arange(start, stop[, step]): inclusive like a Lua numeric for */
    double a = luaL_checknumber(L, 1);
    int one = lua_type(L, 2) != LUA_TNUMBER;
    double start = one ? 1 : a, stop = one ? a : luaL_checknumber(L, 2);
    double step = (!one && lua_type(L, 3) == LUA_TNUMBER) ? lua_tonumber(L, 3) : 1;
    int all_int = lua_isinteger(L, 1) && (one || lua_isinteger(L, 2)) && step == floor(step);
    int dt_idx = one ? 2 : (lua_type(L, 3) == LUA_TNUMBER ? 4 : 3);
    tau_dtype dt = check_dtype(L, dt_idx, all_int ? TAU_I32 : TAU_F32, fn);
    if (step == 0) return ltau_raisef(L, "%s: step must be non-zero", fn);
    /* inclusive end, with a little slack for float steps */
    double end = stop + step * (all_int ? 0.5 : 1e-9);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_arange(start, end, step, dt);
    ltau_done(L, slot, fn);
    return 1;
}

static int f_linspace(lua_State *L) {
    const char *fn = "tau.linspace";
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    int64_t n = ltau_checkint(L, 3, fn, "number of points");
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_linspace(a, b, n);
    ltau_done(L, slot, fn);
    return 1;
}

static int f_eye(lua_State *L) {
    const char *fn = "tau.eye";
    int64_t n = ltau_checkint(L, 1, fn, "n"), m = lua_isnoneornil(L, 2) ? n : ltau_checkint(L, 2, fn, "m");
    int64_t sh[2] = {n, m};
    if (tau_check_shape("eye", 2, sh)) return ltau_error(L, fn);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_eye(n, m);
    ltau_done(L, slot, fn);
    return 1;
}

/* tau.tensor{{1, 2}, {3, 4}}: the shape comes from the first element along each level; every
 * other element must agree. */
static void nested_shape(lua_State *L, int idx, int depth, int *nd, int64_t *shape, int *boolean,
                         const char *fn) {
    if (depth >= TAU_MAXDIM) ltau_raisef(L, "%s: nesting deeper than %d levels", fn, TAU_MAXDIM);
    lua_Integer len = luaL_len(L, idx);
    shape[depth] = len;
    *nd = depth + 1;
    if (len > 0) {
        lua_geti(L, idx, 1);
        if (lua_istable(L, -1)) nested_shape(L, lua_gettop(L), depth + 1, nd, shape, boolean, fn);
        else *boolean = lua_isboolean(L, -1);
        lua_pop(L, 1);
    }
}

static void nested_fill(lua_State *L, int idx, int depth, int nd, const int64_t *shape, tau_tensor *t,
                        int64_t *pos, char *path, size_t plen, const char *fn) {
    lua_Integer len = luaL_len(L, idx);
    if (len != shape[depth])
        ltau_raisef(L, "%s: ragged nested table: %s has %lld elements, expected %lld", fn,
                   plen ? path : "the table", (long long)len, (long long)shape[depth]);
    for (lua_Integer i = 1; i <= len; i++) {
        int n = snprintf(path + plen, 256 - plen, "[%lld]", (long long)i);
        size_t nl = plen + (size_t)(n > 0 ? n : 0);
        if (nl >= 256) nl = 255;
        int ty = lua_geti(L, idx, i);
        if (depth + 1 < nd) {
            if (ty != LUA_TTABLE) ltau_raisef(L, "%s: expected a table at %s, got %s", fn, path, lua_typename(L, ty));
            nested_fill(L, lua_gettop(L), depth + 1, nd, shape, t, pos, path, nl, fn);
        } else {
            if (ty == LUA_TBOOLEAN) {
                int b = lua_toboolean(L, -1);
                if (t->dtype == TAU_F32) tau_f32(t)[*pos] = (float)b; else tau_i32(t)[*pos] = b;
            } else if (ty != LUA_TNUMBER) {
                ltau_raisef(L, "%s: expected a number at %s, got %s", fn, path, lua_typename(L, ty));
            } else if (t->dtype == TAU_F32) {
                tau_f32(t)[*pos] = (float)lua_tonumber(L, -1);
            } else {
                double v = lua_tonumber(L, -1);
                if (v != floor(v) || v < INT32_MIN || v > INT32_MAX)
                    ltau_raisef(L, "%s: %s = %g is not an int32 value", fn, path, v);
                tau_i32(t)[*pos] = (int32_t)v;
            }
            (*pos)++;
        }
        lua_pop(L, 1);
        path[plen] = 0;
    }
}

static int f_tensor(lua_State *L) {
    const char *fn = "tau.tensor";
    if (ltau_test(L, 1)) { /* a copy */
        tau_dtype dt = check_dtype(L, 2, ltau_test(L, 1)->dtype, fn);
        tau_tensor **slot = ltau_newslot(L);
        *slot = tau_to_dtype(ltau_test(L, 1), dt);
        ltau_done(L, slot, fn);
        return 1;
    }
    if (lua_type(L, 1) == LUA_TNUMBER) {
        tau_dtype dt = check_dtype(L, 2, TAU_F32, fn);
        tau_tensor **slot = ltau_newslot(L);
        *slot = tau_full(dt, 0, NULL, lua_tonumber(L, 1));
        ltau_done(L, slot, fn);
        return 1;
    }
    if (!lua_istable(L, 1)) return ltau_raisef(L, "%s: expected a (nested) table of numbers, got %s", fn, luaL_typename(L, 1));
    int nd = 0, boolean = 0;
    int64_t shape[TAU_MAXDIM];
    nested_shape(L, 1, 0, &nd, shape, &boolean, fn);
    /* booleans make int32 0/1 unless asked otherwise */
    tau_dtype dt = check_dtype(L, 2, boolean ? TAU_I32 : TAU_F32, fn);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_zeros(dt, nd, shape);
    ltau_done(L, slot, fn);
    char path[256] = "";
    int64_t pos = 0;
    nested_fill(L, 1, 0, nd, shape, *slot, &pos, path, 0, fn);
    return 1;
}

/* ---------------------------------------------------------------- metadata */

static int m_size(lua_State *L) {
    tau_tensor *t = SELF("Tensor:size");
    if (!lua_isnoneornil(L, 2)) {
        int d = ltau_checkdim(L, 2, t->ndim, "Tensor:size");
        lua_pushinteger(L, t->ndim ? t->shape[d] : 1);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->shape[i]); lua_rawseti(L, -2, i + 1); }
    return 1;
}

static int m_stride(lua_State *L) {
    tau_tensor *t = SELF("Tensor:stride");
    if (!lua_isnoneornil(L, 2)) {
        int d = ltau_checkdim(L, 2, t->ndim, "Tensor:stride");
        lua_pushinteger(L, t->ndim ? t->stride[d] : 1);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->stride[i]); lua_rawseti(L, -2, i + 1); }
    return 1;
}

static int m_dim(lua_State *L) { lua_pushinteger(L, SELF("Tensor:dim")->ndim); return 1; }
static int m_numel(lua_State *L) { lua_pushinteger(L, tau_numel(SELF("Tensor:numel"))); return 1; }
static int m_dtype(lua_State *L) { lua_pushstring(L, tau_dtype_name(SELF("Tensor:dtype")->dtype)); return 1; }
static int m_is_contiguous(lua_State *L) { lua_pushboolean(L, tau_is_contiguous(SELF("Tensor:is_contiguous"))); return 1; }
static int m_len(lua_State *L) {
    tau_tensor *t = SELF("Tensor:__len");
    lua_pushinteger(L, t->ndim ? t->shape[0] : 0);
    return 1;
}

static void push_value(lua_State *L, const tau_tensor *t, int64_t off) {
    if (t->dtype == TAU_F32) lua_pushnumber(L, ((float *)t->storage->data)[off]);
    else lua_pushinteger(L, ((int32_t *)t->storage->data)[off]);
}

static int m_item(lua_State *L) {
    tau_tensor *t = SELF("Tensor:item");
    if (tau_numel(t) != 1) {
        char b[160];
        return ltau_raisef(L, "Tensor:item: only a tensor with one element can be converted to a number, got size %s",
                          tau_shape_str(t, b, sizeof b));
    }
    push_value(L, t, t->offset);
    return 1;
}

static void totable_rec(lua_State *L, const tau_tensor *t, int d, int64_t off) {
    if (d == t->ndim) { push_value(L, t, off); return; }
    lua_createtable(L, (int)t->shape[d], 0);
    for (int64_t i = 0; i < t->shape[d]; i++) {
        totable_rec(L, t, d + 1, off + i * t->stride[d]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int m_totable(lua_State *L) {
    tau_tensor *t = SELF("Tensor:totable");
    luaL_checkstack(L, t->ndim + 10, "Tensor:totable");
    totable_rec(L, t, 0, t->offset);
    return 1;
}

/* ---------------------------------------------------------------- printing */

/* Along a dimension longer than 6, a summarised print shows the first and last 3. */
#define SUMMARY_EDGE 3
#define SUMMARY_NUMEL 1000

typedef struct { int prec; int sci; int intlike; int width; int summarise; } fmt;

static void fmt_value(char *buf, size_t n, const tau_tensor *t, const fmt *f, double v) {
    if (t->dtype == TAU_I32 || f->intlike) snprintf(buf, n, "%.0f", v);
    else if (isnan(v) || isinf(v)) snprintf(buf, n, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    else if (f->sci) snprintf(buf, n, "%.4e", v);
    else snprintf(buf, n, "%.4f", v);
}

static int shown(const fmt *f, int64_t size, int64_t i) {
    return !f->summarise || size <= 2 * SUMMARY_EDGE || i < SUMMARY_EDGE || i >= size - SUMMARY_EDGE;
}

static void scan(const tau_tensor *t, const fmt *f, int d, int64_t off, double *mx, double *mn, int *intlike, int *w) {
    if (d == t->ndim) {
        double v = t->dtype == TAU_F32 ? ((float *)t->storage->data)[off] : ((int32_t *)t->storage->data)[off];
        if (!isnan(v) && !isinf(v)) {
            double a = fabs(v);
            if (a > *mx) *mx = a;
            if (a > 0 && a < *mn) *mn = a;
            if (v != floor(v)) *intlike = 0;
        }
        char b[64];
        fmt_value(b, sizeof b, t, f, v);
        int l = (int)strlen(b);
        if (l > *w) *w = l;
        return;
    }
    for (int64_t i = 0; i < t->shape[d]; i++)
        if (shown(f, t->shape[d], i)) scan(t, f, d + 1, off + i * t->stride[d], mx, mn, intlike, w);
}

static void print_rec(luaL_Buffer *B, const tau_tensor *t, const fmt *f, int d, int64_t off, int indent) {
    if (d == t->ndim) {
        double v = t->dtype == TAU_F32 ? ((float *)t->storage->data)[off] : ((int32_t *)t->storage->data)[off];
        char b[64];
        fmt_value(b, sizeof b, t, f, v);
        for (int k = (int)strlen(b); k < f->width; k++) luaL_addchar(B, ' ');
        luaL_addstring(B, b);
        return;
    }
    luaL_addchar(B, '[');
    int64_t n = t->shape[d];
    int skipped = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!shown(f, n, i)) {
            if (!skipped) {
                skipped = 1;
                if (d == t->ndim - 1) luaL_addstring(B, "..., ");
                else {
                    luaL_addstring(B, "...,\n");
                    for (int k = 0; k < indent + 1; k++) luaL_addchar(B, ' ');
                }
            }
            continue;
        }
        print_rec(B, t, f, d + 1, off + i * t->stride[d], indent + 1);
        if (i < n - 1) {
            if (d == t->ndim - 1) luaL_addstring(B, ", ");
            else {
                luaL_addchar(B, ',');
                for (int k = d; k < t->ndim - 1; k++) luaL_addchar(B, '\n');
                for (int k = 0; k < indent + 1; k++) luaL_addchar(B, ' ');
            }
        }
    }
    luaL_addchar(B, ']');
}

static int m_tostring(lua_State *L) {
    tau_tensor **slot = luaL_checkudata(L, 1, LTAU_TENSOR);
    tau_tensor *t = *slot;
    if (!t) { lua_pushstring(L, "tensor(released)"); return 1; }
    fmt f = {0};
    f.summarise = tau_numel(t) > SUMMARY_NUMEL;
    double mx = 0, mn = INFINITY;
    int intlike = 1, w = 0;
    scan(t, &f, 0, t->offset, &mx, &mn, &intlike, &w);
    f.intlike = t->dtype == TAU_F32 ? 0 : 1;
    f.sci = t->dtype == TAU_F32 && (mx >= 1e5 || (mn < 1e-4 && mn > 0 && !intlike));
    w = 0;
    scan(t, &f, 0, t->offset, &mx, &mn, &intlike, &w);
    f.width = w;
    luaL_Buffer B;
    luaL_buffinit(L, &B);
    luaL_addstring(&B, "tensor(");
    if (tau_numel(t) == 0) luaL_addstring(&B, "[]");
    else print_rec(&B, t, &f, 0, t->offset, 7);
    char b[200], s[160];
    snprintf(b, sizeof b, ", size %s, %s%s)", tau_shape_str(t, s, sizeof s), tau_dtype_name(t->dtype),
             t->grad_fn ? ", grad_fn" : t->requires_grad ? ", requires_grad" : "");
    luaL_addstring(&B, b);
    if (t->grad_fn) {
        luaL_buffsub(&B, 1);
        luaL_addstring(&B, "=");
        luaL_addstring(&B, t->grad_fn->op->name);
        luaL_addchar(&B, ')');
    }
    luaL_pushresult(&B);
    return 1;
}

/* ---------------------------------------------------------------- views */

static int push_result(lua_State *L, tau_tensor *r, const char *fn) { ltau_push(L, r, fn); return 1; }

static int m_view(lua_State *L) {
    tau_tensor *t = SELF("Tensor:view");
    int64_t shape[TAU_MAXDIM];
    int nd = ltau_checkshape(L, 2, shape, "Tensor:view");
    return push_result(L, tau_op_view(t, nd, shape), "Tensor:view");
}

static int m_reshape(lua_State *L) {
    tau_tensor *t = SELF("Tensor:reshape");
    int64_t shape[TAU_MAXDIM];
    int nd = ltau_checkshape(L, 2, shape, "Tensor:reshape");
    return push_result(L, tau_op_reshape(t, nd, shape), "Tensor:reshape");
}

static int m_expand(lua_State *L) {
    tau_tensor *t = SELF("Tensor:expand");
    int64_t shape[TAU_MAXDIM];
    int nd = ltau_checkshape(L, 2, shape, "Tensor:expand");
    return push_result(L, tau_op_expand(t, nd, shape), "Tensor:expand");
}

static int m_transpose(lua_State *L) {
    const char *fn = "Tensor:transpose";
    tau_tensor *t = SELF(fn);
    int a = ltau_checkdim(L, 2, t->ndim, fn), b = ltau_checkdim(L, 3, t->ndim, fn);
    return push_result(L, tau_op_transpose(t, a, b), fn);
}

static int m_t(lua_State *L) {
    tau_tensor *t = SELF("Tensor:t");
    if (t->ndim != 2) return ltau_raisef(L, "Tensor:t: expects a 2-dimensional tensor, got %d dimensions", t->ndim);
    return push_result(L, tau_op_transpose(t, 0, 1), "Tensor:t");
}

static int m_permute(lua_State *L) {
    const char *fn = "Tensor:permute";
    tau_tensor *t = SELF(fn);
    int perm[TAU_MAXDIM];
    int n = 0;
    if (lua_istable(L, 2)) {
        n = (int)luaL_len(L, 2);
        if (n != t->ndim) return ltau_raisef(L, "%s: %d dimensions given for a %d-dimensional tensor", fn, n, t->ndim);
        for (int i = 0; i < n; i++) { lua_geti(L, 2, i + 1); perm[i] = ltau_checkdim(L, -1, t->ndim, fn); lua_pop(L, 1); }
    } else {
        n = lua_gettop(L) - 1;
        if (n != t->ndim) return ltau_raisef(L, "%s: %d dimensions given for a %d-dimensional tensor", fn, n, t->ndim);
        for (int i = 0; i < n; i++) perm[i] = ltau_checkdim(L, i + 2, t->ndim, fn);
    }
    return push_result(L, tau_op_permute(t, perm), fn);
}

static int m_narrow(lua_State *L) {
    const char *fn = "Tensor:narrow";
    tau_tensor *t = SELF(fn);
    int d = ltau_checkdim(L, 2, t->ndim, fn);
    int64_t start = ltau_checkint(L, 3, fn, "start"), len = ltau_checkint(L, 4, fn, "length");
    return push_result(L, tau_op_narrow(t, d, start - 1, len), fn);
}

static int64_t check_index1(lua_State *L, int idx, int64_t size, const char *fn) {
    int64_t given = ltau_checkint(L, idx, fn, "index"), i = given < 0 ? given + size + 1 : given;
    if (i < 1 || i > size) ltau_raisef(L, "%s: index %lld out of range 1..%lld", fn, (long long)given, (long long)size);
    return i - 1;
}

static int m_select(lua_State *L) {
    const char *fn = "Tensor:select";
    tau_tensor *t = SELF(fn);
    if (t->ndim == 0) return ltau_raisef(L, "%s: cannot index a 0-dimensional tensor", fn);
    int d = ltau_checkdim(L, 2, t->ndim, fn);
    return push_result(L, tau_op_select(t, d, check_index1(L, 3, t->shape[d], fn)), fn);
}

static int m_squeeze(lua_State *L) {
    tau_tensor *t = SELF("Tensor:squeeze");
    int d = lua_isnoneornil(L, 2) ? -1 : ltau_checkdim(L, 2, t->ndim, "Tensor:squeeze");
    return push_result(L, tau_op_squeeze(t, d), "Tensor:squeeze");
}

static int m_unsqueeze(lua_State *L) {
    const char *fn = "Tensor:unsqueeze";
    tau_tensor *t = SELF(fn);
    int d = ltau_checkdim(L, 2, t->ndim + 1, fn);
    return push_result(L, tau_op_unsqueeze(t, d), fn);
}

static int m_flatten(lua_State *L) {
    const char *fn = "Tensor:flatten";
    tau_tensor *t = SELF(fn);
    if (t->ndim == 0) { int64_t one = 1; return push_result(L, tau_op_reshape(t, 1, &one), fn); }
    int s = lua_isnoneornil(L, 2) ? 0 : ltau_checkdim(L, 2, t->ndim, fn);
    int e = lua_isnoneornil(L, 3) ? t->ndim - 1 : ltau_checkdim(L, 3, t->ndim, fn);
    if (e < s) return ltau_raisef(L, "%s: end dimension before start dimension", fn);
    int64_t shape[TAU_MAXDIM];
    int nd = 0;
    for (int i = 0; i < s; i++) shape[nd++] = t->shape[i];
    int64_t p = 1;
    for (int i = s; i <= e; i++) p *= t->shape[i];
    shape[nd++] = p;
    for (int i = e + 1; i < t->ndim; i++) shape[nd++] = t->shape[i];
    return push_result(L, tau_op_reshape(t, nd, shape), fn);
}

static int m_contiguous(lua_State *L) { return push_result(L, tau_op_contiguous(SELF("Tensor:contiguous")), "Tensor:contiguous"); }
static int m_clone(lua_State *L) { return push_result(L, tau_op_clone(SELF("Tensor:clone")), "Tensor:clone"); }
static int m_float(lua_State *L) { return push_result(L, tau_op_to_dtype(SELF("Tensor:float"), TAU_F32), "Tensor:float"); }
static int m_int(lua_State *L) { return push_result(L, tau_op_to_dtype(SELF("Tensor:int"), TAU_I32), "Tensor:int"); }

static int m_type(lua_State *L) {
    tau_tensor *t = SELF("Tensor:type");
    if (lua_isnoneornil(L, 2)) return m_dtype(L);
    return push_result(L, tau_op_to_dtype(t, check_dtype(L, 2, t->dtype, "Tensor:type")), "Tensor:type");
}

/* x[i]: a number for 1-D tensors (as in Torch7), otherwise the slice along dimension 1. */
static int m_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TNUMBER) {
        const char *fn = "Tensor:__index";
        tau_tensor *t = SELF(fn);
        if (t->ndim == 0) return ltau_raisef(L, "%s: cannot index a 0-dimensional tensor", fn);
        int64_t i = check_index1(L, 2, t->shape[0], fn);
        if (t->ndim == 1) { push_value(L, t, t->offset + i * t->stride[0]); return 1; }
        return push_result(L, tau_op_select(t, 0, i), fn);
    }
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        tau_tensor *t = *(tau_tensor **)luaL_checkudata(L, 1, LTAU_TENSOR);
        /* methods resolve on a released tensor too, so that calling one names the function */
        if (!t) goto methods;
        if (!strcmp(k, "grad")) {
            if (t->grad) ltau_push(L, tau_retain(t->grad), "Tensor.grad"); else lua_pushnil(L);
            return 1;
        }
        if (!strcmp(k, "needs_grad")) { lua_pushboolean(L, t->requires_grad); return 1; }
        if (!strcmp(k, "is_leaf")) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
        if (!strcmp(k, "grad_fn")) { if (t->grad_fn) lua_pushstring(L, t->grad_fn->op->name); else lua_pushnil(L); return 1; }
        if (!strcmp(k, "shape")) { lua_settop(L, 1); return m_size(L); }
        if (!strcmp(k, "ndim")) { lua_pushinteger(L, t->ndim); return 1; }
    methods:
        lua_getmetatable(L, 1);
        lua_getfield(L, -1, "__methods");
        lua_getfield(L, -1, k);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

static int m_newindex(lua_State *L) {
    const char *fn = "Tensor:__newindex";
    tau_tensor *t = SELF(fn);
    if (lua_type(L, 2) == LUA_TSTRING && !strcmp(lua_tostring(L, 2), "grad")) {
        tau_tensor *g = lua_isnil(L, 3) ? NULL : ltau_check(L, 3, "Tensor.grad");
        if (g && !tau_same_shape(g, t)) return ltau_raisef(L, "Tensor.grad: gradient size must match the tensor's");
        tau_release(t->grad);
        t->grad = g ? tau_clone(g) : NULL;
        if (g && !t->grad) return ltau_error(L, "Tensor.grad");
        return 0;
    }
    if (lua_type(L, 2) != LUA_TNUMBER)
        return ltau_raisef(L, "%s: cannot set field '%s' of a tensor", fn, luaL_tolstring(L, 2, NULL));
    if (t->ndim == 0) return ltau_raisef(L, "%s: cannot index a 0-dimensional tensor", fn);
    if (tau_check_inplace(fn, t)) return ltau_error(L, fn);
    int64_t i = check_index1(L, 2, t->shape[0], fn);
    tau_tensor *v = ltau_checkoperand(L, 3, fn, t->dtype);
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_select(t, 0, i);
    ltau_done(L, slot, fn);
    if (tau_copy_(*slot, v)) return ltau_error(L, fn);
    return 0;
}

/* ---------------------------------------------------------------- arithmetic */

static int binop(lua_State *L, tau_binop op, const char *fn) {
    tau_tensor *a = ltau_test(L, 1), *b = ltau_test(L, 2);
    if (!a && !b) { /* name a released tensor or a wrong type before the general complaint */
        ltau_checkoperand(L, 1, fn, TAU_F32);
        ltau_checkoperand(L, 2, fn, TAU_F32);
        return ltau_raisef(L, "%s: expects a tensor argument", fn);
    }
    tau_tensor *x = a ? a : ltau_checkoperand(L, 1, fn, b->dtype);
    tau_tensor *y = b ? b : ltau_checkoperand(L, 2, fn, a->dtype);
    ltau_make_room(L, tau_numel(x) >= tau_numel(y) ? x : y);
    return push_result(L, tau_op_binary(op, x, y), fn);
}

#define BINARY(name, op, fn) static int name(lua_State *L) { return binop(L, op, fn); }
BINARY(m_add, TAU_ADD, "tau.add") BINARY(m_sub, TAU_SUB, "tau.sub") BINARY(m_mul, TAU_MUL, "tau.mul")
BINARY(m_div, TAU_DIV, "tau.div") BINARY(m_maximum, TAU_MAXIMUM, "tau.maximum")
BINARY(m_minimum, TAU_MINIMUM, "tau.minimum") BINARY(m_eq, TAU_EQ, "tau.eq") BINARY(m_ne, TAU_NE, "tau.ne")
BINARY(m_lt, TAU_LT, "tau.lt") BINARY(m_le, TAU_LE, "tau.le") BINARY(m_gt, TAU_GT, "tau.gt") BINARY(m_ge, TAU_GE, "tau.ge")

/* x ^ number stays a unary power (cheaper, and its gradient needs no log) */
static int m_powop(lua_State *L) {
    if (ltau_test(L, 1) && lua_type(L, 2) == LUA_TNUMBER)
        return push_result(L, tau_op_unary(TAU_POWS, ltau_test(L, 1), lua_tonumber(L, 2), 0), "tau.pow");
    return binop(L, TAU_POW, "tau.pow");
}

static int unop(lua_State *L, tau_unop op, const char *fn) {
    tau_tensor *t = ltau_check(L, 1, fn);
    ltau_make_room(L, t);
    return push_result(L, tau_op_unary(op, t, 0, 0), fn);
}

#define UNARY(name, op, fn) static int name(lua_State *L) { return unop(L, op, fn); }
UNARY(m_neg, TAU_NEG, "tau.neg") UNARY(m_exp, TAU_EXP, "tau.exp") UNARY(m_log, TAU_LOG, "tau.log")
UNARY(m_sqrt, TAU_SQRT, "tau.sqrt") UNARY(m_rsqrt, TAU_RSQRT, "tau.rsqrt") UNARY(m_abs, TAU_ABS, "tau.abs")
UNARY(m_sign, TAU_SIGN, "tau.sign") UNARY(m_tanh, TAU_TANH, "tau.tanh") UNARY(m_sigmoid, TAU_SIGMOID, "tau.sigmoid")
UNARY(m_relu, TAU_RELU, "tau.relu") UNARY(m_floor, TAU_FLOOR, "tau.floor") UNARY(m_ceil, TAU_CEIL, "tau.ceil")
UNARY(m_round, TAU_ROUND, "tau.round") UNARY(m_sin, TAU_SIN, "tau.sin") UNARY(m_cos, TAU_COS, "tau.cos")
UNARY(m_log1p, TAU_LOG1P, "tau.log1p") UNARY(m_expm1, TAU_EXPM1, "tau.expm1") UNARY(m_recip, TAU_RECIP, "tau.reciprocal")
UNARY(m_square, TAU_SQUARE, "tau.square") UNARY(m_erf, TAU_ERF, "tau.erf") UNARY(m_isnan, TAU_ISNAN, "tau.isnan")

static double opt_bound(lua_State *L, int idx, const char *fn) {
    if (lua_isnoneornil(L, idx)) return NAN;
    if (lua_type(L, idx) != LUA_TNUMBER) ltau_raisef(L, "%s: bound must be a number or nil, got %s", fn, luaL_typename(L, idx));
    return lua_tonumber(L, idx);
}

static int m_clamp(lua_State *L) {
    const char *fn = "tau.clamp";
    tau_tensor *t = ltau_check(L, 1, fn);
    double lo = opt_bound(L, 2, fn), hi = opt_bound(L, 3, fn);
    return push_result(L, tau_op_unary(TAU_CLAMP, t, lo, hi), fn);
}

/* in-place forms, for optimisers and data preparation */
static int inplace_bin(lua_State *L, tau_binop op, const char *fn) {
    tau_tensor *t = SELF(fn);
    if (tau_check_inplace(fn, t)) return ltau_error(L, fn);
    tau_tensor *v;
    if (lua_type(L, 2) == LUA_TNUMBER && ltau_test(L, 3)) { /* add_(alpha, x) */
        if (op != TAU_ADD && op != TAU_SUB) return ltau_raisef(L, "%s: (scale, tensor) form is for add_ and sub_", fn);
        double alpha = lua_tonumber(L, 2) * (op == TAU_SUB ? -1 : 1);
        if (tau_axpy_(t, alpha, ltau_test(L, 3))) return ltau_error(L, fn);
        lua_settop(L, 1);
        return 1;
    }
    v = ltau_checkoperand(L, 2, fn, t->dtype);
    if (tau_binary_inplace(op, t, v)) return ltau_error(L, fn);
    lua_settop(L, 1);
    return 1;
}

static int m_add_(lua_State *L) { return inplace_bin(L, TAU_ADD, "Tensor:add_"); }
static int m_sub_(lua_State *L) { return inplace_bin(L, TAU_SUB, "Tensor:sub_"); }
static int m_mul_(lua_State *L) { return inplace_bin(L, TAU_MUL, "Tensor:mul_"); }
static int m_div_(lua_State *L) { return inplace_bin(L, TAU_DIV, "Tensor:div_"); }

static int m_clamp_(lua_State *L) {
    const char *fn = "Tensor:clamp_";
    tau_tensor *t = SELF(fn);
    if (tau_check_inplace(fn, t)) return ltau_error(L, fn);
    if (tau_unary_inplace(TAU_CLAMP, t, opt_bound(L, 2, fn), opt_bound(L, 3, fn))) return ltau_error(L, fn);
    lua_settop(L, 1);
    return 1;
}

static int fill(lua_State *L, const char *fn, double v) {
    tau_tensor *t = SELF(fn);
    if (tau_check_inplace(fn, t)) return ltau_error(L, fn);
    if (tau_fill_(t, v)) return ltau_error(L, fn);
    lua_settop(L, 1);
    return 1;
}

static int m_fill_(lua_State *L) { return fill(L, "Tensor:fill_", luaL_checknumber(L, 2)); }
static int m_zero_(lua_State *L) { return fill(L, "Tensor:zero_", 0); }

static int m_copy_(lua_State *L) {
    const char *fn = "Tensor:copy_";
    tau_tensor *t = SELF(fn);
    tau_tensor *s = ltau_checkoperand(L, 2, fn, t->dtype);
    if (tau_check_inplace(fn, t)) return ltau_error(L, fn);
    if (tau_copy_(t, s)) return ltau_error(L, fn);
    lua_settop(L, 1);
    return 1;
}

static int fill_random(lua_State *L, const char *fn, int normal) {
    tau_tensor *t = SELF(fn);
    double a = luaL_optnumber(L, 2, normal ? 0 : 0), b = luaL_optnumber(L, 3, 1);
    if (t->dtype != TAU_F32) return ltau_raisef(L, "%s: float32 tensor expected", fn);
    if (tau_check_inplace(fn, t)) return ltau_error(L, fn);
    tau_tensor **slot = ltau_newslot(L);
    *slot = normal ? tau_randn(t->ndim, t->shape) : tau_rand(t->ndim, t->shape);
    ltau_done(L, slot, fn);
    float *p = tau_f32(*slot);
    for (int64_t i = 0, n = tau_numel(*slot); i < n; i++) p[i] = (float)(normal ? a + b * p[i] : a + (b - a) * p[i]);
    if (tau_copy_(t, *slot)) return ltau_error(L, fn);
    lua_settop(L, 1);
    return 1;
}

static int m_uniform_(lua_State *L) { return fill_random(L, "Tensor:uniform_", 0); }
static int m_normal_(lua_State *L) { return fill_random(L, "Tensor:normal_", 1); }

/* ---------------------------------------------------------------- reductions */

static const ltau_opt reduce_opts[] = {{"keepdim", LTAU_OPT_BOOLEAN, NULL}, {"unbiased", LTAU_OPT_BOOLEAN, NULL},
                                       {NULL, 0, NULL}};

static int reduce(lua_State *L, tau_redop op, const char *fn) {
    tau_tensor *t = ltau_check(L, 1, fn);
    int dim = -1, keep = 0, unbiased = 1;
    int next = 2;
    if (lua_type(L, 2) == LUA_TNUMBER) { dim = ltau_checkdim(L, 2, t->ndim, fn); next = 3; }
    if (lua_isboolean(L, next)) keep = lua_toboolean(L, next);
    else { /* an options table, or nothing; anything else is refused */
        ltau_checkopts(L, next, fn, reduce_opts);
        keep = ltau_optbool(L, next, "keepdim", 0, fn);
        unbiased = ltau_optbool(L, next, "unbiased", 1, fn);
    }
    if (dim < 0 || (op != TAU_MAX && op != TAU_MIN))
        return push_result(L, tau_op_reduce(op, t, dim, keep, unbiased, NULL), fn);
    /* max/min along a dimension: values and 1-based indices, as Torch7 */
    tau_tensor *idx = NULL;
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_op_reduce(op, t, dim, keep, unbiased, &idx);
    ltau_done(L, slot, fn);
    tau_tensor *one = tau_full(TAU_I32, 0, NULL, 1);
    tau_tensor *idx1 = (idx && one) ? tau_binary_forward(TAU_ADD, idx, one) : NULL;
    tau_release(idx);
    tau_release(one);
    ltau_push(L, idx1, fn);
    return 2;
}

#define REDUCE(name, op, fn) static int name(lua_State *L) { return reduce(L, op, fn); }
REDUCE(m_sum, TAU_SUM, "tau.sum") REDUCE(m_mean, TAU_MEAN, "tau.mean") REDUCE(m_prod, TAU_PROD, "tau.prod")
REDUCE(m_var, TAU_VAR, "tau.var") REDUCE(m_std, TAU_STD, "tau.std") REDUCE(m_max, TAU_MAX, "tau.max")
REDUCE(m_min, TAU_MIN, "tau.min") REDUCE(m_logsumexp, TAU_LOGSUMEXP, "tau.logsumexp")

static int argreduce(lua_State *L, tau_redop op, const char *fn) {
    tau_tensor *t = ltau_check(L, 1, fn);
    int dim = lua_isnoneornil(L, 2) ? -1 : ltau_checkdim(L, 2, t->ndim, fn);
    int keep = lua_toboolean(L, 3);
    tau_tensor *r = tau_op_reduce(op, t, dim, keep, 0, NULL);
    tau_tensor *one = r ? tau_full(TAU_I32, 0, NULL, 1) : NULL;
    tau_tensor *r1 = one ? tau_binary_forward(TAU_ADD, r, one) : NULL;
    tau_release(r);
    tau_release(one);
    return push_result(L, r1, fn);
}

static int m_argmax(lua_State *L) { return argreduce(L, TAU_ARGMAX, "tau.argmax"); }
static int m_argmin(lua_State *L) { return argreduce(L, TAU_ARGMIN, "tau.argmin"); }

/* ---------------------------------------------------------------- linear algebra, indexing */

static int m_matmul(lua_State *L) {
    const char *fn = "tau.matmul";
    return push_result(L, tau_op_matmul(ltau_check(L, 1, fn), ltau_check(L, 2, fn)), fn);
}

static int m_bmm(lua_State *L) {
    const char *fn = "tau.bmm";
    tau_tensor *a = ltau_check(L, 1, fn), *b = ltau_check(L, 2, fn);
    if (a->ndim != 3 || b->ndim != 3 || a->shape[0] != b->shape[0]) {
        char x[160], y[160];
        return ltau_raisef(L, "%s: expects two 3-dimensional tensors with the same batch size, got %s and %s", fn,
                          tau_shape_str(a, x, sizeof x), tau_shape_str(b, y, sizeof y));
    }
    return push_result(L, tau_op_matmul(a, b), fn);
}

static int m_where(lua_State *L) {
    const char *fn = "tau.where";
    lua_settop(L, 3);
    tau_tensor *c = ltau_check(L, 1, fn);
    tau_tensor *a = ltau_checkoperand(L, 2, fn, TAU_F32), *b = ltau_checkoperand(L, 3, fn, TAU_F32);
    return push_result(L, tau_op_where(c, a, b), fn);
}

/* 1-based int32 index tensor (or table) to a 0-based one owned by the stack. */
static tau_tensor *index0(lua_State *L, int idx, const char *fn) {
    tau_tensor *t = ltau_test(L, idx);
    if (!t) {
        if (!lua_istable(L, idx)) ltau_raisef(L, "%s: index must be an int32 tensor or a table, got %s", fn, luaL_typename(L, idx));
        lua_pushcfunction(L, f_tensor);
        lua_pushvalue(L, idx);
        lua_pushstring(L, "int32");
        lua_call(L, 2, 1);
        lua_replace(L, idx);
        t = ltau_test(L, idx);
    }
    if (t->dtype != TAU_I32) ltau_raisef(L, "%s: index must be an int32 tensor, got %s", fn, tau_dtype_name(t->dtype));
    tau_tensor **slot = ltau_newslot(L);
    tau_tensor *one = tau_full(TAU_I32, 0, NULL, 1);
    *slot = one ? tau_binary_forward(TAU_SUB, t, one) : NULL;
    tau_release(one);
    ltau_done(L, slot, fn);
    return *slot;
}

static int m_index_select(lua_State *L) {
    const char *fn = "tau.index_select";
    tau_tensor *t = ltau_check(L, 1, fn);
    int d = ltau_checkdim(L, 2, t->ndim, fn);
    return push_result(L, tau_op_index_select(t, d, index0(L, 3, fn)), fn);
}

static int m_gather(lua_State *L) {
    const char *fn = "tau.gather";
    tau_tensor *t = ltau_check(L, 1, fn);
    int d = ltau_checkdim(L, 2, t->ndim, fn);
    return push_result(L, tau_op_gather(t, d, index0(L, 3, fn)), fn);
}

static int m_scatter_add(lua_State *L) {
    const char *fn = "tau.scatter_add";
    tau_tensor *t = ltau_check(L, 1, fn);
    int d = ltau_checkdim(L, 2, t->ndim, fn);
    tau_tensor *ix = index0(L, 3, fn);
    return push_result(L, tau_op_scatter_add(t, d, ix, ltau_check(L, 4, fn)), fn);
}

static int m_one_hot(lua_State *L) {
    const char *fn = "tau.one_hot";
    tau_tensor *ix = index0(L, 1, fn);
    int64_t c = ltau_checkint(L, 2, fn, "number of classes");
    return push_result(L, tau_one_hot(ix, c), fn);
}

static int tensor_list(lua_State *L, int idx, tau_tensor **out, int max, const char *fn) {
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)luaL_len(L, idx);
    if (n < 1) ltau_raisef(L, "%s: expected a non-empty list of tensors", fn);
    if (n > max) ltau_raisef(L, "%s: at most %d tensors", fn, max);
    for (int i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        out[i] = ltau_test(L, -1);
        if (!out[i]) ltau_raisef(L, "%s: element %d of the list is not a tensor (%s)", fn, i + 1, luaL_typename(L, -1));
        lua_pop(L, 1); /* the list keeps it alive */
    }
    return n;
}

static int join(lua_State *L, int stack, const char *fn) {
    tau_tensor *ts[1024];
    int n = tensor_list(L, 1, ts, 1024, fn);
    int nd = ts[0]->ndim + (stack ? 1 : 0);
    int d = lua_isnoneornil(L, 2) ? 0 : ltau_checkdim(L, 2, nd, fn);
    return push_result(L, stack ? tau_op_stack(ts, n, d) : tau_op_cat(ts, n, d), fn);
}

static int f_cat(lua_State *L) { return join(L, 0, "tau.cat"); }
static int f_stack(lua_State *L) { return join(L, 1, "tau.stack"); }

static const ltau_opt allclose_opts[] = {{"rtol", LTAU_OPT_NUMBER, NULL}, {"atol", LTAU_OPT_NUMBER, NULL},
                                         {"equal_nan", LTAU_OPT_BOOLEAN, NULL}, {NULL, 0, NULL}};

static int m_allclose(lua_State *L) {
    const char *fn = "tau.allclose";
    lua_settop(L, 3); /* a number b is pushed as a tensor above the options */
    ltau_checkopts(L, 3, fn, allclose_opts);
    tau_tensor *a = ltau_check(L, 1, fn), *b = ltau_checkoperand(L, 2, fn, TAU_F32);
    double rtol = ltau_optnumber(L, 3, "rtol", 1e-5, fn), atol = ltau_optnumber(L, 3, "atol", 1e-8, fn);
    if (!tau_same_shape(a, b)) {
        tau_tensor **slot = ltau_newslot(L);
        *slot = tau_expand(b, a->ndim, a->shape);
        if (!*slot) { lua_pushboolean(L, 0); return 1; }
        b = *slot;
    }
    lua_pushboolean(L, tau_allclose(a, b, rtol, atol, ltau_optbool(L, 3, "equal_nan", 0, fn)));
    return 1;
}

static int m_equal(lua_State *L) {
    const char *fn = "tau.equal";
    lua_pushboolean(L, tau_equal(ltau_check(L, 1, fn), ltau_check(L, 2, fn)));
    return 1;
}

/* Element access by a 1-based logical (row-major) position, whatever the strides: for
 * gradient checks and other element-wise probing from Lua. */
static int64_t flat_offset(lua_State *L, tau_tensor *t, int idx, const char *fn) {
    int64_t i = ltau_checkint(L, idx, fn, "position"), n = tau_numel(t);
    if (i < 1 || i > n) ltau_raisef(L, "%s: position %lld out of range 1..%lld", fn, (long long)i, (long long)n);
    i--;
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) { off += (i % t->shape[d]) * t->stride[d]; i /= t->shape[d]; }
    return off;
}

static int m_get_flat(lua_State *L) {
    tau_tensor *t = SELF("Tensor:get_flat");
    push_value(L, t, flat_offset(L, t, 2, "Tensor:get_flat"));
    return 1;
}

static int m_set_flat(lua_State *L) {
    const char *fn = "Tensor:set_flat";
    tau_tensor *t = SELF(fn);
    int64_t off = flat_offset(L, t, 2, fn);
    double v = luaL_checknumber(L, 3);
    if (tau_check_inplace(fn, t)) return ltau_error(L, fn);
    if (t->dtype == TAU_F32) ((float *)t->storage->data)[off] = (float)v;
    else ((int32_t *)t->storage->data)[off] = (int32_t)v;
    tau_bump_version(t);
    return 0;
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg methods[] = {
    {"size", m_size}, {"stride", m_stride}, {"dim", m_dim}, {"numel", m_numel}, {"nelement", m_numel},
    {"dtype", m_dtype}, {"type", m_type}, {"is_contiguous", m_is_contiguous}, {"item", m_item},
    {"totable", m_totable}, {"view", m_view}, {"reshape", m_reshape}, {"expand", m_expand},
    {"transpose", m_transpose}, {"t", m_t}, {"permute", m_permute}, {"narrow", m_narrow},
    {"select", m_select}, {"squeeze", m_squeeze}, {"unsqueeze", m_unsqueeze}, {"flatten", m_flatten},
    {"contiguous", m_contiguous}, {"clone", m_clone}, {"float", m_float}, {"int", m_int},
    {"add", m_add}, {"sub", m_sub}, {"mul", m_mul}, {"div", m_div}, {"pow", m_powop},
    {"maximum", m_maximum}, {"minimum", m_minimum}, {"eq", m_eq}, {"ne", m_ne}, {"lt", m_lt},
    {"le", m_le}, {"gt", m_gt}, {"ge", m_ge}, {"neg", m_neg}, {"exp", m_exp}, {"log", m_log},
    {"sqrt", m_sqrt}, {"rsqrt", m_rsqrt}, {"abs", m_abs}, {"sign", m_sign}, {"tanh", m_tanh},
    {"sigmoid", m_sigmoid}, {"relu", m_relu}, {"floor", m_floor}, {"ceil", m_ceil}, {"round", m_round},
    {"sin", m_sin}, {"cos", m_cos}, {"log1p", m_log1p}, {"expm1", m_expm1}, {"reciprocal", m_recip},
    {"square", m_square}, {"erf", m_erf}, {"isnan", m_isnan}, {"clamp", m_clamp},
    {"add_", m_add_}, {"sub_", m_sub_}, {"mul_", m_mul_}, {"div_", m_div_}, {"clamp_", m_clamp_},
    {"fill_", m_fill_}, {"zero_", m_zero_}, {"copy_", m_copy_}, {"uniform_", m_uniform_}, {"normal_", m_normal_},
    {"sum", m_sum}, {"mean", m_mean}, {"prod", m_prod}, {"var", m_var}, {"std", m_std}, {"max", m_max},
    {"min", m_min}, {"logsumexp", m_logsumexp}, {"argmax", m_argmax}, {"argmin", m_argmin},
    {"matmul", m_matmul}, {"mm", m_matmul}, {"bmm", m_bmm}, {"index_select", m_index_select},
    {"get_flat", m_get_flat}, {"set_flat", m_set_flat}, {"gather", m_gather}, {"scatter_add", m_scatter_add}, {"allclose", m_allclose}, {"equal", m_equal},
    {NULL, NULL}};

static const luaL_Reg meta[] = {
    {"__gc", t_gc}, {"__close", t_gc}, {"__tostring", m_tostring}, {"__index", m_index},
    {"__newindex", m_newindex}, {"__len", m_len}, {"__add", m_add}, {"__sub", m_sub}, {"__mul", m_mul},
    {"__div", m_div}, {"__pow", m_powop}, {"__unm", m_neg}, {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"tensor", f_tensor}, {"zeros", f_zeros}, {"ones", f_ones}, {"full", f_full}, {"empty", f_empty},
    {"rand", f_rand}, {"randn", f_randn}, {"randint", f_randint}, {"randperm", f_randperm},
    {"arange", f_arange}, {"linspace", f_linspace}, {"eye", f_eye}, {"cat", f_cat}, {"stack", f_stack},
    {"where", m_where}, {"one_hot", m_one_hot}, {NULL, NULL}};

int ltau_open_tensor(lua_State *L) {
    luaL_newmetatable(L, LTAU_TENSOR);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__methods");
    lua_pushstring(L, "tau.Tensor");
    lua_setfield(L, -2, "__name");
    /* tau.add(x, y) and friends as functions too */
    lua_getfield(L, -1, "__methods");
    for (const luaL_Reg *r = methods; r->name; r++) {
        lua_getfield(L, -1, r->name);
        lua_setfield(L, -4, r->name);
    }
    lua_pop(L, 2);
    luaL_setfuncs(L, functions, 0);
    static const char *const reductions[] = {"tau.sum", "tau.mean", "tau.prod", "tau.var", "tau.std", "tau.max",
                                             "tau.min", "tau.logsumexp"};
    for (size_t i = 0; i < sizeof reductions / sizeof reductions[0]; i++)
        ltau_declare_opts(L, reductions[i], reduce_opts);
    ltau_declare_opts(L, "tau.allclose", allclose_opts);
    return 0;
}
