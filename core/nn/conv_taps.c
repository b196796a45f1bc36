/* Convolution as one small GEMM per kernel tap, with no column matrix (stride 1 or 2).
 *
 * The input image is copied once into zero-padded planes (for stride 2, into the four phase
 * planes of the padded input: element (a, b) goes to phase (a % 2, b % 2) at (a / 2, b / 2)),
 * all with one row width pc. Output row oy, column ox of tap (ky, kx) then reads its phase
 * plane at (oy + ky / s) * pc + ox + kx / s: for a fixed tap, the whole output in a layout with
 * row stride pc is a contiguous run of that plane shifted by a constant. So
 *
 *   forward  y'  (K x oh*pc)   = sum over taps  W_t (K x C)  . plane_t (C x oh*pc)
 *   dx       dX_t (C x oh*pc) += W_t^T . dy'   (dy' = dy spread to row stride pc, zeros between)
 *   dw       dW_t (K x C)     += dy' . plane_t^T
 *
 * each an ordinary GEMM whose operands are views of the planes (ldb = plane size). y' drops its
 * pc - ow extra columns when copied to y; dX is merged back from the phases into dx. Against
 * the column-matrix lowering this saves writing kh*kw copies of the input per image, which on
 * the layers of a CIFAR ResNet was a third of the time (bench_conv). A run of images per
 * thread, as in conv.c; the weight gradient is summed per run and the runs added in a fixed
 * order. */
#include "nn/conv_taps.h"
#include "nn/conv_rows.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/gemm.h"
#include "base/parallel.h"
#include <string.h>

typedef struct {
    const tau_conv2d_params *p;
    int64_t s, oh, ow;
    int64_t pr, pc, ps;          /* rows and row width of a (phase) plane; floats per plane */
    int64_t nph, kk;             /* phases (s*s), taps */
    int64_t span;                /* oh * pc: the columns of one tap's GEMM */
    const float *x, *dy, *b;
    float *y, *dx, *dw;
    float *wt;                   /* (kk, K, C): W_t for each tap */
    float *scratch;
    int64_t part_floats, parts;
} taps;

/* Where tap i (= ky * kw + kx) reads or writes, in the planes laid out (phase, C, ps). */
static float *tap_at(const taps *t, float *planes, int64_t i) {
    const int64_t ky = i / t->p->kw, kx = i % t->p->kw;
    return planes + ((ky % t->s) * t->s + kx % t->s) * t->p->c * t->ps + (ky / t->s) * t->pc + kx / t->s;
}

/* The image's channels into the interiors of the (phase) planes at xp, laid out (phase, C,
 * ps); the borders stay as cleared once per part. */
static void scatter(const taps *t, const float *x, float *xp) {
    const tau_conv2d_params *p = t->p;
    const int64_t C = p->c;
    for (int64_t c = 0; c < C; c++)
        for (int64_t iy = 0; iy < p->h; iy++) {
            const int64_t a = iy + p->pad_h, b0 = p->pad_w;
            const float *row = x + (c * p->h + iy) * p->w;
            if (t->s == 1) {
                memcpy(xp + c * t->ps + a * t->pc + b0, row, (size_t)p->w * sizeof *row);
                continue;
            }
            float *base = xp + (a & 1) * 2 * C * t->ps + c * t->ps + (a >> 1) * t->pc;
            /* column ix lands at padded b0 + ix: phase (b0 + ix) & 1, column (b0 + ix) >> 1 */
            float *ev = base + (b0 & 1) * C * t->ps + (b0 >> 1);
            float *od = base + ((b0 + 1) & 1) * C * t->ps + ((b0 + 1) >> 1);
            deal2(ev, od, row, p->w);
        }
}

/* dy of one image spread to row stride pc; the columns between stay zero. */
static void spread_dy(const taps *t, const float *dy, float *dyp) {
    for (int64_t r = 0; r < t->p->k * t->oh; r++)
        memcpy(dyp + r * t->pc, dy + r * t->ow, (size_t)t->ow * sizeof *dy);
}

static void image_run(const taps *t, int64_t part, int64_t *n0, int64_t *n1) {
    *n0 = t->p->n * part / t->parts;
    *n1 = t->p->n * (part + 1) / t->parts;
}

static float *part_scratch(const taps *t, int64_t part) { return t->scratch + part * t->part_floats; }
static int64_t planes_floats(const taps *t) { return t->nph * t->p->c * t->ps; }
static int64_t span_floats(const taps *t) { return t->p->k * t->span + 8; }

/* Scratch of a part: the (phase) planes, then y' or dy', then for dw its partial sum. */
static float *part_span(const taps *t, float *scratch) { return scratch + planes_floats(t); }
static float *part_dw(const taps *t, int64_t part) {
    return part_scratch(t, part) + planes_floats(t) + span_floats(t);
}

/* One image of the forward pass: y' by the tap GEMMs, then y without the extra columns. */
static void forward_image(const taps *t, int64_t n, int first, float *scratch) {
    const tau_conv2d_params *p = t->p;
    const int64_t K = p->k, C = p->c;
    float *xp = scratch, *yp = part_span(t, scratch);
    (void)first;
    scatter(t, t->x + n * C * p->h * p->w, xp);
    for (int64_t i = 0; i < t->kk; i++)
        tau__gemm(CblasNoTrans, CblasNoTrans, (int)K, (int)t->span, (int)C, 1.0f, t->wt + i * K * C, (int)C,
                  tap_at(t, xp, i), (int)t->ps, i ? 1.0f : 0.0f, yp, (int)t->span);
    float *y = t->y + n * K * t->oh * t->ow;
    for (int64_t k = 0; k < K; k++) {
        const float bias = t->b ? t->b[k] : 0.0f;
        for (int64_t oy = 0; oy < t->oh; oy++) {
            float *o = y + (k * t->oh + oy) * t->ow;
            const float *src = yp + k * t->span + oy * t->pc;
            for (int64_t ox = 0; ox < t->ow; ox++) o[ox] = src[ox] + bias;
        }
    }
}

/* One image of the input gradient: dX in the phase planes by the tap GEMMs, then dx from
 * their interiors. */
static void dx_image(const taps *t, int64_t n, int first, float *scratch) {
    const tau_conv2d_params *p = t->p;
    const int64_t K = p->k, C = p->c;
    float *dxp = scratch, *dyp = part_span(t, scratch);
    (void)first;
    spread_dy(t, t->dy + n * K * t->oh * t->ow, dyp);
    memset(dxp, 0, (size_t)planes_floats(t) * sizeof *dxp);
    for (int64_t i = 0; i < t->kk; i++)
        tau__gemm(CblasTrans, CblasNoTrans, (int)C, (int)t->span, (int)K, 1.0f, t->wt + i * K * C, (int)C, dyp,
                  (int)t->span, 1.0f, tap_at(t, dxp, i), (int)t->ps);
    float *dx = t->dx + n * C * p->h * p->w;
    for (int64_t c = 0; c < C; c++)
        for (int64_t iy = 0; iy < p->h; iy++) {
            const int64_t a = iy + p->pad_h, b0 = p->pad_w;
            float *o = dx + (c * p->h + iy) * p->w;
            const float *base = dxp + (a % t->s) * t->s * C * t->ps + c * t->ps + (a / t->s) * t->pc;
            if (t->s == 1) { memcpy(o, base + b0, (size_t)p->w * sizeof *o); continue; }
            const float *ev = base + (b0 & 1) * C * t->ps + (b0 >> 1);
            const float *od = base + ((b0 + 1) & 1) * C * t->ps + ((b0 + 1) >> 1);
            interleave2(o, ev, od, p->w);
        }
}

/* One image of the weight gradient, added to the part's sum (set by the part's first image). */
static void dw_image(const taps *t, int64_t n, int first, float *scratch) {
    const tau_conv2d_params *p = t->p;
    const int64_t K = p->k, C = p->c;
    float *xp = scratch, *dyp = part_span(t, scratch), *acc = dyp + span_floats(t);
    scatter(t, t->x + n * C * p->h * p->w, xp);
    spread_dy(t, t->dy + n * K * t->oh * t->ow, dyp);
    for (int64_t i = 0; i < t->kk; i++)
        tau__gemm(CblasNoTrans, CblasTrans, (int)K, (int)C, (int)t->span, 1.0f, dyp, (int)t->span, tap_at(t, xp, i),
                  (int)t->ps, first ? 0.0f : 1.0f, acc + i * K * C, (int)C);
}

typedef void (*image_fn)(const taps *t, int64_t n, int first, float *scratch);

/* Each part clears its scratch once (the planes' borders and dy''s extra columns stay zero;
 * a part without images leaves a zero weight-gradient sum) and then runs its images. */
static void run_parts(const taps *t, int64_t b, int64_t e, image_fn fn) {
    for (int64_t part = b; part < e; part++) {
        int64_t n0, n1;
        image_run(t, part, &n0, &n1);
        float *scratch = part_scratch(t, part);
        memset(scratch, 0, (size_t)t->part_floats * sizeof *scratch);
        for (int64_t n = n0; n < n1 && !tau_interrupted; n++) fn(t, n, n == n0, scratch);
    }
}

static void forward_parts(void *ctx, int64_t b, int64_t e) { run_parts(ctx, b, e, forward_image); }
static void dx_parts(void *ctx, int64_t b, int64_t e) { run_parts(ctx, b, e, dx_image); }
static void dw_parts(void *ctx, int64_t b, int64_t e) { run_parts(ctx, b, e, dw_image); }

int tau__conv_taps_wanted(const tau_conv2d_params *p, int64_t oh, int64_t ow, int which) {
    if (p->groups != 1 || p->dil_h != 1 || p->dil_w != 1 || p->stride_h != p->stride_w) return 0;
    if (p->stride_h > 2 || p->kh * p->kw < 2 || p->kh > 7 || p->kw > 7 || p->n < 1) return 0;
    /* one GEMM per tap wants real dimensions: C and K (C rows of dx: one input channel made
     * dx slower than through the column matrix) */
    if (p->c < 8) return 0;
    if (which == 1) return p->k >= 8;
    /* a stride-2 forward pass measured no faster than its column matrix on one thread and
     * slower on two (bench_conv, res20 16->32) */
    if (which == 0 && p->stride_h == 2) return 0;
    /* the weight gradient's taps accumulate K x C blocks: on small planes the column matrix
     * is cheaper (bench_conv, 8x8 and 14x14 layers) */
    return which == 0 || oh * ow >= 256;
}

/* Sets up the geometry, packs W_t, allocates a part's scratch per thread and runs fn. */
static int run(const tau_conv2d_params *p, int64_t oh, int64_t ow, taps *t, const float *w, int which,
               tau_range_fn fn) {
    t->p = p;
    t->s = p->stride_h;
    t->oh = oh;
    t->ow = ow;
    t->pr = (p->h + 2 * p->pad_h + t->s - 1) / t->s;
    t->pc = (p->w + 2 * p->pad_w + t->s - 1) / t->s;
    t->ps = t->pr * t->pc + 8; /* a tap's run may pass the last row by (kw - 1) / s */
    t->nph = t->s * t->s;
    t->kk = p->kh * p->kw;
    t->span = oh * t->pc;
    const int64_t K = p->k, C = p->c;
    int64_t parts = tau_get_num_threads();
    if (parts > p->n) parts = p->n;
    if (parts < 1) parts = 1;
    t->parts = parts;
    t->part_floats = planes_floats(t) + (which == 0 ? K * t->span : span_floats(t)) + (which == 2 ? t->kk * K * C : 0);
    size_t wfloats = (size_t)(t->kk * K * C), sfloats = (size_t)(parts * t->part_floats);
    t->wt = w ? tau_alloc(wfloats * sizeof(float)) : NULL;
    t->scratch = tau_alloc(sfloats * sizeof(float));
    if ((w && !t->wt) || !t->scratch) {
        tau_free(t->wt, wfloats * sizeof(float));
        tau_free(t->scratch, sfloats * sizeof(float));
        return tau_fail("conv2d: out of memory for %zu floats of tap planes", sfloats);
    }
    if (w)
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < t->kk; i++) t->wt[(i * K + k) * C + c] = w[(k * C + c) * t->kk + i];
    if (parts > 1) tau_parallel_for(parts, 1, fn, t);
    else fn(t, 0, 1);
    if (which == 2 && !tau_interrupted) /* the runs' sums in a fixed order, as (K, C, kh, kw) */
        for (int64_t k = 0; k < K; k++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < t->kk; i++) {
                    float v = 0;
                    for (int64_t part = 0; part < parts; part++) v += part_dw(t, part)[(i * K + k) * C + c];
                    t->dw[(k * C + c) * t->kk + i] = v;
                }
    tau_free(t->wt, wfloats * sizeof(float));
    tau_free(t->scratch, sfloats * sizeof(float));
    if (tau_interrupted) return tau_fail("interrupted");
    return TAU_OK;
}

int tau__conv_taps_forward(const float *x, const float *w, const float *b, float *y, const tau_conv2d_params *p,
                           int64_t oh, int64_t ow) {
    taps t = {.x = x, .b = b, .y = y};
    return run(p, oh, ow, &t, w, 0, forward_parts);
}

int tau__conv_taps_dx(const float *w, const float *dy, float *dx, const tau_conv2d_params *p, int64_t oh,
                      int64_t ow) {
    taps t = {.dy = dy, .dx = dx};
    return run(p, oh, ow, &t, w, 1, dx_parts);
}

int tau__conv_taps_dw(const float *x, const float *dy, float *dw, const tau_conv2d_params *p, int64_t oh,
                      int64_t ow) {
    taps t = {.x = x, .dy = dy, .dw = dw};
    return run(p, oh, ow, &t, NULL, 2, dw_parts);
}
