/* The random generator and the filters shared by several corruptions (corrupt_impl.h); the
 * corruptions themselves (corrupt_noise.c, ...) build on these, and corrupt.c dispatches to
 * them, so the files form a chain rather than a cycle. */
#include "robust/corrupt_impl.h"
#include "base/rng.h"
#include "base/alloc.h"
#include "base/error.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- random numbers */

#define splitmix64 tau_splitmix64

void tau__crng_seed(crng *r, uint64_t seed, uint64_t stream) {
    /* Two rounds of splitmix so that nearby (seed, stream) pairs give unrelated states. */
    uint64_t a = seed, b = stream ^ 0x6A09E667F3BCC908ull;
    uint64_t x = splitmix64(&a) ^ (splitmix64(&b) * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
}

uint64_t tau__crng_next(crng *r) { return tau_xoshiro_next(r->s); }

double tau__crng_uniform(crng *r) { return tau_u01(tau__crng_next(r)); }

double tau__crng_range(crng *r, double lo, double hi) { return lo + (hi - lo) * tau__crng_uniform(r); }

int64_t tau__crng_int(crng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)(hi - lo);
    if (hi <= lo) return lo;
    /* Rejection keeps the draw exactly uniform. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span, v;
    do v = tau__crng_next(r); while (v >= limit);
    return lo + (int64_t)(v % span);
}

double tau__crng_normal(crng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - tau__crng_uniform(r), u2 = tau__crng_uniform(r); /* u1 in (0, 1]: log finite */
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

int64_t tau__crng_poisson(crng *r, double lam) {
    if (!(lam > 0)) return 0;
    if (lam < 10) {
        /* Product of uniforms: exact, and cheap for small means. */
        double limit = exp(-lam), p = tau__crng_uniform(r);
        int64_t k = 0;
        while (p > limit) {
            k++;
            p *= tau__crng_uniform(r);
        }
        return k;
    }
    /* Hörmann's transformed rejection with squeeze (PTRS), constant expected cost. */
    double slam = sqrt(lam), loglam = log(lam);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = tau__crng_uniform(r) - 0.5, v = tau__crng_uniform(r);
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

void *tau__cbuf_alloc(size_t bytes) {
    void *p = tau_alloc(bytes);
    if (!p) tau_fail("corrupt: out of memory");
    return p;
}

void tau__cbuf_free(void *p, size_t bytes) { tau_free(p, bytes); }

int64_t tau__border_index(int64_t i, int64_t n, int mode) {
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

int tau__gauss_radius(double sigma, double truncate) {
    if (!(sigma > 1e-15)) return 0;
    return (int)(truncate * sigma + 0.5);
}

void tau__gauss_weights(double sigma, int radius, double *k) {
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
            acc += (in[tau__border_index(i - t, n, mode) * stride] +
                    in[tau__border_index(i + t, n, mode) * stride]) * k[r + t];
        out[i] = acc;
    }
}

int tau__gauss_plane(double *p, int h, int w, double sigma, double truncate, int mode) {
    int r = tau__gauss_radius(sigma, truncate);
    if (r == 0) return 0;
    size_t kb = (size_t)(2 * r + 1) * sizeof(double), lb = (size_t)(h > w ? h : w) * sizeof(double);
    double *k = tau__cbuf_alloc(kb), *line = tau__cbuf_alloc(lb);
    if (!k || !line) {
        tau__cbuf_free(k, kb);
        tau__cbuf_free(line, lb);
        return -1;
    }
    tau__gauss_weights(sigma, r, k);
    for (int x = 0; x < w; x++) {
        corr_line(p + x, line, h, w, k, r, mode);
        for (int y = 0; y < h; y++) p[(int64_t)y * w + x] = line[y];
    }
    for (int y = 0; y < h; y++) {
        corr_line(p + (int64_t)y * w, line, w, 1, k, r, mode);
        memcpy(p + (int64_t)y * w, line, (size_t)w * sizeof(double));
    }
    tau__cbuf_free(k, kb);
    tau__cbuf_free(line, lb);
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

int tau__clipped_zoom(const double *in, double *out, int h, int w, double z) {
    int chh = (int)ceil((double)h / z), chw = (int)ceil((double)w / z);
    int oh = (int)rint(chh * z), ow = (int)rint(chw * z);
    size_t bytes = (size_t)(h + w) * sizeof(ztap);
    ztap *ty = tau__cbuf_alloc(bytes);
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
    tau__cbuf_free(ty, bytes);
    return 0;
}

/* ---------------------------------------------------------------- motion blur */

int tau__motion_blur_plane(const uint16_t *in, uint16_t *out, int h, int w, double radius,
                      double sigma, double angle_deg) {
    int width = (int)(2.0 * ceil(radius) + 1.0);
    if (width < 1) width = 1;
    if (fabs(sigma) < 1e-12) sigma = 1e-12;
    size_t kb = (size_t)width * (sizeof(double) + 2 * sizeof(int));
    double *k = tau__cbuf_alloc(kb);
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
    tau__cbuf_free(k, kb);
    return 0;
}

/* ---------------------------------------------------------------- plasma fractal */

int tau__plasma_fractal(double *map, int m, double decay, crng *r) {
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
                P(y + half, x + half) = s / 4 + wib * tau__crng_range(r, -wib, wib);
            }
        /* Diamonds on the corner rows: centres above and below, corners left and right. */
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                int y = i * step, x = j * step + half;
                double s = (P(y + half, x) + P(y - half, x)) + (P(y, x - half) + P(y, x + half));
                P(y, x) = s / 4 + wib * tau__crng_range(r, -wib, wib);
            }
        /* Diamonds on the centre rows: centres left and right, corners above and below. */
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                int y = i * step + half, x = j * step;
                double s = (P(y, x + half) + P(y, x - half)) + (P(y - half, x) + P(y + half, x));
                P(y, x) = s / 4 + wib * tau__crng_range(r, -wib, wib);
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
