/* Corruption registry, argument checks and the batch driver. */
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
    {"gaussian_noise", tau__corrupt_gaussian_noise, 0},
    {"shot_noise", tau__corrupt_shot_noise, 0},
    {"impulse_noise", tau__corrupt_impulse_noise, 0},
    {"defocus_blur", tau__corrupt_defocus_blur, 1},
    {"glass_blur", tau__corrupt_glass_blur, 0},
    {"motion_blur", tau__corrupt_motion_blur, 0},
    {"zoom_blur", tau__corrupt_zoom_blur, 1},
    {"snow", tau__corrupt_snow, 0},
    {"frost", tau__corrupt_frost, 0},
    {"fog", tau__corrupt_fog, 0},
    {"brightness", tau__corrupt_brightness, 1},
    {"contrast", tau__corrupt_contrast, 1},
    {"elastic_transform", tau__corrupt_elastic_transform, 0},
    {"pixelate", tau__corrupt_pixelate, 1},
    {"jpeg_compression", tau__corrupt_jpeg_compression, 1},
    {"speckle_noise", tau__corrupt_speckle_noise, 0},
    {"gaussian_blur", tau__corrupt_gaussian_blur, 1},
    {"spatter", tau__corrupt_spatter, 0},
    {"saturate", tau__corrupt_saturate, 1},
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
        tau__crng_seed(&rng, R->seed, (uint64_t)i);
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
    if (job->fixed_draws) return tau__frost_load(set, dir, job->frost_idx - 1);
    int need[5] = {0};
    for (int64_t i = 0; i < n; i++) {
        crng r;
        tau__crng_seed(&r, seed, (uint64_t)i);
        int pick = (int)tau__crng_int(&r, 0, set->count), k = -1;
        for (int j = 0; j < 5; j++)
            if (set->photo[j].ok && pick-- == 0) {
                k = j;
                break;
            }
        if (k >= 0) need[k] = 1;
    }
    for (int j = 0; j < 5; j++)
        if (need[j] && tau__frost_load(set, dir, j) != 0) return TAU_ERR;
    return TAU_OK;
}

static int apply(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                 int idx, int severity, uint64_t seed, const char *frost_dir, cjob *job) {
    if (check_args(x, out, n, c, h, w, severity) != TAU_OK) return TAU_ERR;
    cfrost_set set;
    int is_frost = table[idx].fn == tau__corrupt_frost;
    if (is_frost && frost_dir) {
        if (tau__frost_open(&set, frost_dir, (int)h, (int)w, job->big, job->scale) != 0)
            return TAU_ERR;
        if (job->fixed_draws && !set.photo[job->frost_idx - 1].ok) {
            tau__frost_close(&set);
            return tau_fail("corrupt: frost photo %d is not readable in '%s'", job->frost_idx,
                            frost_dir);
        }
        if (frost_prepare(&set, frost_dir, job, n, seed) != 0) {
            tau__frost_close(&set);
            return TAU_ERR;
        }
        job->frost = &set;
    }
    int rc = run_batch(job, table[idx].fn, x, out, n, seed);
    if (is_frost && frost_dir) tau__frost_close(&set);
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
