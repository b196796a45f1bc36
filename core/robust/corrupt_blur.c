/* Blurs: gaussian, glass, defocus, motion, zoom. */
#include "robust/corrupt_impl.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- gaussian_blur */

static const double GBLUR[2][5] = {{0.4, 0.6, 0.7, 0.8, 1.0}, {0.5, 0.75, 1.0, 1.25, 1.5}};

int tau__corrupt_gaussian_blur(const cjob *job, double *img, crng *r) {
    (void)r;
    double sigma = GBLUR[job->big][job->sev - 1] * job->scale;
    int64_t hw = (int64_t)job->h * job->w;
    for (int ch = 0; ch < job->c; ch++)
        if (tau__gauss_plane(img + ch * hw, job->h, job->w, sigma, 4.0, BORDER_NEAREST) != 0) return -1;
    return 0;
}

/* ---------------------------------------------------------------- glass_blur */

/* (sigma, max displacement, iterations) */
static const double GLASS[2][5][3] = {
    {{0.05, 1, 1}, {0.25, 1, 1}, {0.4, 1, 1}, {0.25, 1, 2}, {0.4, 1, 2}},
    {{0.1, 1, 1}, {0.5, 1, 1}, {0.6, 1, 2}, {0.7, 2, 1}, {0.9, 2, 2}},
};

int tau__corrupt_glass_blur(const cjob *job, double *img, crng *r) {
    const double *p = GLASS[job->big][job->sev - 1];
    double sigma = p[0] * job->scale;
    int d = (int)lround(p[1] * job->scale), iters = (int)p[2];
    if (d < 1) d = 1;
    int h = job->h, w = job->w, c = job->c;
    int64_t hw = (int64_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        if (tau__gauss_plane(img + ch * hw, h, w, sigma, 4.0, BORDER_NEAREST) != 0) return -1;
        /* The original stores the first blur as uint8 before shuffling. */
        for (int64_t k = 0; k < hw; k++) img[ch * hw + k] = trunc_u8(img[ch * hw + k] * 255);
    }
    /* The original meant to swap pixel pairs, but its tuple assignment through numpy views
     * copies one way: the source pixel keeps its value. The benchmark's data has that
     * behaviour, so it is kept. Rows and columns run from the far end towards the start. */
    for (int it = 0; it < iters; it++)
        for (int y = h - d; y > d; y--)
            for (int x = w - d; x > d; x--) {
                int dx = (int)tau__crng_int(r, -d, d), dy = (int)tau__crng_int(r, -d, d);
                int64_t to = (int64_t)y * w + x, from = (int64_t)(y + dy) * w + (x + dx);
                for (int ch = 0; ch < c; ch++) img[ch * hw + to] = img[ch * hw + from];
            }
    for (int ch = 0; ch < c; ch++) {
        for (int64_t k = 0; k < hw; k++) img[ch * hw + k] /= 255.0;
        if (tau__gauss_plane(img + ch * hw, h, w, sigma, 4.0, BORDER_NEAREST) != 0) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- defocus_blur */

/* (disk radius, anti-alias sigma) */
static const double DEFOCUS[2][5][2] = {
    {{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1, 0.2}, {1.5, 0.1}},
    {{0.5, 0.6}, {1, 0.1}, {1.5, 0.1}, {2.5, 0.01}, {3, 0.1}},
};

/* The squared radius of the pixel disk for a scaled radius. A binary disk only changes at
 * distances sqrt(i^2 + j^2), so a scaled radius snaps to the nearest such distance (ties
 * down): at 28x28 the 32x32 radius 1 becomes 0.875, which would otherwise drop the four
 * neighbours and leave no blur at all. Every radius of the two tables snaps to a value with
 * the same disk, so the rule is the original's at 32x32 and 64x64 too. */
static double disk_r2(double radius) {
    double best = 0, bestd = radius;
    int lim = (int)ceil(radius) + 1;
    for (int q = 1; q <= 2 * lim * lim; q++) {
        int is_sum = 0;
        for (int i = 0; i * i <= q && !is_sum; i++) {
            int j = (int)lround(sqrt((double)(q - i * i)));
            is_sum = i * i + j * j == q;
        }
        if (!is_sum) continue;
        double d = fabs(sqrt((double)q) - radius);
        if (d < bestd - 1e-12) {
            best = q;
            bestd = d;
        }
    }
    return best;
}

/* The disk kernel: a binary disk normalised in float32, smoothed by a small float32 Gaussian
 * (3 taps up to radius 8, 5 beyond, as the original) with mirrored (reflect-101) borders. */
static float *disk_kernel(double radius, double alias, int *ksize, size_t *bytes) {
    int n;
    double start;
    if (radius <= 8) {
        n = 17;
        start = -8;
    } else {
        n = (int)ceil(2 * radius + 1); /* the length of arange(-radius, radius + 1) */
        start = -radius;
    }
    int g = radius <= 8 ? 3 : 5, gr = g / 2;
    *bytes = (size_t)(2 * n * n) * sizeof(float);
    float *k = tau__cbuf_alloc(*bytes);
    if (!k) return NULL;
    float *tmp = k + n * n;
    int count = 0;
    double r2 = radius <= 8 ? disk_r2(radius) : radius * radius;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double a = start + i, b = start + j;
            int in = a * a + b * b <= r2;
            k[i * n + j] = (float)in;
            count += in;
        }
    for (int i = 0; i < n * n; i++) k[i] = k[i] / (float)(count ? count : 1);
    double gw[5], s = 0;
    for (int t = 0; t < g; t++) s += gw[t] = exp(-0.5 * (t - gr) * (t - gr) / (alias * alias));
    float gk[5];
    for (int t = 0; t < g; t++) gk[t] = (float)(gw[t] / s);
    /* Rows, then columns, float32 sums with symmetric taps paired as OpenCV pairs them. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float acc = k[i * n + j] * gk[gr];
            for (int t = 1; t <= gr; t++)
                acc += (k[i * n + tau__border_index(j - t, n, BORDER_REFLECT101)] +
                        k[i * n + tau__border_index(j + t, n, BORDER_REFLECT101)]) * gk[gr + t];
            tmp[i * n + j] = acc;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float acc = tmp[i * n + j] * gk[gr];
            for (int t = 1; t <= gr; t++)
                acc += (tmp[tau__border_index(i - t, n, BORDER_REFLECT101) * n + j] +
                        tmp[tau__border_index(i + t, n, BORDER_REFLECT101) * n + j]) * gk[gr + t];
            k[i * n + j] = acc;
        }
    *ksize = n;
    return k;
}

int tau__corrupt_defocus_blur(const cjob *job, double *img, crng *r) {
    (void)r;
    const double *p = DEFOCUS[job->big][job->sev - 1];
    int n, h = job->h, w = job->w;
    size_t kbytes;
    float *k = disk_kernel(p[0] * job->scale, p[1] * job->scale, &n, &kbytes);
    if (!k) return -1;
    int a = n / 2;
    /* Only the kernel's non-zero support matters; skip the rest. */
    int lo = n, hi = -1;
    for (int i = 0; i < n * n; i++)
        if (k[i] != 0) {
            int ii = i / n, jj = i % n;
            lo = ii < lo ? ii : lo;
            lo = jj < lo ? jj : lo;
            hi = ii > hi ? ii : hi;
            hi = jj > hi ? jj : hi;
        }
    /* The plane with a mirrored margin, so the inner loop needs no border logic. */
    int m = a - lo > hi - a ? a - lo : hi - a, pw = w + 2 * m;
    size_t pbytes = (size_t)(h + 2 * m) * pw * sizeof(double);
    double *pad = tau__cbuf_alloc(pbytes);
    if (!pad) {
        tau__cbuf_free(k, kbytes);
        return -1;
    }
    for (int ch = 0; ch < job->c; ch++) {
        double *src = img + (int64_t)ch * h * w;
        for (int y = -m; y < h + m; y++)
            for (int x = -m; x < w + m; x++)
                pad[(int64_t)(y + m) * pw + x + m] =
                    src[tau__border_index(y, h, BORDER_REFLECT101) * w + tau__border_index(x, w, BORDER_REFLECT101)];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double acc = 0;
                for (int i = lo; i <= hi; i++) {
                    const double *row = pad + (int64_t)(y + i - a + m) * pw + (x - a + m);
                    const float *kr = k + i * n;
                    for (int j = lo; j <= hi; j++) acc += (double)kr[j] * row[j];
                }
                src[(int64_t)y * w + x] = acc;
            }
    }
    tau__cbuf_free(pad, pbytes);
    tau__cbuf_free(k, kbytes);
    return 0;
}

/* ---------------------------------------------------------------- motion_blur */

/* (radius, sigma) of ImageMagick's motion blur */
static const double MOTION[2][5][2] = {
    {{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}},
    {{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}},
};

int tau__corrupt_motion_blur(const cjob *job, double *img, crng *r) {
    const double *p = MOTION[job->big][job->sev - 1];
    double angle = job->fixed_draws ? job->angle : tau__crng_range(r, -45, 45);
    int64_t hw = (int64_t)job->h * job->w;
    size_t bytes = (size_t)hw * 2 * sizeof(uint16_t);
    uint16_t *in = tau__cbuf_alloc(bytes);
    if (!in) return -1;
    uint16_t *out = in + hw;
    for (int ch = 0; ch < job->c; ch++) {
        double *v = img + ch * hw;
        /* The original hands ImageMagick an 8-bit image, which it widens to 16 bits. */
        for (int64_t k = 0; k < hw; k++) {
            double q = v[k] * 255.0;
            q = q <= 0 ? 0 : q >= 255 ? 255 : floor(q + 0.5);
            in[k] = (uint16_t)(q * 257);
        }
        if (tau__motion_blur_plane(in, out, job->h, job->w, p[0] * job->scale, p[1] * job->scale,
                              angle) != 0) {
            tau__cbuf_free(in, bytes);
            return -1;
        }
        for (int64_t k = 0; k < hw; k++) v[k] = (double)(out[k] / 257) / 255.0;
    }
    tau__cbuf_free(in, bytes);
    return 0;
}

/* ---------------------------------------------------------------- zoom_blur */

/* Number of factors 1, 1.01, ... per severity. numpy's arange fills start + i * delta with
 * delta = (start + step) - start, which is not exactly 0.01; it decides a rounding tie in the
 * zoomed size (26 * 1.25), so the same delta is used here. */
static const int ZOOMS[5] = {7, 12, 16, 21, 26};

int tau__corrupt_zoom_blur(const cjob *job, double *img, crng *r) {
    (void)r;
    int h = job->h, w = job->w, nz = ZOOMS[job->sev - 1];
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * (2 * sizeof(double) + sizeof(float));
    double *plane = tau__cbuf_alloc(bytes);
    if (!plane) return -1;
    double *zoomed = plane + hw;
    float *acc = (float *)(zoomed + hw);
    for (int ch = 0; ch < job->c; ch++) {
        double *v = img + ch * hw;
        /* The original works in float32: the input, each zoom's output and the sum. */
        for (int64_t k = 0; k < hw; k++) {
            plane[k] = (float)v[k];
            acc[k] = 0.0f;
        }
        for (int i = 0; i < nz; i++) {
            const double delta = (1.0 + 0.01) - 1.0; /* IEEE rounding, folded or not */
            if (tau__clipped_zoom(plane, zoomed, h, w, 1.0 + i * delta) != 0) {
                tau__cbuf_free(plane, bytes);
                return -1;
            }
            for (int64_t k = 0; k < hw; k++) acc[k] += (float)zoomed[k];
        }
        for (int64_t k = 0; k < hw; k++) v[k] = ((float)plane[k] + acc[k]) / (float)(nz + 1);
    }
    tau__cbuf_free(plane, bytes);
    return 0;
}
