#include "base/alloc.h"
#include "data/batch.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN TAU_GOLDEN64
#define fmix64 tau_mix64

uint64_t tau_seed_mix(uint64_t seed, uint64_t k) {
    return fmix64(fmix64(seed + GOLDEN) + GOLDEN * (k + 1));
}

/* ---- batches -------------------------------------------------------------------------------- */

typedef struct {
    const tau_dataset *ds;
    const int64_t *idx;
    int pad, flip;
    uint64_t seed;
    const float *lut;       /* (C, 256): byte value -> normalised float, per channel */
    float *x;
    int32_t *y;
} batch_ctx;

/* The cheap multiply-shift reduction is biased by at most range/2^32, far below anything an
 * augmentation could notice; the permutation below uses the exact method instead. */
static int64_t small_uniform(uint64_t r, int64_t range) {
    return (int64_t)(((r >> 32) * (uint64_t)range) >> 32);
}

static void batch_range(void *arg, int64_t begin, int64_t end) {
    const batch_ctx *ctx = arg;
    const tau_dataset *ds = ctx->ds;
    const int64_t C = ds->c, H = ds->h, W = ds->w, plane = H * W;
    for (int64_t b = begin; b < end; b++) {
        const uint8_t *src = ds->pixels + ctx->idx[b] * C * plane;
        float *dst = ctx->x + b * C * plane;
        if (ctx->y) ctx->y[b] = ds->labels[ctx->idx[b]];
        int64_t oy = 0, ox = 0;
        int flip = 0;
        uint64_t r = tau_seed_mix(ctx->seed, (uint64_t)b);
        if (ctx->pad > 0) {
            oy = small_uniform(fmix64(r + 1 * GOLDEN), 2 * (int64_t)ctx->pad + 1) - ctx->pad;
            ox = small_uniform(fmix64(r + 2 * GOLDEN), 2 * (int64_t)ctx->pad + 1) - ctx->pad;
        }
        if (ctx->flip) flip = (int)(fmix64(r + 3 * GOLDEN) >> 63);
        for (int64_t ch = 0; ch < C; ch++) {
            const float *lut = ctx->lut + ch * 256;
            const uint8_t *s = src + ch * plane;
            float *d = dst + ch * plane;
            for (int64_t i = 0; i < H; i++) {
                int64_t si = i + oy;
                float *drow = d + i * W;
                if (si < 0 || si >= H) {
                    for (int64_t j = 0; j < W; j++) drow[j] = lut[0];
                    continue;
                }
                const uint8_t *srow = s + si * W;
                if (!flip && ox == 0) {
                    for (int64_t j = 0; j < W; j++) drow[j] = lut[srow[j]];
                    continue;
                }
                for (int64_t j = 0; j < W; j++) {
                    /* output column j shows cropped column (flip ? W-1-j : j) */
                    int64_t sj = (flip ? W - 1 - j : j) + ox;
                    drow[j] = sj >= 0 && sj < W ? lut[srow[sj]] : lut[0];
                }
            }
        }
    }
}

int tau_batch_make(const tau_dataset *ds, const int64_t *idx, int64_t b,
                   const tau_batch_opts *opts, float *x, int32_t *y) {
    static const tau_batch_opts none = {0};
    if (!opts) opts = &none;
    if (!ds || !ds->pixels) return tau_fail("batch: data set is not loaded");
    if (b < 0) return tau_fail("batch: negative batch size %lld", (long long)b);
    if (b > 0 && (!idx || !x)) return tau_fail("batch: missing index or output buffer");
    for (int64_t i = 0; i < b; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return tau_fail("batch: index %lld at position %lld is out of range [0, %lld)",
                            (long long)idx[i], (long long)i, (long long)ds->n);
    if (opts->pad < 0 || opts->pad > (1 << 24))
        return tau_fail("batch: crop padding must be 0..%d, got %d", 1 << 24, opts->pad);
    if (opts->std && !opts->mean)
        return tau_fail("batch: std given without mean");
    const size_t lut_bytes = (size_t)ds->c * 256 * sizeof(float);
    float *lut = tau_alloc(lut_bytes);
    if (!lut) return tau_fail("out of memory");
    for (int64_t ch = 0; ch < ds->c; ch++) {
        float m = opts->mean ? opts->mean[ch] : 0.0f;
        float s = opts->std ? opts->std[ch] : 1.0f;
        if (!(s > 0.0f) || !isfinite(s) || !isfinite(m)) {
            tau_free(lut, lut_bytes);
            if (!isfinite(m)) return tau_fail("batch: mean[%lld] is not finite", (long long)ch + 1);
            return tau_fail("batch: std[%lld] must be finite and > 0, got %g", (long long)ch + 1,
                            (double)s);
        }
        for (int v = 0; v < 256; v++) lut[ch * 256 + v] = ((float)v / 255.0f - m) / s;
    }
    batch_ctx ctx = {ds, idx, opts->pad, opts->flip != 0, opts->seed, lut, x, y};
    int64_t per = ds->c * ds->h * ds->w;
    tau_parallel_for(b, per >= 4096 ? 4 : 16, batch_range, &ctx);
    tau_free(lut, lut_bytes);
    return TAU_OK;
}

/* ---- permutations -------------------------------------------------------------------------- */

typedef struct { uint64_t s[4]; } xoshiro;

static void xo_seed(xoshiro *g, uint64_t seed) {
    uint64_t z = seed;
    for (int i = 0; i < 4; i++) {
        z += GOLDEN;
        g->s[i] = fmix64(z);
    }
}

static uint64_t xo_next(xoshiro *g) { return tau_xoshiro_next(g->s); }

/* Exactly uniform in [0, range): multiply-shift with rejection of the short first stripe. */
static uint64_t xo_below(xoshiro *g, uint64_t range) {
    unsigned __int128 m = (unsigned __int128)xo_next(g) * range;
    uint64_t lo = (uint64_t)m;
    if (lo < range) {
        uint64_t floor = (0 - range) % range;
        while (lo < floor) {
            m = (unsigned __int128)xo_next(g) * range;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int tau_permutation(int64_t n, uint64_t seed, int64_t *out) {
    if (n < 0) return tau_fail("permutation: negative length %lld", (long long)n);
    if (n > 0 && !out) return tau_fail("permutation: missing output buffer");
    for (int64_t i = 0; i < n; i++) out[i] = i;
    xoshiro g;
    xo_seed(&g, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)xo_below(&g, (uint64_t)i + 1);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    return TAU_OK;
}
