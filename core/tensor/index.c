/* Joining and indexing: cat, stack, index_select, gather, scatter_add, one_hot. Indices are
 * int32 and 0-based here; every index is bounds-checked before any write. */
#include "tensor/kernels.h"
#include <math.h>
#include <string.h>

tau_tensor *tau_cat_forward(tau_tensor *const *ts, int n, int dim) {
    char a[160], b[160];
    if (n < 1) return tau_fail("cat: expected a non-empty list of tensors"), NULL;
    const tau_tensor *f = ts[0];
    if (dim < 0 || dim >= f->ndim)
        return tau_fail("cat: dimension %d out of range for %d-dimensional tensors", dim + 1, f->ndim), NULL;
    int64_t shape[TAU_MAXDIM];
    memcpy(shape, f->shape, sizeof shape);
    shape[dim] = 0;
    tau_dtype dt = f->dtype;
    for (int i = 0; i < n; i++) {
        const tau_tensor *t = ts[i];
        int ok = t->ndim == f->ndim;
        for (int d = 0; ok && d < f->ndim; d++) ok = d == dim || t->shape[d] == f->shape[d];
        if (!ok)
            return tau_fail("cat: tensor %d has size %s, which does not match %s except in dimension %d",
                            i + 1, tau_shape_str(t, a, sizeof a), tau_shape_str(f, b, sizeof b), dim + 1), NULL;
        if (t->dtype != dt) dt = TAU_F32;
        shape[dim] += t->shape[dim];
    }
    tau_tensor *out = tau_empty(dt, f->ndim, shape);
    if (!out) return NULL;
    int64_t pos = 0;
    for (int i = 0; i < n; i++) {
        tau_tensor *slot = tau_narrow(out, dim, pos, ts[i]->shape[dim]);
        if (!slot || tau_copy_(slot, ts[i])) { tau_release(slot); tau_release(out); return NULL; }
        tau_release(slot);
        pos += ts[i]->shape[dim];
    }
    return out;
}

tau_tensor *tau_stack_forward(tau_tensor *const *ts, int n, int dim) {
    char a[160], b[160];
    if (n < 1) return tau_fail("stack: expected a non-empty list of tensors"), NULL;
    if (dim < 0 || dim > ts[0]->ndim)
        return tau_fail("stack: dimension %d out of range 1..%d", dim + 1, ts[0]->ndim + 1), NULL;
    tau_tensor *us[n];
    int made = 0;
    tau_tensor *out = NULL;
    for (; made < n; made++) {
        if (!tau_same_shape(ts[made], ts[0])) {
            tau_fail("stack: tensor %d has size %s but tensor 1 has size %s", made + 1,
                     tau_shape_str(ts[made], a, sizeof a), tau_shape_str(ts[0], b, sizeof b));
            goto done;
        }
        if (!(us[made] = tau_unsqueeze(ts[made], dim))) goto done;
    }
    out = tau_cat_forward(us, n, dim);
done:
    for (int i = 0; i < made; i++) tau_release(us[i]);
    return out;
}

static int check_index(const char *fn, const tau_tensor *index, int64_t limit) {
    if (index->dtype != TAU_I32) return tau_fail("%s: index must be an int32 tensor, got %s", fn, tau_dtype_name(index->dtype));
    tau_tensor *c = tau_contiguous((tau_tensor *)index);
    if (!c) return TAU_ERR;
    const int32_t *p = tau_i32(c);
    for (int64_t i = 0, n = tau_numel(c); i < n; i++)
        if (p[i] < 0 || p[i] >= limit) {
            int v = p[i];
            tau_release(c);
            return tau_fail("%s: index %d out of range 1..%lld", fn, v + 1, (long long)limit);
        }
    tau_release(c);
    return TAU_OK;
}

tau_tensor *tau_index_select_forward(tau_tensor *x, int dim, tau_tensor *index) {
    if (dim < 0 || dim >= x->ndim)
        return tau_fail("index_select: dimension %d out of range for a %d-dimensional tensor", dim + 1, x->ndim), NULL;
    if (index->ndim != 1) return tau_fail("index_select: index must be 1-dimensional, got %d dimensions", index->ndim), NULL;
    if (check_index("index_select", index, x->shape[dim])) return NULL;
    int64_t shape[TAU_MAXDIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = index->shape[0];
    tau_tensor *out = tau_empty(x->dtype, x->ndim, shape);
    if (!out) return NULL;
    for (int64_t i = 0; i < index->shape[0]; i++) {
        int32_t j = tau_i32(index)[i * index->stride[0]];
        tau_tensor *src = tau_select(x, dim, j), *dst = tau_select(out, dim, i);
        int rc = (!src || !dst) ? TAU_ERR : tau_copy_(dst, src);
        tau_release(src); tau_release(dst);
        if (rc) { tau_release(out); return NULL; }
    }
    return out;
}

/* index must have x's number of dims and, except along dim, sizes no larger than x's. */
static int check_gather_shape(const char *fn, const tau_tensor *x, int dim, const tau_tensor *index) {
    char a[160], b[160];
    if (dim < 0 || dim >= x->ndim)
        return tau_fail("%s: dimension %d out of range for a %d-dimensional tensor", fn, dim + 1, x->ndim);
    int ok = index->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++) ok = d == dim || index->shape[d] <= x->shape[d];
    if (!ok)
        return tau_fail("%s: index of size %s does not fit a tensor of size %s", fn,
                        tau_shape_str(index, a, sizeof a), tau_shape_str(x, b, sizeof b));
    return check_index(fn, index, x->shape[dim]);
}

/* Visits every element of index (in index's own layout), giving the offset in target of the
 * element it addresses along dim and the position of the element in index's index space. */
#define FOR_EACH_INDEX(index, target, dim, BODY)                                              \
    do {                                                                                      \
        int64_t ii_[TAU_MAXDIM] = {0}, n_ = tau_numel(index);                                 \
        for (int64_t e_ = 0; e_ < n_; e_++) {                                                 \
            int64_t io_ = index->offset, to_ = target->offset;                                \
            for (int d_ = 0; d_ < index->ndim; d_++) {                                        \
                io_ += ii_[d_] * index->stride[d_];                                           \
                if (d_ != dim) to_ += ii_[d_] * target->stride[d_];                           \
            }                                                                                 \
            to_ += (int64_t)((int32_t *)index->storage->data)[io_] * target->stride[dim];     \
            int64_t *pos_ = ii_;                                                              \
            (void)pos_;                                                                       \
            BODY                                                                              \
            for (int d_ = index->ndim - 1; d_ >= 0; d_--) {                                   \
                if (++ii_[d_] < index->shape[d_]) break;                                      \
                ii_[d_] = 0;                                                                  \
            }                                                                                 \
        }                                                                                     \
    } while (0)

tau_tensor *tau_gather_forward(tau_tensor *x, int dim, tau_tensor *index) {
    if (check_gather_shape("gather", x, dim, index)) return NULL;
    tau_tensor *out = tau_empty(x->dtype, index->ndim, index->shape);
    if (!out) return NULL;
    int64_t k = 0;
    FOR_EACH_INDEX(index, x, dim, {
        if (x->dtype == TAU_F32) tau_f32(out)[k] = ((float *)x->storage->data)[to_];
        else tau_i32(out)[k] = ((int32_t *)x->storage->data)[to_];
        k++;
    });
    return out;
}

static int scatter_check(const char *fn, tau_tensor *acc, int dim, tau_tensor *index, tau_tensor *src) {
    char a[160], b[160];
    if (!tau_same_shape(index, src))
        return tau_fail("%s: index of size %s and src of size %s must have the same size", fn,
                        tau_shape_str(index, a, sizeof a), tau_shape_str(src, b, sizeof b));
    if (acc->dtype != TAU_F32) return tau_fail("%s: float32 tensor expected", fn);
    return check_gather_shape(fn, acc, dim, index);
}

int tau_scatter_add_(tau_tensor *acc, int dim, tau_tensor *index, tau_tensor *src) {
    if (scatter_check("scatter_add", acc, dim, index, src)) return TAU_ERR;
    tau_tensor *s = tau_to_dtype(src, TAU_F32);
    if (!s) return TAU_ERR;
    int64_t k = 0;
    FOR_EACH_INDEX(index, acc, dim, {
        ((float *)acc->storage->data)[to_] += tau_f32(s)[k];
        k++;
    });
    tau_release(s);
    tau_bump_version(acc);
    return TAU_OK;
}

tau_tensor *tau_scatter_add_forward(tau_tensor *x, int dim, tau_tensor *index, tau_tensor *src) {
    tau_tensor *out = tau_to_dtype(x, TAU_F32);
    if (!out) return NULL;
    if (tau_scatter_add_(out, dim, index, src)) { tau_release(out); return NULL; }
    return out;
}

int tau_index_add_(tau_tensor *acc, int dim, tau_tensor *index, tau_tensor *src) {
    if (check_index("index_add", index, acc->shape[dim])) return TAU_ERR;
    for (int64_t i = 0; i < index->shape[0]; i++) {
        int32_t j = tau_i32(index)[i * index->stride[0]];
        tau_tensor *d = tau_select(acc, dim, j), *s = tau_select(src, dim, i);
        int rc = (!d || !s) ? TAU_ERR : tau_binary_inplace(TAU_ADD, d, s);
        tau_release(d); tau_release(s);
        if (rc) return rc;
    }
    return TAU_OK;
}

tau_tensor *tau_one_hot(tau_tensor *labels, int64_t classes) {
    if (labels->dtype != TAU_I32) return tau_fail("one_hot: labels must be int32, got %s", tau_dtype_name(labels->dtype)), NULL;
    if (classes < 1) return tau_fail("one_hot: number of classes must be positive, got %lld", (long long)classes), NULL;
    if (labels->ndim >= TAU_MAXDIM) return tau_fail("one_hot: too many dimensions"), NULL;
    if (check_index("one_hot", labels, classes)) return NULL;
    tau_tensor *lc = tau_contiguous(labels);
    if (!lc) return NULL;
    int64_t shape[TAU_MAXDIM];
    memcpy(shape, labels->shape, sizeof shape);
    shape[labels->ndim] = classes;
    tau_tensor *out = tau_zeros(TAU_F32, labels->ndim + 1, shape);
    if (out)
        for (int64_t i = 0, n = tau_numel(lc); i < n; i++) tau_f32(out)[i * classes + tau_i32(lc)[i]] = 1.0f;
    tau_release(lc);
    return out;
}

static int compare(const tau_tensor *a, const tau_tensor *b, double rtol, double atol, int equal_nan, int exact) {
    if (!tau_same_shape(a, b)) return 0;
    int64_t idx[TAU_MAXDIM] = {0}, n = tau_numel(a);
    for (int64_t e = 0; e < n; e++) {
        double x = tau_get(a, idx), y = tau_get(b, idx);
        if (exact) { if (!(x == y) && !(isnan(x) && isnan(y) && equal_nan)) return 0; }
        else if (isnan(x) || isnan(y)) { if (!(isnan(x) && isnan(y) && equal_nan)) return 0; }
        else if (x != y && !(fabs(x - y) <= atol + rtol * fabs(y))) return 0;
        for (int d = a->ndim - 1; d >= 0; d--) { if (++idx[d] < a->shape[d]) break; idx[d] = 0; }
    }
    return 1;
}

int tau_allclose(const tau_tensor *a, const tau_tensor *b, double rtol, double atol, int equal_nan) {
    return compare(a, b, rtol, atol, equal_nan, 0);
}

int tau_equal(const tau_tensor *a, const tau_tensor *b) {
    return a->dtype == b->dtype && compare(a, b, 0, 0, 0, 1);
}
