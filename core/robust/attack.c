/* Adversarial attack kernels: see attack.h. The element loops are memory-bound and cheap next to
 * the model's forward and backward, so they stay single-threaded (and deterministic). Norms and
 * scale factors are accumulated in double so that a projection onto the ball lands on it to
 * float precision whatever d is. */
#include "robust/attack.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int tau_attack_parse_norm(const char *fn, const char *s, tau_norm *out) {
    if (!s) return tau_fail("%s: norm must be 'linf' or 'l2'", fn);
    if (!strcasecmp(s, "linf") || !strcasecmp(s, "inf") || !strcasecmp(s, "l_inf")) { *out = TAU_NORM_LINF; return TAU_OK; }
    if (!strcasecmp(s, "l2") || !strcasecmp(s, "l_2")) { *out = TAU_NORM_L2; return TAU_OK; }
    return tau_fail("%s: unknown norm '%s' (expected 'linf' or 'l2')", fn, s);
}

const char *tau_norm_name(tau_norm norm) { return norm == TAU_NORM_L2 ? "l2" : "linf"; }

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

static inline float signf(float v) { return v > 0 ? 1.0f : (v < 0 ? -1.0f : 0.0f); }

static int check_ball(const char *fn, const tau_ball *b) {
    if (b->n < 0 || b->d < 0) return tau_fail("%s: negative size (%lld, %lld)", fn, (long long)b->n, (long long)b->d);
    if (!(b->eps >= 0) || isinf(b->eps)) return tau_fail("%s: eps must be a non-negative number, got %g", fn, (double)b->eps);
    if (!(b->lo <= b->hi) || !isfinite(b->lo) || !isfinite(b->hi))
        return tau_fail("%s: the pixel range [%g, %g] is empty or not finite", fn, (double)b->lo, (double)b->hi);
    if (b->norm != TAU_NORM_LINF && b->norm != TAU_NORM_L2) return tau_fail("%s: unknown norm %d", fn, (int)b->norm);
    return TAU_OK;
}

static int check_steps(const char *fn, const tau_step_size *s, int64_t n) {
    if (!s || !s->alpha) return tau_fail("%s: missing step size", fn);
    for (int64_t i = 0; i < (s->alpha_stride ? n : 1); i++) {
        float a = s->alpha[i * s->alpha_stride];
        if (!(a >= 0) || isinf(a))
            return tau_fail("%s: step size alpha must be a non-negative number, got %g (sample %lld)", fn, (double)a,
                            (long long)i + 1);
    }
    return TAU_OK;
}

int64_t tau_attack_find_bad(const float *x, int64_t n, int64_t d, int check_range, float lo, float hi, float *bad) {
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        for (int64_t j = 0; j < d; j++) {
            float v = xi[j];
            if (isnan(v) || (check_range && (v < lo || v > hi))) {
                if (bad) *bad = v;
                return i;
            }
        }
    }
    return -1;
}

/* NaN anywhere in the step's inputs is refused before anything is written, so that a failed
 * step leaves an aliased output intact. */
static int check_finite_inputs(const char *fn, const float *x, const float *xp, const float *g, const float *x0,
                               const tau_ball *b) {
    const float *arr[4] = {x, xp, g, x0};
    const char *names[4] = {"the adversarial images contain", "the previous iterate contains", "the gradient contains",
                            "the original images contain"};
    for (int k = 0; k < 4; k++) {
        if (!arr[k]) continue;
        int64_t i = tau_attack_find_bad(arr[k], b->n, b->d, 0, 0, 0, NULL);
        if (i >= 0) return tau_fail("%s: %s NaN (sample %lld)", fn, names[k], (long long)i + 1);
    }
    return TAU_OK;
}

/* The L2 ascent direction of one sample: g scaled by *scale. An infinite gradient keeps only
 * its infinite components (the limit of g/||g||), carried by *inf_scale on their signs. */
static void l2_direction(const float *g, int64_t d, double *scale, double *inf_scale, int *zero) {
    double ss = 0;
    int64_t ninf = 0;
    for (int64_t j = 0; j < d; j++) {
        if (isinf(g[j])) ninf++;
        else ss += (double)g[j] * g[j];
    }
    *zero = 0;
    *inf_scale = 0;
    if (ninf) { *scale = 0; *inf_scale = 1.0 / sqrt((double)ninf); return; }
    if (ss == 0) { *scale = 0; *zero = 1; return; }
    /* ss overflows double only for norms beyond 1e154: far outside float range */
    *scale = 1.0 / sqrt(ss);
}

static inline double l2_dir_at(const float *g, int64_t j, double scale, double inf_scale) {
    return inf_scale ? (isinf(g[j]) ? inf_scale * signf(g[j]) : 0.0) : scale * g[j];
}

/* factor that pulls a perturbation of squared norm ss back onto the eps-ball */
static inline double l2_shrink(double ss, double eps) {
    double nrm = sqrt(ss);
    return nrm > eps ? eps / nrm : 1.0;
}

static int all_zero(const float *g, int64_t d) {
    for (int64_t j = 0; j < d; j++) if (g[j] != 0) return 0;
    return 1;
}

int tau_attack_step_forward(const float *x, const float *g, const float *x0, float *out,
                            const tau_step_size *s, int64_t *nzero, const tau_ball *b) {
    const char *fn = "pgd_step";
    if (check_ball(fn, b) || check_steps(fn, s, b->n) || check_finite_inputs(fn, x, NULL, g, x0, b)) return TAU_ERR;
    const int64_t n = b->n, d = b->d;
    const float eps = b->eps, lo = b->lo, hi = b->hi, dir = s->descend ? -1.0f : 1.0f;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d, *gi = g + i * d, *x0i = x0 + i * d;
        float *oi = out + i * d;
        const float a = s->alpha[i * s->alpha_stride];
        if (b->norm == TAU_NORM_LINF) {
            zeros += all_zero(gi, d);
            for (int64_t j = 0; j < d; j++) {
                float v = xi[j] + a * (dir * signf(gi[j]));
                v = clampf(v, x0i[j] - eps, x0i[j] + eps);
                oi[j] = clampf(v, lo, hi);
            }
        } else {
            double sc, isc;
            int zero;
            l2_direction(gi, d, &sc, &isc, &zero);
            zeros += zero;
            const double step = (double)a * dir;
            double ss = 0;
            for (int64_t j = 0; j < d; j++) {
                double u = xi[j] + step * l2_dir_at(gi, j, sc, isc) - x0i[j];
                ss += u * u;
            }
            const double f = l2_shrink(ss, eps);
            for (int64_t j = 0; j < d; j++) {
                double u = xi[j] + step * l2_dir_at(gi, j, sc, isc) - x0i[j];
                oi[j] = clampf((float)(x0i[j] + f * u), lo, hi);
            }
        }
    }
    if (nzero) *nzero = zeros;
    return TAU_OK;
}

/* One sample of the L2 APGD update: the momentum point u - x0 at index j, given the factor fz
 * that projects the plain step z onto the ball. */
typedef struct {
    const float *x, *xp, *g, *x0;
    double sc, isc, step, fz, m;
    float lo, hi;
} apgd_l2;

static inline double apgd_l2_u(const apgd_l2 *c, int64_t j) {
    double v = c->x[j] + c->step * l2_dir_at(c->g, j, c->sc, c->isc) - c->x0[j];
    double z = clampf((float)(c->x0[j] + c->fz * v), c->lo, c->hi);
    return (double)c->x[j] + c->m * (z - c->x[j]) + (1.0 - c->m) * ((double)c->x[j] - c->xp[j]) - c->x0[j];
}

int tau_attack_apgd_step_forward(const float *x, const float *x_prev, const float *g, const float *x0, float *out,
                                 float momentum, const tau_step_size *s, int64_t *nzero, const tau_ball *b) {
    const char *fn = "apgd_step";
    if (check_ball(fn, b) || check_steps(fn, s, b->n) || check_finite_inputs(fn, x, x_prev, g, x0, b)) return TAU_ERR;
    if (!(momentum >= 0 && momentum <= 1)) return tau_fail("%s: momentum must be in [0, 1], got %g", fn, (double)momentum);
    const int64_t n = b->n, d = b->d;
    const float eps = b->eps, lo = b->lo, hi = b->hi, dir = s->descend ? -1.0f : 1.0f, m = momentum;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d, *pi = x_prev + i * d, *gi = g + i * d, *x0i = x0 + i * d;
        float *oi = out + i * d;
        const float a = s->alpha[i * s->alpha_stride];
        if (b->norm == TAU_NORM_LINF) {
            zeros += all_zero(gi, d);
            for (int64_t j = 0; j < d; j++) {
                const float blo = x0i[j] - eps, bhi = x0i[j] + eps;
                float z = clampf(clampf(xi[j] + a * (dir * signf(gi[j])), blo, bhi), lo, hi);
                float u = xi[j] + m * (z - xi[j]) + (1 - m) * (xi[j] - pi[j]);
                oi[j] = clampf(clampf(u, blo, bhi), lo, hi);
            }
        } else {
            /* z and u are recomputed in each pass rather than stored: no scratch, any aliasing */
            apgd_l2 c = {xi, pi, gi, x0i, 0, 0, (double)a * dir, 0, m, lo, hi};
            int zero;
            l2_direction(gi, d, &c.sc, &c.isc, &zero);
            zeros += zero;
            double ssz = 0;
            for (int64_t j = 0; j < d; j++) {
                double v = xi[j] + c.step * l2_dir_at(gi, j, c.sc, c.isc) - x0i[j];
                ssz += v * v;
            }
            c.fz = l2_shrink(ssz, eps);
            double ssu = 0;
            for (int64_t j = 0; j < d; j++) { double u = apgd_l2_u(&c, j); ssu += u * u; }
            const double fu = l2_shrink(ssu, eps);
            for (int64_t j = 0; j < d; j++) oi[j] = clampf((float)(x0i[j] + fu * apgd_l2_u(&c, j)), lo, hi);
        }
    }
    if (nzero) *nzero = zeros;
    return TAU_OK;
}

int tau_attack_project_forward(const float *x, const float *x0, float *out, const tau_ball *b) {
    const char *fn = "project";
    if (check_ball(fn, b) || check_finite_inputs(fn, x, NULL, NULL, x0, b)) return TAU_ERR;
    const int64_t n = b->n, d = b->d;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d, *x0i = x0 + i * d;
        float *oi = out + i * d;
        if (b->norm == TAU_NORM_LINF) {
            for (int64_t j = 0; j < d; j++) oi[j] = clampf(clampf(xi[j], x0i[j] - b->eps, x0i[j] + b->eps), b->lo, b->hi);
        } else {
            double ss = 0;
            for (int64_t j = 0; j < d; j++) { double u = (double)xi[j] - x0i[j]; ss += u * u; }
            const double f = l2_shrink(ss, b->eps);
            for (int64_t j = 0; j < d; j++)
                oi[j] = clampf((float)(x0i[j] + f * ((double)xi[j] - x0i[j])), b->lo, b->hi);
        }
    }
    return TAU_OK;
}

int tau_attack_random_start_forward(const float *x0, float *out, const tau_ball *b) {
    const char *fn = "random_start";
    if (check_ball(fn, b) || check_finite_inputs(fn, NULL, NULL, NULL, x0, b)) return TAU_ERR;
    if (out == x0 && b->n && b->d) return tau_fail("%s: the output must not alias the images", fn);
    const int64_t n = b->n, d = b->d;
    for (int64_t i = 0; i < n; i++) {
        const float *x0i = x0 + i * d;
        float *oi = out + i * d;
        if (b->norm == TAU_NORM_LINF) {
            for (int64_t j = 0; j < d; j++)
                oi[j] = clampf((float)(x0i[j] + b->eps * (2 * tau_rng_uniform() - 1)), b->lo, b->hi);
        } else {
            double ss = 0;
            for (int64_t j = 0; j < d; j++) {
                double v = tau_rng_normal();
                oi[j] = (float)v;
                ss += (double)oi[j] * oi[j];
            }
            /* the radius makes the point uniform in the ball's volume, not on its sphere */
            double r = d ? b->eps * pow(tau_rng_uniform(), 1.0 / (double)d) : 0;
            double f = ss > 0 ? r / sqrt(ss) : 0;
            for (int64_t j = 0; j < d; j++) oi[j] = clampf((float)(x0i[j] + f * oi[j]), b->lo, b->hi);
        }
    }
    return TAU_OK;
}

int tau_attack_norms_forward(const float *x, const float *x0, float *norms, const tau_ball *b) {
    const int64_t n = b->n, d = b->d;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d, *x0i = x0 + i * d;
        double acc = 0;
        for (int64_t j = 0; j < d; j++) {
            double u = (double)xi[j] - x0i[j];
            if (isnan(u)) { acc = NAN; break; }
            if (b->norm == TAU_NORM_LINF) acc = fabs(u) > acc ? fabs(u) : acc;
            else acc += u * u;
        }
        norms[i] = (float)(b->norm == TAU_NORM_L2 ? sqrt(acc) : acc);
    }
    return TAU_OK;
}

/* ---- margin losses ----------------------------------------------------------------------- */

/* Indices of the (up to) four largest logits, in decreasing order, ties to the lower index. */
static void top4(const float *z, int64_t k, int64_t idx[4]) {
    int64_t m = k < 4 ? k : 4;
    for (int64_t t = 0; t < 4; t++) idx[t] = -1;
    for (int64_t j = 0; j < k; j++) {
        int64_t pos = m;
        for (int64_t t = 0; t < m; t++)
            if (idx[t] < 0 || z[j] > z[idx[t]]) { pos = t; break; }
        if (pos == m) continue;
        for (int64_t t = m - 1; t > pos; t--) idx[t] = idx[t - 1];
        idx[pos] = j;
    }
}

static int64_t argmax_except(const float *z, int64_t k, int64_t c) {
    int64_t best = -1;
    for (int64_t j = 0; j < k; j++)
        if (j != c && (best < 0 || z[j] > z[best])) best = j;
    return best;
}

static int check_margin(const char *fn, const int32_t *labels, const int32_t *targets, const tau_margin_params *p) {
    if (p->n < 0 || p->k < 0) return tau_fail("%s: negative size", fn);
    if (p->kind != TAU_MARGIN_CW && p->kind != TAU_MARGIN_DLR) return tau_fail("%s: unknown loss kind %d", fn, (int)p->kind);
    int64_t need = p->kind == TAU_MARGIN_CW ? 2 : (targets ? 4 : 3);
    if (p->n > 0 && p->k < need)
        return tau_fail("%s: the %s%s loss needs at least %lld classes, got %lld", fn, targets ? "targeted " : "",
                        p->kind == TAU_MARGIN_CW ? "cw" : "dlr", (long long)need, (long long)p->k);
    for (int64_t i = 0; i < p->n; i++) {
        if (labels[i] < 0 || labels[i] >= p->k)
            return tau_fail("%s: label %d out of range 0..%lld at sample %lld", fn, (int)labels[i],
                            (long long)p->k - 1, (long long)i + 1);
        if (targets && (targets[i] < 0 || targets[i] >= p->k))
            return tau_fail("%s: target label %d out of range 0..%lld at sample %lld", fn, (int)targets[i],
                            (long long)p->k - 1, (long long)i + 1);
    }
    return TAU_OK;
}

static const double DLR_DELTA = 1e-12;

/* The per-sample loss; with dz, also its gradient (scaled by gl) written into dz. */
static double margin_one(const float *z, int64_t k, int64_t y, int64_t t, tau_margin_kind kind, double gl, float *dz) {
    for (int64_t j = 0; j < k; j++) if (isnan(z[j])) {
        if (dz) for (int64_t q = 0; q < k; q++) dz[q] = NAN;
        return NAN;
    }
    if (dz) memset(dz, 0, (size_t)k * sizeof *dz);
    if (kind == TAU_MARGIN_CW) {
        if (t < 0) {
            int64_t m = argmax_except(z, k, y);
            if (dz) { dz[m] += (float)gl; dz[y] -= (float)gl; }
            return (double)z[m] - z[y];
        }
        int64_t m = argmax_except(z, k, t);
        if (dz) { dz[t] += (float)gl; dz[m] -= (float)gl; }
        return (double)z[t] - z[m];
    }
    int64_t p[4];
    top4(z, k, p);
    double num, den;
    int64_t other;
    if (t < 0) {
        other = argmax_except(z, k, y);
        num = (double)z[y] - z[other];
        den = (double)z[p[0]] - z[p[2]] + DLR_DELTA;
    } else {
        other = t;
        num = (double)z[y] - z[t];
        den = (double)z[p[0]] - 0.5 * ((double)z[p[2]] + z[p[3]]) + DLR_DELTA;
    }
    if (dz) {
        /* loss = -num / den */
        double dn = -gl / den, dd = gl * num / (den * den);
        dz[y] += (float)dn;
        dz[other] -= (float)dn;
        dz[p[0]] += (float)dd;
        if (t < 0) dz[p[2]] -= (float)dd;
        else { dz[p[2]] -= (float)(0.5 * dd); dz[p[3]] -= (float)(0.5 * dd); }
    }
    return -num / den;
}

int tau_margin_loss_forward(const float *z, const int32_t *labels, const int32_t *targets, float *loss,
                            const tau_margin_params *p) {
    if (check_margin("margin_loss", labels, targets, p)) return TAU_ERR;
    for (int64_t i = 0; i < p->n; i++)
        loss[i] = (float)margin_one(z + i * p->k, p->k, labels[i], targets ? targets[i] : -1, p->kind, 0, NULL);
    return TAU_OK;
}

int tau_margin_loss_backward(const float *z, const int32_t *labels, const int32_t *targets, const float *dloss,
                             float *dz, const tau_margin_params *p) {
    if (check_margin("margin_loss", labels, targets, p)) return TAU_ERR;
    for (int64_t i = 0; i < p->n; i++)
        margin_one(z + i * p->k, p->k, labels[i], targets ? targets[i] : -1, p->kind, dloss[i], dz + i * p->k);
    return TAU_OK;
}

/* ---- tensor level ------------------------------------------------------------------------ */

static char sa[160], sb[160];
#define SHAPE(buf, t) tau_shape_str(t, buf, sizeof buf)

static int need_images(const char *fn, const char *what, const tau_tensor *t) {
    if (t->dtype != TAU_F32) return tau_fail("%s: %s must be float32, got %s", fn, what, tau_dtype_name(t->dtype));
    if (t->ndim < 1) return tau_fail("%s: %s must have a batch dimension (N, ...), got a 0-dimensional tensor", fn, what);
    return TAU_OK;
}

static int need_same(const char *fn, const char *rn, const tau_tensor *ref, const char *what, const tau_tensor *t) {
    if (need_images(fn, what, t)) return TAU_ERR;
    if (!tau_same_shape(ref, t))
        return tau_fail("%s: %s of size %s does not match %s of size %s", fn, what, SHAPE(sa, t), rn, SHAPE(sb, ref));
    return TAU_OK;
}

static int ball_of(const char *fn, const tau_tensor *x, const tau_attack_opts *o, tau_ball *b) {
    if (!(o->eps >= 0) || isinf(o->eps)) return tau_fail("%s: eps must be a non-negative number, got %g", fn, o->eps);
    if (!(o->lo <= o->hi) || !isfinite(o->lo) || !isfinite(o->hi))
        return tau_fail("%s: the pixel range [%g, %g] is empty or not finite", fn, o->lo, o->hi);
    b->n = x->shape[0];
    b->d = b->n ? tau_numel(x) / b->n : 0;
    b->norm = o->norm;
    b->eps = (float)o->eps;
    b->lo = (float)o->lo;
    b->hi = (float)o->hi;
    return TAU_OK;
}

/* Step sizes from the per-sample tensor (made contiguous into *hold) or the scalar. */
static int steps_of(const char *fn, int64_t n, tau_tensor *alpha, const tau_attack_opts *o, tau_tensor **hold,
                    float *scalar, tau_step_size *s) {
    s->descend = o->descend;
    if (!alpha) {
        if (!(o->alpha >= 0) || isinf(o->alpha)) return tau_fail("%s: step size alpha must be a non-negative number, got %g", fn, o->alpha);
        *scalar = (float)o->alpha;
        s->alpha = scalar;
        s->alpha_stride = 0;
        return TAU_OK;
    }
    if (alpha->dtype != TAU_F32 || tau_numel(alpha) != n)
        return tau_fail("%s: alpha must be a number or a float32 tensor of %lld per-sample step sizes, got %s %s", fn,
                        (long long)n, tau_dtype_name(alpha->dtype), SHAPE(sa, alpha));
    if (!(*hold = tau_contiguous(alpha))) return TAU_ERR;
    s->alpha = tau_f32(*hold);
    s->alpha_stride = 1;
    return TAU_OK;
}

/* Runs a kernel on contiguous copies of up to four same-shaped tensors into a new output. */
typedef struct {
    const char *fn;
    tau_tensor *in[4];
    const char *names[4];
    tau_tensor *c[4];
} args4;

static int prepare(args4 *a, int count) {
    for (int k = 0; k < 4; k++) a->c[k] = NULL;
    if (need_images(a->fn, a->names[0], a->in[0])) return TAU_ERR;
    for (int k = 1; k < count; k++)
        if (need_same(a->fn, a->names[0], a->in[0], a->names[k], a->in[k])) return TAU_ERR;
    for (int k = 0; k < count; k++)
        if (!(a->c[k] = tau_contiguous(a->in[k]))) return TAU_ERR;
    return TAU_OK;
}

static void finish(args4 *a) { for (int k = 0; k < 4; k++) tau_release(a->c[k]); }

tau_tensor *tau_attack_step(tau_tensor *x, tau_tensor *g, tau_tensor *x0, tau_tensor *alpha, const tau_attack_opts *o,
                            int64_t *nzero) {
    args4 a = {"pgd_step", {x, g, x0, NULL}, {"x", "gradient", "x0", NULL}, {0}};
    tau_tensor *out = NULL, *hold = NULL;
    tau_ball b;
    tau_step_size s;
    float sc;
    if (prepare(&a, 3) || ball_of(a.fn, x, o, &b) || steps_of(a.fn, b.n, alpha, o, &hold, &sc, &s)) goto done;
    if (!(out = tau_empty(TAU_F32, x->ndim, x->shape))) goto done;
    if (tau_attack_step_forward(tau_f32(a.c[0]), tau_f32(a.c[1]), tau_f32(a.c[2]), tau_f32(out), &s, nzero, &b)) {
        tau_release(out);
        out = NULL;
    }
done:
    finish(&a);
    tau_release(hold);
    return out;
}

tau_tensor *tau_attack_apgd_step(tau_tensor *x, tau_tensor *x_prev, tau_tensor *g, tau_tensor *x0, tau_tensor *alpha,
                                 const tau_attack_opts *o, int64_t *nzero) {
    args4 a = {"apgd_step", {x, x_prev, g, x0}, {"x", "x_prev", "gradient", "x0"}, {0}};
    tau_tensor *out = NULL, *hold = NULL;
    tau_ball b;
    tau_step_size s;
    float sc;
    if (prepare(&a, 4) || ball_of(a.fn, x, o, &b) || steps_of(a.fn, b.n, alpha, o, &hold, &sc, &s)) goto done;
    if (!(out = tau_empty(TAU_F32, x->ndim, x->shape))) goto done;
    if (tau_attack_apgd_step_forward(tau_f32(a.c[0]), tau_f32(a.c[1]), tau_f32(a.c[2]), tau_f32(a.c[3]), tau_f32(out),
                                     (float)o->momentum, &s, nzero, &b)) {
        tau_release(out);
        out = NULL;
    }
done:
    finish(&a);
    tau_release(hold);
    return out;
}

tau_tensor *tau_attack_project(tau_tensor *x, tau_tensor *x0, const tau_attack_opts *o) {
    args4 a = {"project", {x, x0, NULL, NULL}, {"x", "x0", NULL, NULL}, {0}};
    tau_tensor *out = NULL;
    tau_ball b;
    if (prepare(&a, 2) || ball_of(a.fn, x, o, &b)) goto done;
    if (!(out = tau_empty(TAU_F32, x->ndim, x->shape))) goto done;
    if (tau_attack_project_forward(tau_f32(a.c[0]), tau_f32(a.c[1]), tau_f32(out), &b)) {
        tau_release(out);
        out = NULL;
    }
done:
    finish(&a);
    return out;
}

tau_tensor *tau_attack_random_start(tau_tensor *x0, const tau_attack_opts *o) {
    args4 a = {"random_start", {x0, NULL, NULL, NULL}, {"x0", NULL, NULL, NULL}, {0}};
    tau_tensor *out = NULL;
    tau_ball b;
    if (prepare(&a, 1) || ball_of(a.fn, x0, o, &b)) goto done;
    if (!(out = tau_empty(TAU_F32, x0->ndim, x0->shape))) goto done;
    if (tau_attack_random_start_forward(tau_f32(a.c[0]), tau_f32(out), &b)) {
        tau_release(out);
        out = NULL;
    }
done:
    finish(&a);
    return out;
}

tau_tensor *tau_attack_norms(tau_tensor *x, tau_tensor *x0, tau_norm norm) {
    args4 a = {"perturbation_norm", {x, x0, NULL, NULL}, {"x", "x0", NULL, NULL}, {0}};
    tau_tensor *out = NULL;
    tau_ball b = {0, 0, norm, 0, 0, 1};
    if (prepare(&a, 2)) goto done;
    b.n = x->shape[0];
    b.d = b.n ? tau_numel(x) / b.n : 0;
    if (!(out = tau_empty(TAU_F32, 1, x->shape))) goto done;
    tau_attack_norms_forward(tau_f32(a.c[0]), tau_f32(a.c[1]), tau_f32(out), &b);
done:
    finish(&a);
    return out;
}

int tau_attack_check_images(const char *fn, const char *what, tau_tensor *x, int check_range, double lo, double hi) {
    if (need_images(fn, what, x)) return TAU_ERR;
    tau_tensor *c = tau_contiguous(x);
    if (!c) return TAU_ERR;
    int64_t n = x->shape[0], d = n ? tau_numel(x) / n : 0;
    float bad = 0;
    int64_t i = tau_attack_find_bad(tau_f32(c), n, d, check_range, (float)lo, (float)hi, &bad);
    tau_release(c);
    if (i < 0) return TAU_OK;
    if (isnan(bad)) return tau_fail("%s: %s contain NaN (sample %lld)", fn, what, (long long)i + 1);
    return tau_fail("%s: %s must lie in [%g, %g], found %g in sample %lld", fn, what, lo, hi, (double)bad,
                    (long long)i + 1);
}

static int margin_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_margin_params p = {n->inputs[0]->shape[0], n->inputs[0]->shape[1], (tau_margin_kind)n->i[0]};
    int targeted = n->ninputs > 2;
    tau_tensor *z = tau_contiguous(n->inputs[0]), *lab = tau_contiguous(n->inputs[1]);
    tau_tensor *tg = targeted ? tau_contiguous(n->inputs[2]) : NULL, *gc = tau_contiguous(g);
    tau_tensor *dz = (z && lab && gc && (!targeted || tg)) ? tau_empty(TAU_F32, 2, n->inputs[0]->shape) : NULL;
    int rc = dz ? tau_margin_loss_backward(tau_f32(z), tau_i32(lab), tg ? tau_i32(tg) : NULL, tau_f32(gc), tau_f32(dz), &p)
                : TAU_ERR;
    tau_release(z); tau_release(lab); tau_release(tg); tau_release(gc);
    if (rc) { tau_release(dz); return TAU_ERR; }
    gin[0] = dz;
    return TAU_OK;
}

static const tau_op_info margin_info = {"margin_loss", margin_backward};

static int need_labels(const char *fn, const char *what, const tau_tensor *t, const tau_tensor *z) {
    if (t->dtype != TAU_I32) return tau_fail("%s: %s must be an int32 tensor, got %s", fn, what, tau_dtype_name(t->dtype));
    if (t->ndim != 1 || t->shape[0] != z->shape[0])
        return tau_fail("%s: %s of size %s do not match logits of size %s (expected [%lld])", fn, what, SHAPE(sa, t),
                        SHAPE(sb, z), (long long)z->shape[0]);
    return TAU_OK;
}

tau_tensor *tau_op_margin_loss(tau_tensor *logits, tau_tensor *labels, tau_tensor *targets, tau_margin_kind kind) {
    const char *fn = "margin_loss";
    if (logits->dtype != TAU_F32) return tau_fail("%s: logits must be float32, got %s", fn, tau_dtype_name(logits->dtype)), NULL;
    if (logits->ndim != 2) return tau_fail("%s: logits must be 2-dimensional (N, K), got %s", fn, SHAPE(sa, logits)), NULL;
    if (need_labels(fn, "labels", labels, logits) || (targets && need_labels(fn, "target labels", targets, logits))) return NULL;
    tau_margin_params p = {logits->shape[0], logits->shape[1], kind};
    tau_tensor *z = tau_contiguous(logits), *lab = tau_contiguous(labels), *tg = targets ? tau_contiguous(targets) : NULL;
    tau_tensor *loss = (z && lab && (!targets || tg)) ? tau_empty(TAU_F32, 1, logits->shape) : NULL;
    int rc = loss ? tau_margin_loss_forward(tau_f32(z), tau_i32(lab), tg ? tau_i32(tg) : NULL, tau_f32(loss), &p) : TAU_ERR;
    tau_release(z); tau_release(lab); tau_release(tg);
    tau_tensor *ins[3] = {logits, labels, targets};
    if (!rc && tau_needs_grad(ins, 1)) {
        tau_node *n = tau_record(&margin_info, loss, ins, targets ? 3 : 2, targets ? 7u : 3u);
        if (!n) rc = TAU_ERR;
        else n->i[0] = kind;
    }
    if (rc) { tau_release(loss); return NULL; }
    return loss;
}
