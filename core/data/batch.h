/* Mini-batches from a byte data set: gather, convert to float in [0, 1], augment, normalise.
 * Randomness is a pure function of (seed, position in the batch), so a batch is bit-identical
 * whatever the thread count; give each batch its own seed (e.g. tau_seed_mix(seed, step)). */
#ifndef TAU_BATCH_H
#define TAU_BATCH_H
#include "base/api.h"
#include "data/dataset.h"
#include <stdint.h>

typedef struct tau_batch_opts {
    /* > 0: random crop like torchvision RandomCrop(size=(H, W), padding=pad): the image is
     * zero-padded by pad pixels on every side and an H x W window is taken at a uniformly
     * random offset in [0, 2*pad] x [0, 2*pad]. Padding is black (0) before normalisation. */
    int pad;
    int flip;               /* nonzero: mirror left-right with probability 1/2 (after the crop) */
    const float *mean;      /* c values, or NULL: x = (x - mean[ch]) / std[ch] */
    const float *std;       /* c values > 0, or NULL (with mean: std 1) */
    uint64_t seed;
} tau_batch_opts;

/* x is (B, C, H, W) float for the samples ds[idx[0..B)], y is (B) int32 (0-based labels; may
 * be NULL). opts NULL means no augmentation and no normalisation. Indices are 0-based and
 * checked against ds->n. Work is split over the thread pool by sample. */
TAU_API int tau_batch_make(const tau_dataset *ds, const int64_t *idx, int64_t b,
                           const tau_batch_opts *opts, float *x, int32_t *y);

/* A uniformly random permutation of 0..n-1 (Fisher-Yates driven by xoshiro256** seeded
 * through splitmix64): the same (n, seed) gives the same permutation on every machine. */
TAU_API int tau_permutation(int64_t n, uint64_t seed, int64_t *out);

/* A well-mixed seed derived from a base seed and a counter (epoch, step, ...), so that nearby
 * counters give unrelated streams. */
TAU_API uint64_t tau_seed_mix(uint64_t seed, uint64_t k);

#endif
