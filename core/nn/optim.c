#include "nn/optim.h"
#include <math.h>
#include <stddef.h>

int tau_sgd_step(float *p, const float *g, float *buf, int64_t n, const tau_sgd_opts *o, int first) {
    if (n < 0) return tau_fail("sgd_step: negative length %lld", (long long)n);
    if (!p || !g) return tau_fail("sgd_step: parameter or gradient missing");
    if (o->momentum != 0 && !buf) return tau_fail("sgd_step: momentum %g needs a buffer", o->momentum);
    const float lr = (float)o->lr, wd = (float)o->weight_decay;
    if (o->momentum == 0) {
        for (int64_t i = 0; i < n; i++) {
            float d = g[i];
            if (wd != 0) d += wd * p[i];
            p[i] -= lr * d;
        }
        return TAU_OK;
    }
    const float mom = (float)o->momentum, keep = (float)(1.0 - o->dampening);
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * p[i];
        float b = first ? d : mom * buf[i] + keep * d;
        buf[i] = b;
        d = o->nesterov ? d + mom * b : b;
        p[i] -= lr * d;
    }
    return TAU_OK;
}

int tau_adam_step(float *p, const float *g, float *m, float *v, float *vmax, int64_t n, int64_t step,
                  const tau_adam_opts *o) {
    if (n < 0) return tau_fail("adam_step: negative length %lld", (long long)n);
    if (!p || !g || !m || !v) return tau_fail("adam_step: parameter, gradient or moment missing");
    if (o->amsgrad && !vmax) return tau_fail("adam_step: amsgrad needs a buffer for the maximum");
    if (step < 1) return tau_fail("adam_step: step must be at least 1, got %lld", (long long)step);
    const double bc1 = 1.0 - pow(o->beta1, (double)step), bc2 = 1.0 - pow(o->beta2, (double)step);
    const float step_size = (float)(o->lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)o->eps;
    const float b1c = (float)(1.0 - o->beta1), b2 = (float)o->beta2, b2c = (float)(1.0 - o->beta2);
    const float wd = (float)o->weight_decay, shrink = (float)(1.0 - o->lr * o->weight_decay);
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        if (wd != 0) {
            if (o->decoupled) p[i] *= shrink;
            else gi += wd * p[i];
        }
        m[i] += (gi - m[i]) * b1c;
        v[i] = b2 * v[i] + b2c * gi * gi;
        float vi = v[i];
        if (o->amsgrad) {
            if (vi > vmax[i]) vmax[i] = vi;
            vi = vmax[i];
        }
        p[i] -= step_size * (m[i] / (sqrtf(vi) / bc2_sqrt + eps));
    }
    return TAU_OK;
}

double tau_sumsq(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

double tau_absmax(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        if (a > m || isnan(a)) m = a;
    }
    return m;
}

double tau_sumpow(const float *x, int64_t n, double q) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += pow(fabs((double)x[i]), q);
    return s;
}

void tau_scale_(float *x, int64_t n, float c) {
    for (int64_t i = 0; i < n; i++) x[i] *= c;
}
