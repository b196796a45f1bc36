/* Shared between the corrupt_*.c files; not part of the public API. */
#ifndef TAU_CORRUPT_IMPL_H
#define TAU_CORRUPT_IMPL_H
#include <stddef.h>
#include <stdint.h>

/* xoshiro256** with splitmix64 seeding: small, fast, and good enough for image noise. */
typedef struct {
    uint64_t s[4];
    double spare;      /* second Box-Muller variate */
    int has_spare;
} crng;

void tau__crng_seed(crng *r, uint64_t seed, uint64_t stream);
uint64_t tau__crng_next(crng *r);
double tau__crng_uniform(crng *r);                  /* [0, 1) */
double tau__crng_range(crng *r, double lo, double hi);
int64_t tau__crng_int(crng *r, int64_t lo, int64_t hi); /* [lo, hi), hi > lo */
double tau__crng_normal(crng *r);
int64_t tau__crng_poisson(crng *r, double lam);

/* A loaded frost photograph, already scaled for the image size. */
typedef struct {
    unsigned char *rgb;  /* rows x cols x 3, NULL when not loaded */
    int rows, cols;
    int ok;              /* readable on disk */
    double fx;           /* scale factor used for this photo */
} cfrost_photo;

typedef struct {
    int count;           /* readable photos */
    double factor;       /* scale applied to the photos */
    cfrost_photo photo[5];
} cfrost_set;

/* Everything a corruption needs about the batch; read-only while images are processed. */
typedef struct {
    int c, h, w;
    int sev;             /* 1..5 */
    int big;             /* use the 64x64 table */
    double scale;        /* spatial scale relative to the table's image size */
    int size;            /* min(h, w) */
    const cfrost_set *frost;    /* NULL: procedural texture */
    int fixed_draws;     /* use the draws below instead of random ones */
    double angle;        /* motion_blur */
    int frost_idx, frost_row, frost_col;
} cjob;

/* img: the image as c planes of h x w doubles, replaced by the result (clamped afterwards by
 * the caller). Returns 0, or -1 after tau_fail(). */
typedef int (*cfn)(const cjob *job, double *img, crng *r);

int tau__corrupt_gaussian_noise(const cjob *, double *, crng *);
int tau__corrupt_shot_noise(const cjob *, double *, crng *);
int tau__corrupt_impulse_noise(const cjob *, double *, crng *);
int tau__corrupt_speckle_noise(const cjob *, double *, crng *);
int tau__corrupt_gaussian_blur(const cjob *, double *, crng *);
int tau__corrupt_glass_blur(const cjob *, double *, crng *);
int tau__corrupt_defocus_blur(const cjob *, double *, crng *);
int tau__corrupt_motion_blur(const cjob *, double *, crng *);
int tau__corrupt_zoom_blur(const cjob *, double *, crng *);
int tau__corrupt_snow(const cjob *, double *, crng *);
int tau__corrupt_frost(const cjob *, double *, crng *);
int tau__corrupt_fog(const cjob *, double *, crng *);
int tau__corrupt_spatter(const cjob *, double *, crng *);
int tau__corrupt_contrast(const cjob *, double *, crng *);
int tau__corrupt_brightness(const cjob *, double *, crng *);
int tau__corrupt_saturate(const cjob *, double *, crng *);
int tau__corrupt_jpeg_compression(const cjob *, double *, crng *);
int tau__corrupt_pixelate(const cjob *, double *, crng *);
int tau__corrupt_elastic_transform(const cjob *, double *, crng *);

/* ---- shared helpers (corrupt_common.c) ---- */

enum { BORDER_NEAREST, BORDER_REFLECT, BORDER_REFLECT101 };
/* Maps any index onto 0..n-1 under the border rule, however far outside it is. */
int64_t tau__border_index(int64_t i, int64_t n, int mode);

/* scipy's gaussian_filter weights: radius int(truncate * sigma + 0.5), normalised. Returns the
 * radius; k must hold 2 * radius + 1 values. sigma <= 0 gives radius 0, weight 1. */
int tau__gauss_radius(double sigma, double truncate);
void tau__gauss_weights(double sigma, int radius, double *k);
/* Separable Gaussian on one h x w plane, rows (vertical) pass first like scipy; tmp holds h*w.
 * Returns -1 on allocation failure. */
int tau__gauss_plane(double *p, int h, int w, double sigma, double truncate, int mode);

/* The benchmark's "clipped zoom" of an h x w plane by z >= 1 (bilinear, scipy zoom order 1),
 * the centre kept. */
int tau__clipped_zoom(const double *in, double *out, int h, int w, double z);

/* ImageMagick 6's motion blur on 16-bit samples (q16 = v8 * 257), one plane; results in
 * 0..65535. */
int tau__motion_blur_plane(const uint16_t *in, uint16_t *out, int h, int w, double radius,
                      double sigma, double angle_deg);

/* The plasma fractal of the fog corruption: an m x m map in [0, 1], m a power of two. */
int tau__plasma_fractal(double *map, int m, double decay, crng *r);

/* Rec. 601 luma; used to return 1-channel results of colour corruptions. */
static inline double luma601(double r, double g, double b) {
    return 0.299 * r + 0.587 * g + 0.114 * b;
}

/* Truncation to 8 bits as numpy's uint8 cast does for values in range. */
static inline int trunc_u8(double v) {
    if (!(v > 0)) return 0;
    if (v >= 255) return 255;
    return (int)v;
}

void *tau__cbuf_alloc(size_t bytes);            /* tau_alloc, failing with "out of memory" */
void tau__cbuf_free(void *p, size_t bytes);

/* Frost photographs (corrupt_weather.c). */
int tau__frost_open(cfrost_set *set, const char *dir, int h, int w, int big, double scale);
int tau__frost_load(cfrost_set *set, const char *dir, int idx); /* idx 0..4 */
void tau__frost_close(cfrost_set *set);

#endif
