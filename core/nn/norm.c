/* Batch and layer normalisation. Statistics are summed in double: a channel of a batch holds
 * up to millions of values, and float sums of that length lose several digits. Work is split
 * by channel (batch norm) or row (layer norm), so results do not depend on the thread count. */
#include "nn/nn.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/vmath.h"
#include <math.h>
#include <string.h>

/* Items per pool task so that a task covers at least this many elements. */
static int64_t grain_for(int64_t elems_per_item) {
    int64_t g = 32768 / (elems_per_item > 0 ? elems_per_item : 1);
    return g < 1 ? 1 : g;
}

/* ---- batch norm --------------------------------------------------------------------------- */

typedef struct {
    const tau_batch_norm_params *p;
    const float *x, *dy, *gamma, *beta, *mean, *invstd;
    float *rm, *rv, *y, *smean, *sinvstd, *dx, *dgamma, *dbeta;
} bnwork;

static int bn_check(const tau_batch_norm_params *p) {
    if (!p) return tau_fail("batch_norm: missing parameters");
    if (p->n < 0 || p->c < 1 || p->l < 1)
        return tau_fail("batch_norm: invalid input shape (%lld, %lld, %lld)", (long long)p->n,
                        (long long)p->c, (long long)p->l);
    if (!(p->eps >= 0)) return tau_fail("batch_norm: eps must be non-negative, got %g", (double)p->eps);
    if (p->training && !(p->momentum >= 0 && p->momentum <= 1))
        return tau_fail("batch_norm: momentum must be in [0, 1], got %g", (double)p->momentum);
    return TAU_OK;
}

/* Row sums with eight float lanes (which the compiler keeps in one vector register), added
 * up in double: float partial sums over a row of an image stay accurate, and a plain double
 * accumulator would serialise every addition. */
#define LANES 8

static double sum_row(const float *x, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
    double s = 0;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) s += x[i];
    return s;
}

/* sum (x - m)^2 */
static double sqdev_row(const float *x, int64_t n, float m) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) { float d = x[i + j] - m; acc[j] += d * d; }
    double s = 0;
    for (int j = 0; j < LANES; j++) s += acc[j];
    for (; i < n; i++) { double d = x[i] - m; s += d * d; }
    return s;
}

/* sum dy and sum dy * (x - m) */
static void dot_row(const float *x, const float *dy, int64_t n, float m, double *sdy, double *sdyx) {
    float a[LANES] = {0}, b[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) { a[j] += dy[i + j]; b[j] += dy[i + j] * (x[i + j] - m); }
    double s = 0, t = 0;
    for (int j = 0; j < LANES; j++) { s += a[j]; t += b[j]; }
    for (; i < n; i++) { s += dy[i]; t += dy[i] * ((double)x[i] - m); }
    *sdy += s;
    *sdyx += t;
}

static void bn_fwd_range(void *ctx, int64_t b, int64_t e) {
    const bnwork *t = ctx;
    const tau_batch_norm_params *p = t->p;
    const int64_t cl = p->c * p->l, cnt = p->n * p->l;
    for (int64_t c = b; c < e; c++) {
        double mean, var = 0;
        if (p->training) {
            double s = 0;
            for (int64_t n = 0; n < p->n; n++) s += sum_row(t->x + n * cl + c * p->l, p->l);
            mean = s / (double)cnt;
            /* two passes: the deviation from the mean, not E[x^2] - E[x]^2, which cancels */
            for (int64_t n = 0; n < p->n; n++) var += sqdev_row(t->x + n * cl + c * p->l, p->l, (float)mean);
            var /= (double)cnt;
            if (t->rm) {
                double m = p->momentum;
                t->rm[c] = (float)((1 - m) * t->rm[c] + m * mean);
                t->rv[c] = (float)((1 - m) * t->rv[c] + m * var * (double)cnt / (double)(cnt - 1));
            }
        } else {
            mean = t->rm[c];
            var = t->rv[c];
        }
        double invstd = 1.0 / sqrt(var + (double)p->eps);
        if (t->smean) t->smean[c] = (float)mean;
        if (t->sinvstd) t->sinvstd[c] = (float)invstd;
        double g = t->gamma ? t->gamma[c] : 1.0, bt = t->beta ? t->beta[c] : 0.0;
        float a = (float)(invstd * g), sh = (float)(bt - mean * invstd * g);
        for (int64_t n = 0; n < p->n; n++) {
            const float *x = t->x + n * cl + c * p->l;
            float *y = t->y + n * cl + c * p->l;
            for (int64_t i = 0; i < p->l; i++) y[i] = x[i] * a + sh;
        }
    }
}

/* x, y are (N, C, L); gamma, beta, running stats, save_mean, save_invstd are (C). */
int tau_batch_norm_forward(const float *x, const float *gamma, const float *beta,
                           float *running_mean, float *running_var,
                           float *y, float *save_mean, float *save_invstd,
                           const tau_batch_norm_params *p) {
    if (bn_check(p) != TAU_OK) return TAU_ERR;
    if (!x || !y) return tau_fail("batch_norm: missing input or output array");
    if (!running_mean != !running_var)
        return tau_fail("batch_norm: running_mean and running_var must both be given or both be absent");
    if (!p->training && !running_mean)
        return tau_fail("batch_norm: evaluation mode needs running_mean and running_var");
    if (p->training && p->n * p->l < 2)
        return tau_fail("batch_norm: expected more than 1 value per channel when training, got input (%lld, %lld, %lld)",
                        (long long)p->n, (long long)p->c, (long long)p->l);
    bnwork t = {p, x, NULL, gamma, beta, NULL, NULL, running_mean, running_var, y, save_mean,
                save_invstd, NULL, NULL, NULL};
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->c, grain_for(p->n * p->l), bn_fwd_range, &t);
    return TAU_OK;
}

static void bn_bwd_range(void *ctx, int64_t b, int64_t e) {
    const bnwork *t = ctx;
    const tau_batch_norm_params *p = t->p;
    const int64_t cl = p->c * p->l, cnt = p->n * p->l;
    for (int64_t c = b; c < e; c++) {
        const double mean = t->mean[c], invstd = t->invstd[c];
        const double g = t->gamma ? t->gamma[c] : 1.0;
        double sdy = 0, sdyx = 0;
        for (int64_t n = 0; n < p->n; n++)
            dot_row(t->x + n * cl + c * p->l, t->dy + n * cl + c * p->l, p->l, (float)mean, &sdy, &sdyx);
        sdyx *= invstd;
        if (t->dgamma) t->dgamma[c] = (float)sdyx;
        if (t->dbeta) t->dbeta[c] = (float)sdy;
        if (!t->dx) continue;
        /* Training: the batch statistics depend on x, which subtracts the mean of dy and its
         * projection on xhat; evaluation: the statistics are constants. */
        double k = g * invstd;
        double mdy = p->training ? sdy / (double)cnt : 0, mdyx = p->training ? sdyx / (double)cnt : 0;
        for (int64_t n = 0; n < p->n; n++) {
            const float *x = t->x + n * cl + c * p->l, *dy = t->dy + n * cl + c * p->l;
            float *dx = t->dx + n * cl + c * p->l;
            /* dx = k (dy - mdy - (x - mean) invstd mdyx), folded into one multiply-add */
            const float fk = (float)k, fa = (float)(k * invstd * mdyx), fb = (float)(k * mdy - k * invstd * mdyx * mean);
            for (int64_t i = 0; i < p->l; i++) dx[i] = fk * dy[i] - fa * x[i] - fb;
        }
    }
}

/* x, dy, dx are (N, C, L); gamma, save_mean, save_invstd, dgamma, dbeta are (C). */
int tau_batch_norm_backward(const float *x, const float *dy, const float *gamma,
                            const float *save_mean, const float *save_invstd,
                            float *dx, float *dgamma, float *dbeta,
                            const tau_batch_norm_params *p) {
    if (bn_check(p) != TAU_OK) return TAU_ERR;
    if (!x || !dy || !save_mean || !save_invstd)
        return tau_fail("batch_norm: backward needs x, dy and the saved mean and inverse std");
    bnwork t = {p, x, dy, gamma, NULL, save_mean, save_invstd, NULL, NULL, NULL, NULL, NULL,
                dx, dgamma, dbeta};
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->c, grain_for(p->n * p->l), bn_bwd_range, &t);
    return TAU_OK;
}

/* ---- layer norm --------------------------------------------------------------------------- */

typedef struct {
    const tau_layer_norm_params *p;
    const float *x, *dy, *gamma, *beta, *mean, *invstd;
    float *y, *smean, *sinvstd, *dx, *dgamma, *dbeta;
} lnwork;

static int ln_check(const tau_layer_norm_params *p) {
    if (!p) return tau_fail("layer_norm: missing parameters");
    if (p->m < 0 || p->d < 1)
        return tau_fail("layer_norm: invalid shape, %lld rows of %lld", (long long)p->m,
                        (long long)p->d);
    if (!(p->eps >= 0)) return tau_fail("layer_norm: eps must be non-negative, got %g", (double)p->eps);
    return TAU_OK;
}

/* A layer norm row's sums, in double as before, but four lanes at a time with AVX2: the
 * scalar loops were one long chain of dependent double adds per row. */
#ifdef HAVE_X86_DISPATCH
__attribute__((target("avx2,fma"))) static inline __m256d lo4(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
__attribute__((target("avx2,fma"))) static inline __m256d hi4(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

/* sum x, then sum (x - mean)^2 */
__attribute__((target("avx2,fma"))) static void row_moments_avx2(const float *x, int64_t d, double *mean, double *var) {
    __m256d a = _mm256_setzero_pd(), b = a;
    int64_t j = 0;
    for (; j + 8 <= d; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        a = _mm256_add_pd(a, lo4(v));
        b = _mm256_add_pd(b, hi4(v));
    }
    double s = tau_hsum4d(_mm256_add_pd(a, b));
    for (int64_t k = j; k < d; k++) s += x[k];
    const double m = s / (double)d;
    const __m256d mv = _mm256_set1_pd(m);
    a = _mm256_setzero_pd(), b = a;
    for (j = 0; j + 8 <= d; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        const __m256d p = _mm256_sub_pd(lo4(v), mv), q = _mm256_sub_pd(hi4(v), mv);
        a = _mm256_fmadd_pd(p, p, a);
        b = _mm256_fmadd_pd(q, q, b);
    }
    double v2 = tau_hsum4d(_mm256_add_pd(a, b));
    for (; j < d; j++) { const double q = x[j] - m; v2 += q * q; }
    *mean = m;
    *var = v2;
}

/* sum g and sum g (x - mean) invstd, g = dy gamma */
__attribute__((target("avx2,fma"))) static void row_grad_sums_avx2(const float *x, const float *dy, const float *gamma,
                                                                   double mean, double invstd, int64_t d, double *sg,
                                                                   double *sgx) {
    __m256d g0 = _mm256_setzero_pd(), g1 = g0, h0 = g0, h1 = g0;
    const __m256d mv = _mm256_set1_pd(mean);
    int64_t j = 0;
    for (; j + 8 <= d; j += 8) {
        const __m256 dv = _mm256_loadu_ps(dy + j), xv = _mm256_loadu_ps(x + j);
        __m256d ga = lo4(dv), gb = hi4(dv);
        if (gamma) { /* in double, where the product of two floats is exact */
            const __m256 gm = _mm256_loadu_ps(gamma + j);
            ga = _mm256_mul_pd(ga, lo4(gm));
            gb = _mm256_mul_pd(gb, hi4(gm));
        }
        g0 = _mm256_add_pd(g0, ga);
        g1 = _mm256_add_pd(g1, gb);
        h0 = _mm256_fmadd_pd(ga, _mm256_sub_pd(lo4(xv), mv), h0);
        h1 = _mm256_fmadd_pd(gb, _mm256_sub_pd(hi4(xv), mv), h1);
    }
    double a = tau_hsum4d(_mm256_add_pd(g0, g1)), b = tau_hsum4d(_mm256_add_pd(h0, h1)) * invstd;
    for (; j < d; j++) {
        const double g = gamma ? (double)dy[j] * gamma[j] : dy[j];
        a += g;
        b += g * ((x[j] - mean) * invstd);
    }
    *sg = a;
    *sgx = b;
}
#endif

static void row_moments(const float *x, int64_t d, double *mean, double *var) {
#ifdef HAVE_X86_DISPATCH
    if (tau__cpu() >= TAU_CPU_AVX2) { row_moments_avx2(x, d, mean, var); return; }
#endif
    double s = 0, v = 0;
    for (int64_t j = 0; j < d; j++) s += x[j];
    const double m = s / (double)d;
    for (int64_t j = 0; j < d; j++) { double q = x[j] - m; v += q * q; }
    *mean = m;
    *var = v;
}

static void row_grad_sums(const float *x, const float *dy, const float *gamma, double mean, double invstd, int64_t d,
                          double *sg, double *sgx) {
#ifdef HAVE_X86_DISPATCH
    if (tau__cpu() >= TAU_CPU_AVX2) { row_grad_sums_avx2(x, dy, gamma, mean, invstd, d, sg, sgx); return; }
#endif
    double a = 0, b = 0;
    for (int64_t j = 0; j < d; j++) {
        double g = gamma ? (double)dy[j] * gamma[j] : dy[j];
        a += g;
        b += g * ((x[j] - mean) * invstd);
    }
    *sg = a;
    *sgx = b;
}

static void ln_fwd_range(void *ctx, int64_t b, int64_t e) {
    const lnwork *t = ctx;
    const int64_t d = t->p->d;
    for (int64_t r = b; r < e; r++) {
        const float *x = t->x + r * d;
        float *y = t->y + r * d;
        double mean, v;
        row_moments(x, d, &mean, &v);
        double invstd = 1.0 / sqrt(v / (double)d + (double)t->p->eps);
        if (t->smean) t->smean[r] = (float)mean;
        if (t->sinvstd) t->sinvstd[r] = (float)invstd;
        float fm = (float)mean, fi = (float)invstd;
        for (int64_t j = 0; j < d; j++) {
            float xh = (x[j] - fm) * fi;
            y[j] = (t->gamma ? xh * t->gamma[j] : xh) + (t->beta ? t->beta[j] : 0.0f);
        }
    }
}

/* x, y are (M, D); gamma, beta (D); save_mean, save_invstd (M). */
int tau_layer_norm_forward(const float *x, const float *gamma, const float *beta,
                           float *y, float *save_mean, float *save_invstd,
                           const tau_layer_norm_params *p) {
    if (ln_check(p) != TAU_OK) return TAU_ERR;
    if (!x || !y) return tau_fail("layer_norm: missing input or output array");
    lnwork t = {p, x, NULL, gamma, beta, NULL, NULL, y, save_mean, save_invstd, NULL, NULL, NULL};
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(p->m, grain_for(p->d), ln_fwd_range, &t);
    return TAU_OK;
}

static void ln_dx_range(void *ctx, int64_t b, int64_t e) {
    const lnwork *t = ctx;
    const int64_t d = t->p->d;
    for (int64_t r = b; r < e; r++) {
        const float *x = t->x + r * d, *dy = t->dy + r * d;
        float *dx = t->dx + r * d;
        const double mean = t->mean[r], invstd = t->invstd[r];
        double sg, sgx;
        row_grad_sums(x, dy, t->gamma, mean, invstd, d, &sg, &sgx);
        sg /= (double)d;
        sgx /= (double)d;
        for (int64_t j = 0; j < d; j++) {
            double g = t->gamma ? (double)dy[j] * t->gamma[j] : dy[j];
            double xh = (x[j] - mean) * invstd;
            dx[j] = (float)(invstd * (g - sg - xh * sgx));
        }
    }
}

/* Column blocks of dgamma and dbeta: each column sums over all rows. */
#define LN_COLS 256
static void ln_dparam_range(void *ctx, int64_t b, int64_t e) {
    const lnwork *t = ctx;
    const int64_t d = t->p->d;
    double sg[LN_COLS], sb[LN_COLS];
    for (int64_t blk = b; blk < e; blk++) {
        int64_t j0 = blk * LN_COLS, j1 = j0 + LN_COLS < d ? j0 + LN_COLS : d;
        memset(sg, 0, sizeof sg);
        memset(sb, 0, sizeof sb);
        for (int64_t r = 0; r < t->p->m; r++) {
            const float *x = t->x + r * d, *dy = t->dy + r * d;
            const double mean = t->mean[r], invstd = t->invstd[r];
            for (int64_t j = j0; j < j1; j++) {
                sb[j - j0] += dy[j];
                sg[j - j0] += dy[j] * ((x[j] - mean) * invstd);
            }
        }
        for (int64_t j = j0; j < j1; j++) {
            if (t->dgamma) t->dgamma[j] = (float)sg[j - j0];
            if (t->dbeta) t->dbeta[j] = (float)sb[j - j0];
        }
    }
}

/* x, dy, dx are (M, D); gamma, dgamma, dbeta (D); save_mean, save_invstd (M). */
int tau_layer_norm_backward(const float *x, const float *dy, const float *gamma,
                            const float *save_mean, const float *save_invstd,
                            float *dx, float *dgamma, float *dbeta,
                            const tau_layer_norm_params *p) {
    if (ln_check(p) != TAU_OK) return TAU_ERR;
    if (!x || !dy || !save_mean || !save_invstd)
        return tau_fail("layer_norm: backward needs x, dy and the saved mean and inverse std");
    lnwork t = {p, x, dy, gamma, NULL, save_mean, save_invstd, NULL, NULL, NULL, dx, dgamma, dbeta};
    TAU_CHECK_INTERRUPT();
    if (dx) tau_parallel_for(p->m, grain_for(p->d), ln_dx_range, &t);
    if (dgamma || dbeta) {
        int64_t blocks = (p->d + LN_COLS - 1) / LN_COLS;
        tau_parallel_for(blocks, grain_for(p->m * LN_COLS), ln_dparam_range, &t);
    }
    return TAU_OK;
}
