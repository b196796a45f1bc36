/* Direct stride-1 convolution for thin layers, with AVX2 and FMA when the processor has them.
 *
 * When a layer has very few input channels (the first layer of a network: C*kh*kw = 27 for
 * RGB 3x3), its lowered GEMM has a short inner dimension and building the column matrix costs
 * about as much as the product. Here each output row block is summed in registers straight
 * from a zero-padded copy of the input planes: a block of 4 output channels by 16 (or 8)
 * output columns (with AVX-512, 8 channels by 32), over every (channel, ky, kx) tap, then
 * stored once. No column matrix, no clearing pass over y.
 *
 * The input gradient of such a layer (few output channels of dx) is the same computation: dx
 * is the stride-1 convolution of dy, padded by kh-1-pad, with the kernel flipped and its
 * channel axes swapped. Its weight gradient (3-wide kernels) sums, for 4 kernels and one
 * (channel, kernel row), the 12 dot products of dy rows with shifted input rows in registers
 * over the whole plane.
 *
 * The code is compiled for AVX2+FMA and chosen at run time; without them (or for shapes it
 * does not cover) the caller keeps the GEMM lowering. */
#include "nn/conv_direct.h"
#include "base/cpu.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/vmath.h"
#include <string.h>

/* Output channels per register block. */
#define KB 4

typedef struct {
    int64_t n, cin, cout, kh, kw;
    int64_t hp, wp;              /* padded input plane */
    int64_t rs;                  /* its row stride: wp and 8 more zeros, so that a vector load
                                  * starting at any column stays inside the row */
    int64_t oh, ow;
    int64_t pad_top, pad_left;   /* where the source plane sits inside the padded one */
    int64_t sh, sw;              /* source plane size */
    int64_t coutp;               /* cout rounded up to KB */
    const float *src;            /* (n, cin, sh, sw) */
    const float *wpack;          /* (cin, kh, kw, coutp) */
    const float *bias;           /* (cout) or NULL */
    float *dst;                  /* (n, cout, oh, ow) */
    float *scratch;              /* one padded image per part (and a weight gradient) */
    int64_t parts;
    const float *dy;             /* weight gradient: (n, cout, oh, ow) */
    float *dw;                   /* (cout, cin, kh, kw) */
} direct_job;

/* Copies an image into the interior of its padded planes; the border stays as cleared once
 * per call (clearing it per image cost as much as the multiply-adds for 16-channel dy). */
static void pad_image(const direct_job *j, const float *src, float *xp) {
    for (int64_t c = 0; c < j->cin; c++)
        for (int64_t y = 0; y < j->sh; y++)
            memcpy(xp + (c * j->hp + y + j->pad_top) * j->rs + j->pad_left, src + (c * j->sh + y) * j->sw,
                   (size_t)j->sw * sizeof *xp);
}

#ifdef HAVE_X86_DISPATCH
/* 16 output columns (two vectors) by kb <= 4 channels: eight accumulators, two input vectors
 * and a broadcast weight fit the 16 AVX2 registers. kb is a constant at each call, and the
 * accumulators are named variables, so that -O2 keeps them in registers. */
/* Runs BODY for every (channel, ky, kx) tap of the block at (oy, ox): row points at the
 * block's first input in kernel row ky, wr at the tap's weights for channels k0... */
#define FOR_TAPS(BODY)                                                                        \
    const float *wr = j->wpack + k0;                                                          \
    for (int64_t c = 0; c < j->cin; c++)                                                      \
        for (int64_t ky = 0; ky < j->kh; ky++) {                                              \
            const float *row = xp + (c * j->hp + oy + ky) * j->rs + ox;                       \
            _Pragma("GCC unroll 3") for (int64_t kx = 0; kx < kw; kx++, wr += j->coutp) { BODY } \
        }

#define TAP16(q)                                                          \
    if (kb > q) {                                                         \
        __m256 wv = _mm256_broadcast_ss(wr + q);                          \
        a##q##0 = _mm256_fmadd_ps(wv, x0, a##q##0);                       \
        a##q##1 = _mm256_fmadd_ps(wv, x1, a##q##1);                       \
    }
#define STORE16(q)                                                        \
    if (kb > q && k0 + q < j->cout) {                                     \
        __m256 b = _mm256_set1_ps(j->bias ? j->bias[k0 + q] : 0.0f);     \
        float *o = out + q * plane;                                       \
        _mm256_storeu_ps(o, _mm256_add_ps(a##q##0, b));                   \
        _mm256_storeu_ps(o + 8, _mm256_add_ps(a##q##1, b));               \
    }

__attribute__((target("avx2,fma"), always_inline)) static inline void
block16(const direct_job *j, const float *xp, float *y, int64_t oy, int64_t ox, int64_t k0, const int kb,
        const int64_t kw) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    FOR_TAPS(__m256 x0 = _mm256_loadu_ps(row + kx); __m256 x1 = _mm256_loadu_ps(row + kx + 8);
             TAP16(0) TAP16(1) TAP16(2) TAP16(3))
    const int64_t plane = j->oh * j->ow;
    float *out = y + k0 * plane + oy * j->ow + ox;
    STORE16(0) STORE16(1) STORE16(2) STORE16(3)
}

#define TAP8(q) if (kb > q) a##q = _mm256_fmadd_ps(_mm256_broadcast_ss(wr + q), x0, a##q);
#define STORE8(q)                                                                                   \
    if (kb > q && k0 + q < j->cout) {                                                               \
        __m256 v = _mm256_add_ps(a##q, _mm256_set1_ps(j->bias ? j->bias[k0 + q] : 0.0f));          \
        if (cols == 8) _mm256_storeu_ps(out + q * plane, v);                                        \
        else { _mm256_storeu_ps(tmp, v); memcpy(out + q * plane, tmp, (size_t)cols * sizeof *tmp); } \
    }

__attribute__((target("avx2,fma"), always_inline)) static inline void
block8(const direct_job *j, const float *xp, float *y, int64_t oy, int64_t ox, int64_t k0, const int kb,
       const int64_t kw, int64_t cols) {
    float tmp[8];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    FOR_TAPS(__m256 x0 = _mm256_loadu_ps(row + kx); TAP8(0) TAP8(1) TAP8(2) TAP8(3))
    const int64_t plane = j->oh * j->ow;
    float *out = y + k0 * plane + oy * j->ow + ox;
    STORE8(0) STORE8(1) STORE8(2) STORE8(3)
}

/* kw is the kernel width, a constant 3 for the common case so that its loop unrolls. */
/* Spreads a prefetch of the next image's source (next, nf floats; NULL at the last) over the
 * row blocks, so that it is in L2 when its copy starts: that copy read memory for a fifth of a
 * thin layer's input gradient. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
image_kb(const direct_job *j, const float *xp, float *y, const int kb, const int64_t kw, const float *next,
         int64_t nf) {
    const int64_t steps = ((j->cout + kb - 1) / kb) * j->oh;
    int64_t step = 0;
    for (int64_t k0 = 0; k0 < j->cout; k0 += kb) /* channel blocks outside: 4 output streams */
        for (int64_t oy = 0; oy < j->oh; oy++, step++) {
            if (next) tau_prefetch_l2(next + nf * step / steps, (nf * (step + 1) / steps - nf * step / steps) * (long)sizeof(float));
            int64_t ox = 0;
            for (; ox + 16 <= j->ow; ox += 16) block16(j, xp, y, oy, ox, k0, kb, kw);
            for (; ox < j->ow; ox += 8) block8(j, xp, y, oy, ox, k0, kb, kw, j->ow - ox < 8 ? j->ow - ox : 8);
        }
}

/* Few output channels (the input gradient of a first layer) get blocks of exactly that many. */
__attribute__((target("avx2,fma"))) static void image_avx2(const direct_job *j, const float *xp, float *y,
                                                           const float *next, int64_t nf) {
    const int three = j->kw == 3;
    switch (j->coutp) {
    case 1: three ? image_kb(j, xp, y, 1, 3, next, nf) : image_kb(j, xp, y, 1, j->kw, next, nf); break;
    case 2: three ? image_kb(j, xp, y, 2, 3, next, nf) : image_kb(j, xp, y, 2, j->kw, next, nf); break;
    case 3: three ? image_kb(j, xp, y, 3, 3, next, nf) : image_kb(j, xp, y, 3, j->kw, next, nf); break;
    default: three ? image_kb(j, xp, y, KB, 3, next, nf) : image_kb(j, xp, y, KB, j->kw, next, nf);
    }
}

/* With AVX-512, for 8 output channels and more (a forward pass): 8 (or 4) channels by 32
 * columns (two vectors) or by up to 16 (one, masked), 16 accumulators, each input vector
 * feeding 8 of them. A block may run past cout inside the packed weights' padding; those
 * channels are not stored. An input gradient's 1-4 channels stay with AVX2: 64-byte loads at
 * the odd offsets of the taps split cache lines, and with few channels to share them the
 * loads, not the multiply-adds, bound the block (measured slower, res20 3->16). */
#define TAP5(q)                                                               \
    if (kb > q) {                                                             \
        const __m512 wv = _mm512_set1_ps(wr[q]);                              \
        a##q##0 = _mm512_fmadd_ps(wv, x0, a##q##0);                           \
        if (two) a##q##1 = _mm512_fmadd_ps(wv, x1, a##q##1);                  \
    }
#define INIT5(q)                                                              \
    if (kb > q && j->bias && k0 + q < j->cout) a##q##0 = a##q##1 = _mm512_set1_ps(j->bias[k0 + q]);
#define STORE5(q)                                                             \
    if (kb > q && k0 + q < j->cout) {                                         \
        if (two) {                                                            \
            _mm512_storeu_ps(out + q * plane, a##q##0);                       \
            _mm512_storeu_ps(out + q * plane + 16, a##q##1);                  \
        } else _mm512_mask_storeu_ps(out + q * plane, m, a##q##0);            \
    }
#define ALL8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void
block5(const direct_job *j, const float *xp, float *y, int64_t oy, int64_t ox, int64_t k0, const int kb,
       const int64_t kw, const int two, __mmask16 m) {
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    __m512 a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
    ALL8(INIT5)
    if (two) {
        FOR_TAPS(const __m512 x0 = _mm512_loadu_ps(row + kx); const __m512 x1 = _mm512_loadu_ps(row + kx + 16);
                 ALL8(TAP5))
    } else {
        FOR_TAPS(const __m512 x0 = _mm512_maskz_loadu_ps(m, row + kx); const __m512 x1 = x0; (void)x1;
                 ALL8(TAP5))
    }
    const int64_t plane = j->oh * j->ow;
    float *out = y + k0 * plane + oy * j->ow + ox;
    ALL8(STORE5)
}

/* The channel block k0.. (kb of them) over the whole image, 32 columns at a time. */
__attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void
rows5(const direct_job *j, const float *xp, float *y, int64_t k0, const int kb, const int64_t kw,
      const float *next, int64_t nf, int64_t *step, int64_t steps) {
    for (int64_t oy = 0; oy < j->oh; oy++, ++*step) {
        if (next) tau_prefetch_l2(next + nf * *step / steps, (nf * (*step + 1) / steps - nf * *step / steps) * (long)sizeof(float));
        int64_t ox = 0;
        for (; ox + 32 <= j->ow; ox += 32) block5(j, xp, y, oy, ox, k0, kb, kw, 1, 0xffff);
        for (; ox < j->ow; ox += 16) {
            const int64_t cols = j->ow - ox < 16 ? j->ow - ox : 16;
            block5(j, xp, y, oy, ox, k0, kb, kw, 0, (__mmask16)((1u << cols) - 1));
        }
    }
}

/* Blocks of 8 channels, the rest in one block of 4 or 8 (within the packing's padding). */
__attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void
image_512(const direct_job *j, const float *xp, float *y, const int64_t kw, const float *next, int64_t nf) {
    const int64_t blocks = (j->cout + 7) / 8, steps = blocks * j->oh;
    int64_t step = 0, k0 = 0;
    for (; k0 + 8 <= j->cout; k0 += 8) rows5(j, xp, y, k0, 8, kw, next, nf, &step, steps);
    const int64_t rest = j->cout - k0;
    if (rest > 4) rows5(j, xp, y, k0, 8, kw, next, nf, &step, steps);
    else if (rest > 0) rows5(j, xp, y, k0, 4, kw, next, nf, &step, steps);
}

__attribute__((target("avx512f,avx2,fma"))) static void image_avx512(const direct_job *j, const float *xp, float *y,
                                                                     const float *next, int64_t nf) {
    if (j->kw == 3) image_512(j, xp, y, 3, next, nf);
    else image_512(j, xp, y, j->kw, next, nf);
}

#define DW_TAP(q, LOAD)                                                                      \
    do {                                                                                     \
        __m256 d = LOAD;                                                                     \
        a##q##0 = _mm256_fmadd_ps(d, x0, a##q##0);                                           \
        a##q##1 = _mm256_fmadd_ps(d, x1, a##q##1);                                           \
        a##q##2 = _mm256_fmadd_ps(d, x2, a##q##2);                                           \
    } while (0)
#define DW_STEP(LOAD0, LOAD1, LOAD2, LOAD3)                                                  \
    do {                                                                                     \
        __m256 x0 = _mm256_loadu_ps(xr + ox), x1 = _mm256_loadu_ps(xr + ox + 1),             \
               x2 = _mm256_loadu_ps(xr + ox + 2);                                            \
        DW_TAP(0, LOAD0); DW_TAP(1, LOAD1); DW_TAP(2, LOAD2); DW_TAP(3, LOAD3);              \
    } while (0)

/* Adds one image's weight gradient to acc (cout, cin, kh, 3): for 4 kernels and one (channel,
 * ky) the three kx taps are 12 dot products of dy rows with shifted rows of the padded input,
 * summed in 12 registers over the whole plane. */
__attribute__((target("avx2,fma"))) static void dw_image_avx2(const direct_job *j, const float *xp, const float *dy,
                                                              float *acc) {
    const int64_t plane = j->oh * j->ow, ow = j->ow, full = ow / 8 * 8, kstride = j->cin * j->kh * 3;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(ow - full)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int64_t k0 = 0; k0 < j->cout; k0 += 4) {
        /* kernels past cout repeat the first; their sums are dropped */
        const float *d0 = dy + k0 * plane, *d1 = k0 + 1 < j->cout ? d0 + plane : d0,
                    *d2 = k0 + 2 < j->cout ? d0 + 2 * plane : d0, *d3 = k0 + 3 < j->cout ? d0 + 3 * plane : d0;
        for (int64_t c = 0; c < j->cin; c++)
            for (int64_t ky = 0; ky < j->kh; ky++) {
                __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
                __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
                const float *xr = xp + (c * j->hp + ky) * j->rs;
                for (int64_t r = 0; r < plane; r += ow, xr += j->rs) {
                    int64_t ox = 0;
                    for (; ox < full; ox += 8)
                        DW_STEP(_mm256_loadu_ps(d0 + r + ox), _mm256_loadu_ps(d1 + r + ox),
                                _mm256_loadu_ps(d2 + r + ox), _mm256_loadu_ps(d3 + r + ox));
                    if (ox < ow)
                        DW_STEP(_mm256_maskload_ps(d0 + r + ox, mask), _mm256_maskload_ps(d1 + r + ox, mask),
                                _mm256_maskload_ps(d2 + r + ox, mask), _mm256_maskload_ps(d3 + r + ox, mask));
                }
                float *o = acc + (k0 * j->cin + c) * j->kh * 3 + ky * 3;
                o[0] += tau_hsum8(a00); o[1] += tau_hsum8(a01); o[2] += tau_hsum8(a02);
                if (k0 + 1 < j->cout) { o[kstride] += tau_hsum8(a10); o[kstride + 1] += tau_hsum8(a11); o[kstride + 2] += tau_hsum8(a12); }
                if (k0 + 2 < j->cout) {
                    o[2 * kstride] += tau_hsum8(a20); o[2 * kstride + 1] += tau_hsum8(a21); o[2 * kstride + 2] += tau_hsum8(a22);
                }
                if (k0 + 3 < j->cout) {
                    o[3 * kstride] += tau_hsum8(a30); o[3 * kstride + 1] += tau_hsum8(a31); o[3 * kstride + 2] += tau_hsum8(a32);
                }
            }
    }
}

static int have_avx2(void) { return tau__cpu() >= TAU_CPU_AVX2; }
#else
static int have_avx2(void) { return 0; }
static void image_avx2(const direct_job *j, const float *xp, float *y, const float *next, int64_t nf) {
    (void)j; (void)xp; (void)y; (void)next; (void)nf;
}
static void image_avx512(const direct_job *j, const float *xp, float *y, const float *next, int64_t nf) {
    (void)j; (void)xp; (void)y; (void)next; (void)nf;
}
static void dw_image_avx2(const direct_job *j, const float *xp, const float *dy, float *acc) {
    (void)j; (void)xp; (void)dy; (void)acc;
}
#endif

static int64_t dw_floats(const direct_job *j) { return j->dw ? j->cout * j->cin * j->kh * j->kw : 0; }
static int64_t part_floats(const direct_job *j) { return j->cin * j->hp * j->rs + dw_floats(j); }

static void direct_parts(void *ctx, int64_t b, int64_t e) {
    const direct_job *j = ctx;
    for (int64_t part = b; part < e; part++) {
        float *xp = j->scratch + part * part_floats(j), *acc = xp + j->cin * j->hp * j->rs;
        memset(xp, 0, (size_t)part_floats(j) * sizeof *xp);
        for (int64_t n = j->n * part / j->parts; n < j->n * (part + 1) / j->parts && !tau_interrupted; n++) {
            const int64_t nf = j->cin * j->sh * j->sw;
            pad_image(j, j->src + n * nf, xp);
            if (j->dw) dw_image_avx2(j, xp, j->dy + n * j->cout * j->oh * j->ow, acc);
            else if (j->cout >= 8 && tau__cpu() >= TAU_CPU_AVX512)
                image_avx512(j, xp, j->dst + n * j->cout * j->oh * j->ow, n + 1 < j->n ? j->src + (n + 1) * nf : NULL, nf);
            else image_avx2(j, xp, j->dst + n * j->cout * j->oh * j->ow, n + 1 < j->n ? j->src + (n + 1) * nf : NULL, nf);
        }
    }
}

static int run(direct_job *j, float *wpack) {
    int64_t parts = tau_get_num_threads();
    if (parts > j->n) parts = j->n;
    if (parts < 1) parts = 1;
    j->rs = j->wp + 8;
    size_t floats = (size_t)(parts * part_floats(j));
    j->scratch = tau_alloc(floats * sizeof(float));
    if (!j->scratch) return tau_fail("conv2d: out of memory for %zu floats of padded input", floats);
    j->parts = parts;
    j->wpack = wpack;
    if (parts > 1) tau_parallel_for(parts, 1, direct_parts, j);
    else direct_parts(j, 0, 1);
    if (j->dw) { /* the parts' sums added in a fixed order: the same bits for a thread count */
        const int64_t nw = dw_floats(j);
        memcpy(j->dw, j->scratch + part_floats(j) - nw, (size_t)nw * sizeof(float));
        for (int64_t part = 1; part < parts; part++) {
            const float *acc = j->scratch + (part + 1) * part_floats(j) - nw;
            for (int64_t i = 0; i < nw; i++) j->dw[i] += acc[i];
        }
    }
    tau_free(j->scratch, floats * sizeof(float));
    if (tau_interrupted) return tau_fail("interrupted");
    return TAU_OK;
}

/* Plain stride-1 single-group convolution, and the thin sides it pays off for: the number of
 * channels summed per output (forward: C*kh*kw) short, the channels written few. */
static int plain(const tau_conv2d_params *p) {
    return p->groups == 1 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 && p->dil_w == 1 &&
           p->kh <= 7 && p->kw <= 7;
}

/* Up to KB channels are packed as they are, more are rounded up to blocks of KB. */
static int64_t packed_channels(int64_t cout) { return cout <= KB ? cout : (cout + KB - 1) / KB * KB; }

int tau__conv_direct_wanted(const tau_conv2d_params *p, int for_dx) {
    if (!have_avx2() || !plain(p) || p->n < 1) return 0;
    if (for_dx == 2) return p->c <= 4 && p->kw == 3;
    if (p->kh * p->kw == 1) return 0; /* a 1x1 GEMM needs no lowering */
    /* One channel is better served by the GEMM: a reduction that short leaves each register
     * block too little work beside its stores (measured with bench_conv). */
    if (for_dx) return p->c >= 2 && p->c <= 4 && p->pad_h <= p->kh - 1 && p->pad_w <= p->kw - 1;
    return p->c >= 2 && p->c * p->kh * p->kw <= 32;
}

int tau__conv_direct_forward(const float *x, const float *w, const float *b, float *y,
                             const tau_conv2d_params *p, int64_t oh, int64_t ow) {
    direct_job j = {.n = p->n, .cin = p->c, .cout = p->k, .kh = p->kh, .kw = p->kw,
                    .hp = p->h + 2 * p->pad_h, .wp = p->w + 2 * p->pad_w, .oh = oh, .ow = ow,
                    .pad_top = p->pad_h, .pad_left = p->pad_w, .sh = p->h, .sw = p->w,
                    .coutp = packed_channels(p->k), .src = x, .bias = b, .dst = y};
    const int64_t kk = p->kh * p->kw;
    size_t wn = (size_t)(p->c * kk * j.coutp);
    float *wpack = tau_calloc(wn * sizeof(float));
    if (!wpack) return tau_fail("conv2d: out of memory for packed weights");
    for (int64_t k = 0; k < p->k; k++)
        for (int64_t c = 0; c < p->c; c++)
            for (int64_t t = 0; t < kk; t++) wpack[(c * kk + t) * j.coutp + k] = w[(k * p->c + c) * kk + t];
    int rc = run(&j, wpack);
    tau_free(wpack, wn * sizeof(float));
    return rc;
}

int tau__conv_direct_dx(const float *w, const float *dy, float *dx, const tau_conv2d_params *p, int64_t oh,
                        int64_t ow) {
    const int64_t ph = p->kh - 1 - p->pad_h, pw = p->kw - 1 - p->pad_w;
    direct_job j = {.n = p->n, .cin = p->k, .cout = p->c, .kh = p->kh, .kw = p->kw,
                    .hp = oh + 2 * ph, .wp = ow + 2 * pw, .oh = p->h, .ow = p->w,
                    .pad_top = ph, .pad_left = pw, .sh = oh, .sw = ow,
                    .coutp = packed_channels(p->c), .src = dy, .bias = NULL, .dst = dx};
    const int64_t kk = p->kh * p->kw;
    size_t wn = (size_t)(p->k * kk * j.coutp);
    float *wpack = tau_calloc(wn * sizeof(float));
    if (!wpack) return tau_fail("conv2d: out of memory for packed weights");
    /* tap (ky, kx) of the dx convolution is tap (kh-1-ky, kw-1-kx) of w, channels swapped */
    for (int64_t k = 0; k < p->k; k++)
        for (int64_t c = 0; c < p->c; c++)
            for (int64_t t = 0; t < kk; t++) wpack[(k * kk + t) * j.coutp + c] = w[(k * p->c + c) * kk + (kk - 1 - t)];
    int rc = run(&j, wpack);
    tau_free(wpack, wn * sizeof(float));
    return rc;
}

int tau__conv_direct_dw(const float *x, const float *dy, float *dw, const tau_conv2d_params *p, int64_t oh,
                        int64_t ow) {
    direct_job j = {.n = p->n, .cin = p->c, .cout = p->k, .kh = p->kh, .kw = p->kw,
                    .hp = p->h + 2 * p->pad_h, .wp = p->w + 2 * p->pad_w, .oh = oh, .ow = ow,
                    .pad_top = p->pad_h, .pad_left = p->pad_w, .sh = p->h, .sw = p->w,
                    .coutp = packed_channels(p->k), .src = x, .dy = dy, .dw = dw};
    return run(&j, NULL);
}
