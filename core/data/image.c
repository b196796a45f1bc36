#include "data/image.h"
#include "base/alloc.h"
#include "base/atomic.h"
#include "base/file.h"
#include "base/error.h"
#include <math.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int tau_image_decode(const uint8_t *buf, size_t len, int channels, const char *what, int *c,
                     int *h, int *w, float **data) {
    *data = NULL;
    if (channels < 0 || channels > 4)
        return tau_fail("image '%s': channels must be 0 (as stored) or 1..4, got %d", what,
                        channels);
    if (len > 0x7fffffff) return tau_fail("cannot decode image '%s': file too large", what);
    int iw, ih, comp;
    uint8_t *img = stbi_load_from_memory(buf, (int)len, &iw, &ih, &comp, channels);
    if (!img) return tau_fail("cannot decode image '%s': %s", what, stbi_failure_reason());
    int ic = channels ? channels : comp;
    size_t plane = (size_t)iw * (size_t)ih;
    float *out = tau_alloc(tau_image_bytes(ic, ih, iw));
    if (!out) {
        stbi_image_free(img);
        return tau_fail("out of memory decoding '%s' (%dx%dx%d)", what, ic, ih, iw);
    }
    for (size_t p = 0; p < plane; p++)
        for (int ch = 0; ch < ic; ch++)
            out[(size_t)ch * plane + p] = (float)img[p * (size_t)ic + (size_t)ch] / 255.0f;
    stbi_image_free(img);
    *c = ic;
    *h = ih;
    *w = iw;
    *data = out;
    return TAU_OK;
}

int tau_image_load_channels(const char *path, int channels, int *c, int *h, int *w,
                            float **data) {
    *data = NULL;
    uint8_t *buf;
    size_t len;
    if (tau__read_file(path, &buf, &len) != TAU_OK) return TAU_ERR;
    int r = tau_image_decode(buf, len, channels, path, c, h, w, data);
    free(buf);
    return r;
}

int tau_image_load(const char *path, int *c, int *h, int *w, float **data) {
    return tau_image_load_channels(path, 0, c, h, w, data);
}

int tau_image_to_hwc_u8(const float *chw, int c, int h, int w, uint8_t *hwc, const char *what) {
    size_t plane = (size_t)h * (size_t)w;
    for (int ch = 0; ch < c; ch++)
        for (size_t p = 0; p < plane; p++) {
            float x = chw[(size_t)ch * plane + p];
            if (isnan(x))
                return tau_fail("image '%s': value at channel %d, row %zu, column %zu is NaN",
                                what, ch + 1, p / (size_t)w + 1, p % (size_t)w + 1);
            float v = x * 255.0f;
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            hwc[p * (size_t)c + (size_t)ch] = (uint8_t)(v + 0.5f);
        }
    return TAU_OK;
}

typedef struct { uint8_t *p; size_t n, cap; int oom; } membuf;

static void membuf_put(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->oom || size <= 0) return;
    if (m->n + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->n + (size_t)size) cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) { m->oom = 1; return; }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static int encode(const char *format, const float *chw, int c, int h, int w, int quality,
                  const char *what, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    int png = !strcmp(format, "png"), jpg = !strcmp(format, "jpg"), bmp = !strcmp(format, "bmp");
    if (!png && !jpg && !bmp)
        return tau_fail("image '%s': unknown format '%s' (use png, jpg or bmp)", what, format);
    if (c < 1 || c > 4)
        return tau_fail("image '%s': expected 1 to 4 channels, got %d", what, c);
    if (h < 1 || w < 1) return tau_fail("image '%s': empty image %dx%d", what, h, w);
    if (jpg && (h > 65535 || w > 65535))
        return tau_fail("image '%s': %dx%d is too large for JPEG (max 65535)", what, h, w);
    if ((size_t)h * (size_t)w > ((size_t)1 << 31) / (size_t)c)
        return tau_fail("image '%s': %dx%dx%d is too large to encode", what, c, h, w);
    if (quality == 0) quality = 90;
    if (quality < 1 || quality > 100)
        return tau_fail("image '%s': JPEG quality must be 1..100, got %d", what, quality);
    size_t nbytes = (size_t)c * (size_t)h * (size_t)w;
    uint8_t *hwc = malloc(nbytes);
    if (!hwc) return tau_fail("out of memory encoding '%s'", what);
    if (tau_image_to_hwc_u8(chw, c, h, w, hwc, what) != TAU_OK) {
        free(hwc);
        return TAU_ERR;
    }
    membuf m = {0};
    int ok = png ? stbi_write_png_to_func(membuf_put, &m, w, h, c, hwc, w * c)
           : jpg ? stbi_write_jpg_to_func(membuf_put, &m, w, h, c, hwc, quality)
                 : stbi_write_bmp_to_func(membuf_put, &m, w, h, c, hwc);
    free(hwc);
    if (!ok || m.oom) {
        free(m.p);
        return tau_fail("image '%s': %s encoding failed%s", what, format,
                        m.oom ? ": out of memory" : "");
    }
    *out = m.p;
    *out_len = m.n;
    return TAU_OK;
}

int tau_image_encode(const char *format, const float *chw, int c, int h, int w, int quality,
                     uint8_t **out, size_t *out_len) {
    return encode(format ? format : "(null)", chw, c, h, w, quality, "(memory)", out, out_len);
}

int tau_image_save(const char *path, const float *chw, int c, int h, int w, int quality) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *format = NULL;
    if (dot && (!slash || dot > slash)) {
        if (!strcasecmp(dot, ".png")) format = "png";
        else if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) format = "jpg";
        else if (!strcasecmp(dot, ".bmp")) format = "bmp";
    }
    if (!format)
        return tau_fail("cannot save image '%s': unknown extension (use .png, .jpg, .jpeg or "
                        ".bmp)", path ? path : "(null)");
    uint8_t *bytes;
    size_t n;
    if (encode(format, chw, c, h, w, quality, path, &bytes, &n) != TAU_OK) return TAU_ERR;
    int r = tau_atomic_write(path, bytes, n);
    free(bytes);
    return r;
}
