/* Walks the index space of a shape over up to four operands with their own (broadcast)
 * strides, merging dimensions that are contiguous for every operand so the inner loop is as
 * long as possible. Internal to the core. */
#ifndef TAU_ITER_H
#define TAU_ITER_H
#include "tensor/tensor.h"

typedef struct {
    int ndim, nops;
    int64_t shape[TAU_MAXDIM];
    int64_t stride[4][TAU_MAXDIM];
    int64_t offset[4];          /* current element offset of each operand */
    int64_t idx[TAU_MAXDIM];
    int64_t inner, remaining;   /* inner loop length; elements left */
    int64_t total, base[4];     /* all elements; each operand's starting offset */
} tau_iter;

/* ops[i] is broadcast to (ndim, shape); its missing or size-1 dimensions get stride 0. */
void tau__iter_init(tau_iter *it, int ndim, const int64_t *shape, int nops, const tau_tensor *const *ops);
/* After processing `inner` elements at the current offsets, advance; returns 0 when done. */
int tau__iter_next(tau_iter *it);
static inline int64_t tau__iter_step(const tau_iter *it, int op) {
    return it->ndim ? it->stride[op][it->ndim - 1] : 0;
}

/* Calls fn(ctx, offsets, n) on runs of n elements (offsets: each operand's first element;
 * the steps are tau__iter_step), covering the whole index space once. The runs are split over
 * the thread pool when there are at least two grains of elements, so fn must only write
 * elements of its own run, and those of operand 0 (kept serial when operand 0 is an expanded
 * view). */
typedef void (*tau_run_fn)(void *ctx, const int64_t *offset, int64_t n);
void tau__iter_run(const tau_iter *it, int64_t grain, tau_run_fn fn, void *ctx);

#endif
