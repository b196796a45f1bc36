/* Max, average and adaptive-average 2-D pooling over NCHW planes. Planes are independent, so
 * large inputs are split over the pool by plane; the result does not depend on the split. */
#include "nn/nn.h"
#include "base/error.h"
#include "base/parallel.h"
#include <limits.h>
#include <math.h>
#include <string.h>

/* Planes per pool task: enough elements that a task outweighs waking a thread. */
static int64_t plane_grain(int64_t plane_elems) {
    int64_t g = 32768 / (plane_elems > 0 ? plane_elems : 1);
    return g < 1 ? 1 : g;
}

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t pad, int ceil_mode) {
    int64_t span = in + 2 * pad - k;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* In ceil mode the last window must start inside the input or the left padding. */
    if (ceil_mode && (o - 1) * s >= in + pad) o--;
    return o;
}

static int pool_size(const char *op, const tau_pool2d_params *p, int64_t *oh, int64_t *ow) {
    if (!p) return tau_fail("%s: missing parameters", op);
    if (p->n < 0 || p->c < 1 || p->h < 1 || p->w < 1)
        return tau_fail("%s: invalid input shape (%lld, %lld, %lld, %lld)", op, (long long)p->n,
                        (long long)p->c, (long long)p->h, (long long)p->w);
    if (p->kh < 1 || p->kw < 1)
        return tau_fail("%s: kernel size must be positive, got %lldx%lld", op, (long long)p->kh,
                        (long long)p->kw);
    if (p->stride_h < 1 || p->stride_w < 1)
        return tau_fail("%s: stride must be positive, got %lldx%lld", op, (long long)p->stride_h,
                        (long long)p->stride_w);
    if (p->pad_h < 0 || p->pad_w < 0 || 2 * p->pad_h > p->kh || 2 * p->pad_w > p->kw)
        return tau_fail("%s: padding %lldx%lld must be non-negative and at most half of kernel %lldx%lld",
                        op, (long long)p->pad_h, (long long)p->pad_w, (long long)p->kh,
                        (long long)p->kw);
    if (p->kh > p->h + 2 * p->pad_h || p->kw > p->w + 2 * p->pad_w)
        return tau_fail("%s: kernel %lldx%lld larger than padded input %lldx%lld", op,
                        (long long)p->kh, (long long)p->kw, (long long)(p->h + 2 * p->pad_h),
                        (long long)(p->w + 2 * p->pad_w));
    if (p->h * p->w > INT32_MAX)
        return tau_fail("%s: input plane %lldx%lld too large for int32 indices", op,
                        (long long)p->h, (long long)p->w);
    *oh = pool_out(p->h, p->kh, p->stride_h, p->pad_h, p->ceil_mode);
    *ow = pool_out(p->w, p->kw, p->stride_w, p->pad_w, p->ceil_mode);
    return TAU_OK;
}

int tau_max_pool2d_out_size(const tau_pool2d_params *p, int64_t *oh, int64_t *ow) {
    return pool_size("max_pool2d", p, oh, ow);
}

int tau_avg_pool2d_out_size(const tau_pool2d_params *p, int64_t *oh, int64_t *ow) {
    return pool_size("avg_pool2d", p, oh, ow);
}

typedef struct {
    const tau_pool2d_params *p;
    int64_t oh, ow;
    const float *x, *dy;
    float *y, *dx;
    int32_t *idx;
    const int32_t *cidx;
} poolwork;

/* ---- max pooling -------------------------------------------------------------------------- */

static void max_fwd_range(void *ctx, int64_t b, int64_t e) {
    const poolwork *t = ctx;
    const tau_pool2d_params *p = t->p;
    /* the common 2x2, stride-2 window without padding: branch-free, so the unpredictable
     * comparisons of real data cost no mispredictions. NaN wins (the first one found). */
    if (p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 0 && p->pad_w == 0 &&
        2 * t->oh <= p->h && 2 * t->ow <= p->w) {
        for (int64_t pl = b; pl < e; pl++) {
            const float *x = t->x + pl * p->h * p->w;
            float *y = t->y + pl * t->oh * t->ow;
            int32_t *idx = t->idx ? t->idx + pl * t->oh * t->ow : NULL;
            for (int64_t oy = 0; oy < t->oh; oy++) {
                const float *r0 = x + 2 * oy * p->w, *r1 = r0 + p->w;
                int32_t base = (int32_t)(2 * oy * p->w);
                for (int64_t ox = 0; ox < t->ow; ox++) {
                    int64_t i = 2 * ox;
                    float m = r0[i], v;
                    int32_t at = base + (int32_t)i;
                    int c;
                    v = r0[i + 1]; c = (v > m) | ((v != v) & (m == m)); m = c ? v : m; at = c ? base + (int32_t)i + 1 : at;
                    v = r1[i];     c = (v > m) | ((v != v) & (m == m)); m = c ? v : m; at = c ? base + (int32_t)(p->w + i) : at;
                    v = r1[i + 1]; c = (v > m) | ((v != v) & (m == m)); m = c ? v : m; at = c ? base + (int32_t)(p->w + i) + 1 : at;
                    y[oy * t->ow + ox] = m;
                    if (idx) idx[oy * t->ow + ox] = at;
                }
            }
        }
        return;
    }
    for (int64_t pl = b; pl < e; pl++) {
        const float *x = t->x + pl * p->h * p->w;
        float *y = t->y + pl * t->oh * t->ow;
        int32_t *idx = t->idx ? t->idx + pl * t->oh * t->ow : NULL;
        for (int64_t oy = 0; oy < t->oh; oy++) {
            int64_t y0 = oy * p->stride_h - p->pad_h, y1 = y0 + p->kh;
            if (y0 < 0) y0 = 0;
            if (y1 > p->h) y1 = p->h;
            for (int64_t ox = 0; ox < t->ow; ox++) {
                int64_t x0 = ox * p->stride_w - p->pad_w, x1 = x0 + p->kw;
                if (x0 < 0) x0 = 0;
                if (x1 > p->w) x1 = p->w;
                int64_t best = y0 * p->w + x0;
                float m = -INFINITY;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        float v = x[iy * p->w + ix];
                        if (v > m || isnan(v)) {
                            m = v; best = iy * p->w + ix;
                            if (isnan(v)) goto done;
                        }
                    }
            done:
                y[oy * t->ow + ox] = m;
                if (idx) idx[oy * t->ow + ox] = (int32_t)best;
            }
        }
    }
}

/* x is (N, C, H, W); y and idx are (N, C, OH, OW). */
int tau_max_pool2d_forward(const float *x, float *y, int32_t *idx, const tau_pool2d_params *p) {
    poolwork t = {p, 0, 0, x, NULL, y, NULL, idx, NULL};
    if (pool_size("max_pool2d", p, &t.oh, &t.ow) != TAU_OK) return TAU_ERR;
    if (!x || !y) return tau_fail("max_pool2d: missing input or output array");
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->n * p->c, plane_grain(p->h * p->w), max_fwd_range, &t);
    return TAU_OK;
}

static void max_bwd_range(void *ctx, int64_t b, int64_t e) {
    const poolwork *t = ctx;
    const tau_pool2d_params *p = t->p;
    const int64_t hw = p->h * p->w, ohw = t->oh * t->ow;
    for (int64_t pl = b; pl < e; pl++) {
        float *dx = t->dx + pl * hw;
        const float *dy = t->dy + pl * ohw;
        const int32_t *idx = t->cidx + pl * ohw;
        memset(dx, 0, (size_t)hw * sizeof *dx);
        for (int64_t j = 0; j < ohw; j++) dx[idx[j]] += dy[j];
    }
}

/* dy and idx are (N, C, OH, OW); dx is (N, C, H, W). */
int tau_max_pool2d_backward(const float *dy, const int32_t *idx, float *dx,
                            const tau_pool2d_params *p) {
    poolwork t = {p, 0, 0, NULL, dy, NULL, dx, NULL, idx};
    if (pool_size("max_pool2d", p, &t.oh, &t.ow) != TAU_OK) return TAU_ERR;
    if (!dy || !idx || !dx) return tau_fail("max_pool2d: backward needs dy, the saved indices and dx");
    const int64_t hw = p->h * p->w, total = p->n * p->c * t.oh * t.ow;
    for (int64_t j = 0; j < total; j++)
        if (idx[j] < 0 || idx[j] >= hw)
            return tau_fail("max_pool2d: saved index %d out of range 0..%lld", (int)idx[j],
                            (long long)(hw - 1));
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->n * p->c, plane_grain(hw), max_bwd_range, &t);
    return TAU_OK;
}

/* ---- average pooling ---------------------------------------------------------------------- */

/* The window of output (oy, ox) clipped to the input, and its divisor: with count_include_pad
 * the window clipped to the padded input (as PyTorch), otherwise the input cells it covers. */
static void avg_window(const tau_pool2d_params *p, int64_t oy, int64_t ox, int64_t *y0,
                       int64_t *y1, int64_t *x0, int64_t *x1, float *div) {
    int64_t a = oy * p->stride_h - p->pad_h, c = ox * p->stride_w - p->pad_w;
    int64_t b = a + p->kh, d = c + p->kw;
    if (b > p->h + p->pad_h) b = p->h + p->pad_h;
    if (d > p->w + p->pad_w) d = p->w + p->pad_w;
    int64_t padded = (b - a) * (d - c);
    if (a < 0) a = 0;
    if (c < 0) c = 0;
    if (b > p->h) b = p->h;
    if (d > p->w) d = p->w;
    *y0 = a; *y1 = b; *x0 = c; *x1 = d;
    *div = (float)(p->count_include_pad ? padded : (b - a) * (d - c));
}

static void avg_fwd_range(void *ctx, int64_t b, int64_t e) {
    const poolwork *t = ctx;
    const tau_pool2d_params *p = t->p;
    for (int64_t pl = b; pl < e; pl++) {
        const float *x = t->x + pl * p->h * p->w;
        float *y = t->y + pl * t->oh * t->ow;
        for (int64_t oy = 0; oy < t->oh; oy++)
            for (int64_t ox = 0; ox < t->ow; ox++) {
                int64_t y0, y1, x0, x1;
                float div;
                avg_window(p, oy, ox, &y0, &y1, &x0, &x1, &div);
                float s = 0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) s += x[iy * p->w + ix];
                y[oy * t->ow + ox] = div > 0 ? s / div : 0.0f;
            }
    }
}

static void avg_bwd_range(void *ctx, int64_t b, int64_t e) {
    const poolwork *t = ctx;
    const tau_pool2d_params *p = t->p;
    for (int64_t pl = b; pl < e; pl++) {
        float *dx = t->dx + pl * p->h * p->w;
        const float *dy = t->dy + pl * t->oh * t->ow;
        memset(dx, 0, (size_t)(p->h * p->w) * sizeof *dx);
        for (int64_t oy = 0; oy < t->oh; oy++)
            for (int64_t ox = 0; ox < t->ow; ox++) {
                int64_t y0, y1, x0, x1;
                float div;
                avg_window(p, oy, ox, &y0, &y1, &x0, &x1, &div);
                if (div <= 0) continue;
                float g = dy[oy * t->ow + ox] / div;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) dx[iy * p->w + ix] += g;
            }
    }
}

/* x is (N, C, H, W); y is (N, C, OH, OW). */
int tau_avg_pool2d_forward(const float *x, float *y, const tau_pool2d_params *p) {
    poolwork t = {p, 0, 0, x, NULL, y, NULL, NULL, NULL};
    if (pool_size("avg_pool2d", p, &t.oh, &t.ow) != TAU_OK) return TAU_ERR;
    if (!x || !y) return tau_fail("avg_pool2d: missing input or output array");
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->n * p->c, plane_grain(p->h * p->w), avg_fwd_range, &t);
    return TAU_OK;
}

/* dy is (N, C, OH, OW); dx is (N, C, H, W). */
int tau_avg_pool2d_backward(const float *dy, float *dx, const tau_pool2d_params *p) {
    poolwork t = {p, 0, 0, NULL, dy, NULL, dx, NULL, NULL};
    if (pool_size("avg_pool2d", p, &t.oh, &t.ow) != TAU_OK) return TAU_ERR;
    if (!dy || !dx) return tau_fail("avg_pool2d: missing dy or dx array");
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->n * p->c, plane_grain(p->h * p->w), avg_bwd_range, &t);
    return TAU_OK;
}

/* ---- adaptive average pooling ------------------------------------------------------------- */

typedef struct {
    const tau_adaptive_pool2d_params *p;
    const float *x, *dy;
    float *y, *dx;
} adaptwork;

static int64_t start_index(int64_t i, int64_t out, int64_t in) { return i * in / out; }
static int64_t end_index(int64_t i, int64_t out, int64_t in) { return ((i + 1) * in + out - 1) / out; }

static void adapt_fwd_range(void *ctx, int64_t b, int64_t e) {
    const adaptwork *t = ctx;
    const tau_adaptive_pool2d_params *p = t->p;
    for (int64_t pl = b; pl < e; pl++) {
        const float *x = t->x + pl * p->h * p->w;
        float *y = t->y + pl * p->oh * p->ow;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            int64_t y0 = start_index(oy, p->oh, p->h), y1 = end_index(oy, p->oh, p->h);
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t x0 = start_index(ox, p->ow, p->w), x1 = end_index(ox, p->ow, p->w);
                float s = 0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) s += x[iy * p->w + ix];
                y[oy * p->ow + ox] = s / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}

static void adapt_bwd_range(void *ctx, int64_t b, int64_t e) {
    const adaptwork *t = ctx;
    const tau_adaptive_pool2d_params *p = t->p;
    for (int64_t pl = b; pl < e; pl++) {
        float *dx = t->dx + pl * p->h * p->w;
        const float *dy = t->dy + pl * p->oh * p->ow;
        memset(dx, 0, (size_t)(p->h * p->w) * sizeof *dx);
        for (int64_t oy = 0; oy < p->oh; oy++) {
            int64_t y0 = start_index(oy, p->oh, p->h), y1 = end_index(oy, p->oh, p->h);
            for (int64_t ox = 0; ox < p->ow; ox++) {
                int64_t x0 = start_index(ox, p->ow, p->w), x1 = end_index(ox, p->ow, p->w);
                float g = dy[oy * p->ow + ox] / (float)((y1 - y0) * (x1 - x0));
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) dx[iy * p->w + ix] += g;
            }
        }
    }
}

static int adapt_check(const tau_adaptive_pool2d_params *p) {
    if (!p) return tau_fail("adaptive_avg_pool2d: missing parameters");
    if (p->n < 0 || p->c < 1 || p->h < 1 || p->w < 1)
        return tau_fail("adaptive_avg_pool2d: invalid input shape (%lld, %lld, %lld, %lld)",
                        (long long)p->n, (long long)p->c, (long long)p->h, (long long)p->w);
    if (p->oh < 1 || p->ow < 1)
        return tau_fail("adaptive_avg_pool2d: output size must be positive, got %lldx%lld",
                        (long long)p->oh, (long long)p->ow);
    return TAU_OK;
}

/* x is (N, C, H, W); y is (N, C, OH, OW). */
int tau_adaptive_avg_pool2d_forward(const float *x, float *y, const tau_adaptive_pool2d_params *p) {
    if (adapt_check(p) != TAU_OK) return TAU_ERR;
    if (!x || !y) return tau_fail("adaptive_avg_pool2d: missing input or output array");
    adaptwork t = {p, x, NULL, y, NULL};
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->n * p->c, plane_grain(p->h * p->w), adapt_fwd_range, &t);
    return TAU_OK;
}

/* dy is (N, C, OH, OW); dx is (N, C, H, W). */
int tau_adaptive_avg_pool2d_backward(const float *dy, float *dx,
                                     const tau_adaptive_pool2d_params *p) {
    if (adapt_check(p) != TAU_OK) return TAU_ERR;
    if (!dy || !dx) return tau_fail("adaptive_avg_pool2d: missing dy or dx array");
    adaptwork t = {p, NULL, dy, NULL, dx};
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->n * p->c, plane_grain(p->h * p->w), adapt_bwd_range, &t);
    return TAU_OK;
}
