/* Affine warps (rotation, translation, zoom about the centre) with bilinear interpolation. */
#include "robust/shift.h"
#include "base/rng.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include "tensor/tensor.h"
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The per-image warp in the form the inner loop wants: the source point of output pixel
 * (x, y) is (cx + a u - b v, cy + b u + a v) with u = x - cx - dx, v = y - cy - dy. */
typedef struct {
    double a, b, dx, dy;
} warp;

typedef struct {
    const float *x;
    float *out;
    int64_t c, h, w;
    const warp *warps;
    int border;
    double fill;
    atomic_int interrupted;
} shift_run;

/* Exact values at multiples of 90 degrees, so that quarter turns move pixels without blending
 * (sin(pi) in floating point is 1.2e-16, not 0). */
static void sincos_deg(double deg, double *s, double *c) {
    double r = fmod(deg, 360.0);
    if (r < 0) r += 360.0;
    if (r == 0) { *s = 0; *c = 1; }
    else if (r == 90) { *s = 1; *c = 0; }
    else if (r == 180) { *s = 0; *c = -1; }
    else if (r == 270) { *s = -1; *c = 0; }
    else {
        double t = r * (M_PI / 180.0);
        *s = sin(t);
        *c = cos(t);
    }
}

static warp make_warp(const tau_shift_params *p) {
    double s, c;
    sincos_deg(p->rotate, &s, &c);
    /* The output is the input scaled, rotated counter-clockwise (on screen, y pointing down),
     * then moved; the source point is that map inverted: undo the move, the rotation and the
     * scale in turn. */
    warp wp = {c / p->scale, s / p->scale, p->dx, p->dy};
    return wp;
}

/* Keeps far-away source points (and the NaN of an overflowed product) in a range where the
 * floor fits an int64 and still lands every tap outside the image. */
static inline double clamp_coord(double v, int64_t n) {
    if (!(v >= -2.0)) return -2.0;
    if (v > (double)n + 1.0) return (double)n + 1.0;
    return v;
}

static void warp_rows(void *ctx, int64_t begin, int64_t end) {
    shift_run *R = ctx;
    const int64_t c = R->c, h = R->h, w = R->w, plane = h * w;
    const double cx = (double)(w - 1) / 2, cy = (double)(h - 1) / 2;
    const int edge = R->border == TAU_SHIFT_EDGE;
    const double fill = R->fill;
    for (int64_t row = begin; row < end; row++) {
        if (tau_interrupted) {
            atomic_store(&R->interrupted, 1);
            return;
        }
        int64_t img = row / h, y = row % h;
        const warp *wp = &R->warps[img];
        const float *src = R->x + img * c * plane;
        float *dst = R->out + img * c * plane + y * w;
        double v = (double)y - cy - wp->dy;
        for (int64_t x = 0; x < w; x++) {
            double u = (double)x - cx - wp->dx;
            double sx = clamp_coord(cx + wp->a * u - wp->b * v, w);
            double sy = clamp_coord(cy + wp->b * u + wp->a * v, h);
            double fx = floor(sx), fy = floor(sy);
            double tx = sx - fx, ty = sy - fy;
            int64_t x0 = (int64_t)fx, y0 = (int64_t)fy, x1 = x0 + 1, y1 = y0 + 1;
            int in_x0 = x0 >= 0 && x0 < w, in_x1 = x1 >= 0 && x1 < w;
            int in_y0 = y0 >= 0 && y0 < h, in_y1 = y1 >= 0 && y1 < h;
            if (edge) {
                x0 = x0 < 0 ? 0 : x0 >= w ? w - 1 : x0;
                x1 = x1 < 0 ? 0 : x1 >= w ? w - 1 : x1;
                y0 = y0 < 0 ? 0 : y0 >= h ? h - 1 : y0;
                y1 = y1 < 0 ? 0 : y1 >= h ? h - 1 : y1;
                in_x0 = in_x1 = in_y0 = in_y1 = 1;
            }
            const int64_t o00 = y0 * w + x0, o01 = y0 * w + x1, o10 = y1 * w + x0, o11 = y1 * w + x1;
            const int k00 = in_y0 && in_x0, k01 = in_y0 && in_x1, k10 = in_y1 && in_x0,
                      k11 = in_y1 && in_x1;
            for (int64_t ch = 0; ch < c; ch++) {
                const float *p = src + ch * plane;
                double v00 = k00 ? p[o00] : fill, v01 = k01 ? p[o01] : fill;
                double v10 = k10 ? p[o10] : fill, v11 = k11 ? p[o11] : fill;
                double r = (1 - ty) * ((1 - tx) * v00 + tx * v01) + ty * ((1 - tx) * v10 + tx * v11);
                /* Rounding may step just outside the blended values; clamping keeps [0, 1]
                 * images in [0, 1] and constant regions constant. */
                double lo = fmin(fmin(v00, v01), fmin(v10, v11));
                double hi = fmax(fmax(v00, v01), fmax(v10, v11));
                r = r < lo ? lo : r > hi ? hi : r;
                dst[ch * plane + x] = (float)r;
            }
        }
    }
}

static int check_batch(const float *x, const float *out, int64_t n, int64_t c, int64_t h,
                       int64_t w, int border, double fill) {
    if (n < 0 || c < 1 || h < 1 || w < 1)
        return tau_fail("shift: images must be (N, C, H, W) with N >= 0 and C, H, W >= 1, got "
                        "[%lld, %lld, %lld, %lld]", (long long)n, (long long)c, (long long)h,
                        (long long)w);
    int64_t shape[4] = {n, c, h, w};
    if (tau_check_shape("shift", 4, shape) != TAU_OK) return TAU_ERR;
    if (border != TAU_SHIFT_CONSTANT && border != TAU_SHIFT_EDGE)
        return tau_fail("shift: unknown border mode %d", border);
    if (!isfinite(fill)) return tau_fail("shift: fill value must be finite, got %g", fill);
    if (n == 0) return TAU_OK;
    if (!x || !out) return tau_fail("shift: NULL image buffer");
    int64_t total = n * c * h * w;
    uintptr_t xb = (uintptr_t)x, ob = (uintptr_t)out, nb = (uintptr_t)total * sizeof(float);
    if (ob < xb + nb && xb < ob + nb)
        return tau_fail("shift: output must not overlap the input");
    for (int64_t i = 0; i < total; i++)
        if (!isfinite(x[i]))
            return tau_fail("shift: input has a NaN or infinite value at element %lld (%s)",
                            (long long)i, isnan(x[i]) ? "NaN" : "inf");
    return TAU_OK;
}

static int check_params(const tau_shift_params *p, int64_t i, int64_t n) {
    char where[48] = "";
    if (n > 1) snprintf(where, sizeof where, " (image %lld)", (long long)i);
    if (!isfinite(p->rotate) || !isfinite(p->dx) || !isfinite(p->dy) || !isfinite(p->scale))
        return tau_fail("shift: rotation, translation and scale must be finite%s", where);
    if (!(p->scale > 0)) return tau_fail("shift: scale must be positive, got %g%s", p->scale, where);
    return TAU_OK;
}

static int run(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
               const warp *warps, int border, double fill) {
    shift_run R;
    R.x = x;
    R.out = out;
    R.c = c;
    R.h = h;
    R.w = w;
    R.warps = warps;
    R.border = border;
    R.fill = fill;
    atomic_init(&R.interrupted, 0);
    /* Enough rows per task that scheduling costs little next to the interpolation. */
    int64_t grain = 32768 / (w * c) + 1;
    tau_parallel_for(n * h, grain, warp_rows, &R);
    if (atomic_load(&R.interrupted)) return tau_fail("interrupted");
    return TAU_OK;
}

/* params_step 0: one warp for all images; 1: one per image. The batch is already checked. */
static int apply_warps(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                       const tau_shift_params *params, int64_t params_step, int border,
                       double fill) {
    for (int64_t i = 0; i < (params_step ? n : 1); i++)
        if (check_params(&params[i * params_step], i, params_step ? n : 1) != TAU_OK) return TAU_ERR;
    if (n == 0) return TAU_OK;
    size_t bytes = sizeof(warp) * (size_t)n;
    warp *warps = tau_alloc(bytes);
    if (!warps) return tau_fail("shift: out of memory");
    for (int64_t i = 0; i < n; i++) warps[i] = make_warp(&params[i * params_step]);
    int rc = run(x, out, n, c, h, w, warps, border, fill);
    tau_free(warps, bytes);
    return rc;
}

int tau_shift_apply(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                    const tau_shift_params *p, int border, double fill) {
    if (!p) return tau_fail("shift: NULL parameters");
    if (check_batch(x, out, n, c, h, w, border, fill) != TAU_OK) return TAU_ERR;
    return apply_warps(x, out, n, c, h, w, p, 0, border, fill);
}

int tau_shift_apply_each(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                         const tau_shift_params *per_image, int border, double fill) {
    if (!per_image && n > 0) return tau_fail("shift: NULL parameters");
    if (check_batch(x, out, n, c, h, w, border, fill) != TAU_OK) return TAU_ERR;
    return apply_warps(x, out, n, c, h, w, per_image, 1, border, fill);
}

/* ---------------------------------------------------------------- random warps */

#define splitmix64 tau_splitmix64

/* Only four draws per image: splitmix64 alone is plenty, and the stream of image i depends on
 * (seed, i) only. Hashing the index before mixing it with the seed keeps (seed, i) and
 * (seed + 1, i - 1)-like pairs apart. */
static void draw_params(uint64_t seed, int64_t i, double r, double t, double s,
                        tau_shift_params *p) {
    uint64_t k = (uint64_t)i ^ 0xA0761D6478BD642Full;
    uint64_t st = seed ^ splitmix64(&k);
    double u[4];
    for (int j = 0; j < 4; j++) u[j] = tau_u01(splitmix64(&st));
    p->rotate = -r + 2 * r * u[0];
    p->dx = -t + 2 * t * u[1];
    p->dy = -t + 2 * t * u[2];
    p->scale = 1 - s + 2 * s * u[3];
}

int tau_shift_random(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                     double max_rotate, double max_translate, double max_scale, uint64_t seed,
                     int border, double fill, tau_shift_params *drawn) {
    if (!(max_rotate >= 0) || !isfinite(max_rotate))
        return tau_fail("shift: maximum rotation must be finite and >= 0, got %g", max_rotate);
    if (!(max_translate >= 0) || !isfinite(max_translate))
        return tau_fail("shift: maximum translation must be finite and >= 0, got %g", max_translate);
    if (!(max_scale >= 0 && max_scale < 1))
        return tau_fail("shift: maximum scale change must be in [0, 1), got %g", max_scale);
    if (check_batch(x, out, n, c, h, w, border, fill) != TAU_OK) return TAU_ERR;
    if (n == 0) return TAU_OK;
    size_t bytes = sizeof(tau_shift_params) * (size_t)n;
    tau_shift_params *p = drawn ? drawn : tau_alloc(bytes);
    if (!p) return tau_fail("shift: out of memory");
    for (int64_t i = 0; i < n; i++) draw_params(seed, i, max_rotate, max_translate, max_scale, &p[i]);
    int rc = apply_warps(x, out, n, c, h, w, p, 1, border, fill);
    if (!drawn) tau_free(p, bytes);
    return rc;
}
