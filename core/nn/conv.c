/* 2-D convolution lowered to GEMM (tau__gemm, OpenBLAS single-threaded).
 *
 * Lowering is per image: the column matrix of one image (C*kh*kw, OH*OW) stays small enough
 * to live in L2 between im2col and the GEMM, and the GEMM writes y in NCHW order directly; a
 * whole-batch lowering was measured slower here (its column matrix streams through memory and
 * its output needs a transpose). With several threads the batch is split into one contiguous
 * run of images per thread, each lowered and multiplied by its own thread with its own column
 * buffer: no synchronisation per image, and the columns stay in that core's cache. The weight
 * gradient is summed per run and the runs are added in a fixed order, so a given thread count
 * always gives the same bits. A single image (or one thread) runs serially and lets tau__gemm
 * split each product instead.
 *
 * Thin stride-1 layers (few input channels, or few channels of dx) skip the lowering and run
 * the direct kernel of conv_direct.c when the processor has AVX2; other undilated, ungrouped
 * layers of stride 1 or 2 run one GEMM per kernel tap on padded planes (conv_taps.c). What
 * remains (dilation, groups, larger strides, 1x1, small planes' weight gradients) is lowered
 * here.
 *
 * 1x1 stride-1 unpadded convolutions use x itself as the column matrix. Depthwise convolutions
 * (one input channel per group) are a GEMM with one row, so they use a direct loop instead. */
#include "nn/nn.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/gemm.h"
#include "nn/conv_direct.h"
#include "base/cpu.h"
#include "nn/conv_implicit.h"
#include "nn/conv_taps.h"
#include "nn/conv_rows.h"
#include <limits.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

/* Above this much scratch per thread the batch is not split by image: products that large
 * split well on their own. */
#define PART_BYTES_MAX ((size_t)32 << 20)

/* Strided lowering works on phase planes: the input plane split by (row mod stride_h, column
 * mod stride_w). A kernel tap then reads one phase plane at unit stride, so every row of the
 * column matrix is a contiguous copy (and col2im a contiguous add), as for stride 1; the split
 * and its inverse cost one pass over the plane. With stride 1 the only phase is x itself. */
#define MAX_PHASES 16
/* Taps whose source is worked out once per call rather than once per plane. */
#define MAX_TAPS 49

typedef struct { int64_t rows, cols, off; } phase_dim;

/* Tap (ky, kx) reads phase `phase` at row oy + qy and column ox + qx for output (oy, ox);
 * output rows [ylo, yhi) and columns [lo, hi) fall inside that phase, the rest on padding. */
typedef struct { int64_t phase, qy, qx, ylo, yhi, lo, hi; } tap;

typedef struct {
    const tau_conv2d_params *p;
    int64_t oh, ow, ohw, hw;
    int64_t cg, kg, kk, ckk;     /* channels per group, kernels per group, kh*kw, C*kh*kw */
    int direct_1x1;
    int phased;                  /* lowered through phase planes (or stride 1) */
    phase_dim ph[MAX_PHASES];
    int taps_cached;
    tap taps[MAX_TAPS];
} geom;

static int strided(const geom *g) { return g->p->stride_h > 1 || g->p->stride_w > 1; }

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static void tap_source(const geom *g, int64_t ky, int64_t kx, tap *t) {
    const tau_conv2d_params *p = g->p;
    int64_t oy = ky * p->dil_h - p->pad_h, ox = kx * p->dil_w - p->pad_w;
    t->qy = floor_div(oy, p->stride_h);
    t->qx = floor_div(ox, p->stride_w);
    t->phase = (oy - t->qy * p->stride_h) * p->stride_w + (ox - t->qx * p->stride_w);
    const phase_dim *d = &g->ph[t->phase];
    int64_t a = -t->qy > 0 ? -t->qy : 0, b = d->rows - t->qy < g->oh ? d->rows - t->qy : g->oh;
    if (b < a) b = a;
    int64_t c = -t->qx > 0 ? -t->qx : 0, e = d->cols - t->qx < g->ow ? d->cols - t->qx : g->ow;
    if (e < c) e = c;
    t->ylo = a; t->yhi = b; t->lo = c; t->hi = e;
}

static const tap *get_tap(const geom *g, int64_t ky, int64_t kx, tap *tmp) {
    if (g->taps_cached) return &g->taps[ky * g->p->kw + kx];
    tap_source(g, ky, kx, tmp);
    return tmp;
}

int tau_conv2d_out_size(const tau_conv2d_params *p, int64_t *oh, int64_t *ow) {
    if (!p) return tau_fail("conv2d: missing parameters");
    if (p->n < 0 || p->c < 1 || p->h < 1 || p->w < 1)
        return tau_fail("conv2d: invalid input shape (%lld, %lld, %lld, %lld)", (long long)p->n,
                        (long long)p->c, (long long)p->h, (long long)p->w);
    if (p->k < 1 || p->kh < 1 || p->kw < 1)
        return tau_fail("conv2d: invalid weight shape, %lld kernels of %lldx%lld", (long long)p->k,
                        (long long)p->kh, (long long)p->kw);
    if (p->groups < 1) return tau_fail("conv2d: groups must be positive, got %lld", (long long)p->groups);
    if (p->c % p->groups)
        return tau_fail("conv2d: input channels %lld not divisible by groups %lld",
                        (long long)p->c, (long long)p->groups);
    if (p->k % p->groups)
        return tau_fail("conv2d: output channels %lld not divisible by groups %lld",
                        (long long)p->k, (long long)p->groups);
    if (p->stride_h < 1 || p->stride_w < 1)
        return tau_fail("conv2d: stride must be positive, got %lldx%lld", (long long)p->stride_h,
                        (long long)p->stride_w);
    if (p->dil_h < 1 || p->dil_w < 1)
        return tau_fail("conv2d: dilation must be positive, got %lldx%lld", (long long)p->dil_h,
                        (long long)p->dil_w);
    if (p->pad_h < 0 || p->pad_w < 0)
        return tau_fail("conv2d: padding must be non-negative, got %lldx%lld", (long long)p->pad_h,
                        (long long)p->pad_w);
    int64_t eh = p->dil_h * (p->kh - 1) + 1, ew = p->dil_w * (p->kw - 1) + 1;
    int64_t ph = p->h + 2 * p->pad_h, pw = p->w + 2 * p->pad_w;
    if (eh > ph || ew > pw)
        return tau_fail("conv2d: kernel %lldx%lld (dilated %lldx%lld) larger than padded input %lldx%lld",
                        (long long)p->kh, (long long)p->kw, (long long)eh, (long long)ew,
                        (long long)ph, (long long)pw);
    *oh = (ph - eh) / p->stride_h + 1;
    *ow = (pw - ew) / p->stride_w + 1;
    /* OpenBLAS takes int dimensions. */
    if (*oh * *ow > INT_MAX || (p->c / p->groups) * p->kh * p->kw > INT_MAX)
        return tau_fail("conv2d: lowered matrix too large (%lld x %lld)",
                        (long long)((p->c / p->groups) * p->kh * p->kw), (long long)(*oh * *ow));
    return TAU_OK;
}

static int setup(const tau_conv2d_params *p, geom *g) {
    if (tau_conv2d_out_size(p, &g->oh, &g->ow) != TAU_OK) return TAU_ERR;
    g->p = p;
    g->ohw = g->oh * g->ow;
    g->hw = p->h * p->w;
    g->cg = p->c / p->groups;
    g->kg = p->k / p->groups;
    g->kk = p->kh * p->kw;
    g->ckk = p->c * g->kk;
    g->direct_1x1 = p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                    p->pad_h == 0 && p->pad_w == 0;
    g->phased = p->stride_h <= MAX_PHASES && p->stride_w <= MAX_PHASES &&
                p->stride_h * p->stride_w <= MAX_PHASES;
    g->taps_cached = 0;
    if (g->phased) {
        int64_t off = 0;
        for (int64_t py = 0; py < p->stride_h; py++)
            for (int64_t px = 0; px < p->stride_w; px++) {
                phase_dim *d = &g->ph[py * p->stride_w + px];
                d->rows = (p->h - py + p->stride_h - 1) / p->stride_h;
                d->cols = (p->w - px + p->stride_w - 1) / p->stride_w;
                d->off = off;
                off += d->rows * d->cols;
            }
        if (g->kk <= MAX_TAPS) {
            for (int64_t ky = 0; ky < p->kh; ky++)
                for (int64_t kx = 0; kx < p->kw; kx++) tap_source(g, ky, kx, &g->taps[ky * p->kw + kx]);
            g->taps_cached = 1;
        }
    }
    return TAU_OK;
}

/* Output columns [lo, hi) read inside the input row for kernel column kx; the rest see padding. */
static void valid_cols(const geom *g, int64_t kx, int64_t *lo, int64_t *hi) {
    const tau_conv2d_params *p = g->p;
    int64_t off = kx * p->dil_w - p->pad_w, s = p->stride_w;
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = p->w - off <= 0 ? 0 : (p->w - off + s - 1) / s;
    if (b > g->ow) b = g->ow;
    if (a > b) a = b;
    *lo = a; *hi = b;
}

/* Short-row helpers, unrolled so that -O2 vectorises them (its cost model skips plain loops
 * whose trip count is unknown). */
static void fill(float *restrict d, float v, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        d[j] = v; d[j + 1] = v; d[j + 2] = v; d[j + 3] = v;
        d[j + 4] = v; d[j + 5] = v; d[j + 6] = v; d[j + 7] = v;
    }
    for (; j < n; j++) d[j] = v;
}

static void add_to(float *restrict d, const float *restrict s, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        d[j] += s[j]; d[j + 1] += s[j + 1]; d[j + 2] += s[j + 2]; d[j + 3] += s[j + 3];
        d[j + 4] += s[j + 4]; d[j + 5] += s[j + 5]; d[j + 6] += s[j + 6]; d[j + 7] += s[j + 7];
    }
    for (; j < n; j++) d[j] += s[j];
}

static void axpy(float *restrict d, float a, const float *restrict s, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        d[j] += a * s[j]; d[j + 1] += a * s[j + 1]; d[j + 2] += a * s[j + 2];
        d[j + 3] += a * s[j + 3]; d[j + 4] += a * s[j + 4]; d[j + 5] += a * s[j + 5];
        d[j + 6] += a * s[j + 6]; d[j + 7] += a * s[j + 7];
    }
    for (; j < n; j++) d[j] += a * s[j];
}

/* d[j] = s[j * stride]; stride 2 (the usual downsampling) gets its own unrolled loop. */
static void gather(float *restrict d, const float *restrict s, int64_t stride, int64_t n) {
    int64_t j = 0;
    if (stride == 1) { memcpy(d, s, (size_t)n * sizeof *d); return; }
    if (stride == 2)
        for (; j + 4 <= n; j += 4) {
            d[j] = s[2 * j]; d[j + 1] = s[2 * j + 2]; d[j + 2] = s[2 * j + 4]; d[j + 3] = s[2 * j + 6];
        }
    for (; j < n; j++) d[j] = s[j * stride];
}

#if defined(__x86_64__) && defined(__GNUC__)
/* gather_rows for stride 2 with AVX2 and AVX-512: the even floats of two loads, picked by
 * shuffles or one permute, while both loads stay within the `avail` floats of the row; the
 * rest of a row (if any) by the portable loop. */
__attribute__((target("avx2"))) static void even_rows_avx2(float *restrict d, const float *restrict s, int64_t rows,
                                                           int64_t n, int64_t row_stride, int64_t avail,
                                                           int64_t ahead) {
    for (int64_t r = 0; r < rows; r++, d += n, s += row_stride) {
        if (ahead) tau_prefetch_l2(s + ahead, (2 * n - 1) * (long)sizeof(float));
        int64_t j = 0;
        for (; j + 8 <= n && 2 * j + 16 <= avail; j += 8) {
            const __m256 v = _mm256_shuffle_ps(_mm256_loadu_ps(s + 2 * j), _mm256_loadu_ps(s + 2 * j + 8), 0x88);
            _mm256_storeu_ps(d + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xd8)));
        }
        for (; j < n; j++) d[j] = s[2 * j];
    }
}

__attribute__((target("avx512f"))) static void even_rows_avx512(float *restrict d, const float *restrict s,
                                                                int64_t rows, int64_t n, int64_t row_stride,
                                                                int64_t avail, int64_t ahead) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t r = 0; r < rows; r++, d += n, s += row_stride) {
        if (ahead) tau_prefetch_l2(s + ahead, (2 * n - 1) * (long)sizeof(float));
        int64_t j = 0;
        for (; j + 16 <= n && 2 * j + 32 <= avail; j += 16)
            _mm512_storeu_ps(d + j, _mm512_permutex2var_ps(_mm512_loadu_ps(s + 2 * j), even, _mm512_loadu_ps(s + 2 * j + 16)));
        for (; j < n; j++) d[j] = s[2 * j];
    }
}
#endif

/* d (rows, n) = s[r * row_stride + j * stride], each row of s `avail` floats long; each row
 * read also fetches the same row `ahead` floats on (the next image; 0: none) into L2, so that
 * the next image's gather, which reads memory, finds it there. */
static void gather_rows(float *restrict d, const float *restrict s, int64_t rows, int64_t n,
                        int64_t row_stride, int64_t stride, int64_t avail, int64_t ahead) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (stride == 2 && tau__cpu() >= TAU_CPU_AVX512) {
        even_rows_avx512(d, s, rows, n, row_stride, avail, ahead);
        return;
    }
    if (stride == 2 && tau__cpu() >= TAU_CPU_AVX2) {
        even_rows_avx2(d, s, rows, n, row_stride, avail, ahead);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++, d += n, s += row_stride) {
        if (ahead) tau_prefetch_l2(s + ahead, ((n - 1) * stride + 1) * (long)sizeof(float));
        int64_t j = 0;
        if (stride == 2)
            for (; j + 4 <= n; j += 4) {
                d[j] = s[2 * j]; d[j + 1] = s[2 * j + 2]; d[j + 2] = s[2 * j + 4]; d[j + 3] = s[2 * j + 6];
            }
        for (; j < n; j++) d[j] = s[j * stride];
    }
}

/* Output rows [lo, hi) read inside the input for kernel row ky. */
static void valid_rows(const geom *g, int64_t ky, int64_t *lo, int64_t *hi) {
    const tau_conv2d_params *p = g->p;
    int64_t off = ky * p->dil_h - p->pad_h, s = p->stride_h;
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = p->h - off <= 0 ? 0 : (p->h - off + s - 1) / s;
    if (b > g->oh) b = g->oh;
    if (a > b) a = b;
    *lo = a; *hi = b;
}

/* Strided lowering straight from the plane, for when no phase scratch is available. */
static void im2col_plane_slow(const geom *g, const float *x, float *col, int64_t ahead) {
    const tau_conv2d_params *p = g->p;
    const int64_t ow = g->ow, sw = p->stride_w;
    for (int64_t ky = 0; ky < p->kh; ky++) {
        int64_t ylo, yhi;
        valid_rows(g, ky, &ylo, &yhi);
        for (int64_t kx = 0; kx < p->kw; kx++) {
            float *dst = col + (ky * p->kw + kx) * g->ohw;
            int64_t lo, hi;
            valid_cols(g, kx, &lo, &hi);
            int64_t off = kx * p->dil_w - p->pad_w;
            if (ylo == 0 && yhi == g->oh && lo == 0 && hi == ow) {
                /* No padding in reach (a strided 1x1 convolution): one gather for the plane. */
                gather_rows(dst, x + (ky * p->dil_h - p->pad_h) * p->w + off, g->oh, ow,
                            p->stride_h * p->w, sw, p->w - off, ahead);
                continue;
            }
            memset(dst, 0, (size_t)(ylo * ow) * sizeof *dst);
            memset(dst + yhi * ow, 0, (size_t)((g->oh - yhi) * ow) * sizeof *dst);
            for (int64_t oy = ylo; oy < yhi; oy++) {
                int64_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                float *d = dst + oy * ow;
                for (int64_t o = 0; o < lo; o++) d[o] = 0;
                if (hi > lo) gather(d + lo, x + iy * p->w + off + lo * sw, sw, hi - lo);
                for (int64_t o = hi > lo ? hi : lo; o < ow; o++) d[o] = 0;
            }
        }
    }
}

static void col2im_plane_slow(const geom *g, const float *col, float *dx) {
    const tau_conv2d_params *p = g->p;
    const int64_t ow = g->ow, sw = p->stride_w;
    memset(dx, 0, (size_t)g->hw * sizeof *dx);
    for (int64_t ky = 0; ky < p->kh; ky++) {
        int64_t ylo, yhi;
        valid_rows(g, ky, &ylo, &yhi);
        for (int64_t kx = 0; kx < p->kw; kx++) {
            const float *src = col + (ky * p->kw + kx) * g->ohw;
            int64_t lo, hi;
            valid_cols(g, kx, &lo, &hi);
            int64_t off = kx * p->dil_w - p->pad_w;
            for (int64_t oy = ylo; oy < yhi; oy++) {
                int64_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                float *d = dx + iy * p->w + off + lo * sw;
                const float *sr = src + oy * ow + lo;
                for (int64_t o = 0; o < hi - lo; o++) d[o * sw] += sr[o];
            }
        }
    }
}

/* Splits plane x into its phases in scratch (x itself for stride 1), a row of x at a time so
 * that x is read sequentially; stride 2 (the usual downsampling) deals a row out to its two
 * phases in one unrolled pass. */
static void split_phases(const geom *g, const float *x, float *scratch, const float **base, int64_t ahead) {
    const tau_conv2d_params *p = g->p;
    const int64_t sh = p->stride_h, sw = p->stride_w;
    if (!strided(g)) { base[0] = x; return; }
    for (int64_t i = 0; i < sh * sw; i++) base[i] = scratch + g->ph[i].off;
    /* the row's phase and its row in it, counted rather than divided (a division per row was
     * a tenth of this lowering, measured) */
    for (int64_t iy = 0, py = 0, r = 0; iy < p->h; iy++, r += py + 1 == sh, py = py + 1 == sh ? 0 : py + 1) {
        const float *row = x + iy * p->w;
        if (ahead) tau_prefetch_l2(row + ahead, p->w * (long)sizeof(float));
        if (sw == 2) {
            const phase_dim *da = &g->ph[py * 2], *db = &g->ph[py * 2 + 1];
            deal2(scratch + da->off + r * da->cols, scratch + db->off + r * db->cols, row, p->w);
        } else {
            for (int64_t px = 0; px < sw; px++) {
                const phase_dim *d = &g->ph[py * sw + px];
                gather(scratch + d->off + r * d->cols, row + px, sw, d->cols);
            }
        }
    }
}

/* Inverse of split_phases: writes every element of plane dx from the phases in scratch, a row
 * of dx at a time so that the writes are sequential. */
static void merge_phases(const geom *g, const float *scratch, float *dx) {
    const tau_conv2d_params *p = g->p;
    const int64_t sh = p->stride_h, sw = p->stride_w;
    for (int64_t iy = 0; iy < p->h; iy++) {
        const int64_t py = iy % sh, r = iy / sh;
        float *o = dx + iy * p->w;
        if (sw == 2) {
            const phase_dim *da = &g->ph[py * 2], *db = &g->ph[py * 2 + 1];
            interleave2(o, scratch + da->off + r * da->cols, scratch + db->off + r * db->cols, p->w);
        } else {
            for (int64_t px = 0; px < sw; px++) {
                const phase_dim *d = &g->ph[py * sw + px];
                const float *sr = scratch + d->off + r * d->cols;
                for (int64_t c = 0; c < d->cols; c++) o[px + c * sw] = sr[c];
            }
        }
    }
}

/* The kh*kw rows of the column matrix that come from one input plane. scratch holds h*w floats
 * when strided. */
static void im2col_plane(const geom *g, const float *x, float *col, float *scratch, int64_t ahead) {
    const tau_conv2d_params *p = g->p;
    const int64_t ow = g->ow;
    const float *base[MAX_PHASES];
    split_phases(g, x, scratch, base, ahead);
    for (int64_t ky = 0; ky < p->kh; ky++)
        for (int64_t kx = 0; kx < p->kw; kx++) {
            float *dst = col + (ky * p->kw + kx) * g->ohw;
            tap tmp;
            const tap *t = get_tap(g, ky, kx, &tmp);
            const float *src = base[t->phase] + t->qx;
            const int64_t sc = g->ph[t->phase].cols, ylo = t->ylo, yhi = t->yhi, lo = t->lo, hi = t->hi;
            if (ylo > 0) memset(dst, 0, (size_t)(ylo * ow) * sizeof *dst);
            if (yhi < g->oh) memset(dst + yhi * ow, 0, (size_t)((g->oh - yhi) * ow) * sizeof *dst);
            if (yhi <= ylo) continue;
            if (hi <= lo) { memset(dst + ylo * ow, 0, (size_t)((yhi - ylo) * ow) * sizeof *dst); continue; }
            if (sc == ow) {
                /* Source rows as long as output rows: the valid rows are one contiguous run,
                 * copied in one go; the padded edge columns are zeroed after. */
                memcpy(dst + ylo * ow + lo, src + (ylo + t->qy) * sc + lo,
                       (size_t)((yhi - ylo - 1) * ow + hi - lo) * sizeof *dst);
                if (lo > 0 || hi < ow)
                    for (int64_t oy = ylo; oy < yhi; oy++) {
                        for (int64_t o = 0; o < lo; o++) dst[oy * ow + o] = 0;
                        for (int64_t o = hi; o < ow; o++) dst[oy * ow + o] = 0;
                    }
                continue;
            }
            for (int64_t oy = ylo; oy < yhi; oy++) {
                float *d = dst + oy * ow;
                for (int64_t o = 0; o < lo; o++) d[o] = 0;
                memcpy(d + lo, src + (oy + t->qy) * sc + lo, (size_t)(hi - lo) * sizeof *d);
                for (int64_t o = hi; o < ow; o++) d[o] = 0;
            }
        }
}

/* Inverse of im2col_plane: overwrites the input plane dx with the sum of its column entries.
 * The column matrix is scratch and gets its padding entries zeroed on the way. */
static void col2im_plane(const geom *g, float *col, float *dx, float *scratch) {
    const tau_conv2d_params *p = g->p;
    const int64_t ow = g->ow;
    float *acc = strided(g) ? scratch : dx;
    memset(acc, 0, (size_t)g->hw * sizeof *acc);
    for (int64_t ky = 0; ky < p->kh; ky++)
        for (int64_t kx = 0; kx < p->kw; kx++) {
            float *src = col + (ky * p->kw + kx) * g->ohw;
            tap tmp;
            const tap *t = get_tap(g, ky, kx, &tmp);
            const int64_t sc = g->ph[t->phase].cols, ylo = t->ylo, yhi = t->yhi, lo = t->lo, hi = t->hi;
            if (hi <= lo || yhi <= ylo) continue;
            float *dst = acc + g->ph[t->phase].off + t->qx;
            if (sc == ow) {
                /* One contiguous add over the valid rows; the entries that read padding would
                 * land on neighbouring cells, so they are cleared first (their gradient belongs
                 * to the padding and is dropped anyway). */
                if (lo > 0 || hi < ow)
                    for (int64_t oy = ylo; oy < yhi; oy++) {
                        for (int64_t o = 0; o < lo; o++) src[oy * ow + o] = 0;
                        for (int64_t o = hi; o < ow; o++) src[oy * ow + o] = 0;
                    }
                add_to(dst + (ylo + t->qy) * sc + lo, src + ylo * ow + lo, (yhi - ylo - 1) * ow + hi - lo);
                continue;
            }
            for (int64_t oy = ylo; oy < yhi; oy++)
                add_to(dst + (oy + t->qy) * sc + lo, src + oy * ow + lo, hi - lo);
        }
    if (strided(g)) merge_phases(g, scratch, dx);
}

/* Strided lowering through phases needs one plane of scratch. With fewer taps than phases (a
 * strided 1x1 convolution reads a quarter of its input) the split costs more than it saves,
 * and the plane is lowered tap by tap with strided reads instead. */
static int phase_lowering(const geom *g) {
    return strided(g) && g->phased && g->kk >= g->p->stride_h * g->p->stride_w;
}

/* Column matrix of one image (C*kh*kw, OH*OW); plane is h*w floats of scratch. */
static void lower_image(const geom *g, const float *x, float *col, float *plane, int64_t ahead) {
    const int ph = phase_lowering(g);
    for (int64_t ch = 0; ch < g->p->c; ch++) {
        const float *xc = x + ch * g->hw;
        float *cc = col + ch * g->kk * g->ohw;
        if (strided(g) && !ph) im2col_plane_slow(g, xc, cc, ahead);
        else im2col_plane(g, xc, cc, plane, ahead);
    }
}

/* Input gradient of one image from its column gradient (which is used up). */
static void unlower_image(const geom *g, float *col, float *dx, float *plane) {
    const int ph = phase_lowering(g);
    for (int64_t ch = 0; ch < g->p->c; ch++) {
        float *cc = col + ch * g->kk * g->ohw;
        float *dc = dx + ch * g->hw;
        if (strided(g) && !ph) col2im_plane_slow(g, cc, dc);
        else col2im_plane(g, cc, dc, plane);
    }
}

/* One run of images per part; each part owns `scratch` floats at part * part_floats: a column
 * matrix then a phase plane, and for the weight gradient a partial sum. */
typedef struct {
    const geom *g;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw;
    float *scratch;
    int64_t part_floats, parts;
} convwork;

static float *part_col(const convwork *t, int64_t part) { return t->scratch + part * t->part_floats; }
static float *part_plane(const convwork *t, int64_t part) {
    return part_col(t, part) + (t->g->direct_1x1 ? 0 : t->g->ckk * t->g->ohw);
}

static void image_run(const convwork *t, int64_t part, int64_t *n0, int64_t *n1) {
    *n0 = t->g->p->n * part / t->parts;
    *n1 = t->g->p->n * (part + 1) / t->parts;
}

static void forward_parts(void *ctx, int64_t b, int64_t e) {
    const convwork *t = ctx;
    const geom *g = t->g;
    const tau_conv2d_params *p = g->p;
    const int64_t wg = g->kg * g->cg * g->kk, lda = g->cg * g->kk;
    const int prefill = t->b || lda < 32;
    for (int64_t part = b; part < e; part++) {
        int64_t n0, n1;
        image_run(t, part, &n0, &n1);
        float *col = part_col(t, part);
        for (int64_t n = n0; n < n1 && !tau_interrupted; n++) {
            const float *src = t->x + n * p->c * g->hw;
            if (!g->direct_1x1) {
                lower_image(g, src, col, part_plane(t, part), n + 1 < n1 ? p->c * g->hw : 0);
                src = col;
            }
            float *yn = t->y + n * p->k * g->ohw;
            /* sgemm with beta 0 clears y first anyway, so starting from the bias is free; with a
             * short inner dimension (first layers, 1x1) our fill beats OpenBLAS's clearing pass
             * (measured), so y is cleared here too. */
            if (prefill)
                for (int64_t k = 0; k < p->k; k++) fill(yn + k * g->ohw, t->b ? t->b[k] : 0.0f, g->ohw);
            for (int64_t gr = 0; gr < p->groups; gr++)
                tau__gemm(CblasNoTrans, CblasNoTrans, (int)g->kg, (int)g->ohw, (int)lda, 1.0f,
                          t->w + gr * wg, (int)lda, src + gr * lda * g->ohw, (int)g->ohw,
                          prefill ? 1.0f : 0.0f, yn + gr * g->kg * g->ohw, (int)g->ohw);
        }
    }
}

/* dcol = w^T dy per image and group, then col2im. */
static void dx_parts(void *ctx, int64_t b, int64_t e) {
    const convwork *t = ctx;
    const geom *g = t->g;
    const tau_conv2d_params *p = g->p;
    const int64_t wg = g->kg * g->cg * g->kk, lda = g->cg * g->kk;
    for (int64_t part = b; part < e; part++) {
        int64_t n0, n1;
        image_run(t, part, &n0, &n1);
        float *col = part_col(t, part);
        for (int64_t n = n0; n < n1 && !tau_interrupted; n++) {
            float *dxn = t->dx + n * p->c * g->hw;
            float *dst = g->direct_1x1 ? dxn : col;
            const float *dyn = t->dy + n * p->k * g->ohw;
            for (int64_t gr = 0; gr < p->groups; gr++)
                tau__gemm(CblasTrans, CblasNoTrans, (int)lda, (int)g->ohw, (int)g->kg, 1.0f,
                          t->w + gr * wg, (int)lda, dyn + gr * g->kg * g->ohw, (int)g->ohw, 0.0f,
                          dst + gr * lda * g->ohw, (int)g->ohw);
            if (!g->direct_1x1) unlower_image(g, col, dxn, part_plane(t, part));
        }
    }
}

/* Part 0 sums its images into dw itself, part i > 0 into the tail of its scratch. */
static float *part_dw(const convwork *t, int64_t part) {
    if (part == 0) return t->dw;
    const geom *g = t->g;
    return part_plane(t, part) + (phase_lowering(g) ? g->hw : 0);
}

static void dw_parts(void *ctx, int64_t b, int64_t e) {
    const convwork *t = ctx;
    const geom *g = t->g;
    const tau_conv2d_params *p = g->p;
    const int64_t wg = g->kg * g->cg * g->kk, lda = g->cg * g->kk;
    for (int64_t part = b; part < e; part++) {
        int64_t n0, n1;
        image_run(t, part, &n0, &n1);
        float *col = part_col(t, part), *acc = part_dw(t, part);
        if (n1 == n0) memset(acc, 0, (size_t)(p->groups * wg) * sizeof *acc);
        for (int64_t n = n0; n < n1 && !tau_interrupted; n++) {
            const float *src = t->x + n * p->c * g->hw, *dyn = t->dy + n * p->k * g->ohw;
            if (!g->direct_1x1) {
                lower_image(g, src, col, part_plane(t, part), n + 1 < n1 ? p->c * g->hw : 0);
                src = col;
                /* The lowering between two products stops the hardware's stream over dy: the
                 * next image's dy is fetched while this product runs (res20 16->32 1x1 s2 weight
                 * grad in bench_conv: 75-82% of sgemm's rate before, 82-92% after) */
                if (n + 1 < n1) tau_prefetch_l2(dyn + p->k * g->ohw, (long)(p->k * g->ohw * (int64_t)sizeof(float)));
            }
            for (int64_t gr = 0; gr < p->groups; gr++)
                tau__gemm(CblasNoTrans, CblasTrans, (int)g->kg, (int)lda, (int)g->ohw, 1.0f,
                          dyn + gr * g->kg * g->ohw, (int)g->ohw, src + gr * lda * g->ohw, (int)g->ohw,
                          n == n0 ? 0.0f : 1.0f, acc + gr * wg, (int)lda);
        }
    }
}

/* Splits the batch over the threads unless there is one image, one thread, or the scratch per
 * thread would be too large; allocates every part's scratch (the caller frees it). */
static int plan_parts(const geom *g, convwork *t, int need_dw, const char *what) {
    const tau_conv2d_params *p = g->p;
    int64_t parts = tau_get_num_threads();
    if (parts > p->n) parts = p->n;
    if (parts < 1) parts = 1;
    int64_t floats = (g->direct_1x1 ? 0 : g->ckk * g->ohw) + (phase_lowering(g) ? g->hw : 0);
    if (parts > 1 && need_dw) floats += p->k * g->cg * g->kk;
    if (parts > 1 && (size_t)floats * sizeof(float) > PART_BYTES_MAX) {
        parts = 1;
        floats = (g->direct_1x1 ? 0 : g->ckk * g->ohw) + (phase_lowering(g) ? g->hw : 0);
    }
    t->g = g;
    t->parts = parts;
    t->part_floats = floats;
    t->scratch = tau_alloc((size_t)(parts * floats) * sizeof(float));
    if (!t->scratch)
        return tau_fail("conv2d: out of memory for %lld floats of %s scratch",
                        (long long)(parts * floats), what);
    return TAU_OK;
}

static void free_parts(convwork *t) {
    tau_free(t->scratch, (size_t)(t->parts * t->part_floats) * sizeof(float));
    t->scratch = NULL;
}

/* Runs fn over the parts: in the pool when split, else on this thread (where tau__gemm may
 * split each product over the pool). */
static int run_parts(convwork *t, tau_range_fn fn) {
    if (t->parts > 1) tau_parallel_for(t->parts, 1, fn, t);
    else fn(t, 0, 1);
    if (tau_interrupted) return tau_fail("interrupted");
    return TAU_OK;
}

/* ---- depthwise (one input channel per group): direct loops in the pool ------------------- */

typedef struct {
    const geom *g;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw;
} dwwork;

/* Planes per pool task: enough multiply-adds to outweigh waking a thread. */
static int64_t dw_grain(const geom *g) {
    int64_t work = g->ohw * g->kk * g->kg;
    return work >= 32768 ? 1 : 32768 / (work > 0 ? work : 1);
}

/* y plane (n, k) from x plane (n, k / kg). */
static void dw_forward_range(void *ctx, int64_t b, int64_t e) {
    dwwork *t = ctx;
    const geom *g = t->g;
    const tau_conv2d_params *p = g->p;
    for (int64_t i = b; i < e; i++) {
        int64_t n = i / p->k, k = i % p->k, c = k / g->kg;
        const float *x = t->x + (n * p->c + c) * g->hw;
        float *y = t->y + i * g->ohw;
        float bias = t->b ? t->b[k] : 0.0f;
        for (int64_t j = 0; j < g->ohw; j++) y[j] = bias;
        for (int64_t ky = 0; ky < p->kh; ky++)
            for (int64_t kx = 0; kx < p->kw; kx++) {
                float wv = t->w[k * g->kk + ky * p->kw + kx];
                int64_t lo, hi, off = kx * p->dil_w - p->pad_w;
                valid_cols(g, kx, &lo, &hi);
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                    if (iy < 0 || iy >= p->h) continue;
                    const float *src = x + iy * p->w + off;
                    float *dst = y + oy * g->ow;
                    if (p->stride_w == 1) axpy(dst + lo, wv, src + lo, hi - lo);
                    else for (int64_t o = lo; o < hi; o++) dst[o] += wv * src[o * p->stride_w];
                }
            }
    }
}

/* dx plane (n, c) from the dy planes of the kg kernels of group c. */
static void dw_dx_range(void *ctx, int64_t b, int64_t e) {
    dwwork *t = ctx;
    const geom *g = t->g;
    const tau_conv2d_params *p = g->p;
    for (int64_t i = b; i < e; i++) {
        int64_t n = i / p->c, c = i % p->c;
        float *dx = t->dx + i * g->hw;
        memset(dx, 0, (size_t)g->hw * sizeof *dx);
        for (int64_t k = c * g->kg; k < (c + 1) * g->kg; k++) {
            const float *dy = t->dy + (n * p->k + k) * g->ohw;
            for (int64_t ky = 0; ky < p->kh; ky++)
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    float wv = t->w[k * g->kk + ky * p->kw + kx];
                    int64_t lo, hi, off = kx * p->dil_w - p->pad_w;
                    valid_cols(g, kx, &lo, &hi);
                    for (int64_t oy = 0; oy < g->oh; oy++) {
                        int64_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                        if (iy < 0 || iy >= p->h) continue;
                        float *dst = dx + iy * p->w + off;
                        const float *src = dy + oy * g->ow;
                        if (p->stride_w == 1) axpy(dst + lo, wv, src + lo, hi - lo);
                        else for (int64_t o = lo; o < hi; o++) dst[o * p->stride_w] += wv * src[o];
                    }
                }
        }
    }
}

/* dw row k: a sum over the batch, in double so that long batches keep their precision. */
static void dw_dw_range(void *ctx, int64_t b, int64_t e) {
    dwwork *t = ctx;
    const geom *g = t->g;
    const tau_conv2d_params *p = g->p;
    for (int64_t k = b; k < e; k++) {
        int64_t c = k / g->kg;
        for (int64_t ky = 0; ky < p->kh; ky++)
            for (int64_t kx = 0; kx < p->kw; kx++) {
                int64_t lo, hi, off = kx * p->dil_w - p->pad_w;
                valid_cols(g, kx, &lo, &hi);
                double acc = 0;
                for (int64_t n = 0; n < p->n; n++) {
                    const float *x = t->x + (n * p->c + c) * g->hw;
                    const float *dy = t->dy + (n * p->k + k) * g->ohw;
                    for (int64_t oy = 0; oy < g->oh; oy++) {
                        int64_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                        if (iy < 0 || iy >= p->h) continue;
                        const float *src = x + iy * p->w + off, *d = dy + oy * g->ow;
                        for (int64_t o = lo; o < hi; o++) acc += (double)d[o] * src[o * p->stride_w];
                    }
                }
                t->dw[k * g->kk + ky * p->kw + kx] = (float)acc;
            }
    }
}

/* ---- public kernels ----------------------------------------------------------------------- */

/* x is (N, C, H, W), w is (K, C/groups, kh, kw), b is (K) or NULL; y is (N, K, OH, OW). */
int tau_conv2d_forward(const float *x, const float *w, const float *b, float *y,
                       const tau_conv2d_params *p) {
    geom g;
    if (setup(p, &g) != TAU_OK) return TAU_ERR;
    if (!x || !w || !y) return tau_fail("conv2d: missing input or output array");
    if (p->n == 0) return TAU_OK;
    TAU_CHECK_INTERRUPT();
    if (g.cg == 1 && p->groups > 1) {
        dwwork t = {&g, x, w, b, NULL, y, NULL, NULL};
        tau_parallel_for(p->n * p->k, dw_grain(&g), dw_forward_range, &t);
        return TAU_OK;
    }
    if (tau__conv_direct_wanted(p, 0)) return tau__conv_direct_forward(x, w, b, y, p, g.oh, g.ow);
    if (tau__conv_implicit_wanted(p, 0)) return tau__conv_implicit_forward(x, w, b, y, p, g.oh, g.ow);
    if (tau__conv_taps_wanted(p, g.oh, g.ow, 0)) return tau__conv_taps_forward(x, w, b, y, p, g.oh, g.ow);
    convwork t = {&g, x, w, b, NULL, y, NULL, NULL, NULL, 0, 0};
    if (plan_parts(&g, &t, 0, "column") != TAU_OK) return TAU_ERR;
    int rc = run_parts(&t, forward_parts);
    free_parts(&t);
    return rc;
}

/* x is (N, C, H, W), w is (K, C/groups, kh, kw), dy is (N, K, OH, OW); dx like x, dw like w,
 * db is (K); each gradient may be NULL. */
int tau_conv2d_backward(const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db, const tau_conv2d_params *p) {
    geom g;
    if (setup(p, &g) != TAU_OK) return TAU_ERR;
    if (!dy || (dx && !w) || (dw && !x)) return tau_fail("conv2d: missing input array for backward");
    const int64_t wsize = p->k * g.cg * g.kk;
    if (db) {
        for (int64_t k = 0; k < p->k; k++) {
            double acc = 0;
            for (int64_t n = 0; n < p->n; n++) {
                const float *row = dy + (n * p->k + k) * g.ohw;
                for (int64_t j = 0; j < g.ohw; j++) acc += row[j];
            }
            db[k] = (float)acc;
        }
    }
    if (!dx && !dw) return TAU_OK;
    if (p->n == 0) {
        if (dw) memset(dw, 0, (size_t)wsize * sizeof *dw);
        return TAU_OK;
    }
    TAU_CHECK_INTERRUPT();
    if (g.cg == 1 && p->groups > 1) {
        dwwork t = {&g, x, w, NULL, dy, NULL, dx, dw};
        if (dx) tau_parallel_for(p->n * p->c, dw_grain(&g), dw_dx_range, &t);
        if (dw) tau_parallel_for(p->k, 1, dw_dw_range, &t);
        return TAU_OK;
    }
    int rc = TAU_OK;
    /* a gradient the direct kernel or the tap GEMMs take is done here and not lowered below */
    if (dx && tau__conv_implicit_wanted(p, 1)) {
        rc = tau__conv_implicit_dx(w, dy, dx, p, g.oh, g.ow);
        dx = NULL;
    } else if (dx && tau__conv_direct_wanted(p, 1)) {
        rc = tau__conv_direct_dx(w, dy, dx, p, g.oh, g.ow);
        dx = NULL;
    } else if (dx && tau__conv_taps_wanted(p, g.oh, g.ow, 1)) {
        rc = tau__conv_taps_dx(w, dy, dx, p, g.oh, g.ow);
        dx = NULL;
    }
    if (rc == TAU_OK && dw && tau__conv_direct_wanted(p, 2)) {
        rc = tau__conv_direct_dw(x, dy, dw, p, g.oh, g.ow);
        dw = NULL;
    } else if (rc == TAU_OK && dw && tau__conv_taps_wanted(p, g.oh, g.ow, 2)) {
        rc = tau__conv_taps_dw(x, dy, dw, p, g.oh, g.ow);
        dw = NULL;
    }
    if (rc != TAU_OK) return TAU_ERR;
    if (!dx && !dw) return TAU_OK;
    convwork t = {&g, x, w, NULL, dy, NULL, dx, dw, NULL, 0, 0};
    if (plan_parts(&g, &t, dw != NULL, "gradient") != TAU_OK) return TAU_ERR;
    if (dx) rc = run_parts(&t, dx_parts);
    if (rc == TAU_OK && dw) {
        rc = run_parts(&t, dw_parts);
        /* Fixed order: the same bits for a given thread count. */
        for (int64_t part = 1; rc == TAU_OK && part < t.parts; part++) add_to(dw, part_dw(&t, part), wsize);
    }
    free_parts(&t);
    return rc;
}
