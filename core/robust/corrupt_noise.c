/* Per-value noise: gaussian, shot (Poisson), impulse (salt and pepper), speckle. None of
 * these has a spatial parameter, so only the table (32x32 or 64x64) depends on the size.
 * Draws run pixel by pixel with the channels fastest, the order of the original's arrays. */
#include "robust/corrupt_impl.h"

static const double GAUSS[2][5] = {{0.04, 0.06, 0.08, 0.09, 0.10}, {0.04, 0.08, 0.12, 0.15, 0.18}};
static const double SHOT[2][5] = {{500, 250, 100, 75, 50}, {250, 100, 50, 30, 15}};
static const double IMPULSE[2][5] = {{0.01, 0.02, 0.03, 0.05, 0.07},
                                     {0.01, 0.02, 0.05, 0.08, 0.14}};
static const double SPECKLE[2][5] = {{0.06, 0.10, 0.12, 0.16, 0.20},
                                     {0.15, 0.20, 0.25, 0.30, 0.35}};

#define FOR_VALUES(job, body)                                                   \
    do {                                                                        \
        int64_t hw_ = (int64_t)(job)->h * (job)->w;                             \
        for (int64_t p_ = 0; p_ < hw_; p_++)                                    \
            for (int ch_ = 0; ch_ < (job)->c; ch_++) {                          \
                double *v = img + ch_ * hw_ + p_;                               \
                body;                                                           \
            }                                                                   \
    } while (0)

int tau__corrupt_gaussian_noise(const cjob *job, double *img, crng *r) {
    double c = GAUSS[job->big][job->sev - 1];
    FOR_VALUES(job, *v += c * tau__crng_normal(r));
    return 0;
}

int tau__corrupt_shot_noise(const cjob *job, double *img, crng *r) {
    double c = SHOT[job->big][job->sev - 1];
    /* Inputs are clamped first: a Poisson mean must not be negative. */
    FOR_VALUES(job, {
        double lam = *v > 0 ? (*v < 1 ? *v : 1) * c : 0;
        *v = (double)tau__crng_poisson(r, lam) / c;
    });
    return 0;
}

int tau__corrupt_impulse_noise(const cjob *job, double *img, crng *r) {
    double c = IMPULSE[job->big][job->sev - 1];
    int64_t hw = (int64_t)job->h * job->w, nv = hw * job->c;
    unsigned char *hit = tau__cbuf_alloc((size_t)nv);
    if (!hit) return -1;
    /* The original draws the whole hit mask, then the whole salt mask. */
    FOR_VALUES(job, hit[v - img] = tau__crng_uniform(r) < c);
    FOR_VALUES(job, {
        int salt = tau__crng_uniform(r) < 0.5;
        if (hit[v - img]) *v = salt ? 1.0 : 0.0;
    });
    tau__cbuf_free(hit, (size_t)nv);
    return 0;
}

int tau__corrupt_speckle_noise(const cjob *job, double *img, crng *r) {
    double c = SPECKLE[job->big][job->sev - 1];
    FOR_VALUES(job, *v += *v * c * tau__crng_normal(r));
    return 0;
}
