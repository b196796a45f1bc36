/* Scaled dot-product attention over (B, H, T, D) queries and (B, H, S, D) keys and values.
 *
 * The heads are split into one contiguous run per thread, and each thread takes its heads
 * through every step (score GEMM, mask and softmax, dropout, output GEMM) with its own T x S
 * scratch: heads are small products, so splitting each product, or synchronising between the
 * steps, would cost more than the work. A single head runs on this thread, where tau__gemm may
 * split its (then large) products. Only the probabilities are kept for the backward: the
 * dropout keep-mask is a hash of (seed, position), re-derived when needed, so no mask is
 * stored. */
#include "nn/nn.h"
#include "base/alloc.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/gemm.h"
#include <limits.h>
#include <math.h>
#include <string.h>

#include "base/vmath.h"

static int att_check(const tau_attention_params *p, int has_mask) {
    if (!p) return tau_fail("attention: missing parameters");
    if (p->b < 0 || p->h < 1 || p->t < 1 || p->s < 1 || p->d < 1)
        return tau_fail("attention: invalid shape, q (%lld, %lld, %lld, %lld) and k, v (%lld, %lld, %lld, %lld)",
                        (long long)p->b, (long long)p->h, (long long)p->t, (long long)p->d,
                        (long long)p->b, (long long)p->h, (long long)p->s, (long long)p->d);
    if (p->t > INT_MAX || p->s > INT_MAX || p->d > INT_MAX)
        return tau_fail("attention: sequence length or head size too large");
    if (has_mask && ((p->mask_b != 1 && p->mask_b != p->b) || (p->mask_h != 1 && p->mask_h != p->h)))
        return tau_fail("attention: mask (%lld, %lld, %lld, %lld) does not broadcast to (%lld, %lld, %lld, %lld)",
                        (long long)p->mask_b, (long long)p->mask_h, (long long)p->t, (long long)p->s,
                        (long long)p->b, (long long)p->h, (long long)p->t, (long long)p->s);
    if (!(p->dropout >= 0 && p->dropout < 1))
        return tau_fail("attention: dropout must be in [0, 1), got %g", (double)p->dropout);
    if (!isfinite(p->scale)) return tau_fail("attention: scale must be finite, got %g", (double)p->scale);
    return TAU_OK;
}

static float att_scale(const tau_attention_params *p) {
    return p->scale != 0 ? p->scale : (float)(1.0 / sqrt((double)p->d));
}

/* Keep-mask of dropout: a stateless hash of the seed and the probability's position, so the
 * same entries drop in the backward and for any thread count. One 64-bit hash gives 16 random
 * bits to each of four consecutive positions (the rate is resolved to 1/65536). */
static uint64_t mix(uint64_t seed, uint64_t block) {
    uint64_t z = seed + (block + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* src * scale if the lane's 16 bits reach the threshold, else 0 (a NaN or infinity dropped
 * too), without a branch: a tenth of the positions drop at random, and a branch on them
 * mispredicted that often. */
static inline float keep_or_zero(float src, float scale, uint64_t bits, unsigned lane, uint32_t threshold) {
    const uint32_t r = (uint32_t)(bits >> (16 * lane)) & 0xffffu;
    union { float f; uint32_t u; } v = {src * scale};
    v.u &= -(uint32_t)(r >= threshold);
    return v.f;
}

/* dst[j] = src[j] / (1 - rate) where position base + j is kept, else 0; dst may be src. */
static void apply_dropout(const float *src, float *dst, int64_t n, uint64_t base,
                          const tau_attention_params *p) {
    const uint32_t threshold = (uint32_t)lrint((double)p->dropout * 65536.0);
    const float inv_keep = 1.0f / (1.0f - p->dropout);
    int64_t j = 0;
    /* up to the next group of four positions, then a hash per group */
    for (uint64_t bits = mix(p->seed, base >> 2); j < n && ((base + (uint64_t)j) & 3); j++)
        dst[j] = keep_or_zero(src[j], inv_keep, bits, (unsigned)((base + (uint64_t)j) & 3), threshold);
    for (; j + 4 <= n; j += 4) {
        const uint64_t bits = mix(p->seed, (base + (uint64_t)j) >> 2);
        dst[j] = keep_or_zero(src[j], inv_keep, bits, 0, threshold);
        dst[j + 1] = keep_or_zero(src[j + 1], inv_keep, bits, 1, threshold);
        dst[j + 2] = keep_or_zero(src[j + 2], inv_keep, bits, 2, threshold);
        dst[j + 3] = keep_or_zero(src[j + 3], inv_keep, bits, 3, threshold);
    }
    if (j < n) {
        const uint64_t bits = mix(p->seed, (base + (uint64_t)j) >> 2);
        for (unsigned lane = 0; j < n; j++, lane++) dst[j] = keep_or_zero(src[j], inv_keep, bits, lane, threshold);
    }
}

typedef struct {
    const tau_attention_params *p;
    const float *mask;
    int64_t head0;               /* head (b * H + h) of row 0 */
    float *probs;                /* probabilities from row 0 on */
    float *drop;                 /* dropped probabilities, or NULL */
    float *dp;                   /* backward: gradient of the probabilities, becomes d(scores) */
} attwork;

/* Row helpers unrolled so that -O2 vectorises them (its cost model skips plain loops whose
 * trip count is unknown). */
static void add_row(float *restrict d, const float *restrict m, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        d[j] += m[j]; d[j + 1] += m[j + 1]; d[j + 2] += m[j + 2]; d[j + 3] += m[j + 3];
        d[j + 4] += m[j + 4]; d[j + 5] += m[j + 5]; d[j + 6] += m[j + 6]; d[j + 7] += m[j + 7];
    }
    for (; j < n; j++) d[j] += m[j];
}

static float max_row(const float *restrict d, int64_t n) {
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) m[l] = d[j + l] > m[l] ? d[j + l] : m[l];
    for (; j < n; j++) m[0] = d[j] > m[0] ? d[j] : m[0];
    float r = m[0];
    for (int l = 1; l < 8; l++) r = m[l] > r ? m[l] : r;
    return r;
}

static void scale_row(float *restrict d, float a, int64_t n) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        d[j] *= a; d[j + 1] *= a; d[j + 2] *= a; d[j + 3] *= a;
        d[j + 4] *= a; d[j + 5] *= a; d[j + 6] *= a; d[j + 7] *= a;
    }
    for (; j < n; j++) d[j] *= a;
}

static const float *mask_rows(const tau_attention_params *p, const float *mask, int64_t head) {
    if (!mask) return NULL;
    int64_t b = head / p->h, h = head % p->h;
    int64_t mb = p->mask_b == 1 ? 0 : b, mh = p->mask_h == 1 ? 0 : h;
    return mask + (mb * p->mask_h + mh) * p->t * p->s;
}

#ifdef HAVE_X86_DISPATCH
__attribute__((target("avx2,fma"))) static double exp_row_avx2(float *row, float mx, int64_t n) {
    const __m256 m = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = tau_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), m));
        _mm256_storeu_ps(row + j, v);
        acc = _mm256_add_ps(acc, v);
    }
    double sum = (double)tau_hsum8(acc);
    for (; j < n; j++) { row[j] = expf(row[j] - mx); sum += row[j]; }
    return sum;
}

/* g[j] = p[j] (g[j] - sum_k g[k] p[k]) for j < n. */
__attribute__((target("avx2,fma"))) static void softmax_grad_avx2(const float *pr, float *g, int64_t n) {
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(g + j), _mm256_loadu_ps(pr + j), acc);
    double dot = (double)tau_hsum8(acc);
    for (; j < n; j++) dot += (double)g[j] * pr[j];
    const float fd = (float)dot;
    const __m256 d = _mm256_set1_ps(fd);
    for (j = 0; j + 8 <= n; j += 8) {
        const __m256 pv = _mm256_loadu_ps(pr + j);
        _mm256_storeu_ps(g + j, _mm256_mul_ps(pv, _mm256_sub_ps(_mm256_loadu_ps(g + j), d)));
    }
    for (; j < n; j++) g[j] = pr[j] * (g[j] - fd);
}
#endif

/* exp(row[j] - mx) in place for j < n, returning their sum. */
static double exp_row(float *row, float mx, int64_t n) {
#ifdef HAVE_X86_DISPATCH
    if (tau__cpu() >= TAU_CPU_AVX2) return exp_row_avx2(row, mx, n);
#endif
    double sum = 0;
    for (int64_t j = 0; j < n; j++) { float v = expf(row[j] - mx); row[j] = v; sum += v; }
    return sum;
}

static void softmax_grad(const float *pr, float *g, int64_t n) {
#ifdef HAVE_X86_DISPATCH
    if (tau__cpu() >= TAU_CPU_AVX2) { softmax_grad_avx2(pr, g, n); return; }
#endif
    double dot = 0;
    for (int64_t j = 0; j < n; j++) dot += (double)g[j] * pr[j];
    const float fd = (float)dot;
    for (int64_t j = 0; j < n; j++) g[j] = pr[j] * (g[j] - fd);
}

/* Rows of a head: mask, softmax in place, dropout copy. */
static void softmax_rows(void *ctx, int64_t b, int64_t e) {
    const attwork *w = ctx;
    const tau_attention_params *p = w->p;
    const int64_t s = p->s;
    for (int64_t r = b; r < e; r++) {
        int64_t head = w->head0 + r / p->t, i = r % p->t;
        float *row = w->probs + r * s;
        const float *m = mask_rows(p, w->mask, head);
        int64_t n = p->causal ? (i + 1 < s ? i + 1 : s) : s;  /* keys not removed by causality */
        if (m) add_row(row, m + i * s, n);
        float mx = max_row(row, n);
        if (mx == -INFINITY) {
            /* Every key removed: no distribution to take, the row attends to nothing. */
            memset(row, 0, (size_t)s * sizeof *row);
        } else {
            scale_row(row, (float)(1.0 / exp_row(row, mx, n)), n);
            for (int64_t j = n; j < s; j++) row[j] = 0;
        }
        if (w->drop) apply_dropout(row, w->drop + r * s, s, (uint64_t)((w->head0 * p->t + r) * s), p);
    }
}

/* A run of heads per part; part i owns T x S floats of scratch per buffer it needs. */
typedef struct {
    const tau_attention_params *p;
    const float *q, *k, *v, *mask, *dout;
    float *out, *probs, *dq, *dk, *dv;
    const float *cprobs;
    float *scratch;
    int64_t parts;
    float scale;
} headwork;

static void head_run(const headwork *w, int64_t part, int64_t *h0, int64_t *h1) {
    int64_t heads = w->p->b * w->p->h;
    *h0 = heads * part / w->parts;
    *h1 = heads * (part + 1) / w->parts;
}

static void forward_heads(void *ctx, int64_t b, int64_t e) {
    const headwork *w = ctx;
    const tau_attention_params *p = w->p;
    const int64_t t = p->t, s = p->s, d = p->d, ts = t * s;
    for (int64_t part = b; part < e; part++) {
        int64_t h0, h1;
        head_run(w, part, &h0, &h1);
        float *drop = p->dropout > 0 ? w->scratch + part * ts : NULL;
        for (int64_t hd = h0; hd < h1 && !tau_interrupted; hd++) {
            float *pr = w->probs + hd * ts;
            tau__gemm(CblasNoTrans, CblasTrans, (int)t, (int)s, (int)d, w->scale, w->q + hd * t * d,
                      (int)d, w->k + hd * s * d, (int)d, 0.0f, pr, (int)s);
            attwork rows = {p, w->mask, hd, pr, drop, NULL};
            softmax_rows(&rows, 0, t);
            tau__gemm(CblasNoTrans, CblasNoTrans, (int)t, (int)d, (int)s, 1.0f, drop ? drop : pr,
                      (int)s, w->v + hd * s * d, (int)d, 0.0f, w->out + hd * t * d, (int)d);
        }
    }
}

/* Parts: one per thread while there are heads for them. Allocates `buffers` T x S scratch
 * matrices per part. */
static int plan_heads(headwork *w, int buffers) {
    const tau_attention_params *p = w->p;
    int64_t heads = p->b * p->h;
    w->parts = tau_get_num_threads() < heads ? tau_get_num_threads() : heads;
    w->scratch = NULL;
    if (buffers == 0) return TAU_OK;
    w->scratch = tau_alloc((size_t)(w->parts * buffers * p->t * p->s) * sizeof(float));
    if (!w->scratch)
        return tau_fail("attention: out of memory for %lld scratch values",
                        (long long)(w->parts * buffers * p->t * p->s));
    return TAU_OK;
}

static int run_heads(headwork *w, tau_range_fn fn, int buffers) {
    if (w->parts > 1) tau_parallel_for(w->parts, 1, fn, w);
    else fn(w, 0, 1);
    tau_free(w->scratch, (size_t)(w->parts * buffers * w->p->t * w->p->s) * sizeof(float));
    if (tau_interrupted) return tau_fail("interrupted");
    return TAU_OK;
}

/* q is (B, H, T, D), k and v are (B, H, S, D), mask is (mask_b, mask_h, T, S) or NULL;
 * out is (B, H, T, D), probs is (B, H, T, S). */
int tau_attention_forward(const float *q, const float *k, const float *v, const float *mask,
                          float *out, float *probs, const tau_attention_params *p) {
    if (att_check(p, mask != NULL) != TAU_OK) return TAU_ERR;
    if (p->b * p->h == 0) return TAU_OK;
    if (!q || !k || !v || !out || !probs) return tau_fail("attention: missing q, k, v, out or probs array");
    TAU_CHECK_INTERRUPT();
    headwork w = {p, q, k, v, mask, NULL, out, probs, NULL, NULL, NULL, NULL, NULL, 0, att_scale(p)};
    const int buffers = p->dropout > 0;
    if (plan_heads(&w, buffers) != TAU_OK) return TAU_ERR;
    return run_heads(&w, forward_heads, buffers);
}

/* The dropped probabilities of a head, for dv. */
static void dropped_rows(void *ctx, int64_t b, int64_t e) {
    const attwork *w = ctx;
    const tau_attention_params *p = w->p;
    const int64_t s = p->s;
    for (int64_t r = b; r < e; r++)
        apply_dropout(w->probs + r * s, w->drop + r * s, s, (uint64_t)((w->head0 * p->t + r) * s), p);
}

/* d(scores) = P * (dP - sum_j dP_j P_j), with dP first passed back through dropout. */
static void softmax_grad_rows(void *ctx, int64_t b, int64_t e) {
    const attwork *w = ctx;
    const tau_attention_params *p = w->p;
    const int64_t s = p->s;
    for (int64_t r = b; r < e; r++) {
        const float *pr = w->probs + r * s;
        float *g = w->dp + r * s;
        if (p->dropout > 0) apply_dropout(g, g, s, (uint64_t)((w->head0 * p->t + r) * s), p);
        softmax_grad(pr, g, s);
    }
}

/* Per head: dv = Pd^T dout; dP = dout v^T, through dropout and the softmax to d(scores);
 * dq = scale d(scores) k, dk = scale d(scores)^T q. Scratch: dP, then the dropped P. */
static void backward_heads(void *ctx, int64_t b, int64_t e) {
    const headwork *w = ctx;
    const tau_attention_params *p = w->p;
    const int64_t t = p->t, s = p->s, d = p->d, ts = t * s;
    const int need_dp = w->dq || w->dk, need_drop = p->dropout > 0 && w->dv;
    const int64_t buffers = need_dp + need_drop;
    for (int64_t part = b; part < e; part++) {
        int64_t h0, h1;
        head_run(w, part, &h0, &h1);
        float *dp = need_dp ? w->scratch + part * buffers * ts : NULL;
        float *drop = need_drop ? w->scratch + (part * buffers + need_dp) * ts : NULL;
        for (int64_t hd = h0; hd < h1 && !tau_interrupted; hd++) {
            const float *pr = w->cprobs + hd * ts, *dout = w->dout + hd * t * d;
            attwork rows = {p, NULL, hd, (float *)pr, drop, dp};
            if (w->dv) {
                if (drop) dropped_rows(&rows, 0, t);
                tau__gemm(CblasTrans, CblasNoTrans, (int)s, (int)d, (int)t, 1.0f, drop ? drop : pr,
                          (int)s, dout, (int)d, 0.0f, w->dv + hd * s * d, (int)d);
            }
            if (!need_dp) continue;
            tau__gemm(CblasNoTrans, CblasTrans, (int)t, (int)s, (int)d, 1.0f, dout, (int)d,
                      w->v + hd * s * d, (int)d, 0.0f, dp, (int)s);
            softmax_grad_rows(&rows, 0, t);
            if (w->dq)
                tau__gemm(CblasNoTrans, CblasNoTrans, (int)t, (int)d, (int)s, w->scale, dp, (int)s,
                          w->k + hd * s * d, (int)d, 0.0f, w->dq + hd * t * d, (int)d);
            if (w->dk)
                tau__gemm(CblasTrans, CblasNoTrans, (int)s, (int)d, (int)t, w->scale, dp, (int)s,
                          w->q + hd * t * d, (int)d, 0.0f, w->dk + hd * s * d, (int)d);
        }
    }
}

/* q, dq are (B, H, T, D); k, v, dk, dv are (B, H, S, D); probs (B, H, T, S) from the forward;
 * dout is (B, H, T, D). */
int tau_attention_backward(const float *q, const float *k, const float *v, const float *probs,
                           const float *dout, float *dq, float *dk, float *dv,
                           const tau_attention_params *p) {
    if (att_check(p, 0) != TAU_OK) return TAU_ERR;
    if (p->b * p->h == 0 || (!dq && !dk && !dv)) return TAU_OK;
    if (!probs || !dout || ((dq || dk) && !v) || (dq && !k) || (dk && !q))
        return tau_fail("attention: backward is missing q, k, v, probs or dout");
    TAU_CHECK_INTERRUPT();
    headwork w = {p, q, k, v, NULL, dout, NULL, NULL, dq, dk, dv, probs, NULL, 0, att_scale(p)};
    const int buffers = (dq || dk) + (p->dropout > 0 && dv);
    if (plan_heads(&w, buffers) != TAU_OK) return TAU_ERR;
    return run_heads(&w, backward_heads, buffers);
}
