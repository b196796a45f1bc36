/* Weather: snow, frost, fog, spatter; and the frost photographs. */
#include "robust/corrupt_impl.h"
#include "base/error.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stb/stb_image.h>

/* Writes the RGB result (r, g, b per pixel, planar h*w each) into img: as is for 3 channels,
 * as Rec. 601 luma for 1. */
static void store_rgb(const cjob *job, double *img, const double *rgb) {
    int64_t hw = (int64_t)job->h * job->w;
    if (job->c == 3) {
        memcpy(img, rgb, (size_t)(3 * hw) * sizeof(double));
        return;
    }
    for (int64_t k = 0; k < hw; k++) {
        double r = rgb[k], g = rgb[hw + k], b = rgb[2 * hw + k];
        r = r < 0 ? 0 : r > 1 ? 1 : r;
        g = g < 0 ? 0 : g > 1 ? 1 : g;
        b = b < 0 ? 0 : b > 1 ? 1 : b;
        img[k] = luma601(r, g, b);
    }
}

/* Channel ch of the image seen as RGB (a grey image repeats its plane). */
static inline const double *rgb_plane(const cjob *job, const double *img, int ch) {
    return img + (job->c == 3 ? (int64_t)ch * job->h * job->w : 0);
}

/* ---------------------------------------------------------------- fog */

static const double FOG[2][5][2] = {
    {{0.2, 3}, {0.5, 3}, {0.75, 2.5}, {1, 2}, {1.5, 1.75}},
    {{0.4, 3}, {0.7, 3}, {1, 2.5}, {1.5, 2}, {2, 1.75}},
};

int tau__corrupt_fog(const cjob *job, double *img, crng *r) {
    const double *p = FOG[job->big][job->sev - 1];
    int h = job->h, w = job->w, m = 1;
    while (m < h || m < w) m *= 2;
    size_t bytes = (size_t)m * m * sizeof(double);
    double *map = tau__cbuf_alloc(bytes);
    if (!map) return -1;
    tau__plasma_fractal(map, m, p[1], r);
    int64_t hw = (int64_t)h * w, nv = hw * job->c;
    double mx = img[0];
    for (int64_t k = 1; k < nv; k++) mx = img[k] > mx ? img[k] : mx;
    for (int ch = 0; ch < job->c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double *v = img + ch * hw + (int64_t)y * w + x;
                *v = (*v + p[0] * map[(int64_t)y * m + x]) * mx / (mx + p[0]);
            }
    tau__cbuf_free(map, bytes);
    return 0;
}

/* ---------------------------------------------------------------- snow */

/* (mean, std, zoom, threshold, blur radius, blur sigma, blend) */
static const double SNOW[2][5][7] = {
    {{0.1, 0.2, 1, 0.6, 8, 3, 0.95},
     {0.1, 0.2, 1, 0.5, 10, 4, 0.9},
     {0.15, 0.3, 1.75, 0.55, 10, 4, 0.9},
     {0.25, 0.3, 2.25, 0.6, 12, 6, 0.85},
     {0.3, 0.3, 1.25, 0.65, 14, 12, 0.8}},
    {{0.1, 0.2, 1, 0.6, 8, 3, 0.8},
     {0.1, 0.2, 1, 0.5, 10, 4, 0.8},
     {0.15, 0.3, 1.75, 0.55, 10, 4, 0.7},
     {0.25, 0.3, 2.25, 0.6, 12, 6, 0.65},
     {0.3, 0.3, 1.25, 0.65, 14, 12, 0.6}},
};

int tau__corrupt_snow(const cjob *job, double *img, crng *r) {
    const double *p = SNOW[job->big][job->sev - 1];
    int h = job->h, w = job->w;
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * (2 * sizeof(double) + 2 * sizeof(uint16_t));
    double *layer = tau__cbuf_alloc(bytes);
    if (!layer) return -1;
    double *zoomed = layer + hw;
    uint16_t *q = (uint16_t *)(zoomed + hw), *qb = q + hw;
    for (int64_t k = 0; k < hw; k++) layer[k] = p[0] + p[1] * tau__crng_normal(r);
    double angle = tau__crng_range(r, -135, -45);
    if (tau__clipped_zoom(layer, zoomed, h, w, p[2]) != 0) {
        tau__cbuf_free(layer, bytes);
        return -1;
    }
    /* Flakes are the values above the threshold, stored as an 8-bit grey image and smeared
     * along the fall direction. */
    for (int64_t k = 0; k < hw; k++) {
        double v = zoomed[k] < p[3] ? 0 : zoomed[k];
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        q[k] = (uint16_t)(trunc_u8(v * 255) * 257);
    }
    if (tau__motion_blur_plane(q, qb, h, w, p[4] * job->scale, p[5] * job->scale, angle) != 0) {
        tau__cbuf_free(layer, bytes);
        return -1;
    }
    for (int64_t k = 0; k < hw; k++) layer[k] = (double)(qb[k] / 257) / 255.0;
    double blend = p[6];
    for (int64_t k = 0; k < hw; k++) {
        double gray = job->c == 3 ? 0.299 * img[k] + 0.587 * img[hw + k] + 0.114 * img[2 * hw + k]
                                  : img[k];
        double lift = gray * 1.5 + 0.5;
        /* Flakes and the same flakes turned half a turn, added to every channel. */
        double s = layer[k] + layer[hw - 1 - k];
        for (int ch = 0; ch < job->c; ch++) {
            double *v = img + ch * hw + k;
            *v = blend * *v + (1 - blend) * (*v > lift ? *v : lift) + s;
        }
    }
    tau__cbuf_free(layer, bytes);
    return 0;
}

/* ---------------------------------------------------------------- spatter */

/* (mean, std, blur sigma, threshold, intensity or mud sigma, mode: 0 water, 1 mud) */
static const double SPATTER[2][5][6] = {
    {{0.62, 0.1, 0.7, 0.7, 0.5, 0},
     {0.65, 0.1, 0.8, 0.7, 0.5, 0},
     {0.65, 0.3, 1, 0.69, 0.5, 0},
     {0.65, 0.1, 0.7, 0.69, 0.6, 1},
     {0.65, 0.1, 0.5, 0.68, 0.6, 1}},
    {{0.62, 0.1, 0.7, 0.7, 0.6, 0},
     {0.65, 0.1, 0.8, 0.7, 0.6, 0},
     {0.65, 0.3, 1, 0.69, 0.6, 0},
     {0.65, 0.1, 0.7, 0.68, 0.6, 1},
     {0.65, 0.1, 0.5, 0.67, 0.6, 1}},
};

/* Canny edges (3x3 Sobel with replicated borders, L1 magnitude, non-maximum suppression in
 * four directions, hysteresis between lo and hi) of an 8-bit image; edge = 1. */
static int canny(const unsigned char *src, unsigned char *edge, int h, int w, int lo, int hi) {
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * (3 * sizeof(int) + sizeof(int64_t)) + (size_t)hw;
    int *dx = tau__cbuf_alloc(bytes);
    if (!dx) return -1;
    int *dy = dx + hw, *mag = dy + hw;
    int64_t *stack = (int64_t *)(mag + hw);
    unsigned char *map = (unsigned char *)(stack + hw); /* 0 weak candidate, 1 none, 2 edge */
#define S(yy, xx) ((int)src[(int64_t)tau__border_index(yy, h, BORDER_NEAREST) * w + tau__border_index(xx, w, BORDER_NEAREST)])
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int64_t k = (int64_t)y * w + x;
            dx[k] = (S(y - 1, x + 1) - S(y - 1, x - 1)) + 2 * (S(y, x + 1) - S(y, x - 1)) +
                    (S(y + 1, x + 1) - S(y + 1, x - 1));
            dy[k] = (S(y + 1, x - 1) - S(y - 1, x - 1)) + 2 * (S(y + 1, x) - S(y - 1, x)) +
                    (S(y + 1, x + 1) - S(y - 1, x + 1));
            mag[k] = abs(dx[k]) + abs(dy[k]);
        }
#undef S
#define M(yy, xx) ((yy) < 0 || (yy) >= h || (xx) < 0 || (xx) >= w ? 0 : mag[(int64_t)(yy) * w + (xx)])
    const int64_t tg22 = 13573; /* tan(22.5 deg) in 15-bit fixed point */
    int64_t top = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int64_t k = (int64_t)y * w + x;
            int m = mag[k];
            map[k] = 1;
            if (m <= lo) continue;
            int64_t xs = abs(dx[k]), ys = (int64_t)abs(dy[k]) << 15, t22 = xs * tg22;
            int is_max;
            if (ys < t22)
                is_max = m > M(y, x - 1) && m >= M(y, x + 1);
            else if (ys > t22 + (xs << 16))
                is_max = m > M(y - 1, x) && m >= M(y + 1, x);
            else {
                int s = (dx[k] ^ dy[k]) < 0 ? -1 : 1;
                is_max = m > M(y - 1, x - s) && m > M(y + 1, x + s);
            }
            if (!is_max) continue;
            if (m > hi) {
                map[k] = 2;
                stack[top++] = k;
            } else
                map[k] = 0;
        }
#undef M
    while (top > 0) {
        int64_t k = stack[--top];
        int y = (int)(k / w), x = (int)(k % w);
        for (int yy = y - 1; yy <= y + 1; yy++)
            for (int xx = x - 1; xx <= x + 1; xx++) {
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                int64_t kk = (int64_t)yy * w + xx;
                if (map[kk] == 0) {
                    map[kk] = 2;
                    stack[top++] = kk;
                }
            }
    }
    for (int64_t k = 0; k < hw; k++) edge[k] = map[k] == 2;
    tau__cbuf_free(dx, bytes);
    return 0;
}

/* Distance to the nearest edge pixel by a 5x5 chamfer mask (steps 1, 1.4 and 2.1969 in
 * 16-bit fixed point, as OpenCV's L2 approximation); pixels outside count as far away. */
static int distance5(const unsigned char *edge, double *dist, int h, int w) {
    const int64_t A = 65536, B = 91750, C = 143977, FAR = (int64_t)1 << 40;
    int pw = w + 4;
    size_t bytes = (size_t)(h + 4) * pw * sizeof(int64_t);
    int64_t *t = tau__cbuf_alloc(bytes);
    if (!t) return -1;
    for (int64_t k = 0; k < (int64_t)(h + 4) * pw; k++) t[k] = FAR;
#define T(yy, xx) t[(int64_t)((yy) + 2) * pw + (xx) + 2]
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) T(y, x) = edge[(int64_t)y * w + x] ? 0 : FAR;
    static const int fy[8] = {-2, -2, -1, -1, -1, -1, -1, 0}, fx[8] = {-1, 1, -2, -1, 0, 1, 2, -1};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int64_t best = T(y, x);
            if (best == 0) continue;
            for (int i = 0; i < 8; i++) {
                int dyy = fy[i], dxx = fx[i];
                int64_t step = (abs(dyy) == 2 || abs(dxx) == 2) ? C : (dyy && dxx) ? B : A;
                int64_t v = T(y + dyy, x + dxx) + step;
                best = v < best ? v : best;
            }
            T(y, x) = best;
        }
    for (int y = h - 1; y >= 0; y--)
        for (int x = w - 1; x >= 0; x--) {
            int64_t best = T(y, x);
            if (best == 0) continue;
            for (int i = 0; i < 8; i++) {
                int dyy = -fy[i], dxx = -fx[i];
                int64_t step = (abs(dyy) == 2 || abs(dxx) == 2) ? C : (dyy && dxx) ? B : A;
                int64_t v = T(y + dyy, x + dxx) + step;
                best = v < best ? v : best;
            }
            T(y, x) = best;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) dist[(int64_t)y * w + x] = (double)T(y, x) / 65536.0;
#undef T
    tau__cbuf_free(t, bytes);
    return 0;
}

/* 3x3 mean with mirrored (reflect-101) borders. */
static void box3(const double *in, double *out, int h, int w) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int i = -1; i <= 1; i++)
                for (int j = -1; j <= 1; j++)
                    s += in[tau__border_index(y + i, h, BORDER_REFLECT101) * w +
                            tau__border_index(x + j, w, BORDER_REFLECT101)];
            out[(int64_t)y * w + x] = s / 9.0;
        }
}

/* Histogram equalisation of 8-bit values (OpenCV's mapping: the lowest occupied level goes
 * to 0, the rest by the cumulative count, rounded). */
static void equalize(unsigned char *v, int64_t n) {
    int64_t hist[256] = {0};
    for (int64_t k = 0; k < n; k++) hist[v[k]]++;
    int i = 0;
    while (!hist[i]) i++;
    if (hist[i] == n) return; /* one level: OpenCV leaves it as it is */
    unsigned char lut[256] = {0};
    double scale = 255.0 / (double)(n - hist[i]);
    int64_t sum = 0;
    for (int j = i + 1; j < 256; j++) {
        sum += hist[j];
        double t = rint((double)sum * scale);
        lut[j] = (unsigned char)(t > 255 ? 255 : t);
    }
    for (int64_t k = 0; k < n; k++) v[k] = lut[v[k]];
}

static int spatter_water(const cjob *job, double *img, const double *liquid, double c4) {
    int h = job->h, w = job->w;
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * (5 * sizeof(double) + 3);
    double *d = tau__cbuf_alloc(bytes);
    if (!d) return -1;
    double *d2 = d + hw, *rgb = d2 + hw;
    unsigned char *l8 = (unsigned char *)(rgb + 3 * hw), *edge = l8 + hw, *u = edge + hw;
    for (int64_t k = 0; k < hw; k++) l8[k] = (unsigned char)trunc_u8(liquid[k] * 255);
    if (canny(l8, edge, h, w, 50, 150) != 0 || distance5(edge, d, h, w) != 0) {
        tau__cbuf_free(d, bytes);
        return -1;
    }
    /* Drops are shaded by the distance to their rims: a capped distance map, equalised,
     * embossed and smoothed, weighted by the liquid layer. */
    double cap = 20 * job->scale;
    for (int64_t k = 0; k < hw; k++) d[k] = d[k] > cap ? cap : d[k];
    box3(d, d2, h, w);
    for (int64_t k = 0; k < hw; k++) u[k] = (unsigned char)trunc_u8(d2[k]);
    equalize(u, hw);
    static const int ker[3][3] = {{-2, -1, 0}, {-1, 1, 1}, {0, 1, 2}};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int s = 0;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    s += ker[i][j] * u[tau__border_index(y + i - 1, h, BORDER_REFLECT101) * w +
                                       tau__border_index(x + j - 1, w, BORDER_REFLECT101)];
            d[(int64_t)y * w + x] = s < 0 ? 0 : s > 255 ? 255 : s;
        }
    box3(d, d2, h, w);
    double mx = 0;
    for (int64_t k = 0; k < hw; k++) {
        d2[k] = rint(d2[k]) * l8[k]; /* the box mean is 8-bit in the original */
        mx = d2[k] > mx ? d2[k] : mx;
    }
    static const double col[3] = {175 / 255.0, 238 / 255.0, 238 / 255.0}; /* pale turquoise */
    for (int ch = 0; ch < 3; ch++) {
        const double *src = rgb_plane(job, img, ch);
        for (int64_t k = 0; k < hw; k++) {
            double m = mx > 0 ? c4 * d2[k] / mx : 0;
            rgb[ch * hw + k] = src[k] + m * col[ch];
        }
    }
    store_rgb(job, img, rgb);
    tau__cbuf_free(d, bytes);
    return 0;
}

static int spatter_mud(const cjob *job, double *img, double *liquid, double thr, double sigma) {
    int h = job->h, w = job->w;
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * 3 * sizeof(double);
    double *rgb = tau__cbuf_alloc(bytes);
    if (!rgb) return -1;
    for (int64_t k = 0; k < hw; k++) liquid[k] = liquid[k] > thr ? 1.0 : 0.0;
    if (tau__gauss_plane(liquid, h, w, sigma, 4.0, BORDER_NEAREST) != 0) {
        tau__cbuf_free(rgb, bytes);
        return -1;
    }
    static const double col[3] = {63 / 255.0, 42 / 255.0, 20 / 255.0}; /* mud brown */
    for (int ch = 0; ch < 3; ch++) {
        const double *src = rgb_plane(job, img, ch);
        for (int64_t k = 0; k < hw; k++) {
            double m = liquid[k] < 0.8 ? 0 : liquid[k];
            rgb[ch * hw + k] = src[k] * (1 - m) + m * col[ch];
        }
    }
    store_rgb(job, img, rgb);
    tau__cbuf_free(rgb, bytes);
    return 0;
}

int tau__corrupt_spatter(const cjob *job, double *img, crng *r) {
    const double *p = SPATTER[job->big][job->sev - 1];
    int64_t hw = (int64_t)job->h * job->w;
    size_t bytes = (size_t)hw * sizeof(double);
    double *liquid = tau__cbuf_alloc(bytes);
    if (!liquid) return -1;
    for (int64_t k = 0; k < hw; k++) liquid[k] = p[0] + p[1] * tau__crng_normal(r);
    int rc = tau__gauss_plane(liquid, job->h, job->w, p[2] * job->scale, 4.0, BORDER_NEAREST);
    if (rc == 0) {
        for (int64_t k = 0; k < hw; k++)
            if (liquid[k] < p[3]) liquid[k] = 0;
        rc = p[5] == 0 ? spatter_water(job, img, liquid, p[4])
                       : spatter_mud(job, img, liquid, p[3], p[4] * job->scale);
    }
    tau__cbuf_free(liquid, bytes);
    return rc;
}

/* ---------------------------------------------------------------- frost photographs */

static const double FROST[2][5][2] = {
    {{1, 0.2}, {1, 0.3}, {0.9, 0.4}, {0.85, 0.4}, {0.75, 0.45}},
    {{1, 0.3}, {0.9, 0.4}, {0.8, 0.45}, {0.75, 0.5}, {0.7, 0.55}},
};

static void frost_path(char *buf, size_t n, const char *dir, int idx) {
    snprintf(buf, n, "%s/frost%d.%s", dir, idx + 1, idx < 3 ? "png" : "jpg");
}

/* OpenCV's size rounding (to nearest, ties to even) for a scaled side. */
static int scaled_side(int side, double f) { return (int)rint(side * f); }

int tau__frost_open(cfrost_set *set, const char *dir, int h, int w, int big, double scale) {
    memset(set, 0, sizeof *set);
    set->factor = (big ? 0.3 : 0.2) * scale;
    for (int j = 0; j < 5; j++) {
        char path[4096];
        int pw, ph, comp;
        frost_path(path, sizeof path, dir, j);
        if (!stbi_info(path, &pw, &ph, &comp) || pw < 1 || ph < 1) continue;
        /* A photo too small for the image at the benchmark's scale is scaled up to fit. */
        double f = set->factor;
        if (scaled_side(ph, f) < h || scaled_side(pw, f) < w)
            f = fmax((h + 0.5) / ph, (w + 0.5) / pw);
        cfrost_photo *photo = &set->photo[j];
        photo->ok = 1;
        photo->fx = f;
        photo->rows = scaled_side(ph, f);
        photo->cols = scaled_side(pw, f);
        set->count++;
    }
    if (set->count == 0)
        return tau_fail("corrupt: no readable frost images (frost1.png .. frost5.jpg) in '%s'", dir);
    return 0;
}

/* Bilinear resampling of an 8-bit RGB image in OpenCV's fixed point (11-bit weights, pixel
 * centres aligned), so the scaled photos match the original's within a level. */
static void resize_bilinear_u8(const unsigned char *src, int sw, int sh, unsigned char *dst,
                               int dw, int dh, double f, int *rowbuf) {
    double inv = 1.0 / f;
    for (int dy = 0; dy < dh; dy++) {
        float fy = (float)((dy + 0.5) * inv - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        if (sy < 0) sy = 0, fy = 0;
        if (sy >= sh - 1) sy = sh - 1, fy = 0;
        int b0 = (int)lrintf((1.f - fy) * 2048), b1 = (int)lrintf(fy * 2048);
        int sy1 = sy + 1 < sh ? sy + 1 : sy;
        int *r0 = rowbuf, *r1 = rowbuf + (size_t)dw * 3;
        for (int dx = 0; dx < dw; dx++) {
            float fx = (float)((dx + 0.5) * inv - 0.5);
            int sx = (int)floorf(fx);
            fx -= (float)sx;
            if (sx < 0) sx = 0, fx = 0;
            if (sx >= sw - 1) sx = sw - 1, fx = 0;
            int a0 = (int)lrintf((1.f - fx) * 2048), a1 = (int)lrintf(fx * 2048);
            int sx1 = sx + 1 < sw ? sx + 1 : sx;
            for (int ch = 0; ch < 3; ch++) {
                const unsigned char *p0 = src + ((size_t)sy * sw) * 3 + ch;
                const unsigned char *p1 = src + ((size_t)sy1 * sw) * 3 + ch;
                r0[dx * 3 + ch] = p0[sx * 3] * a0 + p0[sx1 * 3] * a1;
                r1[dx * 3 + ch] = p1[sx * 3] * a0 + p1[sx1 * 3] * a1;
            }
        }
        for (int k = 0; k < dw * 3; k++) {
            /* The vectorised rounding OpenCV uses for most of a row. */
            int v = ((((r0[k] >> 4) * b0) >> 16) + (((r1[k] >> 4) * b1) >> 16) + 2) >> 2;
            dst[((size_t)dy * dw) * 3 + k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

int tau__frost_load(cfrost_set *set, const char *dir, int idx) {
    cfrost_photo *p = &set->photo[idx];
    if (p->rgb) return 0;
    char path[4096];
    frost_path(path, sizeof path, dir, idx);
    int w, h, comp;
    unsigned char *src = stbi_load(path, &w, &h, &comp, 3);
    if (!src) return tau_fail("corrupt: cannot read frost image '%s'", path);
    size_t bytes = (size_t)p->rows * p->cols * 3, rb = (size_t)p->cols * 6 * sizeof(int);
    p->rgb = tau__cbuf_alloc(bytes);
    int *rowbuf = tau__cbuf_alloc(rb);
    if (!p->rgb || !rowbuf) {
        stbi_image_free(src);
        tau__cbuf_free(rowbuf, rb);
        return -1;
    }
    resize_bilinear_u8(src, w, h, p->rgb, p->cols, p->rows, p->fx, rowbuf);
    tau__cbuf_free(rowbuf, rb);
    stbi_image_free(src);
    return 0;
}

void tau__frost_close(cfrost_set *set) {
    for (int j = 0; j < 5; j++)
        if (set->photo[j].rgb)
            tau__cbuf_free(set->photo[j].rgb, (size_t)set->photo[j].rows * set->photo[j].cols * 3);
}

/* ---------------------------------------------------------------- procedural ice */

/* A stand-in for the photographs: a plasma haze with bright, branching crystal needles,
 * tinted pale blue. Fills rgb (3 planes of h x w, 0..255). */
static int ice_texture(const cjob *job, double *rgb, crng *r) {
    int h = job->h, w = job->w, m = 1;
    while (m < h || m < w) m *= 2;
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)m * m * sizeof(double);
    double *map = tau__cbuf_alloc(bytes);
    if (!map) return -1;
    tau__plasma_fractal(map, m, 1.8, r);
    double *t = rgb; /* intensity in the first plane, tinted at the end */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) t[(int64_t)y * w + x] = 0.36 + 0.42 * map[(int64_t)y * m + x];
    tau__cbuf_free(map, bytes);
    double size = job->size;
    int needles = (int)(hw / 24) + 4;
    for (int i = 0; i < needles; i++) {
        double x = tau__crng_range(r, 0, w), y = tau__crng_range(r, 0, h);
        double ang = tau__crng_range(r, 0, 2 * M_PI), len = tau__crng_range(r, 0.05, 0.35) * size;
        double bright = tau__crng_range(r, 0.65, 1.0);
        int branches = (int)tau__crng_int(r, 0, 3);
        for (int b = 0; b <= branches; b++) {
            double bx = x, by = y, a = ang, l = len;
            if (b > 0) {
                /* Side branches leave the needle at about 60 degrees, shorter and fainter. */
                double at = tau__crng_range(r, 0.2, 0.8) * len;
                bx += cos(ang) * at;
                by += sin(ang) * at;
                a = ang + (tau__crng_uniform(r) < 0.5 ? -1 : 1) * M_PI / 3;
                l = len * tau__crng_range(r, 0.2, 0.5);
            }
            for (double s = 0; s < l; s += 0.5) {
                int px = (int)(bx + cos(a) * s), py = (int)(by + sin(a) * s);
                if (px < 0 || px >= w || py < 0 || py >= h) break;
                double v = bright * (1 - 0.5 * s / l) * (b ? 0.8 : 1.0);
                double *dst = t + (int64_t)py * w + px;
                *dst = *dst > v ? *dst : v;
            }
        }
    }
    if (tau__gauss_plane(t, h, w, 0.35 * size / 32, 4.0, BORDER_NEAREST) != 0) return -1;
    for (int64_t k = 0; k < hw; k++) t[k] += 0.06 * (tau__crng_uniform(r) - 0.5); /* rime grain */
    static const double tint[3] = {0.86, 0.98, 1.06};
    for (int ch = 2; ch >= 0; ch--)
        for (int64_t k = 0; k < hw; k++) {
            double v = t[k] * tint[ch] * 255;
            rgb[ch * hw + k] = v > 255 ? 255 : floor(v + 0.5);
        }
    return 0;
}

int tau__corrupt_frost(const cjob *job, double *img, crng *r) {
    const double *p = FROST[job->big][job->sev - 1];
    int h = job->h, w = job->w;
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * 6 * sizeof(double);
    double *ice = tau__cbuf_alloc(bytes);
    if (!ice) return -1;
    double *rgb = ice + 3 * hw;
    if (job->frost) {
        const cfrost_set *set = job->frost;
        int idx = -1, row0 = 0, col0 = 0;
        if (job->fixed_draws) {
            idx = job->frost_idx - 1;
            row0 = job->frost_row;
            col0 = job->frost_col;
        } else {
            int pick = (int)tau__crng_int(r, 0, set->count);
            for (int j = 0; j < 5; j++)
                if (set->photo[j].ok && pick-- == 0) {
                    idx = j;
                    break;
                }
        }
        const cfrost_photo *ph = &set->photo[idx];
        if (!job->fixed_draws) {
            row0 = (int)tau__crng_int(r, 0, ph->rows - h);
            col0 = (int)tau__crng_int(r, 0, ph->cols - w);
        }
        if (row0 + h > ph->rows || col0 + w > ph->cols) {
            tau__cbuf_free(ice, bytes);
            return tau_fail("corrupt: frost crop at (%d, %d) of size %d x %d does not fit the "
                            "scaled photo (%d x %d)", row0, col0, h, w, ph->rows, ph->cols);
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < 3; ch++)
                    ice[ch * hw + (int64_t)y * w + x] =
                        ph->rgb[((size_t)(row0 + y) * ph->cols + (col0 + x)) * 3 + ch];
    } else if (ice_texture(job, ice, r) != 0) {
        tau__cbuf_free(ice, bytes);
        return -1;
    }
    /* The original blends on the 0..255 scale and clips there. */
    for (int ch = 0; ch < 3; ch++) {
        const double *src = rgb_plane(job, img, ch);
        for (int64_t k = 0; k < hw; k++) rgb[ch * hw + k] = p[0] * src[k] + p[1] * ice[ch * hw + k] / 255.0;
    }
    store_rgb(job, img, rgb);
    tau__cbuf_free(ice, bytes);
    return 0;
}
