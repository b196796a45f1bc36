/* Implicit-GEMM convolution for layers of stride 2 across (the downsampling layers), with AVX2
 * and FMA when the processor has them.
 *
 * A stride-2 layer reads every other input column, so its column matrix is a gather: building
 * it whole (C*kh*kw rows by OH*OW) and letting sgemm pack it again moves as much memory as the
 * product costs. Here each image is first split into half-rows (even padded columns, odd
 * padded columns), after which the taps of 16 output pixels of a row are 16 consecutive
 * floats: the 6x16 register block of a panel of output channels reads them in place, through
 * a table of row offsets, with no column matrix at all (blocks that span output rows are
 * copied into a small one). Panels run over the blocks in turn, so that y is written as 6
 * sequential rows.
 *
 * With AVX-512, a 1x1 layer without padding skips the split: a block's 16 inputs of a channel
 * are the even floats of 32 consecutive ones, picked by one permute as they are loaded.
 *
 * For 1x1 layers (the strided shortcut of a residual network) the input gradient is W^T dy by
 * the same register blocks, read straight from dy, each result written out interleaved with
 * the zeros of the skipped columns: dx is written once, with no column matrix and no clearing
 * pass.
 *
 * The code is compiled for AVX2+FMA and chosen at run time; without them (or for shapes it does
 * not cover) the caller keeps its other methods. */
#include "nn/conv_implicit.h"
#include "base/cpu.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_DISPATCH 1
#include <immintrin.h>
#endif

#define MR 6            /* output channels (input channels for dx) per register block, AVX2 */
#define MR5 16          /* the same with AVX-512: 16 accumulators of 16 floats */
#define NB 16           /* output pixels per block: two AVX2 vectors, one AVX-512 vector */

/* The pixels of a block that lie in one output row: from (oy, ox), len of them, at offset t of
 * the block. */
typedef struct { int64_t oy, ox, len, t; } segment;

typedef struct {
    const tau_conv2d_params *p;
    int64_t oh, ow, P, nblocks, kk, J;
    /* The input split into half-rows: for every channel and padded row, its even padded
     * columns then its odd ones, wq floats each, padding included as zeros. Tap (ky, kx) of
     * output (oy, ox) is then at off[(c, ky, kx)] + oy * rowstep + ox, and 16 outputs of a row
     * are 16 consecutive floats. */
    int64_t hp, wq, rowstep, cs, split_floats;  /* cs: floats per channel */
    int64_t *off;       /* J offsets; the same allocation holds fetch and used */
    int64_t *fetch, nfetch; /* the offsets in an image of the rows some output reads */
    unsigned char *used;    /* hp flags: whether some output reads padded row iy */
    const float *x, *dy, *bias;
    int wide;           /* AVX-512 */
    int rows5;          /* dx by dx_rows5 */
    int gather;         /* forward blocks may read x in place: AVX-512, 1x1, no padding */
    int64_t mr;         /* rows per weight panel: MR or MR5 */
    const float *wp;    /* weight panels: (K/mr, J, mr) forward, (C/mr, K, mr) input gradient */
    float *y, *dx;
    float *scratch;     /* per part: see part_floats */
    int64_t parts, part_floats;
} job;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static int block_segments(const job *j, int64_t p0, int64_t count, segment *s) {
    int ns = 0;
    for (int64_t t = 0; t < count;) {
        const int64_t p = p0 + t, oy = p / j->ow, ox = p % j->ow, len = min64(j->ow - ox, count - t);
        s[ns++] = (segment){oy, ox, len, t};
        t += len;
    }
    return ns;
}

/* Whether some output row reads padded input row iyp (a 1x1 layer of stride 2 skips half). */
static int reads_row(const job *j, int64_t iyp) {
    const tau_conv2d_params *p = j->p;
    const int64_t oy = iyp >= p->kh ? (iyp - p->kh + p->stride_h) / p->stride_h : 0;
    return oy < j->oh && oy * p->stride_h <= iyp;
}

#ifdef HAVE_X86_DISPATCH
#define AVX2 __attribute__((target("avx2,fma")))

/* Lanes below n (n in 0..8; fewer than 0 is none). */
AVX2 static inline __m256i lanes_below(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ev[i] = row[2i], od[i] = row[2i + 1] for the w floats of row (od NULL: not wanted); writes
 * nothing past them, so the padding around stays zero. */
AVX2 static void deinterleave(const float *row, int64_t w, float *ev, float *od) {
    int64_t x = 0;
    for (; x + 16 <= w; x += 16) {
        const __m256 lo = _mm256_loadu_ps(row + x), hi = _mm256_loadu_ps(row + x + 8);
        const __m256d e = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
        _mm256_storeu_ps(ev + x / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(e, _MM_SHUFFLE(3, 1, 2, 0))));
        if (!od) continue;
        const __m256d o = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
        _mm256_storeu_ps(od + x / 2, _mm256_castpd_ps(_mm256_permute4x64_pd(o, _MM_SHUFFLE(3, 1, 2, 0))));
    }
    for (; x < w; x++)
        if (!(x & 1)) ev[x / 2] = row[x];
        else if (od) od[x / 2] = row[x];
}

/* Splits the rows of image xn that some output reads into half-rows of S, whose padding was
 * cleared once. */
AVX2 static void split_image(const job *j, const float *xn, float *S) {
    const tau_conv2d_params *p = j->p;
    /* a one-wide kernel reads only even padded columns */
    const int64_t pw = p->pad_w, odd = p->kw > 1;
    for (int64_t c = 0; c < p->c; c++)
        for (int64_t iy = 0; iy < p->h; iy++) {
            if (!j->used[iy + p->pad_h]) continue;
            float *E = S + c * j->cs + (iy + p->pad_h) * 2 * j->wq, *O = E + j->wq;
            /* padded column X = ix + pad_w: even columns of the row land in E when the padding
             * is even, in O when it is odd */
            const float *src = xn + (c * p->h + iy) * p->w;
            if (pw % 2 == 0) deinterleave(src, p->w, E + pw / 2, odd ? O + pw / 2 : NULL);
            else if (odd) deinterleave(src, p->w, O + pw / 2, E + (pw + 1) / 2);
            else deinterleave(src + 1, p->w - 1, E + (pw + 1) / 2, NULL);
        }
}

/* The column matrix of a block whose pixels span output rows (or stop short): J rows of NB
 * floats, zeros past count. Whole vectors are copied: up to 7 floats past a segment are
 * overwritten by the next one, and B and S have 8 floats of slack at their ends. */
AVX2 static void pack_block(const job *j, const float *S, const segment *s, int ns, int64_t count, float *B) {
    for (int64_t r = 0; r < j->J; r++) {
        const float *src = S + j->off[r];
        float *dst = B + r * NB;
        for (int q = 0; q < ns; q++) {
            const float *from = src + s[q].oy * j->rowstep + s[q].ox;
            for (int64_t i = 0; i < s[q].len; i += 8) _mm256_storeu_ps(dst + s[q].t + i, _mm256_loadu_ps(from + i));
        }
        if (count < NB) memset(dst + count, 0, (size_t)(NB - count) * sizeof *dst);
    }
}

/* c[i][0..cols) (+)= sum over d of a[d][i] * b_d[0..cols), for i < mr: the panel a has MR
 * floats a row; row d of b is at b + off[d] when off is given, else at b + d * ldb, and is read
 * 16 floats wide (masked past cols); c rows are ldc apart. The sums start from c
 * (accumulate), from bias[i], or from zero. mr is a constant at each call, and the
 * accumulators are named variables, so that they stay in registers. */
#define INIT(i)                                                                                           \
    if (mr > i) c##i##0 = c##i##1 = _mm256_set1_ps(bias ? bias[i] : 0.0f);
#define FMA(i)                                                                                            \
    if (mr > i) {                                                                                         \
        const __m256 av = _mm256_broadcast_ss(a + i);                                                     \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                                       \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                                       \
    }
#define STORE(i)                                                                                          \
    if (mr > i) {                                                                                         \
        if (cols == NB) {                                                                                 \
            _mm256_storeu_ps(c + i * ldc, c##i##0);                                                       \
            _mm256_storeu_ps(c + i * ldc + 8, c##i##1);                                                   \
        } else {                                                                                          \
            _mm256_maskstore_ps(c + i * ldc, m0, c##i##0);                                                \
            _mm256_maskstore_ps(c + i * ldc + 8, m1, c##i##1);                                            \
        }                                                                                                 \
    }
/* The input gradient of a stride-2 1x1 layer: row i of the result goes to c + i * ldc with a
 * zero after each value (32 floats from 16). */
#define SPREAD(v, d)                                                                                      \
    {                                                                                                     \
        const __m256 lo = _mm256_unpacklo_ps(v, z), hi = _mm256_unpackhi_ps(v, z);                        \
        _mm256_storeu_ps(d, _mm256_permute2f128_ps(lo, hi, 0x20));                                        \
        _mm256_storeu_ps((d) + 8, _mm256_permute2f128_ps(lo, hi, 0x31));                                  \
    }
#define STORE_SPREAD(i)                                                                                   \
    if (mr > i) {                                                                                         \
        SPREAD(c##i##0, c + i * ldc)                                                                      \
        SPREAD(c##i##1, c + i * ldc + 16)                                                                 \
    }
#define ALL(M) M(0) M(1) M(2) M(3) M(4) M(5)

__attribute__((target("avx2,fma"), always_inline)) static inline void
micro(const int mr, const int spread, const float *a, const float *b, const int64_t *off, int64_t ldb,
      int64_t depth, float *c, int64_t ldc, int64_t cols, const float *bias) {
    const __m256i m0 = lanes_below(cols), m1 = lanes_below(cols - 8);
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    ALL(INIT)
    if (off)
        for (int64_t d = 0; d < depth; d++, a += MR) {
            const float *bd = b + off[d];
            const __m256 b0 = _mm256_loadu_ps(bd), b1 = _mm256_loadu_ps(bd + 8);
            ALL(FMA)
        }
    else if (cols == NB)
        for (int64_t d = 0; d < depth; d++, a += MR, b += ldb) {
            const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            ALL(FMA)
        }
    else
        for (int64_t d = 0; d < depth; d++, a += MR, b += ldb) {
            const __m256 b0 = _mm256_maskload_ps(b, m0), b1 = _mm256_maskload_ps(b + 8, m1);
            ALL(FMA)
        }
    if (spread) {
        const __m256 z = _mm256_setzero_ps();
        ALL(STORE_SPREAD)
    } else {
        ALL(STORE)
    }
}

#define MICRO_CASES(SPREAD_)                                                                              \
    switch (mr) {                                                                                         \
    case 1: micro(1, SPREAD_, a, b, off, ldb, depth, c, ldc, cols, bias); break;                          \
    case 2: micro(2, SPREAD_, a, b, off, ldb, depth, c, ldc, cols, bias); break;                          \
    case 3: micro(3, SPREAD_, a, b, off, ldb, depth, c, ldc, cols, bias); break;                          \
    case 4: micro(4, SPREAD_, a, b, off, ldb, depth, c, ldc, cols, bias); break;                          \
    case 5: micro(5, SPREAD_, a, b, off, ldb, depth, c, ldc, cols, bias); break;                          \
    default: micro(MR, SPREAD_, a, b, off, ldb, depth, c, ldc, cols, bias);                               \
    }

AVX2 static void micro_rows(int mr, const float *a, const float *b, const int64_t *off, int64_t ldb,
                            int64_t depth, float *c, int64_t ldc, int64_t cols, const float *bias) {
    MICRO_CASES(0)
}

/* 16 full columns only */
AVX2 static void micro_spread(int mr, const float *a, const float *b, int64_t ldb, int64_t depth, float *c,
                              int64_t ldc) {
    const int64_t *off = NULL, cols = NB;
    const float *bias = NULL;
    MICRO_CASES(1)
}

/* The same register block with AVX-512: up to 16 rows (mr, a multiple of 4, of which the first
 * `rows` are stored) by one 16-float vector, the panel lda floats a row. Modes: PLAIN; SPREAD
 * writes each result row with zeros between, then `zeros` more zeros after it (the rows of dx
 * below that no output reads); GATHER reads row d of b as the even floats of
 * b + d * ldb .. + 32 (a stride-2 1x1 layer reads its input in place, with no split). */
enum { PLAIN, SPREAD, GATHER };
#define I5(i) if (mr > i) c##i = _mm512_set1_ps(bias && i < rows ? bias[i] : 0.0f);
#define F5(i) if (mr > i) c##i = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), bv, c##i);
#define S5(i)                                                                                             \
    if (mr > i && i < rows) {                                                                             \
        if (spread) {                                                                                     \
            _mm512_storeu_ps(c + i * ldc, _mm512_permutex2var_ps(c##i, lo_idx, z));                       \
            _mm512_storeu_ps(c + i * ldc + 16, _mm512_permutex2var_ps(c##i, hi_idx, z));                 \
            for (int64_t f = 0; f < zeros; f += 16)                                                       \
                _mm512_mask_storeu_ps(c + i * ldc + 32 + f, zeros - f >= 16 ? 0xffff : (__mmask16)((1u << (zeros - f)) - 1), z); \
        } else if (cols == NB) _mm512_storeu_ps(c + i * ldc, c##i);                                       \
        else _mm512_mask_storeu_ps(c + i * ldc, m, c##i);                                                 \
    }
#define ALL16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)

__attribute__((target("avx512f,avx2,fma"), always_inline)) static inline void
micro5(const int mr, const int mode, int rows, const float *a, int64_t lda, const float *b, const int64_t *off,
       int64_t ldb, int64_t depth, float *c, int64_t ldc, int64_t cols, const float *bias, int64_t zeros) {
    const int spread = mode == SPREAD, gather = mode == GATHER;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __mmask16 m = (__mmask16)((1u << cols) - 1);
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    __m512 c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
    ALL16(I5)
    if (off)
        for (int64_t d = 0; d < depth; d++, a += lda) {
            const __m512 bv = _mm512_loadu_ps(b + off[d]);
            ALL16(F5)
        }
    else if (gather)
        for (int64_t d = 0; d < depth; d++, a += lda, b += ldb) {
            const __m512 bv = _mm512_permutex2var_ps(_mm512_loadu_ps(b), even, _mm512_loadu_ps(b + 16));
            ALL16(F5)
        }
    else if (cols == NB)
        for (int64_t d = 0; d < depth; d++, a += lda, b += ldb) {
            const __m512 bv = _mm512_loadu_ps(b);
            ALL16(F5)
        }
    else
        for (int64_t d = 0; d < depth; d++, a += lda, b += ldb) {
            const __m512 bv = _mm512_maskz_loadu_ps(m, b);
            ALL16(F5)
        }
    /* spread: value i goes to float 2i, index 16 (of the zero vector) in between */
    const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    const __m512i hi_idx = _mm512_setr_epi32(8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15, 16);
    const __m512 z = _mm512_setzero_ps();
    ALL16(S5)
}

#define MICRO5_CASES(MODE)                                                                             \
    switch ((rows + 3) / 4) {                                                                             \
    case 1: micro5(4, MODE, rows, a, lda, b, off, ldb, depth, c, ldc, cols, bias, zeros); break;              \
    case 2: micro5(8, MODE, rows, a, lda, b, off, ldb, depth, c, ldc, cols, bias, zeros); break;              \
    case 3: micro5(12, MODE, rows, a, lda, b, off, ldb, depth, c, ldc, cols, bias, zeros); break;             \
    default: micro5(16, MODE, rows, a, lda, b, off, ldb, depth, c, ldc, cols, bias, zeros);                   \
    }

__attribute__((target("avx512f,avx2,fma"))) static void
micro5_rows(int rows, const float *a, int64_t lda, const float *b, const int64_t *off, int64_t ldb, int64_t depth, float *c,
            int64_t ldc, int64_t cols, const float *bias) {
    const int64_t zeros = 0;
    MICRO5_CASES(PLAIN)
}

__attribute__((target("avx512f,avx2,fma"))) static void
micro5_spread(int rows, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t depth, float *c, int64_t ldc,
              int64_t zeros) {
    const int64_t *off = NULL, cols = NB;
    const float *bias = NULL;
    MICRO5_CASES(SPREAD)
}

__attribute__((target("avx512f,avx2,fma"))) static void
micro5_gather(int rows, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t depth, float *c,
              int64_t ldc, const float *bias) {
    const int64_t *off = NULL, cols = NB, zeros = 0;
    MICRO5_CASES(GATHER)
}

/* A panel of `rows` output rows (at most j->mr) on one block, by the job's vector width. */
static void panel(const job *j, int rows, const float *a, const float *b, const int64_t *off, int64_t ldb,
                  int64_t depth, float *c, int64_t ldc, int64_t cols, const float *bias) {
    if (j->wide) micro5_rows(rows, a, j->mr, b, off, ldb, depth, c, ldc, cols, bias);
    else micro_rows(rows, a, b, off, ldb, depth, c, ldc, cols, bias);
}

/* The same, written spread out with zeros between (full blocks only); with AVX-512, `zeros`
 * more zeros after each row (returns whether it wrote them). */
static int panel_spread(const job *j, int rows, const float *a, const float *b, int64_t ldb, int64_t depth, float *c,
                        int64_t ldc, int64_t zeros) {
    if (j->wide) micro5_spread(rows, a, j->mr, b, ldb, depth, c, ldc, zeros);
    else micro_spread(rows, a, b, ldb, depth, c, ldc);
    return j->wide;
}

/* Walking a block's rows, the loads of the next image would wait on memory (an image is read
 * once): each block fetches the next `per` of the next image's rows that some output reads
 * ahead into L2, from *cursor on (a table, not arithmetic: this runs per block, and its
 * divisions were measured). */
static void prefetch_rows(const job *j, const float *next, int64_t *cursor, int64_t per) {
    const int64_t end = min64(j->nfetch, *cursor + per);
    for (int64_t r = *cursor; r < end; r++) tau_prefetch_l2(next + j->fetch[r], j->p->w * (long)sizeof(float));
    *cursor = end;
}

/* Blocks per group: at most GROUP_MAX, and the packed ones take at most GROUP_FLOATS of
 * scratch. */
#define GROUP_MAX 64
#define GROUP_FLOATS 65536
static int64_t group_blocks(const job *j) {
    const int64_t g = GROUP_FLOATS / (j->J * NB);
    return g < 1 ? 1 : g > GROUP_MAX ? GROUP_MAX : g;
}

/* One group of blocks [b0, b1) of image n: blocks read in place from x (gather mode) or from
 * the split image S (split on first need: *split is the image in S), the rest packed into B
 * first; then each panel of output channels runs over the blocks in turn, so that y is
 * written as a few sequential rows. */
AVX2 static void forward_group(const job *j, int64_t n, int64_t b0, int64_t b1, float *S, int64_t *split, float *B) {
    const tau_conv2d_params *p = j->p;
    const float *xn = j->x + n * p->c * p->h * p->w;
    const float *base[GROUP_MAX];
    const int64_t *off[GROUP_MAX];
    int64_t ldb[GROUP_MAX];
    unsigned char gather[GROUP_MAX];
    segment s[NB];
    for (int64_t blk = b0; blk < b1; blk++) {
        const int64_t i = blk - b0, p0 = blk * NB, count = min64(NB, j->P - p0);
        const int ns = block_segments(j, p0, count, s);
        gather[i] = j->gather && ns == 1 && count == NB && 2 * s[0].ox + 2 * NB <= p->w;
        if (gather[i]) {
            base[i] = xn + s[0].oy * p->stride_h * p->w + 2 * s[0].ox;
            off[i] = NULL;
            ldb[i] = p->h * p->w;
            continue;
        }
        if (*split < 0) memset(S, 0, (size_t)j->split_floats * sizeof *S); /* its padding, once */
        if (*split != n) split_image(j, xn, S);
        *split = n;
        base[i] = S + s[0].oy * j->rowstep + s[0].ox;
        /* one tap: the rows are a channel apart, no table needed */
        off[i] = j->kk == 1 ? NULL : j->off;
        ldb[i] = j->cs;
        if (ns > 1 || count < NB) {
            float *Bb = B + i * j->J * NB;
            pack_block(j, S, s, ns, count, Bb);
            base[i] = Bb;
            off[i] = NULL;
            ldb[i] = NB;
        }
    }
    const int64_t mr = j->mr, panels = (p->k + mr - 1) / mr, steps = panels * (b1 - b0);
    const int64_t per = (j->nfetch + steps - 1) / steps;
    const float *next = n + 1 < p->n && b1 == j->nblocks ? xn + p->c * p->h * p->w : NULL;
    int64_t cursor = 0;
    float *yn = j->y + n * p->k * j->P;
    for (int64_t q = 0; q < panels; q++) {
        const int64_t k0 = q * mr;
        const int rows = (int)min64(mr, p->k - k0);
        const float *a = j->wp + q * j->J * mr, *bias = j->bias ? j->bias + k0 : NULL;
        for (int64_t blk = b0; blk < b1; blk++) {
            const int64_t i = blk - b0, p0 = blk * NB;
            if (next) prefetch_rows(j, next, &cursor, per);
            if (gather[i]) micro5_gather(rows, a, mr, base[i], ldb[i], j->J, yn + k0 * j->P + p0, j->P, bias);
            else panel(j, rows, a, base[i], off[i], ldb[i], j->J, yn + k0 * j->P + p0, j->P, min64(NB, j->P - p0), bias);
        }
    }
}

/* Part i takes the i-th share of the (image, block) items, splitting each image it meets
 * when some block needs it (two parts of one image both split it: one image does not wait for
 * the other part). Its scratch is a split image then a group's packed blocks. */
AVX2 static void forward_parts(void *ctx, int64_t b, int64_t e) {
    const job *j = ctx;
    const tau_conv2d_params *p = j->p;
    const int64_t items = p->n * j->nblocks, gb = group_blocks(j);
    for (int64_t part = b; part < e; part++) {
        float *S = j->scratch + part * j->part_floats, *B = S + j->split_floats;
        int64_t split = -1; /* the image in S; S is cleared when a block first needs it */
        const int64_t end = items * (part + 1) / j->parts;
        for (int64_t it = items * part / j->parts; it < end && !tau_interrupted;) {
            const int64_t n = it / j->nblocks, b0 = it % j->nblocks, b1 = min64(j->nblocks, b0 + end - it);
            for (int64_t g0 = b0; g0 < b1; g0 += gb) forward_group(j, n, g0, min64(b1, g0 + gb), S, &split, B);
            it += b1 - b0;
        }
    }
}

/* row[col0 + 2i] = g[i] for i < len, with zeros between (the columns a stride-2 1x1 layer
 * skips), clipped at w. */
AVX2 static void interleave_zeros(float *row, int64_t col0, const float *g, int64_t len, int64_t w) {
    int64_t i = 0;
    for (; i + 8 <= len && col0 + 2 * i + 16 <= w; i += 8) {
        const __m256 v = _mm256_loadu_ps(g + i), z = _mm256_setzero_ps();
        const __m256 lo = _mm256_unpacklo_ps(v, z), hi = _mm256_unpackhi_ps(v, z);
        _mm256_storeu_ps(row + col0 + 2 * i, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(row + col0 + 2 * i + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
    for (; i < len; i++) {
        row[col0 + 2 * i] = g[i];
        if (col0 + 2 * i + 1 < w) row[col0 + 2 * i + 1] = 0;
    }
}

/* A row or two of zeros: as a call to memset (which GCC makes of the loop) they cost a fifth of
 * the pass (measured). */
__attribute__((target("avx2,fma"), optimize("no-tree-loop-distribute-patterns"))) static void
zero_floats(float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_setzero_ps());
    for (; i < n; i++) d[i] = 0;
}

/* The rows of dx below output row oy's input row that no output reads (up to the next one's). */
static int64_t rows_below(const job *j, int64_t oy) {
    const tau_conv2d_params *p = j->p;
    const int64_t iy = oy * p->stride_h, r1 = oy == j->oh - 1 ? p->h : min64(iy + p->stride_h, p->h);
    return r1 - iy - 1;
}

/* Once a block's last pixel ends its output row: the rest of that dx row and the rows below it
 * that no output reads are cleared. */
AVX2 static void finish_row(const job *j, float *plane, int64_t oy) {
    const tau_conv2d_params *p = j->p;
    const int64_t w = p->w;
    float *row = plane + oy * p->stride_h * w;
    if (2 * j->ow < w) zero_floats(row + 2 * j->ow, w - 2 * j->ow);
    const int64_t below = rows_below(j, oy);
    if (below > 0) zero_floats(row + w, below * w);
}

/* Writes a block's input gradient into one channel plane of dx, a row's last block finishing
 * it. */
AVX2 static void scatter_block(const job *j, float *plane, const float *g, const segment *s, int ns) {
    const tau_conv2d_params *p = j->p;
    for (int q = 0; q < ns; q++) {
        interleave_zeros(plane + s[q].oy * p->stride_h * p->w, 2 * s[q].ox, g + s[q].t, s[q].len, p->w);
        if (s[q].ox + s[q].len == j->ow) finish_row(j, plane, s[q].oy);
    }
}

/* dy's rows are K streams a plane apart, too many for the hardware to follow: the first panel
 * over image n's block blk fetches the dy of the block two ahead (of the next image at the end
 * of this one). */
static void fetch_dy_ahead(const job *j, const float *dyn, int64_t n, int64_t blk) {
    const int64_t next = blk + 2 - j->nblocks;
    const float *ahead = next < 0                                     ? dyn + (blk + 2) * NB
                         : n + 1 < j->p->n && next * NB < j->P ? dyn + j->p->k * j->P + next * NB
                                                                      : NULL;
    if (ahead)
        for (int64_t k = 0; k < j->p->k; k++) tau_prefetch_l2(ahead + k * j->P, 1);
}

/* With AVX-512, dx of image n's blocks [b0, b1) for one panel of up to 8 channels, when every
 * block is 16 pixels of one output row (ow a multiple of NB) and a dx row is 2 ow floats (so the
 * zeros after a row are whole rows, a multiple of 32 floats): one loop over the blocks, with no
 * per-block calls or divisions (the blocks one by one through panel_spread, with their segments
 * and masked clearing, measured 7 points of sgemm's rate slower on res20 16->32 1x1 s2 in
 * bench_conv).
 *
 * The loop is software-pipelined: a block's results wait in registers (q) and are written out
 * one channel after each eighth of the next block's multiply-adds. Written all at once after
 * their own block, the 32 stores a block makes (4 lines of 8 channels) did not overlap the
 * multiply-adds: 69% of sgemm's rate with data in cache against 74% pipelined, and 71% against
 * 77% in bench_conv on 2 threads (res20 16->32 1x1 s2, medians of three 5-round runs). GCC must
 * not make a memset call of the clearing loop: the call spills the registers. */
#define A8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define F8(i) c##i = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), bv, c##i);
#define Q8(i) __m512 q##i = z;
/* the previous block's channel i: its values spread out with zeros between, then the rows
 * below when it ended an output row */
#define WRITE8(i)                                                                                         \
    if (i < rows) {                                                                                       \
        float *o = out + i * hw;                                                                          \
        _mm512_storeu_ps(o, _mm512_permutex2var_ps(q##i, lo_idx, z));                                     \
        _mm512_storeu_ps(o + 16, _mm512_permutex2var_ps(q##i, hi_idx, z));                               \
        for (int64_t f = 0; f < zeros; f += 16) _mm512_storeu_ps(o + 32 + f, z);                         \
    }
/* the next eighth of the depth, then the previous block's channel i */
#define STEP8(i)                                                                                          \
    for (const int64_t de = K * (i + 1) / 8; d < de; d++, a += 8, b += P) {                             \
        const __m512 bv = _mm512_loadu_ps(b);                                                             \
        F8(0) F8(1) F8(2) F8(3) F8(4) F8(5) F8(6) F8(7)                                                   \
    }                                                                                                     \
    if (out) { WRITE8(i) }
#define START8(i) __m512 c##i = z;
#define KEEP8(i) q##i = c##i;
__attribute__((target("avx512f,avx2,fma"), optimize("no-tree-loop-distribute-patterns"))) static void
dx_rows5(const job *j, int rows, const float *wp, const float *dyn, int64_t n, float *plane, int64_t b0,
         int64_t b1, int fetch) {
    const tau_conv2d_params *p = j->p;
    const int64_t hw = p->h * p->w, K = p->k, P = j->P, per_row = j->ow / NB;
    const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
    const __m512i hi_idx = _mm512_setr_epi32(8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15, 16);
    const __m512 z = _mm512_setzero_ps();
    int64_t oy = b0 / per_row, ob = b0 % per_row;
    float *out = NULL;  /* where the previous block's results go (none yet) */
    int64_t zeros = 0;  /* and the zeros after them */
    A8(Q8)
    for (int64_t blk = b0; blk < b1; blk++) {
        if (fetch) fetch_dy_ahead(j, dyn, n, blk);
        A8(START8)
        const float *a = wp, *b = dyn + blk * NB;
        int64_t d = 0;
        A8(STEP8)
        A8(KEEP8)
        out = plane + oy * p->stride_h * p->w + 2 * ob * NB;
        zeros = ++ob == per_row ? rows_below(j, oy) * p->w : 0;
        if (ob == per_row) {
            ob = 0;
            oy++;
        }
    }
    if (out) { A8(WRITE8) }
}

/* Items are (image, block) pairs; each image's run of them goes panel by panel (a panel's
 * planes of dx written in sequence), dy of the run staying in cache between panels. */
AVX2 static void dx_range(void *ctx, int64_t b, int64_t e) {
    const job *j = ctx;
    const tau_conv2d_params *p = j->p;
    float g[MR5 * NB] __attribute__((aligned(64)));
    const int64_t mr = j->mr;
    segment s[NB];
    for (int64_t it = b; it < e && !tau_interrupted;) {
        const int64_t n = it / j->nblocks, b0 = it % j->nblocks, b1 = min64(j->nblocks, b0 + e - it);
        const float *dyn = j->dy + n * p->k * j->P;
        float *dxn = j->dx + n * p->c * p->h * p->w;
        for (int64_t c0 = 0, q = 0; c0 < p->c; c0 += mr, q++) {
            const int rows = (int)min64(mr, p->c - c0);
            if (j->rows5) {
                dx_rows5(j, rows, j->wp + q * p->k * mr, dyn, n, dxn + c0 * p->h * p->w, b0, b1, q == 0);
                continue;
            }
            for (int64_t blk = b0; blk < b1; blk++) {
                const int64_t p0 = blk * NB, count = min64(NB, j->P - p0);
                const int ns = block_segments(j, p0, count, s);
                float *plane = dxn + c0 * p->h * p->w;
                if (q == 0) fetch_dy_ahead(j, dyn, n, blk);
                if (ns == 1 && count == NB && 2 * (s[0].ox + NB) <= p->w) {
                    /* the common block: written interleaved straight from the registers, and
                     * when it ends its output row (then also the row of dx: 2 ow = w), the rows
                     * below it that no output reads, contiguous with it */
                    const int last = s[0].ox + NB == j->ow;
                    if (!panel_spread(j, rows, j->wp + q * p->k * mr, dyn + p0, j->P, p->k,
                                      plane + s[0].oy * p->stride_h * p->w + 2 * s[0].ox, p->h * p->w,
                                      last ? rows_below(j, s[0].oy) * p->w : 0) && last)
                        for (int i = 0; i < rows; i++) finish_row(j, plane + i * p->h * p->w, s[0].oy);
                    continue;
                }
                panel(j, rows, j->wp + q * p->k * mr, dyn + p0, NULL, j->P, p->k, g, NB, count, NULL);
                for (int i = 0; i < rows; i++) scatter_block(j, plane + i * p->h * p->w, g + i * NB, s, ns);
            }
        }
        it += b1 - b0;
    }
}

#else
static void forward_parts(void *ctx, int64_t b, int64_t e) { (void)ctx; (void)b; (void)e; }
static void dx_range(void *ctx, int64_t b, int64_t e) { (void)ctx; (void)b; (void)e; }
#endif

int tau__conv_implicit_wanted(const tau_conv2d_params *p, int which) {
    if (tau__cpu() < TAU_CPU_AVX2 || p->groups != 1 || p->dil_h != 1 || p->dil_w != 1 || p->stride_w != 2 || p->n < 1) return 0;
    if (p->w > (1 << 28)) return 0; /* lane arithmetic is 32-bit */
    if (which == 0) return 1;
    /* the weight gradient of a strided 1x1 layer measured faster through its column matrix
     * and sgemm (bench_conv, res20 16->32 1x1 s2; register blocks with the pixels along the
     * lanes were tried, AVX2 and AVX-512) */
    return which == 1 && p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0;
}

static size_t table_bytes(const job *j) { return (size_t)(j->J + j->nfetch) * sizeof *j->off + (size_t)j->hp; }

/* The geometry, and for split (the passes that read x) the half-row layout and every column
 * matrix row's offset in it. */
static int setup(job *j, const tau_conv2d_params *p, int64_t oh, int64_t ow, int split) {
    j->p = p;
    j->wide = tau__cpu() >= TAU_CPU_AVX512;
    j->mr = j->wide ? MR5 : MR;
    j->oh = oh;
    j->ow = ow;
    j->P = oh * ow;
    j->nblocks = (j->P + NB - 1) / NB;
    j->kk = p->kh * p->kw;
    j->gather = j->wide && j->kk == 1 && p->pad_h == 0 && p->pad_w == 0;
    j->J = p->c * j->kk;
    if (!split) return TAU_OK;
    j->hp = p->h + 2 * p->pad_h;
    j->wq = (p->w + 2 * p->pad_w + 1) / 2;
    j->rowstep = p->stride_h * 2 * j->wq;
    /* a cache line more per channel: channels a multiple of 4 KB apart would all fall in one
     * set of the L1 cache, and a block reads a row of each (measured: loads stalled) */
    j->cs = j->hp * 2 * j->wq + 16;
    j->split_floats = p->c * j->cs + 8;
    j->nfetch = 0;
    for (int64_t iy = 0; iy < p->h; iy++) j->nfetch += reads_row(j, iy + p->pad_h);
    j->nfetch *= p->c;
    j->off = tau_alloc(table_bytes(j));
    if (!j->off) return tau_fail("conv2d: out of memory for %lld row offsets", (long long)j->J);
    j->fetch = j->off + j->J;
    j->used = (unsigned char *)(j->fetch + j->nfetch);
    for (int64_t r = 0; r < j->J; r++) {
        const int64_t c = r / j->kk, ky = r % j->kk / p->kw, kx = r % p->kw;
        j->off[r] = c * j->cs + (ky * 2 + kx % 2) * j->wq + kx / 2;
    }
    for (int64_t iyp = 0; iyp < j->hp; iyp++) j->used[iyp] = (unsigned char)reads_row(j, iyp);
    for (int64_t c = 0, f = 0; c < p->c; c++)
        for (int64_t iy = 0; iy < p->h; iy++)
            if (j->used[iy + p->pad_h]) j->fetch[f++] = (c * p->h + iy) * p->w;
    return TAU_OK;
}

/* Scratch of part_floats for each of up to `most` parts (one per thread), run by fn. */
static int run_parts(job *j, int64_t most, int64_t part_floats, tau_range_fn fn) {
    j->parts = min64(tau_get_num_threads(), most);
    if (j->parts < 1) j->parts = 1;
    j->part_floats = part_floats;
    const size_t bytes = (size_t)(j->parts * part_floats) * sizeof(float);
    j->scratch = tau_alloc(bytes);
    if (!j->scratch) return tau_fail("conv2d: out of memory for %zu bytes of scratch", bytes);
    if (j->parts > 1) tau_parallel_for(j->parts, 1, fn, j);
    else fn(j, 0, 1);
    return TAU_OK;
}

static int finish(job *j, int rc) {
    tau_free(j->scratch, (size_t)(j->parts * j->part_floats) * sizeof(float));
    if (j->off) tau_free(j->off, table_bytes(j));
    if (rc == TAU_OK && tau_interrupted) return tau_fail("interrupted");
    return rc;
}

/* Items of one image per chunk at least: enough multiply-adds to outweigh waking a thread. */
static int64_t grain(const job *j) { return j->nblocks; }

int tau__conv_implicit_forward(const float *x, const float *w, const float *b, float *y,
                               const tau_conv2d_params *p, int64_t oh, int64_t ow) {
    job j = {0};
    if (setup(&j, p, oh, ow, 1) != TAU_OK) return TAU_ERR;
    j.x = x;
    j.bias = b;
    j.y = y;
    const int64_t mr = j.mr, panels = (p->k + mr - 1) / mr;
    const size_t wn = (size_t)(panels * j.J * mr);
    float *wp = tau_calloc(wn * sizeof(float));
    if (!wp) return finish(&j, tau_fail("conv2d: out of memory for packed weights"));
    for (int64_t k = 0; k < p->k; k++)
        for (int64_t r = 0; r < j.J; r++) wp[(k / mr * j.J + r) * mr + k % mr] = w[k * j.J + r];
    j.wp = wp;
    int rc = run_parts(&j, p->n * j.nblocks, j.split_floats + group_blocks(&j) * j.J * NB + 8, forward_parts);
    tau_free(wp, wn * sizeof(float));
    return finish(&j, rc);
}

int tau__conv_implicit_dx(const float *w, const float *dy, float *dx, const tau_conv2d_params *p,
                          int64_t oh, int64_t ow) {
    job j = {0};
    setup(&j, p, oh, ow, 0);
    /* 8 planes of dx at a time, not 16: the planes of a small image are a multiple of 4 KB
     * apart, and 16 streams of stores to one cache set measured slower (57 against 49 GFLOP/s,
     * res20 16->32 1x1 s2) */
    if (j.wide) j.mr = 8;
    j.rows5 = j.wide && j.ow % NB == 0 && 2 * j.ow == p->w;
    j.dy = dy;
    j.dx = dx;
    const int64_t mr = j.mr, panels = (p->c + mr - 1) / mr;
    const size_t wn = (size_t)(panels * p->k * mr);
    float *wp = tau_calloc(wn * sizeof(float));
    if (!wp) return tau_fail("conv2d: out of memory for packed weights");
    for (int64_t k = 0; k < p->k; k++)
        for (int64_t c = 0; c < p->c; c++) wp[(c / mr * p->k + k) * mr + c % mr] = w[k * p->c + c];
    j.wp = wp;
    tau_parallel_for(p->n * j.nblocks, grain(&j), dx_range, &j);
    tau_free(wp, wn * sizeof(float));
    return finish(&j, TAU_OK);
}
