/* Scaled dot-product attention over (B, H, T, D) queries and (B, H, S, D) keys and values.
 *
 * Heads are processed a chunk at a time in three phases: the score and output GEMMs go to
 * cblas_sgemm from this thread (threaded OpenBLAS), and the row-wise softmax, masking and
 * dropout in between run in our pool; the two pools take turns. Only the probabilities are
 * kept for the backward: the dropout keep-mask is a hash of (seed, position), re-derived when
 * needed, so no mask is stored. */
#include "nn.h"
#include "alloc.h"
#include "error.h"
#include "parallel.h"
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* Scratch per chunk of heads, in floats: bounds memory for long sequences and keeps a chunk's
 * score matrices in cache between the phases. */
#define CHUNK_FLOATS ((int64_t)1 << 20)

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

/* dst[j] = src[j] / (1 - rate) where position base + j is kept, else 0; dst may be src. */
static void apply_dropout(const float *src, float *dst, int64_t n, uint64_t base,
                          const tau_attention_params *p) {
    const uint32_t threshold = (uint32_t)lrint((double)p->dropout * 65536.0);
    const float inv_keep = 1.0f / (1.0f - p->dropout);
    uint64_t bits = mix(p->seed, base >> 2);
    for (int64_t j = 0; j < n; j++) {
        uint64_t pos = base + (uint64_t)j;
        unsigned lane = (unsigned)(pos & 3);
        if (lane == 0 && j > 0) bits = mix(p->seed, pos >> 2);
        uint32_t r = (uint32_t)(bits >> (16 * lane)) & 0xffffu;
        dst[j] = r >= threshold ? src[j] * inv_keep : 0.0f;
    }
}

typedef struct {
    const tau_attention_params *p;
    const float *mask;
    int64_t head0;               /* first head (b * H + h) of the chunk */
    float *probs;                /* probabilities of the chunk */
    float *drop;                 /* dropped probabilities of the chunk, or NULL */
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

/* Rows of the chunk: mask, softmax in place, dropout copy. */
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
            double sum = 0;
            for (int64_t j = 0; j < n; j++) { float v = expf(row[j] - mx); row[j] = v; sum += v; }
            scale_row(row, (float)(1.0 / sum), n);
            for (int64_t j = n; j < s; j++) row[j] = 0;
        }
        if (w->drop) apply_dropout(row, w->drop + r * s, s, (uint64_t)((w->head0 * p->t + r) * s), p);
    }
}

/* q is (B, H, T, D), k and v are (B, H, S, D), mask is (mask_b, mask_h, T, S) or NULL;
 * out is (B, H, T, D), probs is (B, H, T, S). */
int tau_attention_forward(const float *q, const float *k, const float *v, const float *mask,
                          float *out, float *probs, const tau_attention_params *p) {
    if (att_check(p, mask != NULL) != TAU_OK) return TAU_ERR;
    const int64_t heads = p->b * p->h, t = p->t, s = p->s, d = p->d, ts = t * s;
    if (heads == 0) return TAU_OK;
    if (!q || !k || !v || !out || !probs) return tau_fail("attention: missing q, k, v, out or probs array");
    const float scale = att_scale(p);
    const int dropping = p->dropout > 0;
    int64_t chunk = CHUNK_FLOATS / ts;
    if (chunk < 1) chunk = 1;
    if (chunk > heads) chunk = heads;
    size_t dbytes = dropping ? (size_t)(chunk * ts) * sizeof(float) : 0;
    float *drop = dropping ? tau_alloc(dbytes) : NULL;
    if (dropping && !drop) return tau_fail("attention: out of memory for %lld dropout probabilities", (long long)(chunk * ts));
    for (int64_t h0 = 0; h0 < heads; h0 += chunk) {
        if (tau_interrupted) { tau_free(drop, dbytes); return tau_fail("interrupted"); }
        int64_t cnt = heads - h0 < chunk ? heads - h0 : chunk;
        for (int64_t i = 0; i < cnt; i++) {
            int64_t hd = h0 + i;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)s, (int)d, scale,
                        q + hd * t * d, (int)d, k + hd * s * d, (int)d, 0.0f, probs + hd * ts, (int)s);
        }
        attwork w = {p, mask, h0, probs + h0 * ts, drop, NULL};
        tau_parallel_for(cnt * t, (8192 + s - 1) / s, softmax_rows, &w);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t hd = h0 + i;
            const float *pa = dropping ? drop + i * ts : probs + hd * ts;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t, (int)d, (int)s, 1.0f,
                        pa, (int)s, v + hd * s * d, (int)d, 0.0f, out + hd * t * d, (int)d);
        }
    }
    tau_free(drop, dbytes);
    return TAU_OK;
}

/* The dropped probabilities of a chunk, for dv. */
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
        double dot = 0;
        for (int64_t j = 0; j < s; j++) dot += (double)g[j] * pr[j];
        float fd = (float)dot;
        for (int64_t j = 0; j < s; j++) g[j] = pr[j] * (g[j] - fd);
    }
}

/* q, dq are (B, H, T, D); k, v, dk, dv are (B, H, S, D); probs (B, H, T, S) from the forward;
 * dout is (B, H, T, D). */
int tau_attention_backward(const float *q, const float *k, const float *v, const float *probs,
                           const float *dout, float *dq, float *dk, float *dv,
                           const tau_attention_params *p) {
    if (att_check(p, 0) != TAU_OK) return TAU_ERR;
    const int64_t heads = p->b * p->h, t = p->t, s = p->s, d = p->d, ts = t * s;
    if (heads == 0 || (!dq && !dk && !dv)) return TAU_OK;
    if (!probs || !dout || ((dq || dk) && !v) || (dq && !k) || (dk && !q))
        return tau_fail("attention: backward is missing q, k, v, probs or dout");
    const float scale = att_scale(p);
    const int dropping = p->dropout > 0;
    int64_t chunk = CHUNK_FLOATS / ts;
    if (chunk < 1) chunk = 1;
    if (chunk > heads) chunk = heads;
    const size_t cbytes = (size_t)(chunk * ts) * sizeof(float);
    const int need_dp = dq || dk, need_drop = dropping && dv;
    float *dp = need_dp ? tau_alloc(cbytes) : NULL;
    float *drop = need_drop ? tau_alloc(cbytes) : NULL;
    if ((need_dp && !dp) || (need_drop && !drop)) {
        tau_free(dp, cbytes);
        tau_free(drop, cbytes);
        return tau_fail("attention: out of memory for %lld backward scratch values", (long long)(chunk * ts));
    }
    for (int64_t h0 = 0; h0 < heads; h0 += chunk) {
        if (tau_interrupted) { tau_free(dp, cbytes); tau_free(drop, cbytes); return tau_fail("interrupted"); }
        int64_t cnt = heads - h0 < chunk ? heads - h0 : chunk;
        attwork w = {p, NULL, h0, (float *)probs + h0 * ts, drop, dp};
        if (dv) {
            if (dropping) tau_parallel_for(cnt * t, (8192 + s - 1) / s, dropped_rows, &w);
            for (int64_t i = 0; i < cnt; i++) {
                int64_t hd = h0 + i;
                const float *pa = dropping ? drop + i * ts : probs + hd * ts;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)s, (int)d, (int)t, 1.0f,
                            pa, (int)s, dout + hd * t * d, (int)d, 0.0f, dv + hd * s * d, (int)d);
            }
        }
        if (!need_dp) continue;
        for (int64_t i = 0; i < cnt; i++) {
            int64_t hd = h0 + i;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)s, (int)d, 1.0f,
                        dout + hd * t * d, (int)d, v + hd * s * d, (int)d, 0.0f, dp + i * ts, (int)s);
        }
        tau_parallel_for(cnt * t, (8192 + s - 1) / s, softmax_grad_rows, &w);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t hd = h0 + i;
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t, (int)d, (int)s, scale,
                            dp + i * ts, (int)s, k + hd * s * d, (int)d, 0.0f, dq + hd * t * d, (int)d);
            if (dk)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)s, (int)d, (int)t, scale,
                            dp + i * ts, (int)s, q + hd * t * d, (int)d, 0.0f, dk + hd * s * d, (int)d);
        }
    }
    tau_free(dp, cbytes);
    tau_free(drop, cbytes);
    return TAU_OK;
}
