/* Data sets stored as image files: class folders and the Tiny-ImageNet layout, decoded with
 * stb_image in parallel. */
#include "data/dataset_internal.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stb/stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int tau__has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    dot++;
    return !strcasecmp(dot, "png") || !strcasecmp(dot, "jpg") || !strcasecmp(dot, "jpeg") ||
           !strcasecmp(dot, "bmp");
}

int tau__list_dir(const char *dir, int dirs, tau__strlist *out) {
    DIR *d = opendir(dir);
    if (!d) return tau_fail("cannot open folder '%s': %s", dir, strerror(errno));
    struct dirent *e;
    int r = TAU_OK;
    while (r == TAU_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (!dirs && !tau__has_image_ext(e->d_name)) continue;
        int is_dir, is_reg;
        if (e->d_type == DT_DIR || e->d_type == DT_REG) {
            is_dir = e->d_type == DT_DIR;
            is_reg = e->d_type == DT_REG;
        } else {   /* symlinks, or a file system that does not report types */
            char *p = tau__pathf("%s/%s", dir, e->d_name);
            if (!p) { r = TAU_ERR; break; }
            struct stat st;
            int ok = stat(p, &st) == 0;
            free(p);
            is_dir = ok && S_ISDIR(st.st_mode);
            is_reg = ok && S_ISREG(st.st_mode);
        }
        if (dirs ? is_dir : is_reg) r = tau__strlist_push(out, tau__strdup(e->d_name));
    }
    closedir(d);
    if (r != TAU_OK) {
        tau__strlist_free(out);
        return TAU_ERR;
    }
    tau__strlist_sort(out);
    return TAU_OK;
}

/* ---- parallel decoding ------------------------------------------------------------------- */

typedef struct {
    char *const *paths;
    int c, h, w;
    uint8_t *pixels;
    pthread_mutex_t mu;
    int64_t err_index;      /* lowest failing index, so the reported error is deterministic */
    char err[768];
} decode_ctx;

static void decode_error(decode_ctx *ctx, int64_t i, const char *msg) {
    pthread_mutex_lock(&ctx->mu);
    if (i < ctx->err_index) {
        __atomic_store_n(&ctx->err_index, i, __ATOMIC_RELAXED);
        snprintf(ctx->err, sizeof ctx->err, "%s", msg);
    }
    pthread_mutex_unlock(&ctx->mu);
}

static int64_t first_error(decode_ctx *ctx) {
    return __atomic_load_n(&ctx->err_index, __ATOMIC_RELAXED);
}

static void decode_range(void *arg, int64_t begin, int64_t end) {
    decode_ctx *ctx = arg;
    const size_t plane = (size_t)ctx->h * (size_t)ctx->w;
    char msg[768];
    for (int64_t i = begin; i < end; i++) {
        if (first_error(ctx) < i) return;
        if (tau_interrupted) { decode_error(ctx, i, "interrupted"); return; }
        const char *path = ctx->paths[i];
        uint8_t *buf;
        size_t len;
        if (tau__read_file(path, &buf, &len) != TAU_OK) {
            decode_error(ctx, i, tau_errmsg());
            return;
        }
        int w, h, comp;
        uint8_t *img = len > 0x7fffffff ? NULL
                     : stbi_load_from_memory(buf, (int)len, &w, &h, &comp, ctx->c);
        free(buf);
        if (!img) {
            snprintf(msg, sizeof msg, "cannot decode image '%s': %s", path,
                     len > 0x7fffffff ? "file too large" : stbi_failure_reason());
            decode_error(ctx, i, msg);
            return;
        }
        if (w != ctx->w || h != ctx->h) {
            snprintf(msg, sizeof msg, "image '%s' is %dx%d (width x height) but '%s' is %dx%d; "
                     "all images of a data set must have the same size", path, w, h,
                     ctx->paths[0], ctx->w, ctx->h);
            stbi_image_free(img);
            decode_error(ctx, i, msg);
            return;
        }
        /* stb gives interleaved (H, W, C); the data set is planar (C, H, W). */
        uint8_t *dst = ctx->pixels + (size_t)i * plane * (size_t)ctx->c;
        if (ctx->c == 1) memcpy(dst, img, plane);
        else
            for (size_t p = 0; p < plane; p++)
                for (int ch = 0; ch < ctx->c; ch++)
                    dst[(size_t)ch * plane + p] = img[p * (size_t)ctx->c + (size_t)ch];
        stbi_image_free(img);
    }
}

int tau__decode_images(char *const *paths, int64_t n, int channels, tau_dataset *out) {
    if (channels != 0 && channels != 1 && channels != 3)
        return tau_fail("image data set: channels must be 0 (detect), 1 or 3, got %d", channels);
    if (n < 1) return tau_fail("image data set: no images");
    /* The first image fixes the size (and channel count when detecting). */
    uint8_t *buf;
    size_t len;
    if (tau__read_file(paths[0], &buf, &len) != TAU_OK) return TAU_ERR;
    int w, h, comp;
    int ok = len <= 0x7fffffff && stbi_info_from_memory(buf, (int)len, &w, &h, &comp);
    free(buf);
    if (!ok)
        return tau_fail("cannot decode image '%s': %s", paths[0],
                        len > 0x7fffffff ? "file too large" : stbi_failure_reason());
    int c = channels ? channels : comp <= 2 ? 1 : 3;
    size_t each = (size_t)c * (size_t)h * (size_t)w;
    if (each && (size_t)n > SIZE_MAX / each)
        return tau_fail("image data set: %lld images of %zu bytes do not fit in memory",
                        (long long)n, each);
    uint8_t *pixels = tau_alloc((size_t)n * each);
    if (!pixels)
        return tau_fail("out of memory: %lld images of %dx%dx%d need %zu bytes", (long long)n, c,
                        h, w, (size_t)n * each);
    decode_ctx ctx = {.paths = paths, .c = c, .h = h, .w = w, .pixels = pixels,
                      .err_index = INT64_MAX};
    pthread_mutex_init(&ctx.mu, NULL);
    tau_parallel_for(n, 16, decode_range, &ctx);
    pthread_mutex_destroy(&ctx.mu);
    if (ctx.err_index != INT64_MAX) {
        tau_free(pixels, (size_t)n * each);
        return tau_fail("%s", ctx.err);
    }
    out->n = n;
    out->c = c;
    out->h = h;
    out->w = w;
    out->pixels = pixels;
    return TAU_OK;
}

/* Decodes paths with the given labels into *out, taking ownership of the class names. */
static int build(tau__strlist *paths, int32_t *labels, int channels, tau__strlist *names,
                 tau_dataset *out) {
    tau_dataset ds = {0};
    if (tau__decode_images(paths->v, (int64_t)paths->n, channels, &ds) != TAU_OK) return TAU_ERR;
    ds.labels = tau_alloc(paths->n * sizeof(int32_t));
    if (!ds.labels) {
        tau_dataset_free(&ds);
        return tau_fail("out of memory");
    }
    memcpy(ds.labels, labels, paths->n * sizeof(int32_t));
    if (tau__set_class_names(&ds, names) != TAU_OK) {
        tau_dataset_free(&ds);
        return TAU_ERR;
    }
    *out = ds;
    return TAU_OK;
}

/* Appends dir's images (sorted) to paths with the given label. An empty class folder is an
 * error: a label with no examples almost always means a broken or partial copy of the data. */
static int add_class(const char *dir, int32_t label, tau__strlist *paths, int32_t **labels,
                     size_t *labels_cap) {
    tau__strlist files = {0};
    if (tau__list_dir(dir, 0, &files) != TAU_OK) return TAU_ERR;
    if (files.n == 0) {
        tau__strlist_free(&files);
        return tau_fail("class folder '%s' contains no images (.png, .jpg, .jpeg, .bmp)", dir);
    }
    int r = TAU_OK;
    for (size_t i = 0; i < files.n && r == TAU_OK; i++) {
        r = tau__strlist_push(paths, tau__pathf("%s/%s", dir, files.v[i]));
        if (r == TAU_OK && paths->n > *labels_cap) {
            size_t cap = *labels_cap ? *labels_cap * 2 : 1024;
            int32_t *l = realloc(*labels, cap * sizeof *l);
            if (!l) r = tau_fail("out of memory");
            else { *labels = l; *labels_cap = cap; }
        }
        if (r == TAU_OK) (*labels)[paths->n - 1] = label;
    }
    tau__strlist_free(&files);
    return r;
}

int tau_dataset_load_image_folder(const char *root, int channels, tau_dataset *out) {
    memset(out, 0, sizeof *out);
    if (!root || !*root) return tau_fail("image folder: root folder not given");
    if (channels != 0 && channels != 1 && channels != 3)
        return tau_fail("image folder: channels must be 0 (detect), 1 or 3, got %d", channels);
    tau__strlist classes = {0}, paths = {0};
    int32_t *labels = NULL;
    size_t cap = 0;
    int r = tau__list_dir(root, 1, &classes);
    if (r == TAU_OK && classes.n == 0)
        r = tau_fail("image folder '%s' has no class sub-folders", root);
    if (r == TAU_OK && classes.n > INT32_MAX)
        r = tau_fail("image folder '%s' has too many classes", root);
    for (size_t k = 0; k < classes.n && r == TAU_OK; k++) {
        char *dir = tau__pathf("%s/%s", root, classes.v[k]);
        r = dir ? add_class(dir, (int32_t)k, &paths, &labels, &cap) : TAU_ERR;
        free(dir);
    }
    if (r == TAU_OK) r = build(&paths, labels, channels, &classes, out);
    tau__strlist_free(&classes);
    tau__strlist_free(&paths);
    free(labels);
    return r;
}

/* ---- Tiny-ImageNet ------------------------------------------------------------------------ */

static int read_lines(const char *path, tau__strlist *out) {
    uint8_t *text;
    size_t len;
    if (tau__read_file(path, &text, &len) != TAU_OK) return TAU_ERR;
    int r = tau__text_lines((char *)text, out);
    free(text);
    return r;
}

static int32_t find_class(const tau__strlist *names, const char *s) {
    for (size_t i = 0; i < names->n; i++)
        if (!strcmp(names->v[i], s)) return (int32_t)i;
    return -1;
}

int tau_dataset_load_tiny_imagenet(const char *root, const char *split, tau_dataset *out) {
    memset(out, 0, sizeof *out);
    if (!root || !*root) return tau_fail("tiny_imagenet: root folder not given");
    int train = split && !strcmp(split, "train");
    if (!train && !(split && !strcmp(split, "val")))
        return tau_fail("tiny_imagenet: split must be \"train\" or \"val\", got \"%s\"",
                        split ? split : "(null)");
    tau__strlist wnids = {0}, paths = {0}, ann = {0};
    int32_t *labels = NULL;
    size_t cap = 0;
    char *wpath = tau__pathf("%s/wnids.txt", root);
    char *apath = NULL;
    int r = wpath ? read_lines(wpath, &wnids) : TAU_ERR;
    if (r == TAU_OK && wnids.n == 0) r = tau_fail("'%s' lists no classes", wpath);
    for (size_t i = 0; i < wnids.n && r == TAU_OK; i++) {
        if (strchr(wnids.v[i], '/') || strchr(wnids.v[i], ' ') || strchr(wnids.v[i], '\t'))
            r = tau_fail("'%s' line %zu: '%s' is not a valid wnid", wpath, i + 1, wnids.v[i]);
        else if (find_class(&wnids, wnids.v[i]) != (int32_t)i)
            r = tau_fail("'%s': wnid '%s' is listed twice", wpath, wnids.v[i]);
    }
    if (r == TAU_OK && train) {
        for (size_t k = 0; k < wnids.n && r == TAU_OK; k++) {
            char *dir = tau__pathf("%s/train/%s/images", root, wnids.v[k]);
            if (!dir) r = TAU_ERR;
            else if (!tau__is_dir(dir))
                r = tau_fail("tiny_imagenet: missing folder '%s' for class '%s' of wnids.txt",
                             dir, wnids.v[k]);
            else r = add_class(dir, (int32_t)k, &paths, &labels, &cap);
            free(dir);
        }
    } else if (r == TAU_OK) {
        apath = tau__pathf("%s/val/val_annotations.txt", root);
        r = apath ? read_lines(apath, &ann) : TAU_ERR;
        if (r == TAU_OK && ann.n == 0) r = tau_fail("'%s' lists no images", apath);
        if (r == TAU_OK && !(labels = malloc(ann.n * sizeof *labels))) r = tau_fail("out of memory");
        for (size_t i = 0; i < ann.n && r == TAU_OK; i++) {
            char *save = NULL;
            char *file = strtok_r(ann.v[i], "\t ", &save);
            char *wnid = file ? strtok_r(NULL, "\t ", &save) : NULL;
            if (!wnid) {
                r = tau_fail("'%s' line %zu: expected <file> <wnid> ..., got '%s'", apath, i + 1,
                             ann.v[i]);
                break;
            }
            int32_t k = find_class(&wnids, wnid);
            if (k < 0) {
                r = tau_fail("'%s' line %zu: unknown wnid '%s' (not in wnids.txt) for '%s'",
                             apath, i + 1, wnid, file);
                break;
            }
            labels[i] = k;
            r = tau__strlist_push(&paths, tau__pathf("%s/val/images/%s", root, file));
        }
    }
    if (r == TAU_OK) r = build(&paths, labels, 3, &wnids, out);
    tau__strlist_free(&wnids);
    tau__strlist_free(&paths);
    tau__strlist_free(&ann);
    free(labels);
    free(wpath);
    free(apath);
    return r;
}
