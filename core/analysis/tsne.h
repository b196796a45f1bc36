/* t-SNE embeddings (van der Maaten & Hinton 2008; the Barnes-Hut approximation of van der
 * Maaten 2014) and two measures of how well an embedding separates labelled classes, on raw
 * row-major float arrays.
 *
 * Determinism: the result depends only on the input, the options and the seed. Work is split
 * over the thread pool by points, every point's sums run in a fixed order and the sums over
 * points are taken serially, so any thread count gives the same bits. */
#ifndef TAU_TSNE_H
#define TAU_TSNE_H
#include "base/api.h"
#include <stdint.h>

/* Sets at or below this size are embedded exactly when exact = -1 (automatic). */
#define TAU_TSNE_EXACT_MAX 2000
/* Barnes-Hut trees are quadtrees/octrees: at most this many output dimensions. */
#define TAU_TSNE_BH_MAXDIMS 3

typedef struct {
    int dims;                 /* output dimensions, >= 1 */
    double perplexity;        /* effective number of neighbours, > 0 and < n */
    int iters;                /* gradient steps, >= 1 */
    uint64_t seed;            /* the initial positions' generator */
    double theta;             /* Barnes-Hut opening angle, > 0; 0.5 is the usual choice */
    int exact;                /* 1: all pairs, 0: Barnes-Hut, -1: exact up to TAU_TSNE_EXACT_MAX */
    double learning_rate;     /* > 0; 0: max(n / exaggeration / 4, 50) (Belkina et al. 2019) */
    double exaggeration;      /* early exaggeration factor, >= 1 */
    int exaggeration_iters;   /* steps under exaggeration and low momentum; -1: min(250, iters/4) */
} tau_tsne_opts;

/* dims 2, perplexity 30, iters 1000, seed 0, theta 0.5, exact -1, exaggeration 12 for the
 * first 250 of 1000 steps (van der Maaten 2014), and the learning rate scaled to the set size:
 * the papers' fixed 200 overshoots on a few hundred points and crawls on a hundred thousand. */
TAU_API void tau_tsne_defaults(tau_tsne_opts *o);

/* x is (n, d), y is (n, o->dims). Returns TAU_OK, or TAU_ERR with a message (bad options,
 * non-finite input, out of memory, interrupted). */
TAU_API int tau_tsne(const float *x, int64_t n, int64_t d, const tau_tsne_opts *o, float *y);

/* Leave-one-out k-nearest-neighbour accuracy of x (n, d) with labels in 0..classes-1: each
 * point's k nearest other points (Euclidean; equal distances by index) vote, a tied vote going
 * to the tied class whose nearest member is closest. Writes the fraction to *acc. */
TAU_API int tau_knn_accuracy(const float *x, const int32_t *labels, int64_t n, int64_t d, int classes,
                     int k, double *acc);

/* Mean silhouette of x (n, d) under labels in 0..classes-1 (Euclidean distances; a point
 * alone in its class scores 0, as in Rousseeuw 1987). Needs two classes present. */
TAU_API int tau_silhouette(const float *x, const int32_t *labels, int64_t n, int64_t d, int classes,
                   double *score);

#endif
