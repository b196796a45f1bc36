/* tau._corrupt: the common corruptions (core/robust/corrupt.h) and natural perturbations
 * (core/robust/shift.h) for scripts/tau/corrupt.lua. Every argument is checked here, with messages
 * that name the public function (tau.corrupt.apply, ...) and the argument by name, since the
 * Lua layer passes its arguments through in another order than the user gave them.
 *
 *   names                                        the 19 names, benchmark order first
 *   apply(x, name, severity, seed, frost_dir)    -> same shape as x
 *   is_deterministic(name)                       -> boolean
 *   shift(x, rotate, dx, dy, scale, border, fill)                 -> same shape as x
 *   random_shift(x, rotate, translate, scale, seed, border, fill) -> y, (N, 4) drawn warps
 */
#include "ltau.h"
#include "robust/corrupt.h"
#include "robust/shift.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define FN_APPLY "tau.corrupt.apply"
#define FN_DET "tau.corrupt.is_deterministic"
#define FN_SHIFT "tau.corrupt.shift"
#define FN_RANDOM "tau.corrupt.random_shift"

/* A batch view of the images of x: (N, C, H, W), with N = 1 for a (C, H, W) tensor. */
typedef struct {
    tau_tensor *x;   /* contiguous, owned by a stack slot or by the caller's argument */
    int64_t n, c, h, w;
} images;

static const char *describe(lua_State *L, int idx) {
    if (ltau_test(L, idx)) return "a tensor";
    if (luaL_testudata(L, idx, LTAU_TENSOR)) return "a released tensor";
    return luaL_typename(L, idx);
}

/* Checks argument idx is a float32 (C, H, W) or (N, C, H, W) tensor and gives it contiguous
 * (pushing the copy, if one is needed, so the stack owns it). */
static images check_images(lua_State *L, int idx, const char *fn) {
    tau_tensor *t = ltau_test(L, idx);
    if (!t)
        ltau_raisef(L, "%s: x must be a float32 tensor (C, H, W) or (N, C, H, W), got %s", fn,
                   describe(L, idx));
    char shp[160];
    if (t->dtype != TAU_F32)
        ltau_raisef(L, "%s: x must be float32, got %s %s", fn, tau_dtype_name(t->dtype),
                   tau_shape_str(t, shp, sizeof shp));
    if (t->ndim != 3 && t->ndim != 4)
        ltau_raisef(L, "%s: x must be (C, H, W) or (N, C, H, W), got %d dimensions %s", fn,
                   t->ndim, tau_shape_str(t, shp, sizeof shp));
    images im;
    int o = t->ndim - 3;
    im.n = o ? t->shape[0] : 1;
    im.c = t->shape[o];
    im.h = t->shape[o + 1];
    im.w = t->shape[o + 2];
    if (tau_is_contiguous(t)) {
        im.x = t;
    } else {
        tau_tensor **slot = ltau_newslot(L);
        *slot = tau_contiguous(t);
        ltau_done(L, slot, fn);
        im.x = *slot;
    }
    return im;
}

/* Writes the 1-based multi-index of flat element k of t, "[1, 3, 5, 2]", for messages. */
static void index_str(const tau_tensor *t, int64_t k, char *buf, size_t n) {
    int64_t idx[TAU_MAXDIM];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = k % t->shape[d] + 1;
        k /= t->shape[d];
    }
    tau_dims_str(t->ndim, idx, buf, n);
}

static const char *value_str(float v, char *buf, size_t n) {
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "inf" : "-inf";
    snprintf(buf, n, "%.9g", (double)v);
    return buf;
}

/* The corruptions are defined on [0, 1] images; anything else (e.g. normalised inputs) would
 * silently give meaningless results, so it is refused. NaN fails both comparisons. */
static void check_values(lua_State *L, const images *im, const char *fn, int unit_range) {
    const float *p = tau_f32(im->x);
    int64_t total = tau_numel(im->x);
    for (int64_t k = 0; k < total; k++) {
        float v = p[k];
        if (unit_range ? (v >= 0.0f && v <= 1.0f) : isfinite(v)) continue;
        char at[160], vb[40];
        index_str(im->x, k, at, sizeof at);
        if (!isfinite(v))
            ltau_raisef(L, "%s: x holds %s at %s (values must be %s)", fn, value_str(v, vb, sizeof vb),
                       at, unit_range ? "in [0, 1]" : "finite");
        ltau_raisef(L, "%s: x must hold values in [0, 1], got %s at %s", fn,
                   value_str(v, vb, sizeof vb), at);
    }
}

static const char *valid_names(char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < tau_corrupt_count() && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", tau_corrupt_name(i));
    return buf;
}

static const char *check_name(lua_State *L, int idx, const char *fn) {
    if (lua_type(L, idx) != LUA_TSTRING)
        ltau_raisef(L, "%s: the corruption name must be a string, got %s", fn, describe(L, idx));
    const char *name = lua_tostring(L, idx);
    if (tau_corrupt_is_deterministic(name) < 0) {
        char list[512];
        ltau_raisef(L, "%s: unknown corruption '%s' (valid: %s)", fn, name,
                   valid_names(list, sizeof list));
    }
    return name;
}

static const char *arg_str(lua_State *L, int idx) {
    if (lua_type(L, idx) == LUA_TNUMBER) return lua_pushfstring(L, "%s", lua_tostring(L, idx));
    return describe(L, idx);
}

static int check_severity(lua_State *L, int idx, const char *fn) {
    int isint = 0;
    lua_Integer s = lua_tointegerx(L, idx, &isint);
    if (lua_type(L, idx) != LUA_TNUMBER || !isint || s < 1 || s > 5)
        ltau_raisef(L, "%s: severity must be an integer in 1..5, got %s", fn, arg_str(L, idx));
    return (int)s;
}

/* Any integer (negative ones too, taken modulo 2^64); nil means 0. */
static uint64_t check_seed(lua_State *L, int idx, const char *fn) {
    if (lua_isnoneornil(L, idx)) return 0;
    int isint = 0;
    lua_Integer s = lua_tointegerx(L, idx, &isint);
    if (lua_type(L, idx) != LUA_TNUMBER || !isint)
        ltau_raisef(L, "%s: seed must be an integer, got %s", fn, arg_str(L, idx));
    return (uint64_t)s;
}

static double check_number(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        ltau_raisef(L, "%s: %s must be a number, got %s", fn, what, describe(L, idx));
    double v = lua_tonumber(L, idx);
    if (!isfinite(v)) ltau_raisef(L, "%s: %s must be finite, got %s", fn, what, arg_str(L, idx));
    return v;
}

static int check_border(lua_State *L, int idx, const char *fn) {
    static const char *const modes[] = {"constant", "edge", NULL};
    if (lua_isnil(L, idx)) return TAU_SHIFT_CONSTANT;
    if (lua_type(L, idx) != LUA_TSTRING)
        ltau_raisef(L, "%s: border must be 'constant' or 'edge', got %s", fn, describe(L, idx));
    const char *s = lua_tostring(L, idx);
    for (int i = 0; modes[i]; i++)
        if (!strcmp(s, modes[i])) return i == 0 ? TAU_SHIFT_CONSTANT : TAU_SHIFT_EDGE;
    ltau_raisef(L, "%s: border must be 'constant' or 'edge', got '%s'", fn, s);
    return 0;
}

/* A new tensor shaped like x, created before the core runs so an error cannot leak it. */
static tau_tensor *new_output(lua_State *L, const tau_tensor *x, const char *fn) {
    tau_tensor **slot = ltau_newslot(L);
    *slot = tau_empty(TAU_F32, x->ndim, x->shape);
    ltau_done(L, slot, fn);
    return *slot;
}

static int f_apply(lua_State *L) {
    lua_settop(L, 5);
    images im = check_images(L, 1, FN_APPLY);
    const char *name = check_name(L, 2, FN_APPLY);
    int severity = check_severity(L, 3, FN_APPLY);
    uint64_t seed = check_seed(L, 4, FN_APPLY);
    const char *frost_dir = NULL;
    if (!lua_isnil(L, 5)) {
        if (lua_type(L, 5) != LUA_TSTRING)
            return ltau_raisef(L, "%s: frost_dir must be a string, got %s", FN_APPLY, describe(L, 5));
        frost_dir = lua_tostring(L, 5);
    }
    char shp[160];
    if (im.c != 1 && im.c != 3)
        return ltau_raisef(L, "%s: images must have 1 or 3 channels, got %lld (x is %s)", FN_APPLY,
                          (long long)im.c, tau_shape_str(im.x, shp, sizeof shp));
    if (im.h < 8 || im.w < 8 || im.h > 32768 || im.w > 32768)
        return ltau_raisef(L, "%s: images must be 8..32768 pixels on each side, got %lld x %lld (x is %s)",
                          FN_APPLY, (long long)im.h, (long long)im.w, tau_shape_str(im.x, shp, sizeof shp));
    check_values(L, &im, FN_APPLY, 1);
    tau_tensor *out = new_output(L, im.x, FN_APPLY);
    if (tau_corrupt_apply(tau_f32(im.x), tau_f32(out), im.n, im.c, im.h, im.w, name, severity,
                          seed, frost_dir) != TAU_OK)
        return ltau_error(L, FN_APPLY);
    return 1;
}

static int f_is_deterministic(lua_State *L) {
    lua_pushboolean(L, tau_corrupt_is_deterministic(check_name(L, 1, FN_DET)) == 1);
    return 1;
}

static int f_shift(lua_State *L) {
    lua_settop(L, 7);
    images im = check_images(L, 1, FN_SHIFT);
    tau_shift_params p;
    p.rotate = check_number(L, 2, FN_SHIFT, "rotate");
    p.dx = check_number(L, 3, FN_SHIFT, "translate[1] (dx)");
    p.dy = check_number(L, 4, FN_SHIFT, "translate[2] (dy)");
    p.scale = check_number(L, 5, FN_SHIFT, "scale");
    if (!(p.scale > 0)) return ltau_raisef(L, "%s: scale must be positive, got %s", FN_SHIFT, arg_str(L, 5));
    int border = check_border(L, 6, FN_SHIFT);
    double fill = lua_isnil(L, 7) ? 0.0 : check_number(L, 7, FN_SHIFT, "fill");
    check_values(L, &im, FN_SHIFT, 0);
    tau_tensor *out = new_output(L, im.x, FN_SHIFT);
    if (tau_shift_apply(tau_f32(im.x), tau_f32(out), im.n, im.c, im.h, im.w, &p, border, fill) != TAU_OK)
        return ltau_error(L, FN_SHIFT);
    return 1;
}

static int f_random_shift(lua_State *L) {
    lua_settop(L, 7);
    images im = check_images(L, 1, FN_RANDOM);
    double r = check_number(L, 2, FN_RANDOM, "rotate");
    double t = check_number(L, 3, FN_RANDOM, "translate");
    double s = check_number(L, 4, FN_RANDOM, "scale");
    if (r < 0) return ltau_raisef(L, "%s: rotate (the largest rotation, in degrees) must be >= 0, got %s", FN_RANDOM, arg_str(L, 2));
    if (t < 0) return ltau_raisef(L, "%s: translate (the largest move, in pixels) must be >= 0, got %s", FN_RANDOM, arg_str(L, 3));
    if (s < 0 || s >= 1)
        return ltau_raisef(L, "%s: scale (the largest relative zoom) must be in [0, 1), got %s", FN_RANDOM, arg_str(L, 4));
    uint64_t seed = check_seed(L, 5, FN_RANDOM);
    int border = check_border(L, 6, FN_RANDOM);
    double fill = lua_isnil(L, 7) ? 0.0 : check_number(L, 7, FN_RANDOM, "fill");
    check_values(L, &im, FN_RANDOM, 0);
    tau_tensor *out = new_output(L, im.x, FN_RANDOM);
    int64_t ps[2] = {im.n, 4};
    tau_tensor **pslot = ltau_newslot(L);
    *pslot = tau_empty(TAU_F32, 2, ps);
    ltau_done(L, pslot, FN_RANDOM);
    /* The drawn warps go to a userdata buffer, which the collector frees even if we raise. */
    tau_shift_params *drawn = lua_newuserdatauv(L, sizeof *drawn * (size_t)(im.n ? im.n : 1), 0);
    if (tau_shift_random(tau_f32(im.x), tau_f32(out), im.n, im.c, im.h, im.w, r, t, s, seed,
                         border, fill, drawn) != TAU_OK)
        return ltau_error(L, FN_RANDOM);
    float *pv = tau_f32(*pslot);
    for (int64_t i = 0; i < im.n; i++) {
        pv[4 * i] = (float)drawn[i].rotate;
        pv[4 * i + 1] = (float)drawn[i].dx;
        pv[4 * i + 2] = (float)drawn[i].dy;
        pv[4 * i + 3] = (float)drawn[i].scale;
    }
    lua_pop(L, 1);
    return 2;
}

static const luaL_Reg fns[] = {{"apply", f_apply}, {"is_deterministic", f_is_deterministic},
                               {"shift", f_shift}, {"random_shift", f_random_shift}, {NULL, NULL}};

int ltau_open_corrupt(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    lua_createtable(L, tau_corrupt_count(), 0);
    for (int i = 0; i < tau_corrupt_count(); i++) {
        lua_pushstring(L, tau_corrupt_name(i));
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "names");
    lua_setfield(L, -2, "_corrupt");
    return 0;
}
