#include "tensor/iter.h"
#include "base/parallel.h"
#include <string.h>

void tau__iter_init(tau_iter *it, int ndim, const int64_t *shape, int nops, const tau_tensor *const *ops) {
    memset(it, 0, sizeof *it);
    it->nops = nops;
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) total *= shape[i];
    it->remaining = it->total = total;
    /* drop size-1 dims, then merge neighbours that are contiguous for all operands */
    int k = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 1) continue;
        it->shape[k] = shape[i];
        for (int o = 0; o < nops; o++) {
            const tau_tensor *t = ops[o];
            int j = i - (ndim - t->ndim);
            it->stride[o][k] = (j >= 0 && t->shape[j] != 1) ? t->stride[j] : 0;
        }
        if (k > 0) {
            int merge = 1;
            for (int o = 0; o < nops; o++)
                if (it->stride[o][k - 1] != it->stride[o][k] * it->shape[k]) { merge = 0; break; }
            if (merge) {
                it->shape[k - 1] *= it->shape[k];
                for (int o = 0; o < nops; o++) it->stride[o][k - 1] = it->stride[o][k];
                continue;
            }
        }
        k++;
    }
    it->ndim = k;
    for (int o = 0; o < nops; o++) it->offset[o] = it->base[o] = ops[o]->offset;
    it->inner = k ? it->shape[k - 1] : 1;
    if (total == 0) it->inner = 0;
}

int tau__iter_next(tau_iter *it) {
    it->remaining -= it->inner;
    if (it->remaining <= 0) return 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        if (++it->idx[d] < it->shape[d]) {
            for (int o = 0; o < it->nops; o++) it->offset[o] += it->stride[o][d];
            return 1;
        }
        for (int o = 0; o < it->nops; o++) it->offset[o] -= (it->shape[d] - 1) * it->stride[o][d];
        it->idx[d] = 0;
    }
    return 0;
}

/* Positions the iterator at the start of inner run `row`. */
static void iter_seek(tau_iter *it, int64_t row) {
    it->remaining = it->total - row * it->inner;
    for (int o = 0; o < it->nops; o++) it->offset[o] = it->base[o];
    for (int d = it->ndim - 2; d >= 0; d--) {
        it->idx[d] = row % it->shape[d];
        row /= it->shape[d];
        for (int o = 0; o < it->nops; o++) it->offset[o] += it->idx[d] * it->stride[o][d];
    }
}

typedef struct { const tau_iter *it; tau_run_fn fn; void *ctx; } run_job;

static void run_range(void *p, int64_t begin, int64_t end) {
    const run_job *job = p;
    tau_iter it = *job->it;
    int64_t inner = it.inner, col = begin % inner, pos = begin, off[4];
    iter_seek(&it, begin / inner);
    for (;;) {
        int64_t n = inner - col < end - pos ? inner - col : end - pos;
        for (int o = 0; o < it.nops; o++) off[o] = it.offset[o] + col * tau__iter_step(&it, o);
        job->fn(job->ctx, off, n);
        pos += n;
        col = 0;
        if (pos >= end || !tau__iter_next(&it)) break;
    }
}

void tau__iter_run(const tau_iter *it, int64_t grain, tau_run_fn fn, void *ctx) {
    if (it->total == 0 || it->inner == 0) return;
    int aliased = 0; /* operand 0 is the one written: an expanded view must be written in order */
    for (int d = 0; d < it->ndim; d++) aliased |= it->stride[0][d] == 0;
    if (aliased || it->total < 2 * grain || tau_get_num_threads() < 2) {
        tau_iter serial = *it;
        do fn(ctx, serial.offset, serial.inner);
        while (tau__iter_next(&serial));
        return;
    }
    run_job job = {it, fn, ctx};
    tau_parallel_for(it->total, grain, run_range, &job);
}
