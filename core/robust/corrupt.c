/* Corruption registry, argument checks, the batch driver, the random generator and the
 * filters shared by several corruptions. */
#include "robust/corrupt.h"
#include "robust/corrupt_impl.h"
#include "base/rng.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    cfn fn;
    int deterministic;
} centry;

static const centry table[] = {
    {"gaussian_noise", corrupt_gaussian_noise, 0},
    {"shot_noise", corrupt_shot_noise, 0},
    {"impulse_noise", corrupt_impulse_noise, 0},
    {"defocus_blur", corrupt_defocus_blur, 1},
    {"glass_blur", corrupt_glass_blur, 0},
    {"motion_blur", corrupt_motion_blur, 0},
    {"zoom_blur", corrupt_zoom_blur, 1},
    {"snow", corrupt_snow, 0},
    {"frost", corrupt_frost, 0},
    {"fog", corrupt_fog, 0},
    {"brightness", corrupt_brightness, 1},
    {"contrast", corrupt_contrast, 1},
    {"elastic_transform", corrupt_elastic_transform, 0},
    {"pixelate", corrupt_pixelate, 1},
    {"jpeg_compression", corrupt_jpeg_compression, 1},
    {"speckle_noise", corrupt_speckle_noise, 0},
    {"gaussian_blur", corrupt_gaussian_blur, 1},
    {"spatter", corrupt_spatter, 0},
    {"saturate", corrupt_saturate, 1},
};
#define NCORRUPT ((int)(sizeof table / sizeof table[0]))

int tau_corrupt_count(void) { return NCORRUPT; }

const char *tau_corrupt_name(int i) { return i >= 0 && i < NCORRUPT ? table[i].name : NULL; }

static int find(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < NCORRUPT; i++)
        if (strcmp(table[i].name, name) == 0) return i;
    return -1;
}

int tau_corrupt_is_deterministic(const char *name) {
    int i = find(name);
    return i < 0 ? -1 : table[i].deterministic;
}

/* ---------------------------------------------------------------- random numbers */

#define splitmix64 tau_splitmix64

void crng_seed(crng *r, uint64_t seed, uint64_t stream) {
    /* Two rounds of splitmix so that nearby (seed, stream) pairs give unrelated states. */
    uint64_t a = seed, b = stream ^ 0x6A09E667F3BCC908ull;
    uint64_t x = splitmix64(&a) ^ (splitmix64(&b) * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
}

uint64_t crng_next(crng *r) { return tau_xoshiro_next(r->s); }

double crng_uniform(crng *r) { return tau_u01(crng_next(r)); }

double crng_range(crng *r, double lo, double hi) { return lo + (hi - lo) * crng_uniform(r); }

int64_t crng_int(crng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)(hi - lo);
    if (hi <= lo) return lo;
    /* Rejection keeps the draw exactly uniform. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span, v;
    do v = crng_next(r); while (v >= limit);
    return lo + (int64_t)(v % span);
}

double crng_normal(crng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - crng_uniform(r), u2 = crng_uniform(r); /* u1 in (0, 1]: log finite */
    double m = sqrt(-2.0 * log(u1));
    r->spare = m * sin(2.0 * M_PI * u2);
    r->has_spare = 1;
    return m * cos(2.0 * M_PI * u2);
}

/* log(k!) without lgamma, whose global signgam makes it unsafe across threads. */
static double log_factorial(int64_t k) {
    if (k < 16) {
        double s = 0;
        for (int64_t i = 2; i <= k; i++) s += log((double)i);
        return s;
    }
    double x = (double)k + 1.0, x2 = x * x;
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 +
           (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / (1260.0 * x2)) / x2) / x;
}

int64_t crng_poisson(crng *r, double lam) {
    if (!(lam > 0)) return 0;
    if (lam < 10) {
        /* Product of uniforms: exact, and cheap for small means. */
        double limit = exp(-lam), p = crng_uniform(r);
        int64_t k = 0;
        while (p > limit) {
            k++;
            p *= crng_uniform(r);
        }
        return k;
    }
    /* Hörmann's transformed rejection with squeeze (PTRS), constant expected cost. */
    double slam = sqrt(lam), loglam = log(lam);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = crng_uniform(r) - 0.5, v = crng_uniform(r);
        double us = 0.5 - fabs(u);
        int64_t k = (int64_t)floor((2 * a / us + b) * u + lam + 0.43);
        if (us >= 0.07 && v <= vr) return k;
        if (k < 0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <=
            -lam + (double)k * loglam - log_factorial(k))
            return k;
    }
}

/* ---------------------------------------------------------------- buffers, borders */

void *cbuf_alloc(size_t bytes) {
    void *p = tau_alloc(bytes);
    if (!p) tau_fail("corrupt: out of memory");
    return p;
}

void cbuf_free(void *p, size_t bytes) { tau_free(p, bytes); }

int64_t border_index(int64_t i, int64_t n, int mode) {
    if (i >= 0 && i < n) return i;
    if (n == 1) return 0;
    switch (mode) {
    case BORDER_NEAREST:
        return i < 0 ? 0 : n - 1;
    case BORDER_REFLECT: { /* d c b a | a b c d */
        int64_t p = 2 * n, m = i % p;
        if (m < 0) m += p;
        return m < n ? m : p - 1 - m;
    }
    default: { /* reflect-101: c b | a b c */
        int64_t p = 2 * n - 2, m = i % p;
        if (m < 0) m += p;
        return m < n ? m : p - m;
    }
    }
}

/* ---------------------------------------------------------------- Gaussian filter */

int gauss_radius(double sigma, double truncate) {
    if (!(sigma > 1e-15)) return 0;
    return (int)(truncate * sigma + 0.5);
}

void gauss_weights(double sigma, int radius, double *k) {
    if (radius == 0) {
        k[0] = 1;
        return;
    }
    double s = 0, inv = -0.5 / (sigma * sigma);
    for (int t = -radius; t <= radius; t++) s += k[t + radius] = exp(inv * t * t);
    for (int t = 0; t <= 2 * radius; t++) k[t] /= s;
}

/* Correlation of one line (n samples, stride apart) with a symmetric kernel. */
static void corr_line(const double *in, double *out, int64_t n, int64_t stride, const double *k,
                      int r, int mode) {
    for (int64_t i = 0; i < n; i++) {
        double acc = in[i * stride] * k[r];
        for (int t = 1; t <= r; t++)
            acc += (in[border_index(i - t, n, mode) * stride] +
                    in[border_index(i + t, n, mode) * stride]) * k[r + t];
        out[i] = acc;
    }
}

int gauss_plane(double *p, int h, int w, double sigma, double truncate, int mode) {
    int r = gauss_radius(sigma, truncate);
    if (r == 0) return 0;
    size_t kb = (size_t)(2 * r + 1) * sizeof(double), lb = (size_t)(h > w ? h : w) * sizeof(double);
    double *k = cbuf_alloc(kb), *line = cbuf_alloc(lb);
    if (!k || !line) {
        cbuf_free(k, kb);
        cbuf_free(line, lb);
        return -1;
    }
    gauss_weights(sigma, r, k);
    for (int x = 0; x < w; x++) {
        corr_line(p + x, line, h, w, k, r, mode);
        for (int y = 0; y < h; y++) p[(int64_t)y * w + x] = line[y];
    }
    for (int y = 0; y < h; y++) {
        corr_line(p + (int64_t)y * w, line, w, 1, k, r, mode);
        memcpy(p + (int64_t)y * w, line, (size_t)w * sizeof(double));
    }
    cbuf_free(k, kb);
    cbuf_free(line, lb);
    return 0;
}

/* ---------------------------------------------------------------- clipped zoom */

/* Bilinear sample positions of scipy's zoom (order 1, corners aligned) along one axis. */
typedef struct {
    int i0, i1;
    double w0, w1;
} ztap;

static void zoom_axis(ztap *tap, int n, int ch, int top, int o, int trim) {
    double f = o > 1 ? (double)(ch - 1) / (double)(o - 1) : 1.0;
    for (int i = 0; i < n; i++) {
        double cc = (double)(i + trim) * f;
        int fl = (int)floor(cc);
        double t = cc - fl;
        if (fl >= ch - 1) {
            fl = ch - 1;
            t = 0;
        }
        tap[i].i0 = top + fl;
        tap[i].i1 = top + (fl + 1 < ch ? fl + 1 : fl);
        tap[i].w0 = 1.0 - t;
        tap[i].w1 = t;
    }
}

int clipped_zoom(const double *in, double *out, int h, int w, double z) {
    int chh = (int)ceil((double)h / z), chw = (int)ceil((double)w / z);
    int oh = (int)rint(chh * z), ow = (int)rint(chw * z);
    size_t bytes = (size_t)(h + w) * sizeof(ztap);
    ztap *ty = cbuf_alloc(bytes);
    if (!ty) return -1;
    ztap *tx = ty + h;
    zoom_axis(ty, h, chh, (h - chh) / 2, oh, (oh - h) / 2);
    zoom_axis(tx, w, chw, (w - chw) / 2, ow, (ow - w) / 2);
    for (int y = 0; y < h; y++) {
        const double *r0 = in + (int64_t)ty[y].i0 * w, *r1 = in + (int64_t)ty[y].i1 * w;
        double a0 = ty[y].w0, a1 = ty[y].w1;
        for (int x = 0; x < w; x++) {
            int c0 = tx[x].i0, c1 = tx[x].i1;
            double b0 = tx[x].w0, b1 = tx[x].w1;
            /* Summation order of scipy's spline loop, so float32 rounding agrees. */
            out[(int64_t)y * w + x] =
                r0[c0] * a0 * b0 + r0[c1] * a0 * b1 + r1[c0] * a1 * b0 + r1[c1] * a1 * b1;
        }
    }
    cbuf_free(ty, bytes);
    return 0;
}

/* ---------------------------------------------------------------- motion blur */

int motion_blur_plane(const uint16_t *in, uint16_t *out, int h, int w, double radius,
                      double sigma, double angle_deg) {
    int width = (int)(2.0 * ceil(radius) + 1.0);
    if (width < 1) width = 1;
    if (fabs(sigma) < 1e-12) sigma = 1e-12;
    size_t kb = (size_t)width * (sizeof(double) + 2 * sizeof(int));
    double *k = cbuf_alloc(kb);
    if (!k) return -1;
    int *ox = (int *)(k + width), *oy = ox + width;
    double norm = 0;
    for (int i = 0; i < width; i++) {
        k[i] = exp(-((double)i * i) / (2.0 * sigma * sigma)) / (2.50662827463100024161 * sigma);
        norm += k[i];
    }
    for (int i = 0; i < width; i++) k[i] /= norm;
    /* Offsets along the direction as ImageMagick rounds them: ceil(t - 0.5). */
    double a = angle_deg * M_PI / 180.0;
    double px = width * sin(a), py = width * cos(a), len = hypot(px, py);
    for (int i = 0; i < width; i++) {
        ox[i] = (int)ceil((double)i * py / len - 0.5);
        oy[i] = (int)ceil((double)i * px / len - 0.5);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double acc = 0;
            for (int i = 0; i < width; i++) {
                int sx = x + ox[i], sy = y + oy[i];
                sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
                sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
                acc += k[i] * in[(int64_t)sy * w + sx];
            }
            out[(int64_t)y * w + x] = acc <= 0 ? 0 : acc >= 65535 ? 65535 : (uint16_t)(acc + 0.5);
        }
    cbuf_free(k, kb);
    return 0;
}

/* ---------------------------------------------------------------- plasma fractal */

int plasma_fractal(double *map, int m, double decay, crng *r) {
#define P(i, j) map[(int64_t)(((i) % m + m) % m) * m + (((j) % m + m) % m)]
    double wib = 100;
    map[0] = 0;
    for (int step = m; step >= 2; step /= 2, wib /= decay) {
        int half = step / 2, g = m / step;
        /* Squares: each centre from its four corners. */
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                int y = i * step, x = j * step;
                double s = (P(y, x) + P(y + step, x)) + (P(y, x + step) + P(y + step, x + step));
                P(y + half, x + half) = s / 4 + wib * crng_range(r, -wib, wib);
            }
        /* Diamonds on the corner rows: centres above and below, corners left and right. */
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                int y = i * step, x = j * step + half;
                double s = (P(y + half, x) + P(y - half, x)) + (P(y, x - half) + P(y, x + half));
                P(y, x) = s / 4 + wib * crng_range(r, -wib, wib);
            }
        /* Diamonds on the centre rows: centres left and right, corners above and below. */
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                int y = i * step + half, x = j * step;
                double s = (P(y, x + half) + P(y, x - half)) + (P(y - half, x) + P(y + half, x));
                P(y, x) = s / 4 + wib * crng_range(r, -wib, wib);
            }
    }
#undef P
    int64_t nn = (int64_t)m * m;
    double lo = map[0], hi;
    for (int64_t i = 1; i < nn; i++) lo = map[i] < lo ? map[i] : lo;
    for (int64_t i = 0; i < nn; i++) map[i] -= lo;
    hi = map[0];
    for (int64_t i = 1; i < nn; i++) hi = map[i] > hi ? map[i] : hi;
    for (int64_t i = 0; i < nn; i++) map[i] = hi > 0 ? map[i] / hi : 0;
    return 0;
}

/* ---------------------------------------------------------------- driver */

typedef struct {
    const cjob *job;
    cfn fn;
    const float *x;
    float *out;
    uint64_t seed;
    int64_t chw;
    atomic_int failed;
    char msg[512];
} crun;

static void run_fail(crun *R, const char *msg) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&R->failed, &expected, 1))
        snprintf(R->msg, sizeof R->msg, "%s", msg);
}

static void run_range(void *ctx, int64_t begin, int64_t end) {
    crun *R = ctx;
    size_t bytes = (size_t)R->chw * sizeof(double);
    double *img = tau_alloc(bytes);
    if (!img) {
        run_fail(R, "corrupt: out of memory");
        return;
    }
    for (int64_t i = begin; i < end && !atomic_load(&R->failed); i++) {
        if (tau_interrupted) {
            run_fail(R, "interrupted");
            break;
        }
        const float *src = R->x + i * R->chw;
        for (int64_t k = 0; k < R->chw; k++) img[k] = src[k];
        crng rng;
        crng_seed(&rng, R->seed, (uint64_t)i);
        if (R->fn(R->job, img, &rng) != 0) {
            run_fail(R, tau_errmsg());
            break;
        }
        float *dst = R->out + i * R->chw;
        for (int64_t k = 0; k < R->chw; k++) {
            double v = img[k];
            dst[k] = (float)(v > 0 ? (v < 1 ? v : 1) : 0);
        }
    }
    tau_free(img, bytes);
}

static int check_args(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                      int severity) {
    if (severity < 1 || severity > 5)
        return tau_fail("corrupt: severity must be 1..5, got %d", severity);
    if (c != 1 && c != 3)
        return tau_fail("corrupt: images must have 1 or 3 channels, got %lld", (long long)c);
    if (n < 0) return tau_fail("corrupt: negative batch size %lld", (long long)n);
    if (h < 8 || w < 8 || h > (1 << 15) || w > (1 << 15))
        return tau_fail("corrupt: image size must be 8..32768 on each side, got %lld x %lld",
                        (long long)h, (long long)w);
    if (n > 0 && (!x || !out)) return tau_fail("corrupt: NULL image buffer");
    int64_t total = n * c * h * w;
    for (int64_t i = 0; i < total; i++)
        if (!isfinite(x[i]))
            return tau_fail("corrupt: input has a NaN or infinite value at element %lld (%s)",
                            (long long)i, isnan(x[i]) ? "NaN" : "inf");
    return TAU_OK;
}

static void job_init(cjob *job, int64_t c, int64_t h, int64_t w, int severity) {
    memset(job, 0, sizeof *job);
    job->c = (int)c;
    job->h = (int)h;
    job->w = (int)w;
    job->sev = severity;
    job->size = (int)(h < w ? h : w);
    job->big = job->size >= 48;
    job->scale = job->size / (job->big ? 64.0 : 32.0);
}

static int run_batch(const cjob *job, cfn fn, const float *x, float *out, int64_t n,
                     uint64_t seed) {
    if (n == 0) return TAU_OK;
    crun R;
    R.job = job;
    R.fn = fn;
    R.x = x;
    R.out = out;
    R.seed = seed;
    R.chw = (int64_t)job->c * job->h * job->w;
    atomic_init(&R.failed, 0);
    R.msg[0] = 0;
    /* Small images are cheap: batch several per task to keep scheduling overhead low. */
    int64_t grain = 4096 / (job->h * job->w) + 1;
    tau_parallel_for(n, grain, run_range, &R);
    if (atomic_load(&R.failed)) return tau_fail("%s", R.msg);
    return TAU_OK;
}

/* Loads only the photos some image of the batch will pick: the first draw of each image's
 * stream is its photo, so it can be replayed here before the parallel loop. */
static int frost_prepare(cfrost_set *set, const char *dir, const cjob *job, int64_t n,
                         uint64_t seed) {
    if (job->fixed_draws) return frost_load(set, dir, job->frost_idx - 1);
    int need[5] = {0};
    for (int64_t i = 0; i < n; i++) {
        crng r;
        crng_seed(&r, seed, (uint64_t)i);
        int pick = (int)crng_int(&r, 0, set->count), k = -1;
        for (int j = 0; j < 5; j++)
            if (set->photo[j].ok && pick-- == 0) {
                k = j;
                break;
            }
        if (k >= 0) need[k] = 1;
    }
    for (int j = 0; j < 5; j++)
        if (need[j] && frost_load(set, dir, j) != 0) return TAU_ERR;
    return TAU_OK;
}

static int apply(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                 int idx, int severity, uint64_t seed, const char *frost_dir, cjob *job) {
    if (check_args(x, out, n, c, h, w, severity) != TAU_OK) return TAU_ERR;
    cfrost_set set;
    int is_frost = table[idx].fn == corrupt_frost;
    if (is_frost && frost_dir) {
        if (frost_open(&set, frost_dir, (int)h, (int)w, job->big, job->scale) != 0)
            return TAU_ERR;
        if (job->fixed_draws && !set.photo[job->frost_idx - 1].ok) {
            frost_close(&set);
            return tau_fail("corrupt: frost photo %d is not readable in '%s'", job->frost_idx,
                            frost_dir);
        }
        if (frost_prepare(&set, frost_dir, job, n, seed) != 0) {
            frost_close(&set);
            return TAU_ERR;
        }
        job->frost = &set;
    }
    int rc = run_batch(job, table[idx].fn, x, out, n, seed);
    if (is_frost && frost_dir) frost_close(&set);
    job->frost = NULL;
    return rc;
}

int tau_corrupt_apply(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                      const char *name, int severity, uint64_t seed, const char *frost_dir) {
    int idx = find(name);
    if (idx < 0) {
        char list[512];
        size_t len = 0;
        list[0] = 0;
        for (int i = 0; i < NCORRUPT; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                                    table[i].name);
        return tau_fail("corrupt: unknown corruption '%s' (valid: %s)", name ? name : "(null)",
                        list);
    }
    cjob job;
    job_init(&job, c, h, w, severity);
    return apply(x, out, n, c, h, w, idx, severity, seed, frost_dir, &job);
}

int tau_corrupt_motion_blur_at(const float *x, float *out, int64_t n, int64_t c, int64_t h,
                               int64_t w, int severity, double angle_deg) {
    if (!isfinite(angle_deg)) return tau_fail("corrupt: motion_blur angle must be finite");
    cjob job;
    job_init(&job, c, h, w, severity);
    job.fixed_draws = 1;
    job.angle = angle_deg;
    return apply(x, out, n, c, h, w, find("motion_blur"), severity, 0, NULL, &job);
}

int tau_corrupt_frost_at(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                         int severity, const char *frost_dir, int frost_index, int row0,
                         int col0) {
    if (!frost_dir) return tau_fail("corrupt: frost_at needs frost_dir");
    if (frost_index < 1 || frost_index > 5)
        return tau_fail("corrupt: frost_index must be 1..5, got %d", frost_index);
    if (row0 < 0 || col0 < 0) return tau_fail("corrupt: frost crop corner must be >= 0");
    cjob job;
    job_init(&job, c, h, w, severity);
    job.fixed_draws = 1;
    job.frost_idx = frost_index;
    job.frost_row = row0;
    job.frost_col = col0;
    return apply(x, out, n, c, h, w, find("frost"), severity, 0, frost_dir, &job);
}
