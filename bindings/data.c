/* Data sets, batching, images and safetensors files from Lua. A data set is a userdata that
 * owns the decoded bytes; the Lua module tau.data builds loaders and subsets on top. */
#include "ltau.h"
#include "base/alloc.h"
#include "base/atomic.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/safetensors.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LTAU_DATASET "tau.Dataset"

static tau_dataset *check_ds(lua_State *L, int idx, const char *fn) {
    tau_dataset *ds = luaL_testudata(L, idx, LTAU_DATASET);
    if (!ds) ltau_raisef(L, "%s: argument %d must be a data set, got %s", fn, idx, luaL_typename(L, idx));
    if (!ds->pixels && ds->n) ltau_raisef(L, "%s: the data set has been released", fn);
    return ds;
}

static int ds_gc(lua_State *L) {
    tau_dataset *ds = luaL_checkudata(L, 1, LTAU_DATASET);
    tau_dataset_free(ds);
    return 0;
}

/* The userdata is created (zeroed) before loading, so an error cannot leak the bytes. */
static tau_dataset *new_ds(lua_State *L) {
    tau_dataset *ds = lua_newuserdatauv(L, sizeof *ds, 0);
    memset(ds, 0, sizeof *ds);
    luaL_setmetatable(L, LTAU_DATASET);
    return ds;
}

static int loaded(lua_State *L, int rc, const char *fn) {
    if (rc) return ltau_error(L, fn);
    return 1;
}

static const char *opt_root(lua_State *L, int idx) { return luaL_optstring(L, idx, NULL); }

static const char *check_split(lua_State *L, int idx, const char *fn) {
    const char *s = luaL_optstring(L, idx, "train");
    if (strcmp(s, "train") && strcmp(s, "test") && strcmp(s, "val"))
        ltau_raisef(L, "%s: split must be 'train', 'test' or 'val', got '%s'", fn, s);
    return s;
}

static int l_fashion_mnist(lua_State *L) {
    const char *fn = "tau.data.fashion_mnist";
    const char *root = opt_root(L, 1), *split = check_split(L, 2, fn);
    return loaded(L, tau_dataset_load_fashion_mnist(root, split, new_ds(L)), fn);
}

static int l_mnist(lua_State *L) {
    const char *fn = "tau.data.mnist";
    const char *root = luaL_checkstring(L, 1), *split = check_split(L, 2, fn);
    return loaded(L, tau_dataset_load_mnist(root, split, new_ds(L)), fn);
}

static int l_idx(lua_State *L) {
    const char *fn = "tau.data.idx";
    const char *im = luaL_checkstring(L, 1), *lb = luaL_checkstring(L, 2);
    return loaded(L, tau_dataset_load_idx(im, lb, new_ds(L)), fn);
}

static int l_cifar10(lua_State *L) {
    const char *fn = "tau.data.cifar10";
    const char *root = luaL_checkstring(L, 1), *split = check_split(L, 2, fn);
    return loaded(L, tau_dataset_load_cifar10(root, split, new_ds(L)), fn);
}

static int l_cifar100(lua_State *L) {
    const char *fn = "tau.data.cifar100";
    const char *root = luaL_checkstring(L, 1), *split = check_split(L, 2, fn);
    int coarse = lua_toboolean(L, 3);
    return loaded(L, tau_dataset_load_cifar100(root, split, coarse, new_ds(L)), fn);
}

static int l_cifar_files(lua_State *L) {
    const char *fn = "tau.data.cifar_files";
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)luaL_len(L, 1);
    if (n < 1 || n > 64) return ltau_raisef(L, "%s: expected 1 to 64 files", fn);
    const char *paths[64];
    for (int i = 0; i < n; i++) {
        /* only a string element stays alive in the table once popped (a number converted
         * by lua_tostring would be a new string, collectable after the pop) */
        if (lua_geti(L, 1, i + 1) != LUA_TSTRING) return ltau_raisef(L, "%s: file %d is not a string", fn, i + 1);
        paths[i] = lua_tostring(L, -1);
        lua_pop(L, 1); /* the table keeps the string */
    }
    static const char *const variants[] = {"cifar10", "fine", "coarse", NULL};
    int v = luaL_checkoption(L, 2, "cifar10", variants);
    return loaded(L, tau_dataset_load_cifar_files(paths, n, v, new_ds(L)), fn);
}

static int l_image_folder(lua_State *L) {
    const char *fn = "tau.data.image_folder";
    const char *root = luaL_checkstring(L, 1);
    lua_Integer ch = luaL_optinteger(L, 2, 0);
    if (ch != 0 && ch != 1 && ch != 3) return ltau_raisef(L, "%s: channels must be 1 or 3, got %d", fn, (int)ch);
    return loaded(L, tau_dataset_load_image_folder(root, (int)ch, new_ds(L)), fn);
}

static int l_tiny_imagenet(lua_State *L) {
    const char *fn = "tau.data.tiny_imagenet";
    const char *root = luaL_checkstring(L, 1), *split = check_split(L, 2, fn);
    return loaded(L, tau_dataset_load_tiny_imagenet(root, split, new_ds(L)), fn);
}

/* ds:info() -> {n, channels, height, width, classes, class_names} */
static int ds_info(lua_State *L) {
    tau_dataset *ds = check_ds(L, 1, "Dataset:info");
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, ds->n); lua_setfield(L, -2, "n");
    lua_pushinteger(L, ds->c); lua_setfield(L, -2, "channels");
    lua_pushinteger(L, ds->h); lua_setfield(L, -2, "height");
    lua_pushinteger(L, ds->w); lua_setfield(L, -2, "width");
    lua_pushinteger(L, ds->num_classes); lua_setfield(L, -2, "classes");
    lua_createtable(L, ds->num_classes, 0);
    for (int i = 0; i < ds->num_classes; i++) {
        lua_pushstring(L, ds->class_names && ds->class_names[i] ? ds->class_names[i] : "");
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "class_names");
    return 1;
}

static int ds_size(lua_State *L) { lua_pushinteger(L, check_ds(L, 1, "Dataset:size")->n); return 1; }

static float *opt_floats(lua_State *L, int opt, const char *key, int64_t c, float *buf, const char *fn) {
    if (!lua_istable(L, opt)) return NULL;
    if (lua_getfield(L, opt, key) == LUA_TNIL) { lua_pop(L, 1); return NULL; }
    if (lua_type(L, -1) == LUA_TNUMBER) {
        for (int64_t i = 0; i < c; i++) buf[i] = (float)lua_tonumber(L, -1);
    } else if (lua_istable(L, -1) && luaL_len(L, -1) == c) {
        for (int64_t i = 0; i < c; i++) {
            lua_geti(L, -1, i + 1);
            if (lua_type(L, -1) != LUA_TNUMBER) ltau_raisef(L, "%s: %s must hold numbers", fn, key);
            buf[i] = (float)lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    } else {
        ltau_raisef(L, "%s: %s must be a number or a list of %d numbers (one per channel)", fn, key, (int)c);
    }
    lua_pop(L, 1);
    return buf;
}

static const ltau_opt batch_opts[] = {
    {"pad", LTAU_OPT_INTEGER, NULL}, {"flip", LTAU_OPT_BOOLEAN, NULL}, {"mean", LTAU_OPT_NUMBER | LTAU_OPT_TABLE, NULL},
    {"std", LTAU_OPT_NUMBER | LTAU_OPT_TABLE, NULL}, {"seed", 0, NULL}, {NULL, 0, NULL}};

/* ds:batch(indices, {pad, flip, mean, std, seed}) -> x (B, C, H, W) float, y (B) int32 1-based.
 * indices: an int32 tensor or a table of 1-based positions. */
static int ds_batch(lua_State *L) {
    const char *fn = "Dataset:batch";
    tau_dataset *ds = check_ds(L, 1, fn);
    lua_settop(L, 3);
    ltau_checkopts(L, 3, fn, batch_opts);
    int64_t b;
    tau_tensor *it = ltau_test(L, 2);
    if (it) {
        if (it->dtype != TAU_I32 || it->ndim != 1) return ltau_raisef(L, "%s: indices must be a 1-dimensional int32 tensor", fn);
        b = it->shape[0];
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        b = (int64_t)luaL_len(L, 2);
    }
    if (b < 1) return ltau_raisef(L, "%s: empty list of indices", fn);
    int64_t *idx = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)b, 0); /* freed by the GC */
    for (int64_t i = 0; i < b; i++) {
        int64_t v;
        if (it) v = tau_i32(it)[i * it->stride[0]];
        else { lua_geti(L, 2, i + 1); v = ltau_checkint(L, -1, fn, "index"); lua_pop(L, 1); }
        if (v < 1 || v > ds->n) return ltau_raisef(L, "%s: index %lld out of range 1..%lld", fn, (long long)v, (long long)ds->n);
        idx[i] = v - 1;
    }
    tau_batch_opts o = {0};
    float mean[4], std[4];
    if (ds->c > 4) return ltau_raisef(L, "%s: at most 4 channels", fn);
    o.pad = (int)ltau_optnumber(L, 3, "pad", 0, fn);
    if (o.pad < 0 || o.pad > 64) return ltau_raisef(L, "%s: pad must be in 0..64, got %d", fn, o.pad);
    o.flip = ltau_optbool(L, 3, "flip", 0, fn);
    o.mean = opt_floats(L, 3, "mean", ds->c, mean, fn);
    o.std = opt_floats(L, 3, "std", ds->c, std, fn);
    if (o.std) for (int64_t i = 0; i < ds->c; i++) if (!(std[i] > 0)) return ltau_raisef(L, "%s: std must be positive", fn);
    /* a seed is a full 64-bit integer (tau.data mixes them): a double would drop its low bits */
    if (lua_istable(L, 3)) {
        if (lua_getfield(L, 3, "seed") != LUA_TNIL) {
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (!isint) return ltau_raisef(L, "%s: seed must be an integer", fn);
            o.seed = (uint64_t)v;
        }
        lua_pop(L, 1);
    }
    int64_t xs[4] = {b, ds->c, ds->h, ds->w};
    int32_t *labels = lua_newuserdatauv(L, sizeof(int32_t) * (size_t)b, 0); /* freed by the GC */
    tau_tensor **x = ltau_newslot(L);
    *x = tau_empty(TAU_F32, 4, xs);
    ltau_done(L, x, fn);
    if (tau_batch_make(ds, idx, b, &o, tau_f32(*x), labels)) return ltau_error(L, fn);
    ltau_pushlabels(L, labels, b, fn);
    return 2;
}

/* ds:get(i) -> image (C, H, W) float in [0, 1], label 1-based */
static int ds_get(lua_State *L) {
    const char *fn = "Dataset:get";
    tau_dataset *ds = check_ds(L, 1, fn);
    int64_t i = ltau_checkint(L, 2, fn, "index");
    if (i < 1 || i > ds->n) return ltau_raisef(L, "%s: index %lld out of range 1..%lld", fn, (long long)i, (long long)ds->n);
    int64_t shape[3] = {ds->c, ds->h, ds->w};
    tau_tensor **x = ltau_newslot(L);
    *x = tau_empty(TAU_F32, 3, shape);
    ltau_done(L, x, fn);
    int32_t label;
    int64_t k = i - 1;
    if (tau_batch_make(ds, &k, 1, NULL, tau_f32(*x), &label)) return ltau_error(L, fn);
    lua_pushinteger(L, ltau_label_tolua(label));
    return 2;
}

/* ds:labels() -> int32 tensor (N) of 1-based labels */
static int ds_labels(lua_State *L) {
    const char *fn = "Dataset:labels";
    tau_dataset *ds = check_ds(L, 1, fn);
    ltau_pushlabels(L, ds->labels, ds->n, fn);
    return 1;
}

static int l_permutation(lua_State *L) {
    const char *fn = "tau.data.permutation";
    int64_t n = ltau_checkint(L, 1, fn, "n");
    lua_Integer seed = luaL_checkinteger(L, 2);
    if (n < 1 || n > INT32_MAX) return ltau_raisef(L, "%s: n must be in 1..2^31-1, got %lld", fn, (long long)n);
    tau_tensor **t = ltau_newslot(L);
    *t = tau_empty(TAU_I32, 1, &n);
    ltau_done(L, t, fn);
    int64_t *p = tau_alloc(sizeof(int64_t) * (size_t)n);
    if (!p) return ltau_raisef(L, "%s: out of memory", fn);
    int rc = tau_permutation(n, (uint64_t)seed, p);
    for (int64_t i = 0; !rc && i < n; i++) tau_i32(*t)[i] = (int32_t)(p[i] + 1);
    tau_free(p, sizeof(int64_t) * (size_t)n);
    if (rc) return ltau_error(L, fn);
    return 1;
}

static int l_seed_mix(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)(tau_seed_mix((uint64_t)luaL_checkinteger(L, 1), (uint64_t)luaL_checkinteger(L, 2)) >> 1));
    return 1;
}

/* ---------------------------------------------------------------- images */

static int l_image_load(lua_State *L) {
    const char *fn = "tau.image.load";
    const char *path = luaL_checkstring(L, 1);
    lua_Integer ch = luaL_optinteger(L, 2, 0);
    if (ch < 0 || ch > 4) return ltau_raisef(L, "%s: channels must be 1..4 (or 0 to keep the file's), got %d", fn, (int)ch);
    tau_tensor **slot = ltau_newslot(L);
    int c, h, w;
    float *data;
    if (tau_image_load_channels(path, (int)ch, &c, &h, &w, &data)) return ltau_error(L, fn);
    int64_t shape[3] = {c, h, w};
    *slot = tau_empty(TAU_F32, 3, shape);
    if (*slot) memcpy(tau_f32(*slot), data, tau_image_bytes(c, h, w));
    tau_free(data, tau_image_bytes(c, h, w));
    ltau_done(L, slot, fn);
    return 1;
}

static const ltau_opt image_save_opts[] = {{"quality", LTAU_OPT_INTEGER, NULL}, {NULL, 0, NULL}};

static int l_image_save(lua_State *L) {
    const char *fn = "tau.image.save";
    const char *path = luaL_checkstring(L, 1);
    tau_tensor *x = ltau_check(L, 2, fn);
    ltau_checkopts(L, 3, fn, image_save_opts);
    int quality = (int)ltau_optnumber(L, 3, "quality", 90, fn);
    if (x->dtype != TAU_F32) return ltau_raisef(L, "%s: image must be float32, got %s", fn, tau_dtype_name(x->dtype));
    tau_tensor *img = x;
    if (x->ndim == 2) { /* (H, W): one channel */
        tau_tensor **s = ltau_newslot(L);
        *s = tau_unsqueeze(x, 0);
        ltau_done(L, s, fn);
        img = *s;
    }
    if (img->ndim != 3 || img->shape[0] < 1 || img->shape[0] > 4) {
        char b[160];
        return ltau_raisef(L, "%s: image must be (C, H, W) with C in 1..4 or (H, W), got %s", fn, tau_shape_str(x, b, sizeof b));
    }
    if (img->shape[1] > 65535 || img->shape[2] > 65535 || img->shape[1] < 1 || img->shape[2] < 1)
        return ltau_raisef(L, "%s: image height and width must be 1..65535", fn);
    if (quality < 1 || quality > 100) return ltau_raisef(L, "%s: quality must be 1..100, got %d", fn, quality);
    tau_tensor **c = ltau_newslot(L);
    *c = tau_contiguous(img);
    ltau_done(L, c, fn);
    if (tau_image_save(path, tau_f32(*c), (int)img->shape[0], (int)img->shape[1], (int)img->shape[2], quality))
        return ltau_error(L, fn);
    return 0;
}

/* ---------------------------------------------------------------- safetensors */

/* tau._st_write(path, names, tensors, meta) where meta is {key = string value} */
static int l_st_write(lua_State *L) {
    const char *fn = "tau.save";
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)luaL_len(L, 2);
    if (n != (int)luaL_len(L, 3)) return ltau_raisef(L, "%s: names and tensors differ in length", fn);
    /* every contiguous copy stays on the stack until the file is written */
    luaL_checkstack(L, n + 8, "tau.save: too many tensors");
    tau_st_tensor *ts = lua_newuserdatauv(L, sizeof *ts * (size_t)(n ? n : 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        const char *name = lua_tostring(L, -1);
        lua_pop(L, 1);
        lua_geti(L, 3, i + 1);
        tau_tensor *t = ltau_test(L, -1);
        lua_pop(L, 1);
        if (!name || !t) return ltau_raisef(L, "%s: entry %d is not a named tensor", fn, i + 1);
        tau_tensor **c = ltau_newslot(L); /* stays on the stack until written */
        *c = tau_contiguous(t);
        ltau_done(L, c, fn);
        ts[i].name = (char *)name;
        ts[i].dtype = t->dtype == TAU_F32 ? TAU_ST_F32 : TAU_ST_I32;
        ts[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) ts[i].shape[d] = t->shape[d];
        ts[i].data = t->storage ? (void *)tau_f32(*c) : NULL;
        ts[i].nbytes = (size_t)tau_numel(t) * 4;
    }
    /* metadata pairs */
    int nm = 0;
    if (lua_istable(L, 4)) {
        lua_pushnil(L);
        while (lua_next(L, 4)) { nm++; lua_pop(L, 1); }
    }
    const char **kv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(2 * nm + 1), 0);
    int k = 0;
    if (nm) {
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return ltau_raisef(L, "%s: metadata keys and values must be strings", fn);
            kv[k++] = lua_tostring(L, -2);
            kv[k++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    kv[k] = NULL;
    if (tau_st_write(path, ts, n, kv)) return ltau_error(L, fn);
    return 0;
}

/* Converts a read tensor's raw data to float32 or int32. */
static tau_tensor *st_to_tensor(const tau_st_tensor *s) {
    int isint = s->dtype == TAU_ST_I32 || s->dtype == TAU_ST_I64 || s->dtype == TAU_ST_I16 || s->dtype == TAU_ST_U16 ||
                s->dtype == TAU_ST_I8 || s->dtype == TAU_ST_U8 || s->dtype == TAU_ST_BOOL || s->dtype == TAU_ST_U32 ||
                s->dtype == TAU_ST_U64;
    tau_tensor *t = tau_empty(isint ? TAU_I32 : TAU_F32, s->ndim, s->shape);
    if (!t) return NULL;
    int64_t n = tau_numel(t);
    const unsigned char *p = s->data;
    for (int64_t i = 0; i < n; i++) {
        double v = 0;
        switch (s->dtype) {
        case TAU_ST_F32: { float f; memcpy(&f, p + 4 * i, 4); v = f; break; }
        case TAU_ST_F64: { double d; memcpy(&d, p + 8 * i, 8); v = d; break; }
        case TAU_ST_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); v = x; break; }
        case TAU_ST_U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); v = x; break; }
        case TAU_ST_I64: { int64_t x; memcpy(&x, p + 8 * i, 8); v = (double)x; break; }
        case TAU_ST_U64: { uint64_t x; memcpy(&x, p + 8 * i, 8); v = (double)x; break; }
        case TAU_ST_I16: { int16_t x; memcpy(&x, p + 2 * i, 2); v = x; break; }
        case TAU_ST_U16: { uint16_t x; memcpy(&x, p + 2 * i, 2); v = x; break; }
        case TAU_ST_I8: v = (int8_t)p[i]; break;
        case TAU_ST_U8: case TAU_ST_BOOL: v = p[i]; break;
        case TAU_ST_F16: {
            uint16_t h; memcpy(&h, p + 2 * i, 2);
            int e = (h >> 10) & 31, m = h & 1023;
            v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
            if (h & 0x8000) v = -v;
            break;
        }
        case TAU_ST_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); v = f; break; }
        default: break;
        }
        if (isint) tau_i32(t)[i] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
        else tau_f32(t)[i] = (float)v;
    }
    return t;
}

/* tau._st_read(path) -> {name = tensor}, {key = value} */
static int l_st_read(lua_State *L) {
    const char *fn = "tau.load";
    const char *path = luaL_checkstring(L, 1);
    tau_st_file *f = lua_newuserdatauv(L, sizeof *f, 0);
    memset(f, 0, sizeof *f);
    if (tau_st_read(path, f)) return ltau_error(L, fn);
    /* from here a Lua error would leak f's blocks: build the result with protected care */
    lua_createtable(L, 0, f->count);
    for (int i = 0; i < f->count; i++) {
        tau_tensor *t = st_to_tensor(&f->tensors[i]);
        if (!t) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", tau_errmsg());
            tau_st_free(f);
            return ltau_raisef(L, "%s: %s", fn, msg);
        }
        tau_tensor **slot = lua_newuserdatauv(L, sizeof *slot, 0);
        *slot = t;
        luaL_setmetatable(L, LTAU_TENSOR);
        lua_setfield(L, -2, f->tensors[i].name);
    }
    lua_createtable(L, 0, f->meta_count);
    for (int i = 0; i < f->meta_count; i++) {
        lua_pushstring(L, f->meta_values[i]);
        lua_setfield(L, -2, f->meta_keys[i]);
    }
    tau_st_free(f);
    return 2;
}

/* tau._atomic_write(path, string): results and logs are replaced whole or not at all. */
static int l_atomic_write(lua_State *L) {
    size_t n;
    const char *path = luaL_checkstring(L, 1), *s = luaL_checklstring(L, 2, &n);
    if (tau_atomic_write(path, s, n)) return ltau_error(L, "tau.util.write_file");
    return 0;
}

static const luaL_Reg ds_methods[] = {
    {"info", ds_info}, {"size", ds_size}, {"batch", ds_batch}, {"get", ds_get}, {"labels", ds_labels}, {NULL, NULL}};

static const luaL_Reg data_fns[] = {
    {"fashion_mnist", l_fashion_mnist}, {"mnist", l_mnist}, {"idx", l_idx}, {"cifar10", l_cifar10},
    {"cifar100", l_cifar100}, {"cifar_files", l_cifar_files}, {"image_folder", l_image_folder},
    {"tiny_imagenet", l_tiny_imagenet}, {"permutation", l_permutation}, {"seed_mix", l_seed_mix}, {NULL, NULL}};

static const luaL_Reg image_fns[] = {{"load", l_image_load}, {"save", l_image_save}, {NULL, NULL}};

int ltau_open_data(lua_State *L) {
    luaL_newmetatable(L, LTAU_DATASET);
    lua_pushcfunction(L, ds_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, ds_gc);
    lua_setfield(L, -2, "__close");
    lua_newtable(L);
    luaL_setfuncs(L, ds_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_setfuncs(L, data_fns, 0);
    lua_setfield(L, -2, "_data");    /* raw loaders; tau.data (Lua) wraps them */
    lua_newtable(L);
    luaL_setfuncs(L, image_fns, 0);
    lua_setfield(L, -2, "image");
    lua_pushcfunction(L, l_st_write);
    lua_setfield(L, -2, "_st_write");
    lua_pushcfunction(L, l_st_read);
    lua_setfield(L, -2, "_st_read");
    lua_pushcfunction(L, l_atomic_write);
    lua_setfield(L, -2, "_atomic_write");
    ltau_declare_opts(L, "tau.image.save", image_save_opts);
    ltau_declare_opts(L, "Dataset:batch", batch_opts);
    return 0;
}
