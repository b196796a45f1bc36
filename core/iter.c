#include "iter.h"
#include <string.h>

void tau_iter_init(tau_iter *it, int ndim, const int64_t *shape, int nops, const tau_tensor *const *ops) {
    memset(it, 0, sizeof *it);
    it->nops = nops;
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) total *= shape[i];
    it->remaining = total;
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
    for (int o = 0; o < nops; o++) it->offset[o] = ops[o]->offset;
    it->inner = k ? it->shape[k - 1] : 1;
    if (total == 0) it->inner = 0;
}

int tau_iter_next(tau_iter *it) {
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
