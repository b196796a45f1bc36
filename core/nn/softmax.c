/* Softmax and log-softmax with temperature, the fused temperature cross-entropy, nll and mse
 * losses.
 *
 * A row is shifted by its maximum before the division by tau, so the largest scaled logit is
 * exactly 0 and exp never overflows, whatever tau (0.01 .. 1000) and the logits (up to 1e4).
 * Row sums of exponentials and losses are accumulated in double: with a large tau a row is
 * nearly uniform and float sums of many similar terms would lose the digits that matter. */
#include "nn/nn.h"
#include "base/error.h"
#include "base/parallel.h"
#include <math.h>
#include <string.h>

static int64_t row_grain(int64_t k) {
    int64_t g = 32768 / (k > 0 ? k : 1);
    return g < 1 ? 1 : g;
}

static int sm_check(const char *op, const tau_softmax_params *sp) {
    if (!sp) return tau_fail("%s: missing parameters", op);
    if (sp->m < 0 || sp->k < 1)
        return tau_fail("%s: invalid shape, %lld rows of %lld", op, (long long)sp->m, (long long)sp->k);
    if (!(sp->tau > 0) || isinf(sp->tau))
        return tau_fail("%s: temperature tau must be positive and finite, got %g", op, (double)sp->tau);
    return TAU_OK;
}

static float row_max(const float *z, int64_t k) {
    float m = z[0];
    for (int64_t j = 1; j < k; j++) if (z[j] > m) m = z[j];
    return m;
}

/* Writes exp((z - max) / tau) into out and returns its sum. */
static double row_exp(const float *z, float *out, int64_t k, float tau) {
    const float m = row_max(z, k);
    double sum = 0;
    for (int64_t j = 0; j < k; j++) {
        float e = expf((z[j] - m) / tau);
        out[j] = e;
        sum += e;
    }
    return sum;
}

typedef struct {
    const tau_softmax_params *sp;
    const float *a, *b;
    float *out;
} smwork;

static void softmax_range(void *ctx, int64_t b, int64_t e) {
    const smwork *t = ctx;
    const int64_t k = t->sp->k;
    for (int64_t r = b; r < e; r++) {
        float *p = t->out + r * k;
        double inv = 1.0 / row_exp(t->a + r * k, p, k, t->sp->tau);
        for (int64_t j = 0; j < k; j++) p[j] = (float)(p[j] * inv);
    }
}

static void log_softmax_range(void *ctx, int64_t b, int64_t e) {
    const smwork *t = ctx;
    const int64_t k = t->sp->k;
    const float tau = t->sp->tau;
    for (int64_t r = b; r < e; r++) {
        const float *z = t->a + r * k;
        float *y = t->out + r * k;
        const float m = row_max(z, k);
        double sum = 0;
        for (int64_t j = 0; j < k; j++) sum += expf((z[j] - m) / tau);
        const double lse = log(sum);
        for (int64_t j = 0; j < k; j++) y[j] = (float)((double)((z[j] - m) / tau) - lse);
    }
}

static void softmax_bwd_range(void *ctx, int64_t b, int64_t e) {
    const smwork *t = ctx;
    const int64_t k = t->sp->k;
    const double inv_tau = 1.0 / t->sp->tau;
    for (int64_t r = b; r < e; r++) {
        const float *p = t->a + r * k, *dp = t->b + r * k;
        float *dz = t->out + r * k;
        double s = 0;
        for (int64_t j = 0; j < k; j++) s += (double)dp[j] * p[j];
        for (int64_t j = 0; j < k; j++) dz[j] = (float)(p[j] * (dp[j] - s) * inv_tau);
    }
}

static void log_softmax_bwd_range(void *ctx, int64_t b, int64_t e) {
    const smwork *t = ctx;
    const int64_t k = t->sp->k;
    const double inv_tau = 1.0 / t->sp->tau;
    for (int64_t r = b; r < e; r++) {
        const float *y = t->a + r * k, *dy = t->b + r * k;
        float *dz = t->out + r * k;
        double s = 0;
        for (int64_t j = 0; j < k; j++) s += dy[j];
        for (int64_t j = 0; j < k; j++) dz[j] = (float)((dy[j] - exp((double)y[j]) * s) * inv_tau);
    }
}

/* b is the upstream gradient of a backward, NULL for a forward. */
static int sm_run(const char *op, const float *a, const float *b, int backward, float *out,
                  const tau_softmax_params *sp, tau_range_fn fn) {
    if (sm_check(op, sp) != TAU_OK) return TAU_ERR;
    if (sp->m > 0 && (!a || !out || (backward && !b)))
        return tau_fail("%s: missing input or output array", op);
    smwork t = {sp, a, b, out};
    TAU_CHECK_INTERRUPT();
    tau_parallel_for(sp->m, row_grain(sp->k), fn, &t);
    return TAU_OK;
}

/* z, p are (M, K). */
int tau_softmax_forward(const float *z, float *p, const tau_softmax_params *sp) {
    return sm_run("softmax", z, NULL, 0, p, sp, softmax_range);
}

/* p, dp, dz are (M, K). */
int tau_softmax_backward(const float *p, const float *dp, float *dz, const tau_softmax_params *sp) {
    return sm_run("softmax", p, dp, 1, dz, sp, softmax_bwd_range);
}

/* z, y are (M, K). */
int tau_log_softmax_forward(const float *z, float *y, const tau_softmax_params *sp) {
    return sm_run("log_softmax", z, NULL, 0, y, sp, log_softmax_range);
}

/* y, dy, dz are (M, K). */
int tau_log_softmax_backward(const float *y, const float *dy, float *dz,
                             const tau_softmax_params *sp) {
    return sm_run("log_softmax", y, dy, 1, dz, sp, log_softmax_bwd_range);
}

/* ---- losses ------------------------------------------------------------------------------- */

static int check_reduction(const char *op, tau_reduction r) {
    if (r != TAU_REDUCTION_MEAN && r != TAU_REDUCTION_SUM && r != TAU_REDUCTION_NONE)
        return tau_fail("%s: unknown reduction %d", op, (int)r);
    return TAU_OK;
}

static int check_labels(const char *op, const int32_t *labels, int64_t n, int64_t k) {
    if (n > 0 && !labels) return tau_fail("%s: missing labels", op);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return tau_fail("%s: label %d out of range 0..%lld at row %lld", op, (int)labels[i],
                            (long long)k - 1, (long long)i + 1);
    return TAU_OK;
}

/* The upstream gradient of row i. */
static float upstream(const float *dloss, tau_reduction r, int64_t i, int64_t n) {
    if (r == TAU_REDUCTION_NONE) return dloss[i];
    if (r == TAU_REDUCTION_MEAN) return dloss[0] / (float)n;
    return dloss[0];
}

static void reduce_store(float *loss, double total, tau_reduction r, int64_t n) {
    if (r == TAU_REDUCTION_SUM) loss[0] = (float)total;
    else if (r == TAU_REDUCTION_MEAN) loss[0] = (float)(total / (double)n);
}

static int ce_check(const tau_cross_entropy_params *cp) {
    if (!cp) return tau_fail("cross_entropy: missing parameters");
    if (cp->n < 0 || cp->k < 1)
        return tau_fail("cross_entropy: invalid logits shape (%lld, %lld)", (long long)cp->n,
                        (long long)cp->k);
    if (!(cp->tau > 0) || isinf(cp->tau))
        return tau_fail("cross_entropy: temperature tau must be positive and finite, got %g",
                        (double)cp->tau);
    if (!(cp->label_smoothing >= 0 && cp->label_smoothing <= 1))
        return tau_fail("cross_entropy: label_smoothing must be in [0, 1], got %g",
                        (double)cp->label_smoothing);
    return check_reduction("cross_entropy", cp->reduction);
}

/* z is (N, K), labels (N) in 0..K-1; loss (N) or (1); p (N, K) or NULL. */
int tau_cross_entropy_forward(const float *z, const int32_t *labels, float *loss, float *p,
                              const tau_cross_entropy_params *cp) {
    if (ce_check(cp) != TAU_OK) return TAU_ERR;
    if ((cp->n > 0 && !z) || !loss) return tau_fail("cross_entropy: missing logits or loss array");
    if (check_labels("cross_entropy", labels, cp->n, cp->k) != TAU_OK) return TAU_ERR;
    const int64_t k = cp->k;
    const float tau = cp->tau;
    const double eps = cp->label_smoothing;
    double total = 0;
    for (int64_t i = 0; i < cp->n; i++) {
        const float *zi = z + i * k;
        float *pi = p ? p + i * k : NULL;
        const float m = row_max(zi, k);
        double sum = 0, ssum = 0;
        for (int64_t j = 0; j < k; j++) {
            float s = (zi[j] - m) / tau, e = expf(s);
            if (pi) pi[j] = e;
            sum += e;
            ssum += s;
        }
        /* sum >= 1 (the maximum contributes exp(0)), so the log is finite. */
        const double lse = log(sum);
        double l = lse - (double)((zi[labels[i]] - m) / tau);
        if (eps > 0) l = (1 - eps) * l + eps * (lse - ssum / (double)k);
        if (pi) {
            const float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < k; j++) pi[j] *= inv;
        }
        if (cp->reduction == TAU_REDUCTION_NONE) loss[i] = (float)l;
        total += l;
    }
    reduce_store(loss, total, cp->reduction, cp->n);
    return TAU_OK;
}

/* p is the saved (N, K) softmax(z / tau); dloss (N) or (1); dz (N, K). */
int tau_cross_entropy_backward(const float *p, const int32_t *labels, const float *dloss,
                               float *dz, const tau_cross_entropy_params *cp) {
    if (ce_check(cp) != TAU_OK) return TAU_ERR;
    if (cp->n > 0 && (!p || !dloss || !dz))
        return tau_fail("cross_entropy: backward needs the saved probabilities, dloss and dz");
    if (check_labels("cross_entropy", labels, cp->n, cp->k) != TAU_OK) return TAU_ERR;
    const int64_t k = cp->k;
    const float tau = cp->tau, eps = cp->label_smoothing;
    const float off = eps / (float)k, on = (1 - eps) + off;
    for (int64_t i = 0; i < cp->n; i++) {
        const float g = upstream(dloss, cp->reduction, i, cp->n);
        const float *pi = p + i * k;
        float *di = dz + i * k;
        const int64_t y = labels[i];
        for (int64_t j = 0; j < k; j++) di[j] = (pi[j] - (j == y ? on : off)) / tau * g;
    }
    return TAU_OK;
}

static int nll_check(const tau_nll_loss_params *np) {
    if (!np) return tau_fail("nll_loss: missing parameters");
    if (np->n < 0 || np->k < 1)
        return tau_fail("nll_loss: invalid input shape (%lld, %lld)", (long long)np->n, (long long)np->k);
    return check_reduction("nll_loss", np->reduction);
}

/* logp is (N, K), labels (N); loss (N) or (1). */
int tau_nll_loss_forward(const float *logp, const int32_t *labels, float *loss,
                         const tau_nll_loss_params *np) {
    if (nll_check(np) != TAU_OK) return TAU_ERR;
    if ((np->n > 0 && !logp) || !loss) return tau_fail("nll_loss: missing input or loss array");
    if (check_labels("nll_loss", labels, np->n, np->k) != TAU_OK) return TAU_ERR;
    double total = 0;
    for (int64_t i = 0; i < np->n; i++) {
        float l = -logp[i * np->k + labels[i]];
        if (np->reduction == TAU_REDUCTION_NONE) loss[i] = l;
        total += l;
    }
    reduce_store(loss, total, np->reduction, np->n);
    return TAU_OK;
}

/* labels (N); dloss (N) or (1); dlogp (N, K). */
int tau_nll_loss_backward(const int32_t *labels, const float *dloss, float *dlogp,
                          const tau_nll_loss_params *np) {
    if (nll_check(np) != TAU_OK) return TAU_ERR;
    if (np->n > 0 && (!dloss || !dlogp)) return tau_fail("nll_loss: backward needs dloss and dlogp");
    if (check_labels("nll_loss", labels, np->n, np->k) != TAU_OK) return TAU_ERR;
    if (np->n > 0) memset(dlogp, 0, (size_t)(np->n * np->k) * sizeof *dlogp);
    for (int64_t i = 0; i < np->n; i++)
        dlogp[i * np->k + labels[i]] = -upstream(dloss, np->reduction, i, np->n);
    return TAU_OK;
}

static int mse_check(const tau_mse_loss_params *mp) {
    if (!mp) return tau_fail("mse_loss: missing parameters");
    if (mp->n < 0) return tau_fail("mse_loss: invalid size %lld", (long long)mp->n);
    return check_reduction("mse_loss", mp->reduction);
}

/* x, target (N); loss (N) or (1). */
int tau_mse_loss_forward(const float *x, const float *target, float *loss,
                         const tau_mse_loss_params *mp) {
    if (mse_check(mp) != TAU_OK) return TAU_ERR;
    if ((mp->n > 0 && (!x || !target)) || !loss) return tau_fail("mse_loss: missing input, target or loss array");
    double total = 0;
    for (int64_t i = 0; i < mp->n; i++) {
        float d = x[i] - target[i];
        if (mp->reduction == TAU_REDUCTION_NONE) loss[i] = d * d;
        total += (double)d * d;
    }
    reduce_store(loss, total, mp->reduction, mp->n);
    return TAU_OK;
}

/* x, target, dx, dtarget (N); dloss (N) or (1). */
int tau_mse_loss_backward(const float *x, const float *target, const float *dloss,
                          float *dx, float *dtarget, const tau_mse_loss_params *mp) {
    if (mse_check(mp) != TAU_OK) return TAU_ERR;
    if (mp->n > 0 && (!x || !target || !dloss)) return tau_fail("mse_loss: backward needs x, target and dloss");
    for (int64_t i = 0; i < mp->n; i++) {
        float g = 2 * (x[i] - target[i]) * upstream(dloss, mp->reduction, i, mp->n);
        if (dx) dx[i] = g;
        if (dtarget) dtarget[i] = -g;
    }
    return TAU_OK;
}
