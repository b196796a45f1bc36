/* Digital: contrast, brightness, saturate, jpeg_compression, pixelate, elastic_transform. */
#include "robust/corrupt_impl.h"
#include "base/error.h"
#include <math.h>
#include <string.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* Quantises a [0, 1] value to 8 bits, the original's input format. */
static inline unsigned char to_u8(double v) {
    v = v * 255.0;
    return (unsigned char)(v <= 0 ? 0 : v >= 255 ? 255 : floor(v + 0.5));
}

/* ---------------------------------------------------------------- contrast */

static const double CONTRAST[2][5] = {{0.75, 0.5, 0.4, 0.3, 0.15}, {0.4, 0.3, 0.2, 0.1, 0.05}};

int tau__corrupt_contrast(const cjob *job, double *img, crng *r) {
    (void)r;
    double c = CONTRAST[job->big][job->sev - 1];
    int64_t hw = (int64_t)job->h * job->w;
    for (int ch = 0; ch < job->c; ch++) {
        double *v = img + ch * hw, mean = 0;
        for (int64_t k = 0; k < hw; k++) mean += v[k];
        mean /= (double)hw;
        for (int64_t k = 0; k < hw; k++) v[k] = (v[k] - mean) * c + mean;
    }
    return 0;
}

/* ---------------------------------------------------------------- HSV (scikit-image's) */

static void rgb2hsv(double r, double g, double b, double *h, double *s, double *v) {
    double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b)), delta = mx - mn;
    *v = mx;
    if (delta == 0) {
        *s = 0;
        *h = 0;
        return;
    }
    *s = delta / mx;
    double hh = 0;
    /* Later cases win ties, as in the reference's sequence of masked assignments. */
    if (r == mx) hh = (g - b) / delta;
    if (g == mx) hh = 2.0 + (b - r) / delta;
    if (b == mx) hh = 4.0 + (r - g) / delta;
    hh /= 6.0;
    double m = fmod(hh, 1.0);
    if (m != 0 && m < 0) m += 1.0; /* Python's modulo: the sign of the divisor */
    *h = m;
}

static void hsv2rgb(double h, double s, double v, double *r, double *g, double *b) {
    double hi = floor(h * 6), f = h * 6 - hi;
    double p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
    switch (((int)hi % 6 + 6) % 6) {
    case 0: *r = v, *g = t, *b = p; break;
    case 1: *r = q, *g = v, *b = p; break;
    case 2: *r = p, *g = v, *b = t; break;
    case 3: *r = p, *g = q, *b = v; break;
    case 4: *r = t, *g = p, *b = v; break;
    default: *r = v, *g = p, *b = q; break;
    }
}

static double clip01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* Applies an HSV edit to every pixel; a grey image goes through as (v, v, v) and comes back as
 * its luma. */
static void hsv_edit(const cjob *job, double *img, double smul, double sadd, double vadd) {
    int64_t hw = (int64_t)job->h * job->w;
    for (int64_t k = 0; k < hw; k++) {
        double r = img[k], g = job->c == 3 ? img[hw + k] : r, b = job->c == 3 ? img[2 * hw + k] : r;
        double h, s, v;
        rgb2hsv(r, g, b, &h, &s, &v);
        s = clip01(s * smul + sadd);
        v = clip01(v + vadd);
        hsv2rgb(h, s, v, &r, &g, &b);
        if (job->c == 3) {
            img[k] = r;
            img[hw + k] = g;
            img[2 * hw + k] = b;
        } else
            img[k] = luma601(clip01(r), clip01(g), clip01(b));
    }
}

static const double BRIGHT[2][5] = {{0.05, 0.1, 0.15, 0.2, 0.3}, {0.1, 0.2, 0.3, 0.4, 0.5}};
static const double SATURATE[2][5][2] = {
    {{0.3, 0}, {0.1, 0}, {1.5, 0}, {2, 0.1}, {2.5, 0.2}},
    {{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {30, 0.2}},
};

int tau__corrupt_brightness(const cjob *job, double *img, crng *r) {
    (void)r;
    hsv_edit(job, img, 1.0, 0.0, BRIGHT[job->big][job->sev - 1]);
    return 0;
}

int tau__corrupt_saturate(const cjob *job, double *img, crng *r) {
    (void)r;
    const double *p = SATURATE[job->big][job->sev - 1];
    hsv_edit(job, img, p[0], p[1], 0.0);
    return 0;
}

/* ---------------------------------------------------------------- jpeg_compression */

static const int JPEGQ[2][5] = {{80, 65, 58, 50, 40}, {65, 58, 50, 40, 25}};

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->failed || size <= 0) return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + (size_t)size) cap *= 2;
        unsigned char *p = tau__cbuf_alloc(cap);
        if (!p) {
            m->failed = 1;
            return;
        }
        if (m->len) memcpy(p, m->data, m->len);
        tau__cbuf_free(m->data, m->cap);
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

int tau__corrupt_jpeg_compression(const cjob *job, double *img, crng *r) {
    (void)r;
    int h = job->h, w = job->w, c = job->c;
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * c;
    unsigned char *pix = tau__cbuf_alloc(bytes);
    if (!pix) return -1;
    for (int64_t k = 0; k < hw; k++)
        for (int ch = 0; ch < c; ch++) pix[k * c + ch] = to_u8(img[ch * hw + k]);
    membuf m = {0};
    int ok = stbi_write_jpg_to_func(membuf_write, &m, w, h, c, pix, JPEGQ[job->big][job->sev - 1]);
    tau__cbuf_free(pix, bytes);
    if (m.failed) {
        tau__cbuf_free(m.data, m.cap);
        return -1;
    }
    if (!ok || m.len > (size_t)INT32_MAX) {
        tau__cbuf_free(m.data, m.cap);
        return tau_fail("corrupt: jpeg_compression: encoding failed");
    }
    int dw, dh, dc;
    unsigned char *dec = stbi_load_from_memory(m.data, (int)m.len, &dw, &dh, &dc, c);
    tau__cbuf_free(m.data, m.cap);
    if (!dec || dw != w || dh != h) {
        if (dec) stbi_image_free(dec);
        return tau_fail("corrupt: jpeg_compression: decoding failed");
    }
    for (int64_t k = 0; k < hw; k++)
        for (int ch = 0; ch < c; ch++) img[ch * hw + k] = dec[k * c + ch] / 255.0;
    stbi_image_free(dec);
    return 0;
}

/* ---------------------------------------------------------------- pixelate */

static const double PIXELATE[2][5] = {{0.95, 0.9, 0.85, 0.75, 0.65}, {0.9, 0.8, 0.7, 0.6, 0.5}};

#define PREC 22 /* fixed-point bits of Pillow's 8-bit resampling */

/* Pillow's box resampling weights for one axis: every input pixel whose centre lies in the
 * output pixel's footprint counts once; weights normalised, then fixed point. */
typedef struct {
    int first, count;
    int k[64];
} boxtap;

static int box_taps(boxtap *t, int in, int out) {
    double scale = (double)in / out, fscale = scale < 1 ? 1 : scale, support = 0.5 * fscale;
    for (int o = 0; o < out; o++) {
        double centre = (o + 0.5) * scale, wsum = 0, wk[64];
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        if (hi - lo > 64) return -1;
        for (int x = lo; x < hi; x++) {
            double u = (x - centre + 0.5) / fscale;
            wk[x - lo] = u > -0.5 && u <= 0.5 ? 1.0 : 0.0;
            wsum += wk[x - lo];
        }
        t[o].first = lo;
        t[o].count = hi - lo;
        for (int x = 0; x < hi - lo; x++) {
            double v = wsum != 0 ? wk[x] / wsum : 0;
            t[o].k[x] = (int)(v < 0 ? -0.5 + v * (1 << PREC) : 0.5 + v * (1 << PREC));
        }
    }
    return 0;
}

static inline unsigned char clip8(int v) {
    if (v >= (256 << PREC)) return 255;
    if (v <= 0) return 0;
    return (unsigned char)(v >> PREC);
}

/* One Pillow resize of an 8-bit plane: horizontal pass to 8 bits, then vertical. */
static int box_resize(const unsigned char *in, int ih, int iw, unsigned char *out, int oh, int ow) {
    size_t tb = (size_t)(ow + oh) * sizeof(boxtap), mb = (size_t)ih * ow;
    boxtap *tx = tau__cbuf_alloc(tb);
    unsigned char *mid = tau__cbuf_alloc(mb);
    if (!tx || !mid) {
        tau__cbuf_free(tx, tb);
        tau__cbuf_free(mid, mb);
        return -1;
    }
    boxtap *ty = tx + ow;
    if (box_taps(tx, iw, ow) != 0 || box_taps(ty, ih, oh) != 0) {
        tau__cbuf_free(tx, tb);
        tau__cbuf_free(mid, mb);
        return tau_fail("corrupt: pixelate: scale factor too large");
    }
    for (int y = 0; y < ih; y++)
        for (int x = 0; x < ow; x++) {
            int s = 1 << (PREC - 1);
            for (int i = 0; i < tx[x].count; i++) s += in[(size_t)y * iw + tx[x].first + i] * tx[x].k[i];
            mid[(size_t)y * ow + x] = clip8(s);
        }
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int s = 1 << (PREC - 1);
            for (int i = 0; i < ty[y].count; i++) s += mid[(size_t)(ty[y].first + i) * ow + x] * ty[y].k[i];
            out[(size_t)y * ow + x] = clip8(s);
        }
    tau__cbuf_free(tx, tb);
    tau__cbuf_free(mid, mb);
    return 0;
}

int tau__corrupt_pixelate(const cjob *job, double *img, crng *r) {
    (void)r;
    double c = PIXELATE[job->big][job->sev - 1];
    int h = job->h, w = job->w, sh = (int)(h * c), sw = (int)(w * c);
    sh = sh < 1 ? 1 : sh;
    sw = sw < 1 ? 1 : sw;
    int64_t hw = (int64_t)h * w;
    size_t bytes = (size_t)hw * 2 + (size_t)sh * sw;
    unsigned char *a = tau__cbuf_alloc(bytes);
    if (!a) return -1;
    unsigned char *b = a + hw, *small = b + hw;
    for (int ch = 0; ch < job->c; ch++) {
        double *v = img + ch * hw;
        for (int64_t k = 0; k < hw; k++) a[k] = to_u8(v[k]);
        if (box_resize(a, h, w, small, sh, sw) != 0 || box_resize(small, sh, sw, b, h, w) != 0) {
            tau__cbuf_free(a, bytes);
            return -1;
        }
        for (int64_t k = 0; k < hw; k++) v[k] = b[k] / 255.0;
    }
    tau__cbuf_free(a, bytes);
    return 0;
}

/* ---------------------------------------------------------------- elastic_transform */

/* (alpha, sigma, affine jitter) as fractions of the image size */
static const double ELASTIC[2][5][3] = {
    {{0, 0, 0.08}, {0.05, 0.2, 0.07}, {0.08, 0.06, 0.06}, {0.1, 0.04, 0.05}, {0.1, 0.03, 0.03}},
    {{0, 0, 0.08}, {0.05, 0.3, 0.06}, {0.1, 0.08, 0.06}, {0.1, 0.03, 0.03}, {0.16, 0.03, 0.02}},
};

/* Solves the affine map taking the three src points to the dst points: M is 2 x 3. */
static void affine_from_points(const double src[3][2], const double dst[3][2], double M[6]) {
    double x0 = src[0][0], y0 = src[0][1], x1 = src[1][0], y1 = src[1][1], x2 = src[2][0],
           y2 = src[2][1];
    double det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0);
    for (int row = 0; row < 2; row++) {
        double u0 = dst[0][row], u1 = dst[1][row], u2 = dst[2][row];
        double a = ((u1 - u0) * (y2 - y0) - (u2 - u0) * (y1 - y0)) / det;
        double b = ((x1 - x0) * (u2 - u0) - (x2 - x0) * (u1 - u0)) / det;
        M[row * 3 + 0] = a;
        M[row * 3 + 1] = b;
        M[row * 3 + 2] = u0 - a * x0 - b * y0;
    }
}

int tau__corrupt_elastic_transform(const cjob *job, double *img, crng *r) {
    const double *p = ELASTIC[job->big][job->sev - 1];
    int h = job->h, w = job->w;
    int64_t hw = (int64_t)h * w;
    double alpha = p[0] * job->size, sigma = p[1] * job->size, jit = p[2] * job->size;
    size_t bytes = (size_t)hw * (2 + job->c) * sizeof(double);
    double *dx = tau__cbuf_alloc(bytes);
    if (!dx) return -1;
    double *dy = dx + hw, *warped = dy + hw;

    /* 1. A random affine map: three points around the centre, each moved by up to jit. */
    double cx = w / 2, cy = h / 2, s = job->size / 3;
    double src[3][2] = {{cx + s, cy + s}, {cx + s, cy - s}, {cx - s, cy - s}}, dst[3][2];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) dst[i][j] = (float)(src[i][j] + tau__crng_range(r, -jit, jit));
    double M[6], I[6];
    affine_from_points(src, dst, M);
    double det = M[0] * M[4] - M[1] * M[3];
    det = det != 0 ? 1.0 / det : 0;
    I[0] = M[4] * det;
    I[1] = -M[1] * det;
    I[3] = -M[3] * det;
    I[4] = M[0] * det;
    I[2] = -I[0] * M[2] - I[1] * M[5];
    I[5] = -I[3] * M[2] - I[4] * M[5];
    for (int ch = 0; ch < job->c; ch++) {
        double *v = img + ch * hw, *o = warped + ch * hw;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                /* Source position in 1/32 pixel steps, as OpenCV's warp quantises it. */
                long X = (lrint(I[0] * x * 1024) + lrint((I[1] * y + I[2]) * 1024) + 16) >> 5;
                long Y = (lrint(I[3] * x * 1024) + lrint((I[4] * y + I[5]) * 1024) + 16) >> 5;
                long ix = X >> 5, iy = Y >> 5;
                double fx = (X & 31) / 32.0, fy = (Y & 31) / 32.0;
                int64_t x0 = tau__border_index(ix, w, BORDER_REFLECT101), x1 = tau__border_index(ix + 1, w, BORDER_REFLECT101);
                int64_t y0 = tau__border_index(iy, h, BORDER_REFLECT101), y1 = tau__border_index(iy + 1, h, BORDER_REFLECT101);
                o[(int64_t)y * w + x] = (1 - fy) * ((1 - fx) * v[y0 * w + x0] + fx * v[y0 * w + x1]) +
                                        fy * ((1 - fx) * v[y1 * w + x0] + fx * v[y1 * w + x1]);
            }
    }

    /* 2. A smooth random displacement field, alpha pixels strong (none at severity 1). */
    if (alpha == 0) {
        memcpy(img, warped, (size_t)(hw * job->c) * sizeof(double));
        tau__cbuf_free(dx, bytes);
        return 0;
    }
    for (int f = 0; f < 2; f++) {
        double *d = f ? dy : dx;
        for (int64_t k = 0; k < hw; k++) d[k] = tau__crng_range(r, -1, 1);
        if (tau__gauss_plane(d, h, w, sigma, 3.0, BORDER_REFLECT) != 0) {
            tau__cbuf_free(dx, bytes);
            return -1;
        }
        for (int64_t k = 0; k < hw; k++) d[k] = (float)(d[k] * alpha);
    }

    /* 3. Bilinear resampling at the displaced positions, mirrored (edge-repeating) borders. */
    for (int ch = 0; ch < job->c; ch++) {
        double *v = warped + ch * hw, *o = img + ch * hw;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int64_t k = (int64_t)y * w + x;
                double sy = y + dy[k], sx = x + dx[k];
                double fy0 = floor(sy), fx0 = floor(sx), ty = sy - fy0, tx = sx - fx0;
                int64_t y0 = tau__border_index((int64_t)fy0, h, BORDER_REFLECT),
                        y1 = tau__border_index((int64_t)fy0 + 1, h, BORDER_REFLECT);
                int64_t x0 = tau__border_index((int64_t)fx0, w, BORDER_REFLECT),
                        x1 = tau__border_index((int64_t)fx0 + 1, w, BORDER_REFLECT);
                o[k] = (1 - ty) * ((1 - tx) * v[y0 * w + x0] + tx * v[y0 * w + x1]) +
                       ty * ((1 - tx) * v[y1 * w + x0] + tx * v[y1 * w + x1]);
            }
    }
    tau__cbuf_free(dx, bytes);
    return 0;
}
