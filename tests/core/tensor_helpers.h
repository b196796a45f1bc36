/* Helpers for the tensor suites: tensors built from values or shapes, element access in logical
 * order, and assertions on shapes, strides and values. */
#ifndef TAU_TENSOR_HELPERS_H
#define TAU_TENSOR_HELPERS_H
#include "check_helpers.h"
#include "base/alloc.h"
#include "base/parallel.h"
#include "tensor/autograd.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"
#include <math.h>

/* A deterministic source of test values that does not touch the core's generator. */
static uint64_t lcg_state = 12345;
static inline double urand(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * 0x1.0p-53;
}

static inline tau_tensor *mk(tau_dtype dt, int nd, ...) {
    int64_t shape[TAU_MAXDIM];
    va_list ap;
    va_start(ap, nd);
    for (int i = 0; i < nd; i++) shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    tau_tensor *t = tau_zeros(dt, nd, shape);
    ck_assert_msg(t != NULL, "%s", tau_errmsg());
    return t;
}
#define MKF(nd, ...) mk(TAU_F32, nd, __VA_ARGS__)
#define MKI(nd, ...) mk(TAU_I32, nd, __VA_ARGS__)

/* Advances a row-major multi-index; returns 0 after the last one. */
static inline int next_idx(int nd, const int64_t *shape, int64_t *idx) {
    for (int d = nd - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* Fills t (any layout) with uniform values in [lo, hi), or integers in [lo, hi] for int32. */
static inline void fill_uniform(tau_tensor *t, double lo, double hi) {
    int64_t idx[TAU_MAXDIM] = {0};
    if (tau_numel(t) == 0) return;
    do {
        double v = t->dtype == TAU_I32 ? floor(lo + (hi - lo + 1) * urand()) : lo + (hi - lo) * urand();
        tau_set(t, idx, v);
    } while (next_idx(t->ndim, t->shape, idx));
}

/* Picks values from a small set, so that comparisons see ties. */
static inline void fill_choice(tau_tensor *t, const double *vals, int n) {
    int64_t idx[TAU_MAXDIM] = {0};
    if (tau_numel(t) == 0) return;
    do tau_set(t, idx, vals[(int)(urand() * n) % n]);
    while (next_idx(t->ndim, t->shape, idx));
}

static inline tau_tensor *from_values(tau_dtype dt, int nd, const int64_t *shape, const double *v) {
    tau_tensor *t = tau_zeros(dt, nd, shape);
    ck_assert_ptr_nonnull(t);
    int64_t idx[TAU_MAXDIM] = {0}, k = 0;
    if (tau_numel(t) == 0) return t;
    do tau_set(t, idx, v[k++]);
    while (next_idx(nd, shape, idx));
    return t;
}

/* Element of t at a multi-index of a (broadcast) shape with nd dimensions. */
static inline double getb(const tau_tensor *t, int nd, const int64_t *idx) {
    int64_t j[TAU_MAXDIM];
    for (int i = 0; i < t->ndim; i++) {
        int k = i + nd - t->ndim;
        j[i] = t->shape[i] == 1 ? 0 : idx[k];
    }
    return tau_get(t, j);
}

static inline void assert_shape(const tau_tensor *t, int nd, ...) {
    va_list ap;
    va_start(ap, nd);
    ck_assert_int_eq(t->ndim, nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(t->shape[i], va_arg(ap, int64_t));
    va_end(ap);
}

static inline void assert_strides(const tau_tensor *t, ...) {
    va_list ap;
    va_start(ap, t);
    for (int i = 0; i < t->ndim; i++) ck_assert_int_eq(t->stride[i], va_arg(ap, int64_t));
    va_end(ap);
}

static inline int close_to(double x, double y, double tol) {
    if (isnan(x) || isnan(y)) return isnan(x) && isnan(y);
    if (isinf(x) || isinf(y)) return x == y;
    return fabs(x - y) <= tol * (1 + fabs(y));
}

static inline void assert_err(const char *fragment) {
    ck_assert_msg(strstr(tau_errmsg(), fragment) != NULL, "error '%s' lacks '%s'", tau_errmsg(), fragment);
}

/* Two tensors of one shape hold the same values, element by element in logical order. */
static inline void assert_same_values(const tau_tensor *a, const tau_tensor *b, double tol) {
    ck_assert(tau_same_shape(a, b));
    int64_t idx[TAU_MAXDIM] = {0};
    if (tau_numel(a) == 0) return;
    do {
        double x = tau_get(a, idx), y = tau_get(b, idx);
        ck_assert_msg(close_to(x, y, tol), "got %.9g, expected %.9g", x, y);
    } while (next_idx(a->ndim, a->shape, idx));
}

static inline int64_t I(int64_t v) { return v; }

static inline tau_tensor *rnd(int nd, const int64_t *shape) {
    tau_tensor *t = tau_zeros(TAU_F32, nd, shape);
    fill_uniform(t, -1, 1);
    return t;
}
#define RND(...) rnd((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

#endif
