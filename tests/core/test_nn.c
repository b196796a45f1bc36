/* Neural-network kernels against naive double-precision loops, finite-difference checks of
 * every backward, numerical range of the temperature softmax and cross-entropy, and the error
 * messages users see. */
#include "check_helpers.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn/nn.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/parallel.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ull;

static void seed_rng(uint64_t s) { rng_state = s * 2654435761u + 1; }

static double uniform(void) {    /* [0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static float *frand(int64_t n, double lo, double hi) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * uniform());
    return p;
}

static double *dzeros(int64_t n) {
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static float *fzeros(int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* |a - b| <= atol + rtol |b| everywhere. */
static void expect_close(const float *a, const double *b, int64_t n, double atol, double rtol,
                         const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        ck_assert_msg(isfinite(a[i]) && d <= atol + rtol * fabs(b[i]),
                      "%s: element %lld is %.9g, expected %.9g", what, (long long)i, (double)a[i], b[i]);
    }
}

static double dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Central differences of an objective (sum of y * dy for a fixed random dy) with respect to up
 * to `samples` entries of param, against the analytic gradient. */
typedef double (*objective)(void *ctx);

static void fd_check(objective f, void *ctx, float *param, int64_t n, const float *grad,
                     float eps, double tol, const char *what) {
    const int64_t samples = 24;
    for (int64_t s = 0; s < (n < samples ? n : samples); s++) {
        int64_t i = n <= samples ? s : (int64_t)(uniform() * (double)n);
        float v = param[i];
        float vp = v + eps, vm = v - eps;
        param[i] = vp;
        double fp = f(ctx);
        param[i] = vm;
        double fm = f(ctx);
        param[i] = v;
        double num = (fp - fm) / ((double)vp - (double)vm);
        ck_assert_msg(fabs(num - grad[i]) <= tol * (1 + fabs(num)),
                      "%s: gradient %lld is %.7g, finite differences give %.7g", what, (long long)i,
                      (double)grad[i], num);
    }
}

/* ---- conv2d ------------------------------------------------------------------------------- */

static void ref_conv(const tau_conv2d_params *p, int64_t oh, int64_t ow, const float *x,
                     const float *w, const float *b, double *y) {
    int64_t cg = p->c / p->groups, kg = p->k / p->groups;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t k = 0; k < p->k; k++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double acc = b ? b[k] : 0;
                    int64_t g = k / kg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ky = 0; ky < p->kh; ky++)
                            for (int64_t kx = 0; kx < p->kw; kx++) {
                                int64_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                                int64_t ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                                acc += (double)x[((n * p->c + g * cg + ci) * p->h + iy) * p->w + ix] *
                                       w[((k * cg + ci) * p->kh + ky) * p->kw + kx];
                            }
                    y[((n * p->k + k) * oh + oy) * ow + ox] = acc;
                }
}

static void ref_conv_backward(const tau_conv2d_params *p, int64_t oh, int64_t ow, const float *x,
                              const float *w, const float *dy, double *dx, double *dw, double *db) {
    int64_t cg = p->c / p->groups, kg = p->k / p->groups;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t k = 0; k < p->k; k++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double g = dy[((n * p->k + k) * oh + oy) * ow + ox];
                    db[k] += g;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ky = 0; ky < p->kh; ky++)
                            for (int64_t kx = 0; kx < p->kw; kx++) {
                                int64_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                                int64_t ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                                int64_t xi = ((n * p->c + (k / kg) * cg + ci) * p->h + iy) * p->w + ix;
                                int64_t wi = ((k * cg + ci) * p->kh + ky) * p->kw + kx;
                                dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                            }
                }
}

/* n, c, h, w, k, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups */
static const tau_conv2d_params conv_cases[] = {
    {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* 3x3 "same": block-copy im2col */
    {2, 4, 9, 8, 6, 3, 2, 2, 1, 1, 0, 1, 1, 2},    /* odd kernel, stride 2x1, groups */
    {1, 4, 10, 11, 4, 3, 3, 1, 2, 2, 1, 2, 2, 4},  /* depthwise, dilated, strided */
    {2, 3, 8, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 3},    /* depthwise with 2 kernels per channel */
    {2, 6, 5, 7, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1},    /* 1x1: no im2col */
    {2, 6, 5, 5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2},    /* grouped 1x1 */
    {2, 5, 7, 7, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1},    /* strided 1x1 */
    {2, 4, 8, 8, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1},    /* strided 1x1, even size */
    {2, 3, 8, 10, 4, 1, 1, 3, 3, 0, 0, 1, 1, 1},   /* strided 1x1, stride 3 past the edge */
    {1, 2, 11, 13, 3, 5, 5, 3, 3, 2, 2, 1, 1, 1},  /* 5x5 stride 3 */
    {2, 3, 9, 9, 2, 3, 3, 1, 1, 0, 0, 2, 2, 1},    /* dilation, no padding */
    {1, 2, 4, 4, 3, 4, 4, 1, 1, 0, 0, 1, 1, 1},    /* kernel as large as the input */
    {2, 3, 6, 9, 2, 3, 5, 1, 1, 1, 2, 1, 1, 1},    /* asymmetric "same" padding */
    {3, 2, 5, 5, 2, 3, 3, 1, 1, 3, 3, 1, 1, 1},    /* padding wider than the kernel reach */
    {5, 16, 8, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1},   /* several images per chunk */
    {2, 3, 13, 12, 2, 3, 2, 5, 4, 1, 0, 1, 1, 1},  /* 20 stride phases: direct strided path */
    {2, 2, 9, 10, 3, 2, 3, 3, 2, 0, 1, 2, 1, 1},   /* strides 3x2 with dilation */
    {5, 8, 64, 64, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* 1.2 MB of columns per image: chunks of
                                                     * 3 and 2 images with 2 threads */
    {2, 3, 7, 7, 2, 3, 3, 100, 1, 1, 1, 1, 1, 1},  /* stride beyond the input */
    /* thin layers take the direct kernel: rows of 32+16+8 columns and a tail, channel blocks
     * of 4 and a remainder, for y and for dx */
    {3, 3, 12, 61, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 9, 40, 5, 2, 7, 1, 1, 0, 3, 1, 1, 1},   /* 2x7 */
    {2, 2, 7, 27, 3, 3, 5, 1, 1, 1, 2, 1, 1, 1},   /* 3x5 */
    {2, 2, 6, 20, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1},   /* unpadded: dx padded by 2 */
    /* 8 channels and more: one GEMM per tap on padded (phase) planes, odd sizes, stride 2 with
     * odd and even padding, kernels 5x5 and 2x3, padding past the kernel's reach, and planes
     * large enough (>= 256 outputs) for the weight gradient to take the taps too */
    {3, 8, 9, 11, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {3, 8, 33, 35, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {2, 8, 17, 16, 9, 5, 5, 1, 1, 2, 2, 1, 1, 1},
    {2, 9, 34, 33, 10, 2, 3, 2, 2, 0, 1, 1, 1, 1},
    {2, 8, 16, 16, 8, 3, 3, 1, 1, 3, 3, 1, 1, 1},
    /* stride 2 across: the implicit GEMM on half-rows, with 16-pixel blocks read in place and
     * blocks spanning output rows packed, panels of 6 channels and a remainder, odd and even
     * padding, 576 column-matrix rows, stride 1 down; for 1x1 the interleaved dx writer (odd
     * widths, rows skipped by stride 3) */
    {2, 3, 5, 9, 7, 3, 3, 1, 2, 1, 1, 1, 1, 1},
    {2, 64, 6, 6, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1},
    {2, 3, 11, 19, 5, 5, 5, 2, 2, 2, 2, 1, 1, 1},
    {3, 13, 9, 33, 14, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {2, 8, 16, 32, 16, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {2, 4, 7, 20, 3, 1, 1, 3, 2, 0, 0, 1, 1, 1},
    {1, 2, 64, 66, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1},  /* 66 blocks: two groups, parts mid-image */
    {2, 3, 6, 9, 4, 1, 1, 2, 2, 1, 1, 1, 1, 1},    /* 1x1 with odd padding: odd columns only */
    /* 1x1 read in place with more than one panel (16 + 4, 16 + 16 + 4 channels), beside
     * blocks spanning rows */
    {2, 5, 6, 41, 20, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {2, 17, 4, 64, 36, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    /* the strided 1x1 input gradient clearing the rows below from the registers: rows of 40
     * (a part vector of zeros), one and two rows below (stride 2 and 3 down) */
    {2, 9, 8, 40, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {2, 3, 12, 40, 4, 1, 1, 3, 2, 0, 0, 1, 1, 1},
    /* ... and with AVX-512, rows of whole 16-pixel blocks in one loop: panels of 8 + 3
     * channels, two rows below (one below the last), parts starting mid-image; none below */
    {3, 11, 8, 64, 6, 1, 1, 3, 2, 0, 0, 1, 1, 1},
    {2, 8, 5, 32, 4, 1, 1, 1, 2, 0, 0, 1, 1, 1},
    /* thin layers with 8 output channels and more: the direct kernel's AVX-512 blocks of 8
     * channels by 32 columns, a masked tail of columns, the last channels in a block of 4 or 8
     * reaching into the packing's padding (12 = 8 + 4, 19 = 8 + 8 + 3, 13 = 8 + 5) */
    {2, 3, 7, 61, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 5, 45, 19, 2, 7, 1, 1, 0, 3, 1, 1, 1},
    {1, 3, 6, 16, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {2, 4, 9, 32, 8, 2, 3, 1, 1, 1, 0, 1, 1, 1},
};
#define NCONV ((int)(sizeof conv_cases / sizeof *conv_cases))

static void conv_case(const tau_conv2d_params *p, int threads, int with_bias) {
    int64_t oh, ow;
    tau_set_num_threads(threads);
    ck_assert_int_eq(tau_conv2d_out_size(p, &oh, &ow), TAU_OK);
    int64_t xs = p->n * p->c * p->h * p->w, ws = p->k * (p->c / p->groups) * p->kh * p->kw;
    int64_t ys = p->n * p->k * oh * ow;
    float *x = frand(xs, -1, 1), *w = frand(ws, -1, 1), *b = frand(p->k, -1, 1);
    float *y = fzeros(ys), *dy = frand(ys, -1, 1), *dx = fzeros(xs), *dw = fzeros(ws), *db = fzeros(p->k);
    double *ry = dzeros(ys), *rdx = dzeros(xs), *rdw = dzeros(ws), *rdb = dzeros(p->k);
    ck_assert_int_eq(tau_conv2d_forward(x, w, with_bias ? b : NULL, y, p), TAU_OK);
    ref_conv(p, oh, ow, x, w, with_bias ? b : NULL, ry);
    expect_close(y, ry, ys, 1e-5, 1e-5, "conv2d forward");
    ck_assert_int_eq(tau_conv2d_backward(x, w, dy, dx, dw, db, p), TAU_OK);
    ref_conv_backward(p, oh, ow, x, w, dy, rdx, rdw, rdb);
    expect_close(dx, rdx, xs, 1e-5, 1e-5, "conv2d dx");
    expect_close(dw, rdw, ws, 1e-4, 1e-5, "conv2d dw");
    expect_close(db, rdb, p->k, 1e-4, 1e-5, "conv2d db");
    /* Each gradient alone, the others not wanted; results are written, not accumulated. */
    memset(dx, 0x7f, (size_t)xs * sizeof *dx);
    ck_assert_int_eq(tau_conv2d_backward(x, w, dy, dx, NULL, NULL, p), TAU_OK);
    expect_close(dx, rdx, xs, 1e-5, 1e-5, "conv2d dx alone");
    memset(dw, 0x7f, (size_t)ws * sizeof *dw);
    ck_assert_int_eq(tau_conv2d_backward(x, w, dy, NULL, dw, NULL, p), TAU_OK);
    expect_close(dw, rdw, ws, 1e-4, 1e-5, "conv2d dw alone");
    free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db);
    free(ry); free(rdx); free(rdw); free(rdb);
}

START_TEST(conv_matches_reference) {
    seed_rng(1);
    /* every kernel path this processor can run: AVX-512, AVX2, and none (the GEMM lowering) */
    const tau_cpu_level levels[] = {TAU_CPU_AVX512, TAU_CPU_AVX2, TAU_CPU_GENERIC};
    for (int l = 0; l < 3; l++) {
        tau__cpu_set_limit(levels[l]);
        for (int i = 0; i < NCONV; i++)
            for (int threads = 1; threads <= 2; threads++) conv_case(&conv_cases[i], threads, i % 2 == 0);
        for (int i = 0; i < NCONV; i++) conv_case(&conv_cases[i], 1, i % 2 == 1);
    }
    tau__cpu_set_limit(TAU_CPU_AVX512);
}
END_TEST

typedef struct {
    const tau_conv2d_params *p;
    float *x, *w, *b, *y, *dy;
    int64_t ys;
} conv_fd;

static double conv_obj(void *ctx) {
    conv_fd *c = ctx;
    ck_assert_int_eq(tau_conv2d_forward(c->x, c->w, c->b, c->y, c->p), TAU_OK);
    return dot(c->y, c->dy, c->ys);
}

START_TEST(conv_gradient_check) {
    seed_rng(2);
    /* ... 19: the direct kernel's blocks and tails; 24, 25: the tap GEMMs (stride 2, 5x5);
     * 29, 32: the implicit GEMM (3x3 with stride 1 down, 1x1 on an odd width); 41: the strided
     * 1x1 input gradient by whole rows; 42: the direct kernel's 8-channel blocks */
    const int cases[] = {0, 1, 3, 4, 6, 8, 13, 14, 19, 24, 25, 29, 32, 41, 42};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const tau_conv2d_params *p = &conv_cases[cases[ci]];
        int64_t oh, ow;
        ck_assert_int_eq(tau_conv2d_out_size(p, &oh, &ow), TAU_OK);
        int64_t xs = p->n * p->c * p->h * p->w, ws = p->k * (p->c / p->groups) * p->kh * p->kw;
        conv_fd c = {p, frand(xs, -1, 1), frand(ws, -1, 1), frand(p->k, -1, 1), NULL, NULL, 0};
        c.ys = p->n * p->k * oh * ow;
        c.y = fzeros(c.ys);
        c.dy = frand(c.ys, -1, 1);
        float *dx = fzeros(xs), *dw = fzeros(ws), *db = fzeros(p->k);
        ck_assert_int_eq(tau_conv2d_backward(c.x, c.w, c.dy, dx, dw, db, p), TAU_OK);
        fd_check(conv_obj, &c, c.x, xs, dx, 1e-2f, 1e-3, "conv2d dx");
        fd_check(conv_obj, &c, c.w, ws, dw, 1e-2f, 1e-3, "conv2d dw");
        fd_check(conv_obj, &c, c.b, p->k, db, 1e-2f, 1e-3, "conv2d db");
        free(c.x); free(c.w); free(c.b); free(c.y); free(c.dy); free(dx); free(dw); free(db);
    }
}
END_TEST

START_TEST(conv_errors) {
    int64_t oh, ow;
    tau_conv2d_params p = {1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: input channels 3 not divisible by groups 2");
    p = (tau_conv2d_params){1, 4, 8, 8, 3, 3, 3, 1, 1, 1, 1, 1, 1, 2};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: output channels 3 not divisible by groups 2");
    p = (tau_conv2d_params){1, 1, 4, 4, 1, 7, 7, 1, 1, 1, 1, 1, 1, 1};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: kernel 7x7 (dilated 7x7) larger than padded input 6x6");
    p = (tau_conv2d_params){1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 3, 3, 1};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "dilated 7x7) larger than padded input 5x5");
    p = (tau_conv2d_params){1, 1, 5, 5, 1, 3, 3, 0, 1, 0, 0, 1, 1, 1};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: stride must be positive, got 0x1");
    p = (tau_conv2d_params){1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 1, 0, 1};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: dilation must be positive");
    p = (tau_conv2d_params){1, 1, 5, 5, 1, 3, 3, 1, 1, -1, 0, 1, 1, 1};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: padding must be non-negative");
    p = (tau_conv2d_params){1, 2, 5, 5, 2, 3, 3, 1, 1, 0, 0, 1, 1, 0};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: groups must be positive");
    p = (tau_conv2d_params){1, 0, 5, 5, 2, 3, 3, 1, 1, 0, 0, 1, 1, 1};
    expect_error(tau_conv2d_out_size(&p, &oh, &ow), "conv2d: invalid input shape");
    /* The kernels validate too. */
    float buf[128] = {0};
    p = (tau_conv2d_params){1, 3, 2, 2, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2};
    expect_error(tau_conv2d_forward(buf, buf, NULL, buf, &p), "not divisible by groups 2");
    expect_error(tau_conv2d_backward(buf, buf, buf, buf, buf, buf, &p), "not divisible by groups 2");
    p = (tau_conv2d_params){1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1};
    ck_assert_int_eq(tau_conv2d_out_size(&p, &oh, &ow), TAU_OK);
    ck_assert_int_eq(oh, 3);
    ck_assert_int_eq(ow, 3);
    /* Ctrl-C stops a long kernel with a message instead of finishing. */
    tau_interrupted = 1;
    expect_error(tau_conv2d_forward(buf, buf, NULL, buf + 32, &p), "interrupted");
    expect_error(tau_conv2d_backward(buf, buf, buf + 32, buf + 48, NULL, NULL, &p), "interrupted");
    tau_attention_params ap = {1, 1, 2, 2, 2, 1, 1, 0, 0, 0, 0};
    expect_error(tau_attention_forward(buf, buf, buf, NULL, buf + 32, buf + 48, &ap), "interrupted");
    tau_interrupted = 0;
    ck_assert_int_eq(tau_conv2d_forward(buf, buf, NULL, buf + 32, &p), TAU_OK);
}
END_TEST

/* ---- pooling ------------------------------------------------------------------------------ */

/* Distinct values, so that maxima are unique and small perturbations keep them. */
static float *distinct(int64_t n) {
    float *p = malloc((size_t)n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(i - n / 2) * 0.01f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(uniform() * (double)(i + 1));
        float t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
}

static void ref_pool(const tau_pool2d_params *p, int64_t oh, int64_t ow, const float *x,
                     const float *dy, int is_max, double *y, double *dx) {
    for (int64_t pl = 0; pl < p->n * p->c; pl++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                double best = -INFINITY, sum = 0;
                int64_t arg = -1, cnt = 0, padded = 0;
                for (int64_t ky = 0; ky < p->kh; ky++)
                    for (int64_t kx = 0; kx < p->kw; kx++) {
                        int64_t iy = oy * p->stride_h - p->pad_h + ky, ix = ox * p->stride_w - p->pad_w + kx;
                        if (iy < p->h + p->pad_h && ix < p->w + p->pad_w) padded++;
                        if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                        double v = x[(pl * p->h + iy) * p->w + ix];
                        cnt++;
                        sum += v;
                        if (v > best) { best = v; arg = iy * p->w + ix; }
                    }
                double g = dy[(pl * oh + oy) * ow + ox];
                if (is_max) {
                    y[(pl * oh + oy) * ow + ox] = best;
                    dx[pl * p->h * p->w + arg] += g;
                } else {
                    double div = p->count_include_pad ? (double)padded : (double)cnt;
                    y[(pl * oh + oy) * ow + ox] = sum / div;
                    for (int64_t ky = 0; ky < p->kh; ky++)
                        for (int64_t kx = 0; kx < p->kw; kx++) {
                            int64_t iy = oy * p->stride_h - p->pad_h + ky, ix = ox * p->stride_w - p->pad_w + kx;
                            if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
                            dx[(pl * p->h + iy) * p->w + ix] += g / div;
                        }
                }
            }
}

/* n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, ceil_mode, count_include_pad */
static const tau_pool2d_params pool_cases[] = {
    {2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 0, 1},
    {2, 2, 7, 9, 3, 3, 2, 2, 1, 1, 0, 1},
    {2, 2, 7, 9, 3, 3, 2, 2, 1, 1, 0, 0},
    {1, 3, 7, 7, 2, 2, 2, 2, 0, 0, 1, 1},   /* ceil mode: a partial last window */
    {1, 2, 6, 5, 3, 2, 2, 2, 1, 1, 1, 1},   /* ceil mode with padding: divisor clipped */
    {1, 2, 5, 6, 3, 3, 1, 1, 1, 0, 0, 0},
    {2, 1, 4, 4, 4, 4, 1, 1, 0, 0, 0, 1},
};

typedef struct {
    const tau_pool2d_params *p;
    int is_max;
    float *x, *y, *dy;
    int64_t ys;
} pool_fd;

static double pool_obj(void *ctx) {
    pool_fd *c = ctx;
    int rc = c->is_max ? tau_max_pool2d_forward(c->x, c->y, NULL, c->p) : tau_avg_pool2d_forward(c->x, c->y, c->p);
    ck_assert_int_eq(rc, TAU_OK);
    return dot(c->y, c->dy, c->ys);
}

START_TEST(pool_matches_reference) {
    seed_rng(3);
    for (int threads = 1; threads <= 2; threads++) {
        tau_set_num_threads(threads);
        for (size_t i = 0; i < sizeof pool_cases / sizeof *pool_cases; i++) {
            const tau_pool2d_params *p = &pool_cases[i];
            for (int is_max = 0; is_max <= 1; is_max++) {
                int64_t oh, ow;
                ck_assert_int_eq(is_max ? tau_max_pool2d_out_size(p, &oh, &ow) : tau_avg_pool2d_out_size(p, &oh, &ow), TAU_OK);
                int64_t xs = p->n * p->c * p->h * p->w, ys = p->n * p->c * oh * ow;
                float *x = distinct(xs), *y = fzeros(ys), *dy = frand(ys, -1, 1), *dx = fzeros(xs);
                int32_t *idx = calloc((size_t)ys, sizeof *idx);
                double *ry = dzeros(ys), *rdx = dzeros(xs);
                ref_pool(p, oh, ow, x, dy, is_max, ry, rdx);
                if (is_max) {
                    ck_assert_int_eq(tau_max_pool2d_forward(x, y, idx, p), TAU_OK);
                    ck_assert_int_eq(tau_max_pool2d_backward(dy, idx, dx, p), TAU_OK);
                } else {
                    ck_assert_int_eq(tau_avg_pool2d_forward(x, y, p), TAU_OK);
                    ck_assert_int_eq(tau_avg_pool2d_backward(dy, dx, p), TAU_OK);
                }
                expect_close(y, ry, ys, 1e-6, 1e-5, is_max ? "max_pool2d forward" : "avg_pool2d forward");
                expect_close(dx, rdx, xs, 1e-6, 1e-5, is_max ? "max_pool2d backward" : "avg_pool2d backward");
                pool_fd c = {p, is_max, x, y, dy, ys};
                fd_check(pool_obj, &c, x, xs, dx, 1e-3f, 2e-3, is_max ? "max_pool2d fd" : "avg_pool2d fd");
                free(x); free(y); free(dy); free(dx); free(idx); free(ry); free(rdx);
            }
        }
    }
}
END_TEST

START_TEST(pool_sizes_like_pytorch) {
    int64_t oh, ow;
    /* 7 with kernel 2 stride 2: floor 3, ceil 4. */
    tau_pool2d_params p = {1, 1, 7, 7, 2, 2, 2, 2, 0, 0, 0, 1};
    ck_assert_int_eq(tau_max_pool2d_out_size(&p, &oh, &ow), TAU_OK);
    ck_assert_int_eq(oh, 3);
    p.ceil_mode = 1;
    ck_assert_int_eq(tau_max_pool2d_out_size(&p, &oh, &ow), TAU_OK);
    ck_assert_int_eq(oh, 4);
    /* 6, kernel 2, stride 2, pad 1, ceil: (6+2-2)/2 ceil = 3, +1 = 4; last window starts at
     * 6 - 1 = 5 < 6 + 1, kept. */
    p = (tau_pool2d_params){1, 1, 6, 6, 2, 2, 2, 2, 1, 1, 1, 1};
    ck_assert_int_eq(tau_avg_pool2d_out_size(&p, &oh, &ow), TAU_OK);
    ck_assert_int_eq(oh, 4);
    /* 5, kernel 2, stride 2, pad 1, ceil: ceil(5/2) + 1 = 4, but the last window would start
     * at 3 * 2 = 6 >= 5 + 1, past the input and its left padding: dropped, 3. */
    p = (tau_pool2d_params){1, 1, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1};
    ck_assert_int_eq(tau_avg_pool2d_out_size(&p, &oh, &ow), TAU_OK);
    ck_assert_int_eq(oh, 3);
    /* avg of a padded corner: count_include_pad divides by the full window. */
    float x[4] = {1, 2, 3, 4}, y[9];
    p = (tau_pool2d_params){1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 1};
    ck_assert_int_eq(tau_avg_pool2d_forward(x, y, &p), TAU_OK);
    ck_assert_float_eq_tol(y[0], 0.25f, 1e-7f);
    ck_assert_float_eq_tol(y[4], 2.5f, 1e-7f);
    p.count_include_pad = 0;
    ck_assert_int_eq(tau_avg_pool2d_forward(x, y, &p), TAU_OK);
    ck_assert_float_eq_tol(y[0], 1.0f, 1e-7f);
    /* NaN propagates through max pooling. */
    float xn[4] = {1, NAN, 3, 4}, yn[1];
    int32_t idx[1];
    p = (tau_pool2d_params){1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1};
    ck_assert_int_eq(tau_max_pool2d_forward(xn, yn, idx, &p), TAU_OK);
    ck_assert(isnan(yn[0]));
    ck_assert_int_eq(idx[0], 1);
}
END_TEST

START_TEST(pool_errors) {
    int64_t oh, ow;
    tau_pool2d_params p = {1, 1, 8, 8, 3, 3, 1, 1, 2, 2, 0, 1};
    expect_error(tau_max_pool2d_out_size(&p, &oh, &ow), "max_pool2d: padding 2x2 must be non-negative and at most half of kernel 3x3");
    expect_error(tau_avg_pool2d_out_size(&p, &oh, &ow), "avg_pool2d: padding 2x2");
    p = (tau_pool2d_params){1, 1, 3, 3, 5, 5, 1, 1, 0, 0, 0, 1};
    expect_error(tau_max_pool2d_out_size(&p, &oh, &ow), "max_pool2d: kernel 5x5 larger than padded input 3x3");
    p = (tau_pool2d_params){1, 1, 3, 3, 2, 2, 0, 1, 0, 0, 0, 1};
    expect_error(tau_avg_pool2d_out_size(&p, &oh, &ow), "avg_pool2d: stride must be positive, got 0x1");
    p = (tau_pool2d_params){1, 1, 3, 3, 0, 2, 1, 1, 0, 0, 0, 1};
    expect_error(tau_max_pool2d_out_size(&p, &oh, &ow), "max_pool2d: kernel size must be positive");
    float buf[16] = {0};
    int32_t bad[4] = {0, 9, 0, 0};
    p = (tau_pool2d_params){1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 1};
    expect_error(tau_max_pool2d_backward(buf, bad, buf, &p), "max_pool2d: saved index 9 out of range 0..3");
    tau_adaptive_pool2d_params a = {1, 1, 4, 4, 0, 2};
    expect_error(tau_adaptive_avg_pool2d_forward(buf, buf, &a), "adaptive_avg_pool2d: output size must be positive, got 0x2");
}
END_TEST

typedef struct {
    const tau_adaptive_pool2d_params *p;
    float *x, *y, *dy;
    int64_t ys;
} adapt_fd;

static double adapt_obj(void *ctx) {
    adapt_fd *c = ctx;
    ck_assert_int_eq(tau_adaptive_avg_pool2d_forward(c->x, c->y, c->p), TAU_OK);
    return dot(c->y, c->dy, c->ys);
}

START_TEST(adaptive_pool_matches_reference) {
    seed_rng(4);
    const tau_adaptive_pool2d_params cases[] = {
        {2, 3, 7, 5, 3, 2}, {1, 2, 5, 5, 5, 5}, {1, 2, 4, 3, 8, 7}, {2, 2, 8, 8, 1, 1}, {1, 1, 10, 6, 4, 4}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const tau_adaptive_pool2d_params *p = &cases[ci];
        int64_t xs = p->n * p->c * p->h * p->w, ys = p->n * p->c * p->oh * p->ow;
        float *x = frand(xs, -1, 1), *y = fzeros(ys), *dy = frand(ys, -1, 1), *dx = fzeros(xs);
        double *ry = dzeros(ys), *rdx = dzeros(xs);
        for (int64_t pl = 0; pl < p->n * p->c; pl++)
            for (int64_t oy = 0; oy < p->oh; oy++)
                for (int64_t ox = 0; ox < p->ow; ox++) {
                    int64_t y0 = (int64_t)floor((double)(oy * p->h) / (double)p->oh);
                    int64_t y1 = (int64_t)ceil((double)((oy + 1) * p->h) / (double)p->oh);
                    int64_t x0 = (int64_t)floor((double)(ox * p->w) / (double)p->ow);
                    int64_t x1 = (int64_t)ceil((double)((ox + 1) * p->w) / (double)p->ow);
                    double s = 0, cnt = (double)((y1 - y0) * (x1 - x0));
                    double g = dy[(pl * p->oh + oy) * p->ow + ox];
                    for (int64_t iy = y0; iy < y1; iy++)
                        for (int64_t ix = x0; ix < x1; ix++) {
                            s += x[(pl * p->h + iy) * p->w + ix];
                            rdx[(pl * p->h + iy) * p->w + ix] += g / cnt;
                        }
                    ry[(pl * p->oh + oy) * p->ow + ox] = s / cnt;
                }
        ck_assert_int_eq(tau_adaptive_avg_pool2d_forward(x, y, p), TAU_OK);
        ck_assert_int_eq(tau_adaptive_avg_pool2d_backward(dy, dx, p), TAU_OK);
        expect_close(y, ry, ys, 1e-6, 1e-5, "adaptive_avg_pool2d forward");
        expect_close(dx, rdx, xs, 1e-6, 1e-5, "adaptive_avg_pool2d backward");
        adapt_fd c = {p, x, y, dy, ys};
        fd_check(adapt_obj, &c, x, xs, dx, 1e-2f, 1e-3, "adaptive_avg_pool2d fd");
        free(x); free(y); free(dy); free(dx); free(ry); free(rdx);
    }
}
END_TEST

/* ---- normalisation ------------------------------------------------------------------------ */

typedef struct {
    tau_batch_norm_params p;
    float *x, *gamma, *beta, *rm, *rv, *y, *dy;
    int64_t xs;
} bn_fd;

static double bn_obj(void *ctx) {
    bn_fd *c = ctx;
    /* Running statistics are not part of the function; work on copies. */
    float rm[64], rv[64];
    memcpy(rm, c->rm, (size_t)c->p.c * sizeof *rm);
    memcpy(rv, c->rv, (size_t)c->p.c * sizeof *rv);
    ck_assert_int_eq(tau_batch_norm_forward(c->x, c->gamma, c->beta, rm, rv, c->y, NULL, NULL, &c->p), TAU_OK);
    return dot(c->y, c->dy, c->xs);
}

static void bn_case(int64_t n, int64_t c, int64_t l, int affine, int training) {
    bn_fd f = {{n, c, l, 1e-5f, 0.1f, training}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, n * c * l};
    const int64_t xs = f.xs, cnt = n * l;
    f.x = frand(xs, -2, 3);
    f.gamma = affine ? frand(c, 0.5, 1.5) : NULL;
    f.beta = affine ? frand(c, -1, 1) : NULL;
    f.rm = frand(c, -0.5, 0.5);
    f.rv = frand(c, 0.5, 2);
    f.y = fzeros(xs);
    f.dy = frand(xs, -1, 1);
    float rm[64], rv[64], sm[64], si[64];
    memcpy(rm, f.rm, (size_t)c * sizeof *rm);
    memcpy(rv, f.rv, (size_t)c * sizeof *rv);
    ck_assert_int_eq(tau_batch_norm_forward(f.x, f.gamma, f.beta, rm, rv, f.y, sm, si, &f.p), TAU_OK);
    double *ry = dzeros(xs), *rdx = dzeros(xs), *rdg = dzeros(c), *rdb = dzeros(c);
    for (int64_t ch = 0; ch < c; ch++) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < l; j++) mean += f.x[(i * c + ch) * l + j];
        mean /= (double)cnt;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < l; j++) var += pow(f.x[(i * c + ch) * l + j] - mean, 2);
        var /= (double)cnt;
        if (training) {
            /* running = (1 - momentum) running + momentum batch, with the unbiased variance. */
            double erm = 0.9 * f.rm[ch] + 0.1 * mean;
            double erv = 0.9 * f.rv[ch] + 0.1 * var * (double)cnt / (double)(cnt - 1);
            ck_assert_double_eq_tol(rm[ch], erm, 1e-6);
            ck_assert_double_eq_tol(rv[ch], erv, 1e-6 * (1 + erv));
        } else {
            mean = f.rm[ch];
            var = f.rv[ch];
            ck_assert(rm[ch] == f.rm[ch] && rv[ch] == f.rv[ch]);
        }
        double is = 1 / sqrt(var + 1e-5), g = affine ? f.gamma[ch] : 1, b = affine ? f.beta[ch] : 0;
        ck_assert_double_eq_tol(sm[ch], mean, 1e-6);
        ck_assert_double_eq_tol(si[ch], is, 1e-5 * is);
        double sdy = 0, sdyx = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < l; j++) {
                int64_t k = (i * c + ch) * l + j;
                double xh = (f.x[k] - mean) * is;
                ry[k] = xh * g + b;
                sdy += f.dy[k];
                sdyx += f.dy[k] * xh;
            }
        rdg[ch] = sdyx;
        rdb[ch] = sdy;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < l; j++) {
                int64_t k = (i * c + ch) * l + j;
                double xh = (f.x[k] - mean) * is;
                rdx[k] = training ? g * is * (f.dy[k] - sdy / (double)cnt - xh * sdyx / (double)cnt)
                                  : g * is * f.dy[k];
            }
    }
    expect_close(f.y, ry, xs, 1e-5, 1e-5, "batch_norm forward");
    float *dx = fzeros(xs), *dg = fzeros(c), *db = fzeros(c);
    ck_assert_int_eq(tau_batch_norm_backward(f.x, f.dy, f.gamma, sm, si, dx, affine ? dg : NULL, affine ? db : NULL, &f.p), TAU_OK);
    expect_close(dx, rdx, xs, 1e-5, 1e-4, "batch_norm dx");
    if (affine) {
        expect_close(dg, rdg, c, 1e-4, 1e-4, "batch_norm dgamma");
        expect_close(db, rdb, c, 1e-4, 1e-4, "batch_norm dbeta");
        fd_check(bn_obj, &f, f.gamma, c, dg, 1e-2f, 2e-3, "batch_norm dgamma fd");
        fd_check(bn_obj, &f, f.beta, c, db, 1e-2f, 2e-3, "batch_norm dbeta fd");
    }
    fd_check(bn_obj, &f, f.x, xs, dx, 1e-2f, 5e-3, "batch_norm dx fd");
    free(f.x); free(f.gamma); free(f.beta); free(f.rm); free(f.rv); free(f.y); free(f.dy);
    free(ry); free(rdx); free(rdg); free(rdb); free(dx); free(dg); free(db);
}

START_TEST(batch_norm_matches_reference) {
    seed_rng(5);
    for (int threads = 1; threads <= 2; threads++) {
        tau_set_num_threads(threads);
        bn_case(4, 3, 10, 1, 1);
        bn_case(3, 5, 7, 0, 1);
        bn_case(16, 6, 1, 1, 1);   /* (N, C) input */
        bn_case(4, 3, 10, 1, 0);
        bn_case(5, 4, 1, 0, 0);
    }
}
END_TEST

START_TEST(batch_norm_running_stats) {
    /* Two channels of constant offset: mean 1.5 / 11.5, biased var 1.25, unbiased 5/3. */
    float x[8] = {0, 1, 10, 11, 2, 3, 12, 13}, y[8], rm[2] = {0, 0}, rv[2] = {1, 1};
    tau_batch_norm_params p = {2, 2, 2, 1e-5f, 0.1f, 1};
    ck_assert_int_eq(tau_batch_norm_forward(x, NULL, NULL, rm, rv, y, NULL, NULL, &p), TAU_OK);
    ck_assert_float_eq_tol(rm[0], 0.15f, 1e-7f);
    ck_assert_float_eq_tol(rm[1], 1.15f, 1e-6f);
    ck_assert_float_eq_tol(rv[0], 0.9f + 0.1f * 5.0f / 3.0f, 1e-6f);
    ck_assert_float_eq_tol(rv[1], 0.9f + 0.1f * 5.0f / 3.0f, 1e-6f);
    ck_assert_float_eq_tol(y[0], (float)(-1.5 / sqrt(1.25 + 1e-5)), 1e-5f);
    /* No tracking: training without running statistics. */
    ck_assert_int_eq(tau_batch_norm_forward(x, NULL, NULL, NULL, NULL, y, NULL, NULL, &p), TAU_OK);
    tau_batch_norm_params one = {1, 2, 1, 1e-5f, 0.1f, 1};
    expect_error(tau_batch_norm_forward(x, NULL, NULL, rm, rv, y, NULL, NULL, &one),
                 "batch_norm: expected more than 1 value per channel when training");
    p.training = 0;
    expect_error(tau_batch_norm_forward(x, NULL, NULL, NULL, NULL, y, NULL, NULL, &p),
                 "batch_norm: evaluation mode needs running_mean and running_var");
    p.training = 1;
    p.momentum = 1.5f;
    expect_error(tau_batch_norm_forward(x, NULL, NULL, rm, rv, y, NULL, NULL, &p), "batch_norm: momentum must be in [0, 1]");
    p.momentum = 0.1f;
    expect_error(tau_batch_norm_backward(x, x, NULL, NULL, NULL, y, NULL, NULL, &p), "batch_norm: backward needs");
}
END_TEST

typedef struct {
    tau_layer_norm_params p;
    float *x, *g, *b, *y, *dy;
} ln_fd;

static double ln_obj(void *ctx) {
    ln_fd *c = ctx;
    ck_assert_int_eq(tau_layer_norm_forward(c->x, c->g, c->b, c->y, NULL, NULL, &c->p), TAU_OK);
    return dot(c->y, c->dy, c->p.m * c->p.d);
}

static void ln_case(int64_t m, int64_t d, int affine) {
    ln_fd f = {{m, d, 1e-5f}, frand(m * d, -2, 2), affine ? frand(d, 0.5, 1.5) : NULL,
               affine ? frand(d, -1, 1) : NULL, fzeros(m * d), frand(m * d, -1, 1)};
    float *sm = fzeros(m), *si = fzeros(m), *dx = fzeros(m * d), *dg = fzeros(d), *db = fzeros(d);
    double *ry = dzeros(m * d), *rdx = dzeros(m * d), *rdg = dzeros(d), *rdb = dzeros(d);
    ck_assert_int_eq(tau_layer_norm_forward(f.x, f.g, f.b, f.y, sm, si, &f.p), TAU_OK);
    ck_assert_int_eq(tau_layer_norm_backward(f.x, f.dy, f.g, sm, si, dx, affine ? dg : NULL, affine ? db : NULL, &f.p), TAU_OK);
    for (int64_t r = 0; r < m; r++) {
        const float *x = f.x + r * d, *dy = f.dy + r * d;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += x[j];
        mean /= (double)d;
        for (int64_t j = 0; j < d; j++) var += pow(x[j] - mean, 2);
        var /= (double)d;
        double is = 1 / sqrt(var + 1e-5), a = 0, bsum = 0;
        for (int64_t j = 0; j < d; j++) {
            double xh = (x[j] - mean) * is, gj = affine ? f.g[j] : 1;
            ry[r * d + j] = xh * gj + (affine ? f.b[j] : 0);
            a += dy[j] * gj;
            bsum += dy[j] * gj * xh;
            rdg[j] += dy[j] * xh;
            rdb[j] += dy[j];
        }
        for (int64_t j = 0; j < d; j++) {
            double xh = (x[j] - mean) * is, gj = affine ? f.g[j] : 1;
            rdx[r * d + j] = is * (dy[j] * gj - a / (double)d - xh * bsum / (double)d);
        }
    }
    expect_close(f.y, ry, m * d, 1e-5, 1e-5, "layer_norm forward");
    expect_close(dx, rdx, m * d, 1e-5, 1e-4, "layer_norm dx");
    fd_check(ln_obj, &f, f.x, m * d, dx, 1e-2f, 5e-3, "layer_norm dx fd");
    if (affine) {
        expect_close(dg, rdg, d, 1e-4, 1e-4, "layer_norm dgamma");
        expect_close(db, rdb, d, 1e-4, 1e-4, "layer_norm dbeta");
        fd_check(ln_obj, &f, f.g, d, dg, 1e-2f, 2e-3, "layer_norm dgamma fd");
        fd_check(ln_obj, &f, f.b, d, db, 1e-2f, 2e-3, "layer_norm dbeta fd");
    }
    free(f.x); free(f.g); free(f.b); free(f.y); free(f.dy); free(sm); free(si); free(dx); free(dg); free(db);
    free(ry); free(rdx); free(rdg); free(rdb);
}

START_TEST(layer_norm_matches_reference) {
    seed_rng(6);
    /* the row sums 8 at a time (AVX2, with tails: 300 = 37 * 8 + 4) and plain */
    for (int run = 0; run < 4; run++) {
        tau_set_num_threads(1 + run % 2);
        tau__cpu_set_limit(run < 2 ? TAU_CPU_AVX512 : TAU_CPU_GENERIC);
        ln_case(5, 7, 1);
        ln_case(3, 300, 1);   /* more than one column block for dgamma */
        ln_case(4, 9, 0);
        ln_case(1, 1, 1);
        ln_case(6, 128, 0);
    }
    tau__cpu_set_limit(TAU_CPU_AVX512);
    float x[2] = {0};
    tau_layer_norm_params p = {1, 0, 1e-5f};
    expect_error(tau_layer_norm_forward(x, NULL, NULL, x, NULL, NULL, &p), "layer_norm: invalid shape, 1 rows of 0");
    p = (tau_layer_norm_params){1, 2, -1.0f};
    expect_error(tau_layer_norm_forward(x, NULL, NULL, x, NULL, NULL, &p), "layer_norm: eps must be non-negative");
}
END_TEST

/* ---- softmax and losses ------------------------------------------------------------------- */

static const float taus[] = {0.01f, 0.1f, 1.0f, 10.0f, 100.0f, 1000.0f};
#define NTAUS ((int)(sizeof taus / sizeof *taus))

/* log softmax((z - max) / tau) of one row, in double. */
static void ref_log_softmax(const float *z, int64_t k, double tau, double *out) {
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < k; j++) if (z[j] > m) m = z[j];
    for (int64_t j = 0; j < k; j++) s += exp((z[j] - m) / tau);
    for (int64_t j = 0; j < k; j++) out[j] = (z[j] - m) / tau - log(s);
}

typedef struct {
    tau_softmax_params p;
    int log;
    float *z, *y, *dy;
} sm_fd;

static double sm_obj(void *ctx) {
    sm_fd *c = ctx;
    int rc = c->log ? tau_log_softmax_forward(c->z, c->y, &c->p) : tau_softmax_forward(c->z, c->y, &c->p);
    ck_assert_int_eq(rc, TAU_OK);
    return dot(c->y, c->dy, c->p.m * c->p.k);
}

START_TEST(softmax_matches_reference) {
    seed_rng(7);
    for (int ti = 0; ti < NTAUS; ti++)
        for (int range = 0; range < 2; range++) {
            const int64_t m = 6, k = 13;
            const double amp = range ? 1e4 : 3;
            float *z = frand(m * k, -amp, amp), *p = fzeros(m * k), *ls = fzeros(m * k);
            double *rl = dzeros(m * k), *rp = dzeros(m * k);
            tau_softmax_params sp = {m, k, taus[ti]};
            ck_assert_int_eq(tau_softmax_forward(z, p, &sp), TAU_OK);
            ck_assert_int_eq(tau_log_softmax_forward(z, ls, &sp), TAU_OK);
            for (int64_t r = 0; r < m; r++) ref_log_softmax(z + r * k, k, taus[ti], rl + r * k);
            for (int64_t i = 0; i < m * k; i++) rp[i] = exp(rl[i]);
            expect_close(p, rp, m * k, 1e-6, 1e-5, "softmax forward");
            /* log-probabilities reach -2e6 at tau 0.01: relative accuracy there. */
            expect_close(ls, rl, m * k, 1e-5, 1e-6, "log_softmax forward");
            for (int64_t r = 0; r < m; r++) {
                double s = 0;
                for (int64_t j = 0; j < k; j++) s += p[r * k + j];
                ck_assert_double_eq_tol(s, 1.0, 1e-5);
            }
            /* Backward formulas against the double reference. */
            float *dy = frand(m * k, -1, 1), *dz = fzeros(m * k), *dzl = fzeros(m * k);
            double *rdz = dzeros(m * k), *rdzl = dzeros(m * k);
            for (int64_t r = 0; r < m; r++) {
                double sp_ = 0, sd = 0;
                for (int64_t j = 0; j < k; j++) { sp_ += dy[r * k + j] * rp[r * k + j]; sd += dy[r * k + j]; }
                for (int64_t j = 0; j < k; j++) {
                    rdz[r * k + j] = rp[r * k + j] * (dy[r * k + j] - sp_) / taus[ti];
                    rdzl[r * k + j] = (dy[r * k + j] - rp[r * k + j] * sd) / taus[ti];
                }
            }
            ck_assert_int_eq(tau_softmax_backward(p, dy, dz, &sp), TAU_OK);
            ck_assert_int_eq(tau_log_softmax_backward(ls, dy, dzl, &sp), TAU_OK);
            double scale = 1.0 / taus[ti];
            expect_close(dz, rdz, m * k, 1e-5 * scale, 1e-4, "softmax backward");
            expect_close(dzl, rdzl, m * k, 1e-5 * scale, 1e-4, "log_softmax backward");
            /* Finite differences where the function is smooth on the scale of eps. */
            if (!range && taus[ti] >= 0.1f) {
                float eps = 1e-3f * taus[ti];
                for (int lg = 0; lg <= 1; lg++) {
                    sm_fd c = {sp, lg, z, fzeros(m * k), dy};
                    fd_check(sm_obj, &c, z, m * k, lg ? dzl : dz, eps, 5e-3, lg ? "log_softmax fd" : "softmax fd");
                    free(c.y);
                }
            }
            free(z); free(p); free(ls); free(rl); free(rp); free(dy); free(dz); free(dzl); free(rdz); free(rdzl);
        }
    float z[3] = {1, 2, 3}, out[3];
    tau_softmax_params bad = {1, 3, 0.0f};
    expect_error(tau_softmax_forward(z, out, &bad), "softmax: temperature tau must be positive and finite, got 0");
    bad.tau = -1;
    expect_error(tau_log_softmax_forward(z, out, &bad), "log_softmax: temperature tau must be positive");
}
END_TEST

/* Loss of one row and its gradient with respect to the logits, in double. */
static double ref_ce_row(const float *z, int64_t k, int y, double tau, double eps, double *grad) {
    double *ls = dzeros(k), l = 0, mean = 0;
    ref_log_softmax(z, k, tau, ls);
    for (int64_t j = 0; j < k; j++) mean += -ls[j] / (double)k;
    l = (1 - eps) * -ls[y] + eps * mean;
    for (int64_t j = 0; j < k; j++)
        grad[j] = (exp(ls[j]) - ((1 - eps) * (j == y) + eps / (double)k)) / tau;
    free(ls);
    return l;
}

static void ce_case(int64_t n, int64_t k, float tau, double amp, float smoothing, tau_reduction red) {
    float *z = frand(n * k, -amp, amp), *p = fzeros(n * k), *dz = fzeros(n * k);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)(uniform() * (double)k);
    float *loss = fzeros(n), *dl = frand(n, 0.5, 1.5);
    double *rg = dzeros(n * k), *rl = dzeros(n), total = 0;
    for (int64_t i = 0; i < n; i++) total += rl[i] = ref_ce_row(z + i * k, k, lab[i], tau, smoothing, rg + i * k);
    tau_cross_entropy_params cp = {n, k, tau, smoothing, red};
    ck_assert_int_eq(tau_cross_entropy_forward(z, lab, loss, p, &cp), TAU_OK);
    ck_assert_int_eq(tau_cross_entropy_backward(p, lab, dl, dz, &cp), TAU_OK);
    /* Losses reach |z| / tau = 2e6: relative accuracy. */
    if (red == TAU_REDUCTION_NONE) {
        expect_close(loss, rl, n, 1e-5, 1e-6, "cross_entropy loss");
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < k; j++) rg[i * k + j] *= dl[i];
    } else {
        double expect = red == TAU_REDUCTION_SUM ? total : total / (double)n;
        double g = red == TAU_REDUCTION_SUM ? dl[0] : dl[0] / (double)n;
        expect_close(loss, &expect, 1, 1e-5, 1e-6, "cross_entropy reduced loss");
        for (int64_t i = 0; i < n * k; i++) rg[i] *= g;
    }
    double gs = 0;
    for (int64_t i = 0; i < n * k; i++) gs = fmax(gs, fabs(rg[i]));
    expect_close(dz, rg, n * k, 1e-5 * gs + 1e-7, 1e-4, "cross_entropy gradient");
    free(z); free(p); free(dz); free(lab); free(loss); free(dl); free(rg); free(rl);
}

START_TEST(cross_entropy_over_temperatures) {
    seed_rng(8);
    for (int ti = 0; ti < NTAUS; ti++) {
        ce_case(9, 10, taus[ti], 1e4, 0, TAU_REDUCTION_NONE);
        ce_case(9, 10, taus[ti], 1e4, 0, TAU_REDUCTION_MEAN);
        ce_case(7, 5, taus[ti], 3, 0, TAU_REDUCTION_SUM);
        ce_case(7, 200, taus[ti], 1e4, 0.1f, TAU_REDUCTION_NONE);
        ce_case(7, 200, taus[ti], 10, 0.1f, TAU_REDUCTION_MEAN);
    }
    /* Extreme: all logits equal, and a label far below the maximum at tau 0.01. */
    float z[4] = {-1e4f, 1e4f, 1e4f, -1e4f}, p[4], dz[4], loss, one = 1;
    int32_t lab[1] = {0};
    tau_cross_entropy_params cp = {1, 4, 0.01f, 0, TAU_REDUCTION_SUM};
    ck_assert_int_eq(tau_cross_entropy_forward(z, lab, &loss, p, &cp), TAU_OK);
    ck_assert(isfinite(loss));
    ck_assert_float_eq_tol(loss, (float)(2e4 / 0.01 + log(2.0)), 1.0f);
    ck_assert_int_eq(tau_cross_entropy_backward(p, lab, &one, dz, &cp), TAU_OK);
    ck_assert_float_eq_tol(dz[0], -100.0f, 1e-3f);
    ck_assert_float_eq_tol(dz[1], 50.0f, 1e-3f);
}
END_TEST

START_TEST(cross_entropy_gradient_form) {
    /* With sum reduction and upstream 1 the gradient is (p - onehot) / tau computed in float,
     * bit for bit. */
    seed_rng(9);
    for (int ti = 0; ti < NTAUS; ti++) {
        const int64_t n = 5, k = 7;
        float *z = frand(n * k, -50, 50), *p = fzeros(n * k), *dz = fzeros(n * k), loss, one = 1;
        int32_t lab[5] = {0, 6, 2, 3, 1};
        tau_cross_entropy_params cp = {n, k, taus[ti], 0, TAU_REDUCTION_SUM};
        ck_assert_int_eq(tau_cross_entropy_forward(z, lab, &loss, p, &cp), TAU_OK);
        ck_assert_int_eq(tau_cross_entropy_backward(p, lab, &one, dz, &cp), TAU_OK);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < k; j++) {
                float expect = (p[i * k + j] - (j == lab[i] ? 1.0f : 0.0f)) / taus[ti];
                ck_assert_msg(dz[i * k + j] == expect, "tau %g: dz[%lld][%lld] = %.9g, (p - onehot)/tau = %.9g",
                              (double)taus[ti], (long long)i, (long long)j, (double)dz[i * k + j], (double)expect);
            }
        /* p is softmax(z / tau) itself. */
        float *q = fzeros(n * k);
        tau_softmax_params sp = {n, k, taus[ti]};
        ck_assert_int_eq(tau_softmax_forward(z, q, &sp), TAU_OK);
        for (int64_t i = 0; i < n * k; i++) ck_assert_float_eq_tol(p[i], q[i], 1e-6f);
        free(z); free(p); free(dz); free(q);
    }
}
END_TEST

typedef struct {
    tau_cross_entropy_params p;
    float *z;
    int32_t *lab;
    float *loss, *w;
} ce_fd;

static double ce_obj(void *ctx) {
    ce_fd *c = ctx;
    ck_assert_int_eq(tau_cross_entropy_forward(c->z, c->lab, c->loss, NULL, &c->p), TAU_OK);
    return c->p.reduction == TAU_REDUCTION_NONE ? dot(c->loss, c->w, c->p.n) : (double)c->loss[0] * c->w[0];
}

START_TEST(cross_entropy_gradient_check) {
    seed_rng(10);
    const tau_reduction reds[] = {TAU_REDUCTION_MEAN, TAU_REDUCTION_SUM, TAU_REDUCTION_NONE};
    for (int ti = 1; ti < 4; ti++)
        for (int ri = 0; ri < 3; ri++)
            for (int sm = 0; sm <= 1; sm++) {
                const int64_t n = 4, k = 6;
                /* Logits on the scale of tau keep the float loss O(1), so its rounding stays
                 * far below the differences. */
                ce_fd c = {{n, k, taus[ti], sm ? 0.2f : 0, reds[ri]}, frand(n * k, -2.0 * taus[ti], 2.0 * taus[ti]),
                           NULL, fzeros(n), frand(n, 0.5, 1.5)};
                int32_t lab[4] = {1, 5, 0, 2};
                c.lab = lab;
                float *p = fzeros(n * k), *dz = fzeros(n * k);
                ck_assert_int_eq(tau_cross_entropy_forward(c.z, lab, c.loss, p, &c.p), TAU_OK);
                ck_assert_int_eq(tau_cross_entropy_backward(p, lab, c.w, dz, &c.p), TAU_OK);
                fd_check(ce_obj, &c, c.z, n * k, dz, 1e-2f * taus[ti], 2e-3, "cross_entropy fd");
                free(c.z); free(c.loss); free(c.w); free(p); free(dz);
            }
}
END_TEST

START_TEST(loss_errors) {
    float z[30] = {0}, p[30], loss[3], one = 1;
    int32_t lab[3] = {0, 1, 10};
    tau_cross_entropy_params cp = {3, 10, 1.0f, 0, TAU_REDUCTION_MEAN};
    expect_error(tau_cross_entropy_forward(z, lab, loss, p, &cp), "cross_entropy: label 10 out of range 0..9 at row 3");
    expect_error(tau_cross_entropy_backward(p, lab, &one, z, &cp), "cross_entropy: label 10 out of range 0..9 at row 3");
    lab[2] = -1;
    expect_error(tau_cross_entropy_forward(z, lab, loss, p, &cp), "cross_entropy: label -1 out of range 0..9 at row 3");
    lab[2] = 2;
    cp.tau = 0;
    expect_error(tau_cross_entropy_forward(z, lab, loss, p, &cp), "cross_entropy: temperature tau must be positive and finite, got 0");
    cp.tau = INFINITY;
    expect_error(tau_cross_entropy_forward(z, lab, loss, p, &cp), "cross_entropy: temperature tau must be positive and finite");
    cp.tau = 1;
    cp.label_smoothing = 1.5f;
    expect_error(tau_cross_entropy_forward(z, lab, loss, p, &cp), "cross_entropy: label_smoothing must be in [0, 1], got 1.5");
    cp.label_smoothing = 0;
    cp.reduction = (tau_reduction)7;
    expect_error(tau_cross_entropy_forward(z, lab, loss, p, &cp), "cross_entropy: unknown reduction 7");
    tau_nll_loss_params np = {3, 2, TAU_REDUCTION_SUM};
    expect_error(tau_nll_loss_forward(z, lab, loss, &np), "nll_loss: label 2 out of range 0..1 at row 3");
    tau_mse_loss_params mp = {3, (tau_reduction)-1};
    expect_error(tau_mse_loss_forward(z, z, loss, &mp), "mse_loss: unknown reduction -1");
}
END_TEST

typedef struct {
    tau_nll_loss_params np;
    tau_mse_loss_params mp;
    float *x, *t, *loss, *w;
    int32_t *lab;
} loss_fd;

static double nll_obj(void *ctx) {
    loss_fd *c = ctx;
    ck_assert_int_eq(tau_nll_loss_forward(c->x, c->lab, c->loss, &c->np), TAU_OK);
    return c->np.reduction == TAU_REDUCTION_NONE ? dot(c->loss, c->w, c->np.n) : (double)c->loss[0] * c->w[0];
}

static double mse_obj(void *ctx) {
    loss_fd *c = ctx;
    ck_assert_int_eq(tau_mse_loss_forward(c->x, c->t, c->loss, &c->mp), TAU_OK);
    return c->mp.reduction == TAU_REDUCTION_NONE ? dot(c->loss, c->w, c->mp.n) : (double)c->loss[0] * c->w[0];
}

START_TEST(nll_and_mse_losses) {
    seed_rng(11);
    const tau_reduction reds[] = {TAU_REDUCTION_MEAN, TAU_REDUCTION_SUM, TAU_REDUCTION_NONE};
    for (int ri = 0; ri < 3; ri++) {
        const int64_t n = 5, k = 4;
        int32_t lab[5] = {0, 3, 1, 1, 2};
        loss_fd c = {{n, k, reds[ri]}, {n * k, reds[ri]}, frand(n * k, -3, 0), frand(n * k, -1, 1), fzeros(n * k), frand(n * k, 0.5, 1.5), lab};
        float *g = fzeros(n * k), *gt = fzeros(n * k);
        /* nll */
        ck_assert_int_eq(tau_nll_loss_forward(c.x, lab, c.loss, &c.np), TAU_OK);
        double total = 0;
        for (int64_t i = 0; i < n; i++) {
            double l = -c.x[i * k + lab[i]];
            total += l;
            if (reds[ri] == TAU_REDUCTION_NONE) ck_assert_double_eq_tol(c.loss[i], l, 1e-6);
        }
        if (reds[ri] == TAU_REDUCTION_SUM) ck_assert_double_eq_tol(c.loss[0], total, 1e-5);
        if (reds[ri] == TAU_REDUCTION_MEAN) ck_assert_double_eq_tol(c.loss[0], total / (double)n, 1e-5);
        ck_assert_int_eq(tau_nll_loss_backward(lab, c.w, g, &c.np), TAU_OK);
        fd_check(nll_obj, &c, c.x, n * k, g, 1e-2f, 1e-3, "nll_loss fd");
        /* mse */
        ck_assert_int_eq(tau_mse_loss_forward(c.x, c.t, c.loss, &c.mp), TAU_OK);
        total = 0;
        for (int64_t i = 0; i < n * k; i++) {
            double l = pow((double)c.x[i] - c.t[i], 2);
            total += l;
            if (reds[ri] == TAU_REDUCTION_NONE) ck_assert_double_eq_tol(c.loss[i], l, 1e-5);
        }
        if (reds[ri] == TAU_REDUCTION_SUM) ck_assert_double_eq_tol(c.loss[0], total, 1e-4);
        if (reds[ri] == TAU_REDUCTION_MEAN) ck_assert_double_eq_tol(c.loss[0], total / (double)(n * k), 1e-5);
        ck_assert_int_eq(tau_mse_loss_backward(c.x, c.t, c.w, g, gt, &c.mp), TAU_OK);
        fd_check(mse_obj, &c, c.x, n * k, g, 1e-2f, 2e-3, "mse_loss dx fd");
        fd_check(mse_obj, &c, c.t, n * k, gt, 1e-2f, 2e-3, "mse_loss dtarget fd");
        free(c.x); free(c.t); free(c.loss); free(c.w); free(g); free(gt);
    }
}
END_TEST

/* ---- attention ---------------------------------------------------------------------------- */

typedef struct {
    tau_attention_params p;
    float *q, *k, *v, *mask, *out, *probs, *dout;
} att_fd;

static double att_obj(void *ctx) {
    att_fd *c = ctx;
    ck_assert_int_eq(tau_attention_forward(c->q, c->k, c->v, c->mask, c->out, c->probs, &c->p), TAU_OK);
    return dot(c->out, c->dout, c->p.b * c->p.h * c->p.t * c->p.d);
}

/* Probabilities and output in double, and the gradients, without dropout. */
static void ref_attention(const tau_attention_params *p, const float *q, const float *k, const float *v,
                          const float *mask, const float *dout, double *probs, double *out,
                          double *dq, double *dk, double *dv) {
    const int64_t T = p->t, S = p->s, D = p->d;
    const double scale = p->scale != 0 ? p->scale : 1 / sqrt((double)D);
    double *dp = dzeros(S);
    for (int64_t hd = 0; hd < p->b * p->h; hd++) {
        int64_t bi = hd / p->h, hi = hd % p->h;
        const float *m = mask ? mask + (((p->mask_b == 1 ? 0 : bi) * p->mask_h) + (p->mask_h == 1 ? 0 : hi)) * T * S : NULL;
        for (int64_t i = 0; i < T; i++) {
            double *pr = probs + (hd * T + i) * S, mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < S; j++) {
                double sc = 0;
                for (int64_t e = 0; e < D; e++) sc += (double)q[(hd * T + i) * D + e] * k[(hd * S + j) * D + e];
                sc *= scale;
                if (m) sc += m[i * S + j];
                if (p->causal && j > i) sc = -INFINITY;
                pr[j] = sc;
                if (sc > mx) mx = sc;
            }
            for (int64_t j = 0; j < S; j++) {
                pr[j] = mx == -INFINITY ? 0 : exp(pr[j] - mx);
                sum += pr[j];
            }
            for (int64_t j = 0; j < S; j++) if (sum > 0) pr[j] /= sum;
            for (int64_t e = 0; e < D; e++) {
                double o = 0;
                for (int64_t j = 0; j < S; j++) o += pr[j] * v[(hd * S + j) * D + e];
                out[(hd * T + i) * D + e] = o;
            }
            /* Backward of this row. */
            double dsum = 0;
            for (int64_t j = 0; j < S; j++) {
                dp[j] = 0;
                for (int64_t e = 0; e < D; e++) {
                    dp[j] += (double)dout[(hd * T + i) * D + e] * v[(hd * S + j) * D + e];
                    dv[(hd * S + j) * D + e] += pr[j] * dout[(hd * T + i) * D + e];
                }
                dsum += dp[j] * pr[j];
            }
            for (int64_t j = 0; j < S; j++) {
                double ds = pr[j] * (dp[j] - dsum) * scale;
                for (int64_t e = 0; e < D; e++) {
                    dq[(hd * T + i) * D + e] += ds * k[(hd * S + j) * D + e];
                    dk[(hd * S + j) * D + e] += ds * q[(hd * T + i) * D + e];
                }
            }
        }
    }
    free(dp);
}

typedef struct { int64_t b, h, t, s, d, mb, mh; int causal, mask; float scale; } att_case;

START_TEST(attention_matches_reference) {
    seed_rng(12);
    const att_case cases[] = {
        {2, 3, 5, 5, 4, 1, 1, 0, 0, 0},
        {2, 2, 4, 7, 3, 1, 1, 0, 1, 0},      /* T != S, (T, S) mask */
        {2, 2, 6, 3, 5, 2, 1, 0, 1, 0.5f},   /* (B, 1, T, S) mask, explicit scale */
        {1, 3, 5, 4, 2, 1, 3, 1, 1, 0},      /* (1, H, T, S) mask and causal */
        {2, 2, 6, 6, 8, 2, 2, 1, 0, 0},      /* causal */
        {3, 1, 1, 9, 4, 1, 1, 0, 0, 0},      /* one query */
        /* rows of 37 and 40 keys: the vector exp and softmax gradient, with a tail, under a
         * mask and causality, and with scores up to +-32 apart (scale 8) */
        {2, 2, 9, 37, 5, 1, 1, 1, 1, 0},
        {1, 2, 6, 40, 4, 1, 1, 0, 0, 8.0f},
    };
    /* the vector rows (AVX2) and the plain ones, one and two threads */
    for (int run = 0; run < 4; run++) {
        const int threads = 1 + run % 2;
        tau__cpu_set_limit(run < 2 ? TAU_CPU_AVX512 : TAU_CPU_GENERIC);
        tau_set_num_threads(threads);
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            const att_case *a = &cases[ci];
            att_fd c;
            c.p = (tau_attention_params){a->b, a->h, a->t, a->s, a->d, a->mb, a->mh, a->scale, a->causal, 0, 0};
            const int64_t qs = a->b * a->h * a->t * a->d, ks = a->b * a->h * a->s * a->d;
            const int64_t ps = a->b * a->h * a->t * a->s, ms = a->mb * a->mh * a->t * a->s;
            c.q = frand(qs, -1, 1); c.k = frand(ks, -1, 1); c.v = frand(ks, -1, 1);
            c.mask = a->mask ? frand(ms, -2, 0) : NULL;
            /* Remove a few keys outright, and all keys of query 0 of the first head: that row
             * must come out as zeros, not NaN. */
            if (c.mask) {
                for (int64_t i = 0; i < ms; i += 5) c.mask[i] = -INFINITY;
                for (int64_t j = 0; j < a->s; j++) c.mask[j] = -INFINITY;
            }
            c.out = fzeros(qs); c.probs = fzeros(ps); c.dout = frand(qs, -1, 1);
            float *dq = fzeros(qs), *dk = fzeros(ks), *dv = fzeros(ks);
            double *rp = dzeros(ps), *ro = dzeros(qs), *rdq = dzeros(qs), *rdk = dzeros(ks), *rdv = dzeros(ks);
            ck_assert_int_eq(tau_attention_forward(c.q, c.k, c.v, c.mask, c.out, c.probs, &c.p), TAU_OK);
            ck_assert_int_eq(tau_attention_backward(c.q, c.k, c.v, c.probs, c.dout, dq, dk, dv, &c.p), TAU_OK);
            ref_attention(&c.p, c.q, c.k, c.v, c.mask, c.dout, rp, ro, rdq, rdk, rdv);
            expect_close(c.probs, rp, ps, 1e-6, 1e-5, "attention probabilities");
            expect_close(c.out, ro, qs, 1e-6, 1e-5, "attention output");
            expect_close(dq, rdq, qs, 1e-5, 1e-4, "attention dq");
            expect_close(dk, rdk, ks, 1e-5, 1e-4, "attention dk");
            expect_close(dv, rdv, ks, 1e-5, 1e-4, "attention dv");
            if (c.mask)
                for (int64_t e = 0; e < a->d; e++) {
                    ck_assert(c.out[e] == 0.0f);
                    ck_assert(dq[e] == 0.0f);
                }
            fd_check(att_obj, &c, c.q, qs, dq, 1e-2f, 3e-3, "attention dq fd");
            fd_check(att_obj, &c, c.k, ks, dk, 1e-2f, 3e-3, "attention dk fd");
            fd_check(att_obj, &c, c.v, ks, dv, 1e-2f, 3e-3, "attention dv fd");
            free(c.q); free(c.k); free(c.v); free(c.mask); free(c.out); free(c.probs); free(c.dout);
            free(dq); free(dk); free(dv); free(rp); free(ro); free(rdq); free(rdk); free(rdv);
        }
    }
    tau__cpu_set_limit(TAU_CPU_AVX512);
}
END_TEST

START_TEST(attention_dropout) {
    seed_rng(13);
    tau_set_num_threads(2);
    att_fd c;
    c.p = (tau_attention_params){2, 2, 16, 24, 4, 1, 1, 0, 1, 0.25f, 42};
    const int64_t qs = 2 * 2 * 16 * 4, ks = 2 * 2 * 24 * 4, ps = 2 * 2 * 16 * 24;
    c.q = frand(qs, -1, 1); c.k = frand(ks, -1, 1); c.v = frand(ks, -1, 1); c.mask = NULL;
    c.out = fzeros(qs); c.probs = fzeros(ps); c.dout = frand(qs, -1, 1);
    float *out2 = fzeros(qs), *probs2 = fzeros(ps), *dq = fzeros(qs), *dk = fzeros(ks), *dv = fzeros(ks);
    ck_assert_int_eq(tau_attention_forward(c.q, c.k, c.v, NULL, c.out, c.probs, &c.p), TAU_OK);
    /* Same seed, same result, whatever the thread count. */
    tau_set_num_threads(1);
    ck_assert_int_eq(tau_attention_forward(c.q, c.k, c.v, NULL, out2, probs2, &c.p), TAU_OK);
    ck_assert(memcmp(c.out, out2, (size_t)qs * sizeof *out2) == 0);
    /* The saved probabilities are those before dropout: rows sum to 1 (causal rows included). */
    for (int64_t r = 0; r < ps / 24; r++) {
        double s = 0;
        for (int64_t j = 0; j < 24; j++) s += c.probs[r * 24 + j];
        ck_assert_double_eq_tol(s, 1.0, 1e-5);
    }
    /* Dropout changes the output; another seed gives another output. */
    tau_attention_params nodrop = c.p;
    nodrop.dropout = 0;
    ck_assert_int_eq(tau_attention_forward(c.q, c.k, c.v, NULL, out2, probs2, &nodrop), TAU_OK);
    ck_assert(memcmp(c.out, out2, (size_t)qs * sizeof *out2) != 0);
    /* Gradients with the re-derived keep-mask against finite differences of the same function. */
    ck_assert_int_eq(tau_attention_forward(c.q, c.k, c.v, NULL, c.out, c.probs, &c.p), TAU_OK);
    ck_assert_int_eq(tau_attention_backward(c.q, c.k, c.v, c.probs, c.dout, dq, dk, dv, &c.p), TAU_OK);
    fd_check(att_obj, &c, c.q, qs, dq, 1e-2f, 3e-3, "attention dropout dq fd");
    fd_check(att_obj, &c, c.k, ks, dk, 1e-2f, 3e-3, "attention dropout dk fd");
    fd_check(att_obj, &c, c.v, ks, dv, 1e-2f, 3e-3, "attention dropout dv fd");
    /* About a quarter of the probabilities drop: with v = 1 an output is the kept mass / 0.75. */
    float *ones = fzeros(ks);
    for (int64_t i = 0; i < ks; i++) ones[i] = 1;
    c.p.causal = 0;
    ck_assert_int_eq(tau_attention_forward(c.q, c.k, ones, NULL, out2, c.probs, &c.p), TAU_OK);
    double mean = 0;
    for (int64_t i = 0; i < qs; i++) mean += out2[i] / (double)qs;
    ck_assert_msg(fabs(mean - 1.0) < 0.1, "mean output with v = 1 is %g", mean);
    free(ones);
    free(c.q); free(c.k); free(c.v); free(c.out); free(c.probs); free(c.dout);
    free(out2); free(probs2); free(dq); free(dk); free(dv);
}
END_TEST

START_TEST(attention_errors) {
    float buf[256] = {0};
    tau_attention_params p = {2, 3, 4, 4, 2, 3, 1, 0, 0, 0, 0};
    expect_error(tau_attention_forward(buf, buf, buf, buf, buf, buf, &p), "attention: mask (3, 1, 4, 4) does not broadcast to (2, 3, 4, 4)");
    p = (tau_attention_params){2, 3, 4, 4, 2, 1, 2, 0, 0, 0, 0};
    expect_error(tau_attention_forward(buf, buf, buf, buf, buf, buf, &p), "does not broadcast");
    p = (tau_attention_params){1, 1, 4, 4, 2, 1, 1, 0, 0, 1.0f, 0};
    expect_error(tau_attention_forward(buf, buf, buf, NULL, buf, buf, &p), "attention: dropout must be in [0, 1), got 1");
    p = (tau_attention_params){1, 1, 0, 4, 2, 1, 1, 0, 0, 0, 0};
    expect_error(tau_attention_forward(buf, buf, buf, NULL, buf, buf, &p), "attention: invalid shape");
}
END_TEST

/* ---- activations -------------------------------------------------------------------------- */

typedef struct {
    int which;    /* 0 gelu exact, 1 gelu tanh, 2 relu, 3 sigmoid, 4 tanh */
    float *x, *y, *dy;
    int64_t n;
} act_fd;

static int act_forward(int which, const float *x, float *y, int64_t n) {
    switch (which) {
    case 0: return tau_gelu_forward(x, y, n, TAU_GELU_EXACT);
    case 1: return tau_gelu_forward(x, y, n, TAU_GELU_TANH);
    case 2: return tau_relu_forward(x, y, n);
    case 3: return tau_sigmoid_forward(x, y, n);
    default: return tau_tanh_forward(x, y, n);
    }
}

static double act_obj(void *ctx) {
    act_fd *c = ctx;
    ck_assert_int_eq(act_forward(c->which, c->x, c->y, c->n), TAU_OK);
    return dot(c->y, c->dy, c->n);
}

static double ref_act(int which, double x) {
    switch (which) {
    case 0: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case 1: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case 2: return x > 0 ? x : 0;
    case 3: return 1 / (1 + exp(-x));
    default: return tanh(x);
    }
}

START_TEST(activations_match_reference) {
    seed_rng(14);
    const char *names[] = {"gelu exact", "gelu tanh", "relu", "sigmoid", "tanh"};
    /* GELU's vector path (AVX2) and its plain one; two threads, so that each part of the
     * odd-sized array ends in a scalar tail */
    tau_set_num_threads(2);
    for (int run = 0; run < 7; run++) {
        const int which = run < 5 ? run : run - 5;
        tau__cpu_set_limit(run < 5 ? TAU_CPU_AVX512 : TAU_CPU_GENERIC);
        const int64_t n = 40005;   /* over the parallel grain */
        act_fd c = {which, frand(n, -6, 6), fzeros(n), frand(n, -1, 1), n};
        for (int64_t i = 0; i < n; i++) if (fabsf(c.x[i]) < 0.01f) c.x[i] = 0.5f;  /* relu's kink */
        c.x[0] = -30; c.x[1] = 30; c.x[2] = -100;
        double *ry = dzeros(n);
        for (int64_t i = 0; i < n; i++) ry[i] = ref_act(which, c.x[i]);
        ck_assert_int_eq(act_forward(which, c.x, c.y, n), TAU_OK);
        expect_close(c.y, ry, n, 2e-6, 2e-6, names[which]);
        float *dx = fzeros(n);
        int rc;
        switch (which) {
        case 0: rc = tau_gelu_backward(c.x, c.dy, dx, n, TAU_GELU_EXACT); break;
        case 1: rc = tau_gelu_backward(c.x, c.dy, dx, n, TAU_GELU_TANH); break;
        case 2: rc = tau_relu_backward(c.x, c.dy, dx, n); break;
        case 3: rc = tau_sigmoid_backward(c.y, c.dy, dx, n); break;
        default: rc = tau_tanh_backward(c.y, c.dy, dx, n); break;
        }
        ck_assert_int_eq(rc, TAU_OK);
        /* Derivative by differences of the double reference, then of the kernel. */
        double *rdx = dzeros(n);
        for (int64_t i = 0; i < n; i++)
            rdx[i] = c.dy[i] * (ref_act(which, c.x[i] + 1e-6) - ref_act(which, c.x[i] - 1e-6)) / 2e-6;
        expect_close(dx, rdx, n, 1e-5, 1e-4, names[which]);
        fd_check(act_obj, &c, c.x, n, dx, 1e-3f, 3e-3, names[which]);
        free(c.x); free(c.y); free(c.dy); free(ry); free(dx); free(rdx);
    }
    tau__cpu_set_limit(TAU_CPU_AVX512);
    float x[1] = {0}, y[1];
    expect_error(tau_gelu_forward(x, y, 1, (tau_gelu_approx)3), "gelu: unknown approximation 3");
    expect_error(tau_relu_forward(x, y, -1), "relu: invalid size -1");
}
END_TEST

/* ---- runner ------------------------------------------------------------------------------- */

static Suite *nn_suite(void) {
    Suite *s = suite_create("nn");
    TCase *tc = check_tcase("kernels", 0);
    tcase_add_test(tc, conv_matches_reference);
    tcase_add_test(tc, conv_gradient_check);
    tcase_add_test(tc, conv_errors);
    tcase_add_test(tc, pool_matches_reference);
    tcase_add_test(tc, pool_sizes_like_pytorch);
    tcase_add_test(tc, pool_errors);
    tcase_add_test(tc, adaptive_pool_matches_reference);
    tcase_add_test(tc, batch_norm_matches_reference);
    tcase_add_test(tc, batch_norm_running_stats);
    tcase_add_test(tc, layer_norm_matches_reference);
    tcase_add_test(tc, softmax_matches_reference);
    tcase_add_test(tc, cross_entropy_over_temperatures);
    tcase_add_test(tc, cross_entropy_gradient_form);
    tcase_add_test(tc, cross_entropy_gradient_check);
    tcase_add_test(tc, loss_errors);
    tcase_add_test(tc, nll_and_mse_losses);
    tcase_add_test(tc, attention_matches_reference);
    tcase_add_test(tc, attention_dropout);
    tcase_add_test(tc, attention_errors);
    tcase_add_test(tc, activations_match_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main(nn_suite()); }
