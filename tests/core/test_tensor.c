/* Tensor core: shapes, strides and views, broadcasting, every kernel against a naive loop
 * written here, the generator, and the autograd engine driven from C. */
#include "base/alloc.h"
#include "tensor/autograd.h"
#include "base/error.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "base/parallel.h"
#include "tensor/tensor.h"
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* A deterministic source of test values that does not touch the core's generator. */
static uint64_t lcg_state = 12345;
static double urand(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * 0x1.0p-53;
}

static tau_tensor *mk(tau_dtype dt, int nd, ...) {
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
static int next_idx(int nd, const int64_t *shape, int64_t *idx) {
    for (int d = nd - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* Fills t (any layout) with uniform values in [lo, hi), or integers in [lo, hi] for int32. */
static void fill_uniform(tau_tensor *t, double lo, double hi) {
    int64_t idx[TAU_MAXDIM] = {0};
    if (tau_numel(t) == 0) return;
    do {
        double v = t->dtype == TAU_I32 ? floor(lo + (hi - lo + 1) * urand()) : lo + (hi - lo) * urand();
        tau_set(t, idx, v);
    } while (next_idx(t->ndim, t->shape, idx));
}

/* Picks values from a small set, so that comparisons see ties. */
static void fill_choice(tau_tensor *t, const double *vals, int n) {
    int64_t idx[TAU_MAXDIM] = {0};
    if (tau_numel(t) == 0) return;
    do tau_set(t, idx, vals[(int)(urand() * n) % n]);
    while (next_idx(t->ndim, t->shape, idx));
}

static tau_tensor *from_values(tau_dtype dt, int nd, const int64_t *shape, const double *v) {
    tau_tensor *t = tau_zeros(dt, nd, shape);
    ck_assert_ptr_nonnull(t);
    int64_t idx[TAU_MAXDIM] = {0}, k = 0;
    if (tau_numel(t) == 0) return t;
    do tau_set(t, idx, v[k++]);
    while (next_idx(nd, shape, idx));
    return t;
}

/* Element of t at a multi-index of a (broadcast) shape with nd dimensions. */
static double getb(const tau_tensor *t, int nd, const int64_t *idx) {
    int64_t j[TAU_MAXDIM];
    for (int i = 0; i < t->ndim; i++) {
        int k = i + nd - t->ndim;
        j[i] = t->shape[i] == 1 ? 0 : idx[k];
    }
    return tau_get(t, j);
}

static void assert_shape(const tau_tensor *t, int nd, ...) {
    va_list ap;
    va_start(ap, nd);
    ck_assert_int_eq(t->ndim, nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(t->shape[i], va_arg(ap, int64_t));
    va_end(ap);
}

static void assert_strides(const tau_tensor *t, ...) {
    va_list ap;
    va_start(ap, t);
    for (int i = 0; i < t->ndim; i++) ck_assert_int_eq(t->stride[i], va_arg(ap, int64_t));
    va_end(ap);
}

static int close_to(double x, double y, double tol) {
    if (isnan(x) || isnan(y)) return isnan(x) && isnan(y);
    if (isinf(x) || isinf(y)) return x == y;
    return fabs(x - y) <= tol * (1 + fabs(y));
}

static void assert_err(const char *fragment) {
    ck_assert_msg(strstr(tau_errmsg(), fragment) != NULL, "error '%s' lacks '%s'", tau_errmsg(), fragment);
}

/* Two tensors of one shape hold the same values, element by element in logical order. */
static void assert_same_values(const tau_tensor *a, const tau_tensor *b, double tol) {
    ck_assert(tau_same_shape(a, b));
    int64_t idx[TAU_MAXDIM] = {0};
    if (tau_numel(a) == 0) return;
    do {
        double x = tau_get(a, idx), y = tau_get(b, idx);
        ck_assert_msg(close_to(x, y, tol), "got %.9g, expected %.9g", x, y);
    } while (next_idx(a->ndim, a->shape, idx));
}

static int64_t I(int64_t v) { return v; }

/* ---- life cycle, metadata, shapes -------------------------------------------------------------- */

START_TEST(test_empty_and_metadata) {
    tau_tensor *t = MKF(3, I(2), I(3), I(4));
    ck_assert_int_eq(t->refcount, 1);
    ck_assert_int_eq(t->storage->refcount, 1);
    ck_assert_int_eq(tau_numel(t), 24);
    assert_strides(t, I(12), I(4), I(1));
    ck_assert_int_eq(t->offset, 0);
    ck_assert(tau_is_contiguous(t));
    ck_assert_int_eq((int)tau_elsize(TAU_F32), 4);
    ck_assert_int_eq((int)tau_elsize(TAU_I32), 4);
    ck_assert_str_eq(tau_dtype_name(TAU_F32), "float32");
    ck_assert_str_eq(tau_dtype_name(TAU_I32), "int32");
    char b[64];
    ck_assert_str_eq(tau_shape_str(t, b, sizeof b), "[2, 3, 4]");
    tau_tensor *s = tau_scalar(2.5);
    ck_assert_str_eq(tau_shape_str(s, b, sizeof b), "[]");
    ck_assert_int_eq(tau_numel(s), 1);
    ck_assert(tau_get(s, NULL) == 2.5);
    int64_t idx[3] = {1, 2, 3};
    ck_assert_int_eq(tau_offset_of(t, idx), 23);
    tau_set(t, idx, 7);
    ck_assert(tau_f32(t)[23] == 7.0f);
    uint64_t v = t->storage->version;
    tau_bump_version(t);
    ck_assert(t->storage->version == v + 1);
    ck_assert(tau_retain(t) == t);
    ck_assert_int_eq(t->refcount, 2);
    tau_release(t);
    ck_assert_int_eq(t->refcount, 1);
    tau_release(t);
    tau_release(s);
    tau_release(NULL);
    /* zero-size tensors are valid */
    tau_tensor *z = MKF(2, I(0), I(3));
    ck_assert_int_eq(tau_numel(z), 0);
    tau_release(z);
}
END_TEST

START_TEST(test_check_shape) {
    int64_t ok[2] = {0, 5};
    ck_assert_int_eq(tau_check_shape("f", 2, ok), TAU_OK);
    int64_t neg[2] = {3, -1};
    ck_assert_int_eq(tau_check_shape("f", 2, neg), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "f: negative size -1 in dimension 2");
    int64_t huge[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    ck_assert_int_eq(tau_check_shape("f", 2, huge), TAU_ERR);
    assert_err("f: size [2147483648, 2147483648] is too large");
    int64_t wrap[3] = {INT64_MAX, 2, 2};
    ck_assert_int_eq(tau_check_shape("f", 3, wrap), TAU_ERR);
    assert_err("too large");
    /* a product that overflows int64 only through later factors */
    int64_t wrap2[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
    ck_assert_int_eq(tau_check_shape("f", 4, wrap2), TAU_ERR);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(tau_check_shape("f", 9, nine), TAU_ERR);
    assert_err("9 dimensions given, at most 8");
    /* the limit itself is accepted, one more is not */
    int64_t lim[1] = {TAU_MAX_NUMEL};
    ck_assert_int_eq(tau_check_shape("f", 1, lim), TAU_OK);
    int64_t lim2[2] = {TAU_MAX_NUMEL, 2};
    ck_assert_int_eq(tau_check_shape("f", 2, lim2), TAU_ERR);
    /* creation refuses them too */
    ck_assert_ptr_null(tau_empty(TAU_F32, 2, neg));
    assert_err("negative size");
    ck_assert_ptr_null(tau_zeros(TAU_F32, 2, huge));
    assert_err("too large");
}
END_TEST

START_TEST(test_view_contiguous) {
    tau_tensor *x = MKF(3, I(2), I(3), I(4));
    fill_uniform(x, -1, 1);
    int64_t s1[2] = {6, 4};
    tau_tensor *v = tau_view(x, 2, s1);
    ck_assert_ptr_nonnull(v);
    assert_shape(v, 2, I(6), I(4));
    assert_strides(v, I(4), I(1));
    ck_assert_ptr_eq(v->storage, x->storage);
    ck_assert_int_eq(x->storage->refcount, 2);
    int64_t s2[3] = {-1, 2, 3};
    tau_tensor *w = tau_view(x, 3, s2);
    ck_assert_ptr_nonnull(w);
    assert_shape(w, 3, I(4), I(2), I(3));
    for (int i = 0; i < 24; i++) ck_assert(tau_f32(w)[i] == tau_f32(x)[i]);
    int64_t bad[1] = {5};
    ck_assert_ptr_null(tau_view(x, 1, bad));
    ck_assert_str_eq(tau_errmsg(), "view: shape [5] is invalid for a tensor of size [2, 3, 4] (24 elements)");
    int64_t two[2] = {-1, -1};
    ck_assert_ptr_null(tau_view(x, 2, two));
    assert_err("only one dimension can be -1");
    int64_t negs[2] = {-2, 12};
    ck_assert_ptr_null(tau_view(x, 2, negs));
    assert_err("invalid size -2");
    int64_t inf0[2] = {0, -1};
    ck_assert_ptr_null(tau_view(x, 2, inf0));
    /* a 0-dim view of a one-element tensor, and back */
    tau_tensor *one = MKF(1, I(1));
    tau_tensor *sc = tau_view(one, 0, NULL);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(sc->ndim, 0);
    tau_release(sc); tau_release(one);
    tau_release(v); tau_release(w);
    ck_assert_int_eq(x->storage->refcount, 1);
    tau_release(x);
}
END_TEST

/* A view of a non-contiguous tensor must read the same elements in logical order as a copy. */
static void check_view_values(tau_tensor *src, tau_tensor *view) {
    tau_tensor *c = tau_contiguous(src), *vc = tau_contiguous(view);
    ck_assert_int_eq(tau_numel(c), tau_numel(vc));
    for (int64_t i = 0; i < tau_numel(c); i++) ck_assert(tau_f32(c)[i] == tau_f32(vc)[i]);
    tau_release(c); tau_release(vc);
}

START_TEST(test_view_noncontiguous) {
    /* a narrowed matrix: rows are apart, so only the row dimension can be split */
    tau_tensor *base = MKF(2, I(4), I(6));
    fill_uniform(base, -1, 1);
    tau_tensor *n = tau_narrow(base, 1, 1, 3);
    assert_shape(n, 2, I(4), I(3));
    assert_strides(n, I(6), I(1));
    ck_assert_int_eq(n->offset, 1);
    ck_assert(!tau_is_contiguous(n));
    int64_t s1[3] = {2, 2, 3};
    tau_tensor *v = tau_view(n, 3, s1);
    ck_assert_msg(v != NULL, "%s", tau_errmsg());
    assert_strides(v, I(12), I(6), I(1));
    ck_assert_int_eq(v->offset, 1);
    check_view_values(n, v);
    int64_t s2[4] = {4, 1, 3, 1};
    tau_tensor *v2 = tau_view(n, 4, s2);
    ck_assert_msg(v2 != NULL, "%s", tau_errmsg());
    check_view_values(n, v2);
    int64_t flat[1] = {12};
    ck_assert_ptr_null(tau_view(n, 1, flat));
    assert_err("view: a tensor of size [4, 3] with these strides cannot be viewed");
    /* a transposed 3-D tensor: the last dimension is still contiguous and can be split */
    tau_tensor *x = MKF(3, I(2), I(3), I(4));
    fill_uniform(x, -1, 1);
    tau_tensor *t = tau_transpose(x, 0, 1);
    assert_shape(t, 3, I(3), I(2), I(4));
    assert_strides(t, I(4), I(12), I(1));
    int64_t s3[4] = {3, 2, 2, 2};
    tau_tensor *v3 = tau_view(t, 4, s3);
    ck_assert_msg(v3 != NULL, "%s", tau_errmsg());
    assert_strides(v3, I(4), I(12), I(2), I(1));
    check_view_values(t, v3);
    int64_t s4[2] = {3, 8};
    ck_assert_ptr_null(tau_view(t, 2, s4));
    /* merging two dims that are contiguous with each other inside a permuted tensor */
    int perm[3] = {2, 0, 1};
    tau_tensor *p = tau_permute(x, perm); /* (4, 2, 3), strides (1, 12, 4) */
    int64_t s5[2] = {4, 6};
    tau_tensor *v5 = tau_view(p, 2, s5);
    ck_assert_msg(v5 != NULL, "%s", tau_errmsg());
    assert_strides(v5, I(1), I(4));
    check_view_values(p, v5);
    tau_release(v5); tau_release(p);
    tau_release(v); tau_release(v2); tau_release(v3); tau_release(t); tau_release(x);
    tau_release(n); tau_release(base);
}
END_TEST

/* Random layouts (permuted, narrowed, with size-1 dims) viewed and reshaped to random shapes
 * of the same size: whenever view succeeds it must read the elements in logical order, and
 * reshape must always succeed and agree. */
START_TEST(test_view_random_layouts) {
    int viewed = 0;
    for (int trial = 0; trial < 400; trial++) {
        int nd = 1 + (int)(urand() * 4);
        int64_t sh[4];
        for (int i = 0; i < nd; i++) sh[i] = 1 + (int64_t)(urand() * 4);
        tau_tensor *base = tau_zeros(TAU_F32, nd, sh);
        for (int64_t i = 0; i < tau_numel(base); i++) tau_f32(base)[i] = (float)i;
        int perm[4] = {0, 1, 2, 3};
        for (int i = nd - 1; i > 0; i--) {
            int j = (int)(urand() * (i + 1));
            int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        tau_tensor *x = urand() < 0.7 ? tau_permute(base, perm) : tau_retain(base);
        if (urand() < 0.5) {
            int d = (int)(urand() * nd);
            if (x->shape[d] > 1) {
                tau_tensor *n = tau_narrow(x, d, 1, x->shape[d] - 1);
                tau_release(x);
                x = n;
            }
        }
        /* a random factorisation of numel into up to 5 dims */
        int64_t n = tau_numel(x), ns[TAU_MAXDIM];
        int k = 0;
        while (k < 5 && n > 1) {
            int64_t f = 1 + (int64_t)(urand() * (double)n);
            while (n % f) f--;
            ns[k++] = f;
            n /= f;
            if (urand() < 0.2) ns[k++] = 1;
        }
        ns[k++] = n;
        tau_tensor *c = tau_contiguous(x), *v = tau_view(x, k, ns), *r = tau_reshape(x, k, ns);
        ck_assert_msg(r != NULL, "%s", tau_errmsg());
        ck_assert_int_eq(tau_numel(r), tau_numel(c));
        tau_tensor *rc = tau_contiguous(r);
        for (int64_t i = 0; i < tau_numel(c); i++) ck_assert(tau_f32(rc)[i] == tau_f32(c)[i]);
        if (v) {
            viewed++;
            ck_assert_ptr_eq(v->storage, base->storage);
            tau_tensor *vc = tau_contiguous(v);
            for (int64_t i = 0; i < tau_numel(c); i++)
                ck_assert_msg(tau_f32(vc)[i] == tau_f32(c)[i], "trial %d: element %lld differs", trial, (long long)i);
            tau_release(vc);
        } else if (tau_is_contiguous(x)) {
            ck_abort_msg("view of a contiguous tensor failed: %s", tau_errmsg());
        }
        /* its own shape, and its shape with a 1 inserted, are always viewable */
        tau_tensor *same = tau_view(x, x->ndim, x->shape);
        ck_assert_msg(same != NULL, "trial %d: %s", trial, tau_errmsg());
        ck_assert(tau_equal(same, x));
        int64_t ins[5];
        int at = (int)(urand() * (x->ndim + 1)), m = 0;
        for (int i = 0; i <= x->ndim; i++) {
            if (i == at) ins[m++] = 1;
            if (i < x->ndim) ins[m++] = x->shape[i];
        }
        tau_tensor *u = tau_view(x, m, ins);
        ck_assert_msg(u != NULL, "trial %d: %s", trial, tau_errmsg());
        tau_release(u); tau_release(same);
        tau_release(rc); tau_release(c); tau_release(v); tau_release(r); tau_release(x); tau_release(base);
    }
    ck_assert(viewed > 100);
}
END_TEST

START_TEST(test_reshape) {
    tau_tensor *x = MKF(2, I(3), I(4));
    fill_uniform(x, -1, 1);
    int64_t s[1] = {12};
    tau_tensor *r = tau_reshape(x, 1, s);
    ck_assert_ptr_eq(r->storage, x->storage); /* viewable: no copy */
    tau_tensor *t = tau_transpose(x, 0, 1);
    tau_tensor *r2 = tau_reshape(t, 1, s);
    ck_assert_ptr_nonnull(r2);
    ck_assert_ptr_ne(r2->storage, x->storage); /* not viewable: a copy */
    int64_t idx[2] = {0, 0};
    for (int64_t k = 0; k < 12; k++) {
        idx[0] = k / 3; idx[1] = k % 3;
        ck_assert(tau_f32(r2)[k] == (float)tau_get(t, idx));
    }
    int64_t s2[2] = {-1, 6};
    tau_tensor *r3 = tau_reshape(t, 2, s2);
    assert_shape(r3, 2, I(2), I(6));
    int64_t bad[1] = {7};
    ck_assert_ptr_null(tau_reshape(t, 1, bad));
    assert_err("reshape: shape [7] is invalid for a tensor of size [4, 3]");
    tau_release(r); tau_release(r2); tau_release(r3); tau_release(t); tau_release(x);
}
END_TEST

START_TEST(test_view_ops_strides) {
    tau_tensor *x = MKF(3, I(2), I(3), I(4));
    fill_uniform(x, -1, 1);
    /* transpose */
    tau_tensor *t = tau_transpose(x, 0, 2);
    assert_shape(t, 3, I(4), I(3), I(2));
    assert_strides(t, I(1), I(4), I(12));
    ck_assert_ptr_null(tau_transpose(x, 0, 3));
    ck_assert_str_eq(tau_errmsg(), "transpose: dimension 4 out of range for a 3-dimensional tensor");
    /* permute */
    int perm[3] = {1, 2, 0};
    tau_tensor *p = tau_permute(x, perm);
    assert_shape(p, 3, I(3), I(4), I(2));
    assert_strides(p, I(4), I(1), I(12));
    int bad[3] = {0, 0, 1};
    ck_assert_ptr_null(tau_permute(x, bad));
    assert_err("permute: the dimensions given are not a permutation of 1..3");
    /* narrow */
    tau_tensor *n = tau_narrow(x, 1, 1, 2);
    assert_shape(n, 3, I(2), I(2), I(4));
    ck_assert_int_eq(n->offset, 4);
    tau_tensor *nn = tau_narrow(n, 2, 3, 1);
    ck_assert_int_eq(nn->offset, 7);
    int64_t i0[3] = {1, 1, 0};
    ck_assert(tau_get(nn, i0) == tau_f32(x)[12 + 2 * 4 + 3]);
    ck_assert_ptr_null(tau_narrow(x, 1, 2, 2));
    ck_assert_str_eq(tau_errmsg(), "narrow: range 3..4 is out of bounds for dimension 2 of size 3");
    ck_assert_ptr_null(tau_narrow(x, 0, -1, 1));
    tau_tensor *empty = tau_narrow(x, 2, 4, 0);
    ck_assert_ptr_nonnull(empty);
    ck_assert_int_eq(tau_numel(empty), 0);
    /* select */
    tau_tensor *s = tau_select(x, 1, 2);
    assert_shape(s, 2, I(2), I(4));
    assert_strides(s, I(12), I(1));
    ck_assert_int_eq(s->offset, 8);
    ck_assert_ptr_null(tau_select(x, 0, 2));
    ck_assert_str_eq(tau_errmsg(), "select: index 3 is out of range 1..2 for dimension 1");
    tau_tensor *sc = tau_scalar(1);
    ck_assert_ptr_null(tau_select(sc, 0, 0));
    assert_err("cannot index a 0-dimensional tensor");
    /* expand: size-1 and new leading dims get stride 0 */
    tau_tensor *col = MKF(2, I(3), I(1));
    int64_t es[3] = {2, 3, 5};
    tau_tensor *e = tau_expand(col, 3, es);
    assert_shape(e, 3, I(2), I(3), I(5));
    assert_strides(e, I(0), I(1), I(0));
    int64_t keep[2] = {-1, 4};
    tau_tensor *e2 = tau_expand(col, 2, keep);
    assert_shape(e2, 2, I(3), I(4));
    int64_t ebad[2] = {4, 4};
    ck_assert_ptr_null(tau_expand(col, 2, ebad));
    ck_assert_str_eq(tau_errmsg(), "expand: cannot expand a tensor of size [3, 1] to [4, 4] (dimension 1: 3 vs 4)");
    int64_t elead[3] = {-1, 3, 1};
    ck_assert_ptr_null(tau_expand(col, 3, elead));
    assert_err("size -1 is not allowed for a new leading dimension");
    ck_assert_ptr_null(tau_expand(col, 1, es));
    /* squeeze / unsqueeze */
    tau_tensor *u = MKF(4, I(1), I(3), I(1), I(2));
    tau_tensor *q = tau_squeeze(u, -1);
    assert_shape(q, 2, I(3), I(2));
    assert_strides(q, I(2), I(1));
    tau_tensor *q2 = tau_squeeze(u, 2);
    assert_shape(q2, 3, I(1), I(3), I(2));
    tau_tensor *q3 = tau_squeeze(u, 1); /* not of size 1: unchanged */
    assert_shape(q3, 4, I(1), I(3), I(1), I(2));
    ck_assert_ptr_null(tau_squeeze(u, 4));
    tau_tensor *un = tau_unsqueeze(q, 1);
    assert_shape(un, 3, I(3), I(1), I(2));
    assert_strides(un, I(2), I(2), I(1));
    tau_tensor *un2 = tau_unsqueeze(q, 2);
    assert_shape(un2, 3, I(3), I(2), I(1));
    ck_assert(tau_is_contiguous(un2));
    ck_assert_ptr_null(tau_unsqueeze(q, 3));
    ck_assert_str_eq(tau_errmsg(), "unsqueeze: dimension 4 out of range 1..3");
    tau_tensor *un3 = tau_unsqueeze(t, 1); /* non-contiguous input */
    assert_shape(un3, 4, I(4), I(1), I(3), I(2));
    int64_t a[4] = {3, 0, 2, 1}, b[3] = {3, 2, 1};
    ck_assert(tau_get(un3, a) == tau_get(t, b));
    /* alias: same view, own header */
    tau_tensor *al = tau_alias(t);
    ck_assert_ptr_ne(al, t);
    ck_assert(tau_same_shape(al, t));
    ck_assert_ptr_eq(al->storage, x->storage);
    ck_assert_int_eq(x->storage->refcount, 9);
    tau_release(al); tau_release(un3); tau_release(un2); tau_release(un); tau_release(q3); tau_release(q2);
    tau_release(q); tau_release(u); tau_release(e2); tau_release(e); tau_release(col); tau_release(sc);
    tau_release(s); tau_release(empty); tau_release(nn); tau_release(n); tau_release(p); tau_release(t);
    ck_assert_int_eq(x->storage->refcount, 1);
    tau_release(x);
}
END_TEST

START_TEST(test_views_keep_storage_alive) {
    size_t before = tau_live_bytes();
    tau_tensor *x = MKF(2, I(100), I(100));
    fill_uniform(x, -1, 1);
    float v = tau_f32(x)[5 * 100 + 7];
    tau_tensor *s = tau_select(x, 0, 5);
    tau_tensor *t = tau_transpose(x, 0, 1);
    tau_release(x); /* the views still own the storage */
    ck_assert(tau_live_bytes() >= before + 40000);
    int64_t i[1] = {7};
    ck_assert(tau_get(s, i) == v);
    tau_release(s);
    int64_t j[2] = {7, 5};
    ck_assert(tau_get(t, j) == v);
    ck_assert_int_eq(t->storage->refcount, 1);
    tau_release(t);
    ck_assert_uint_eq(tau_live_bytes(), before);
}
END_TEST

START_TEST(test_broadcast_shape) {
    tau_tensor *a = MKF(3, I(4), I(1), I(3)), *b = MKF(2, I(2), I(1)), *c = MKF(2, I(2), I(3)),
               *d = MKF(2, I(3), I(2)), *s = tau_scalar(1), *e = MKF(1, I(3));
    int nd;
    int64_t sh[TAU_MAXDIM];
    ck_assert_int_eq(tau_broadcast_shape("f", a, b, &nd, sh), TAU_OK);
    ck_assert_int_eq(nd, 3);
    ck_assert(sh[0] == 4 && sh[1] == 2 && sh[2] == 3);
    ck_assert_int_eq(tau_broadcast_shape("f", b, a, &nd, sh), TAU_OK);
    ck_assert(nd == 3 && sh[0] == 4 && sh[1] == 2 && sh[2] == 3);
    ck_assert_int_eq(tau_broadcast_shape("f", s, c, &nd, sh), TAU_OK);
    ck_assert(nd == 2 && sh[0] == 2 && sh[1] == 3);
    ck_assert_int_eq(tau_broadcast_shape("f", e, c, &nd, sh), TAU_OK);
    ck_assert(nd == 2 && sh[0] == 2 && sh[1] == 3);
    ck_assert_int_eq(tau_broadcast_shape("add", c, d, &nd, sh), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "add: shapes [2, 3] and [3, 2] cannot be broadcast (dimension 1: 2 vs 3)");
    ck_assert_int_eq(tau_broadcast_shape("f", d, e, &nd, sh), TAU_ERR);
    assert_err("dimension 2: 2 vs 3");
    tau_tensor *z = MKF(2, I(0), I(1));
    ck_assert_int_eq(tau_broadcast_shape("f", z, e, &nd, sh), TAU_OK);
    ck_assert(sh[0] == 0 && sh[1] == 3);
    tau_release(a); tau_release(b); tau_release(c); tau_release(d); tau_release(s); tau_release(e); tau_release(z);
}
END_TEST

/* ---- element-wise kernels ---------------------------------------------------------------------- */

static int is_cmp(tau_binop op) { return op >= TAU_EQ; }

static double ref_bin(tau_binop op, double x, double y, int ints) {
    if (ints && op != TAU_DIV && op != TAU_POW) {
        int32_t a = (int32_t)x, b = (int32_t)y;
        switch (op) {
        case TAU_ADD: return a + b;
        case TAU_SUB: return a - b;
        case TAU_MUL: return a * b;
        case TAU_MAXIMUM: return a > b ? a : b;
        case TAU_MINIMUM: return a < b ? a : b;
        case TAU_EQ: return a == b;
        case TAU_NE: return a != b;
        case TAU_LT: return a < b;
        case TAU_LE: return a <= b;
        case TAU_GT: return a > b;
        case TAU_GE: return a >= b;
        default: return NAN;
        }
    }
    float a = (float)x, b = (float)y;
    switch (op) {
    case TAU_ADD: return a + b;
    case TAU_SUB: return a - b;
    case TAU_MUL: return a * b;
    case TAU_DIV: return a / b;
    case TAU_POW: return powf(a, b);
    case TAU_MAXIMUM: return a > b ? a : b;
    case TAU_MINIMUM: return a < b ? a : b;
    case TAU_EQ: return a == b;
    case TAU_NE: return a != b;
    case TAU_LT: return a < b;
    case TAU_LE: return a <= b;
    case TAU_GT: return a > b;
    case TAU_GE: return a >= b;
    default: return NAN;
    }
}

static void check_binary(tau_binop op, const tau_tensor *a, const tau_tensor *b) {
    tau_tensor *out = tau_binary_forward(op, a, b);
    ck_assert_msg(out != NULL, "%s: %s", tau_binop_name(op), tau_errmsg());
    int ints = a->dtype == TAU_I32 && b->dtype == TAU_I32;
    tau_dtype want = is_cmp(op) ? TAU_I32 : (ints && op != TAU_DIV && op != TAU_POW) ? TAU_I32 : TAU_F32;
    ck_assert_msg(out->dtype == want, "%s gives %s", tau_binop_name(op), tau_dtype_name(out->dtype));
    ck_assert(tau_is_contiguous(out));
    int nd;
    int64_t sh[TAU_MAXDIM];
    ck_assert_int_eq(tau_broadcast_shape("t", a, b, &nd, sh), TAU_OK);
    ck_assert_int_eq(out->ndim, nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(out->shape[i], sh[i]);
    int64_t idx[TAU_MAXDIM] = {0};
    if (tau_numel(out) == 0) { tau_release(out); return; }
    do {
        double x = getb(a, nd, idx), y = getb(b, nd, idx);
        double want_v = ref_bin(op, x, y, ints), got = tau_get(out, idx);
        ck_assert_msg(close_to(got, want_v, 1e-6), "%s(%g, %g) = %g, expected %g", tau_binop_name(op), x, y, got, want_v);
    } while (next_idx(nd, sh, idx));
    tau_release(out);
}

static void check_all_binary(const tau_tensor *a, const tau_tensor *b) {
    for (int op = 0; op < TAU_NBINARY; op++) check_binary((tau_binop)op, a, b);
}

static const double small_vals[] = {0.5, 1, 1.5, 2};

START_TEST(test_binary_contiguous) {
    tau_tensor *a = MKF(2, I(3), I(4)), *b = MKF(2, I(3), I(4));
    fill_choice(a, small_vals, 4);
    fill_choice(b, small_vals, 4);
    check_all_binary(a, b);
    /* long rows take the vectorised paths, including scalar broadcasting on either side */
    tau_tensor *c = MKF(1, I(1000)), *s = tau_scalar(1.5);
    fill_choice(c, small_vals, 4);
    check_all_binary(c, s);
    check_all_binary(s, c);
    check_all_binary(c, c);
    tau_release(a); tau_release(b); tau_release(c); tau_release(s);
}
END_TEST

START_TEST(test_binary_noncontiguous) {
    tau_tensor *a0 = MKF(2, I(4), I(3)), *b0 = MKF(2, I(3), I(8));
    fill_choice(a0, small_vals, 4);
    fill_choice(b0, small_vals, 4);
    tau_tensor *a = tau_transpose(a0, 0, 1);      /* (3, 4) strides (1, 3) */
    tau_tensor *b = tau_narrow(b0, 1, 2, 4);      /* (3, 4) strides (8, 1), offset 2 */
    check_all_binary(a, b);
    check_all_binary(b, a);
    check_all_binary(a, a);
    tau_release(a); tau_release(b); tau_release(a0); tau_release(b0);
}
END_TEST

START_TEST(test_binary_broadcast) {
    tau_tensor *a = MKF(3, I(4), I(1), I(3)), *b = MKF(2, I(2), I(1));
    fill_choice(a, small_vals, 4);
    fill_choice(b, small_vals, 4);
    check_all_binary(a, b);
    check_all_binary(b, a);
    /* broadcast against a transposed operand */
    tau_tensor *c0 = MKF(2, I(3), I(2)), *c = tau_transpose(c0, 0, 1);
    fill_choice(c0, small_vals, 4);
    check_all_binary(a, c);
    tau_tensor *row = MKF(1, I(3));
    fill_choice(row, small_vals, 4);
    check_all_binary(c, row);
    /* empty broadcast */
    tau_tensor *z = MKF(2, I(0), I(3));
    check_binary(TAU_ADD, z, row);
    tau_release(a); tau_release(b); tau_release(c0); tau_release(c); tau_release(row); tau_release(z);
}
END_TEST

START_TEST(test_binary_int_and_mixed) {
    tau_tensor *a = MKI(2, I(3), I(4)), *b = MKI(1, I(4)), *f = MKF(2, I(3), I(4));
    fill_uniform(a, 1, 4);
    fill_uniform(b, 1, 4);
    fill_choice(f, small_vals, 4);
    check_all_binary(a, b);
    check_all_binary(b, a);
    check_all_binary(a, f);
    check_all_binary(f, b);
    /* int32 division is true division */
    tau_tensor *x = MKI(1, I(1)), *y = MKI(1, I(1));
    tau_i32(x)[0] = 7;
    tau_i32(y)[0] = 2;
    tau_tensor *q = tau_binary_forward(TAU_DIV, x, y);
    ck_assert(q->dtype == TAU_F32 && tau_f32(q)[0] == 3.5f);
    tau_release(q); tau_release(x); tau_release(y);
    tau_release(a); tau_release(b); tau_release(f);
}
END_TEST

static void check_unary_on(tau_unop op, const tau_tensor *x, double p0, double p1);

/* Large operands are split over the pool at arbitrary element boundaries, including in the
 * middle of a broadcast row; every layout must give the serial answer. */
START_TEST(test_ewise_parallel_split) {
    int saved = tau_get_num_threads();
    tau_set_num_threads(3);
    tau_tensor *a = MKF(2, I(131), I(611)), *row = MKF(1, I(611)), *col = MKF(2, I(131), I(1));
    fill_choice(a, small_vals, 4);
    fill_choice(row, small_vals, 4);
    fill_choice(col, small_vals, 4);
    check_binary(TAU_ADD, a, row);
    check_binary(TAU_POW, a, row);
    check_binary(TAU_GE, row, a);
    check_binary(TAU_MUL, col, row);
    tau_tensor *t0 = MKF(2, I(611), I(131)), *t = tau_transpose(t0, 0, 1);
    fill_choice(t0, small_vals, 4);
    check_binary(TAU_SUB, a, t);
    check_binary(TAU_DIV, t, col);
    tau_tensor *s = tau_scalar(1.5), *v = MKF(1, I(100003));
    fill_choice(v, small_vals, 4);
    check_binary(TAU_ADD, v, s);
    check_binary(TAU_POW, s, v);
    check_unary_on(TAU_EXP, t, 0, 0);
    check_unary_on(TAU_RELU, a, 0, 0);
    /* an in-place update of a view reads and writes the same elements in any split */
    tau_tensor *in = tau_clone(t), *want = tau_binary_forward(TAU_ADD, t, row);
    ck_assert_int_eq(tau_binary_inplace(TAU_ADD, in, row), TAU_OK);
    assert_same_values(in, want, 0);
    /* writing into an expanded view stays serial, so it is deterministic */
    int64_t n = 100000;
    tau_tensor *z1 = MKF(1, I(1)), *z3 = MKF(1, I(1));
    tau_f32(z1)[0] = tau_f32(z3)[0] = 0;
    tau_tensor *e1 = tau_expand(z1, 1, &n), *e3 = tau_expand(z3, 1, &n), *ones = tau_full(TAU_F32, 1, &n, 1);
    ck_assert_int_eq(tau_binary_inplace(TAU_ADD, e3, ones), TAU_OK);
    tau_set_num_threads(1);
    ck_assert_int_eq(tau_binary_inplace(TAU_ADD, e1, ones), TAU_OK);
    ck_assert(tau_f32(z1)[0] == tau_f32(z3)[0]);
    tau_set_num_threads(saved);
    tau_release(e1); tau_release(e3); tau_release(z1); tau_release(z3); tau_release(ones);
    tau_release(in); tau_release(want);
    tau_release(a); tau_release(row); tau_release(col); tau_release(t0); tau_release(t);
    tau_release(s); tau_release(v);
}
END_TEST

START_TEST(test_binary_errors_and_inplace) {
    tau_tensor *a = MKF(2, I(2), I(3)), *b = MKF(2, I(3), I(2));
    ck_assert_ptr_null(tau_binary_forward(TAU_MUL, a, b));
    ck_assert_str_eq(tau_errmsg(), "mul: shapes [2, 3] and [3, 2] cannot be broadcast (dimension 1: 2 vs 3)");
    /* in place, with a broadcast right-hand side */
    tau_tensor *row = MKF(1, I(3));
    fill_uniform(a, -1, 1);
    fill_uniform(row, 1, 2);
    for (int op = TAU_ADD; op <= TAU_MINIMUM; op++) {
        tau_tensor *ref = tau_binary_forward((tau_binop)op, a, row);
        tau_tensor *c = tau_clone(a);
        uint64_t v = c->storage->version;
        ck_assert_int_eq(tau_binary_inplace((tau_binop)op, c, row), TAU_OK);
        ck_assert(c->storage->version > v);
        assert_same_values(c, ref, 1e-6);
        tau_release(ref); tau_release(c);
    }
    /* in place on a transposed tensor */
    tau_tensor *m = MKF(2, I(3), I(2));
    fill_uniform(m, -1, 1);
    tau_tensor *mt = tau_transpose(m, 0, 1), *ref = tau_binary_forward(TAU_MUL, mt, a);
    ck_assert_int_eq(tau_binary_inplace(TAU_MUL, mt, a), TAU_OK);
    assert_same_values(mt, ref, 1e-6);
    /* the right-hand side may be a differently laid out view of the target */
    double sq[4] = {1, 2, 3, 4};
    int64_t s22[2] = {2, 2};
    tau_tensor *o = from_values(TAU_F32, 2, s22, sq), *ot = tau_transpose(o, 0, 1);
    ck_assert_int_eq(tau_binary_inplace(TAU_ADD, o, ot), TAU_OK);
    ck_assert(tau_f32(o)[0] == 2 && tau_f32(o)[1] == 5 && tau_f32(o)[2] == 5 && tau_f32(o)[3] == 8);
    ck_assert_int_eq(tau_binary_inplace(TAU_MUL, o, o), TAU_OK);
    ck_assert(tau_f32(o)[0] == 4 && tau_f32(o)[3] == 64);
    tau_release(o); tau_release(ot);
    /* comparisons in place keep the float dtype */
    tau_tensor *c = tau_clone(a), *cref = tau_binary_forward(TAU_GT, a, row);
    ck_assert_int_eq(tau_binary_inplace(TAU_GT, c, row), TAU_OK);
    ck_assert(c->dtype == TAU_F32);
    assert_same_values(c, cref, 0);
    /* an int32 target keeps its dtype (truncating) */
    tau_tensor *ia = MKI(1, I(3)), *half = tau_scalar(1.5);
    tau_i32(ia)[0] = 1; tau_i32(ia)[1] = 2; tau_i32(ia)[2] = -3;
    ck_assert_int_eq(tau_binary_inplace(TAU_MUL, ia, half), TAU_OK);
    ck_assert(ia->dtype == TAU_I32);
    ck_assert(tau_i32(ia)[0] == 1 && tau_i32(ia)[1] == 3 && tau_i32(ia)[2] == -4);
    /* the result must fit the target */
    ck_assert_int_eq(tau_binary_inplace(TAU_ADD, row, a), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "add_: the result of size [2, 3] does not fit the tensor of size [3] written in place");
    /* axpy */
    tau_tensor *y = tau_clone(a), *x = MKF(2, I(2), I(3));
    fill_uniform(x, -1, 1);
    ck_assert_int_eq(tau_axpy_(y, 0.5, x), TAU_OK);
    for (int i = 0; i < 6; i++) ck_assert(fabsf(tau_f32(y)[i] - (tau_f32(a)[i] + 0.5f * tau_f32(x)[i])) < 1e-6);
    tau_tensor *yt = tau_transpose(m, 0, 1), *yref = tau_clone(yt);
    tau_tensor *xs = MKF(2, I(2), I(3));
    fill_uniform(xs, -1, 1);
    ck_assert_int_eq(tau_axpy_(yt, -2, xs), TAU_OK);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            int64_t k[2] = {i, j};
            ck_assert(fabs(tau_get(yt, k) - (tau_get(yref, k) - 2 * tau_get(xs, k))) < 1e-6);
        }
    ck_assert_int_eq(tau_axpy_(y, 1, row), TAU_ERR);
    assert_err("add_: cannot add a float32 tensor of size [3] into a float32 tensor of size [2, 3]");
    tau_release(y); tau_release(x); tau_release(yt); tau_release(yref); tau_release(xs);
    tau_release(ia); tau_release(half); tau_release(c); tau_release(cref);
    tau_release(mt); tau_release(m); tau_release(ref); tau_release(a); tau_release(b); tau_release(row);
}
END_TEST

static double ref_un(tau_unop op, double x, double p0, double p1) {
    float f = (float)x;
    switch (op) {
    case TAU_NEG: return -x;
    case TAU_EXP: return exp(x);
    case TAU_LOG: return log(x);
    case TAU_SQRT: return sqrt(x);
    case TAU_RSQRT: return 1 / sqrt(x);
    case TAU_ABS: return fabs(x);
    case TAU_SIGN: return (x > 0) - (x < 0);
    case TAU_TANH: return tanh(x);
    case TAU_SIGMOID: return 1 / (1 + exp(-x));
    case TAU_RELU: return x > 0 ? x : 0;
    case TAU_FLOOR: return floor(x);
    case TAU_CEIL: return ceil(x);
    case TAU_ROUND: return nearbyint(f);
    case TAU_SIN: return sin(x);
    case TAU_COS: return cos(x);
    case TAU_LOG1P: return log1p(x);
    case TAU_EXPM1: return expm1(x);
    case TAU_RECIP: return 1 / x;
    case TAU_SQUARE: return x * x;
    case TAU_ERF: return erf(x);
    case TAU_ISNAN: return isnan(x);
    case TAU_CLAMP: return x < p0 ? p0 : x > p1 ? p1 : x;
    case TAU_POWS: return pow(x, p0);
    default: return NAN;
    }
}

static void unary_domain(tau_unop op, double *lo, double *hi) {
    *lo = -3; *hi = 3;
    if (op == TAU_LOG || op == TAU_SQRT || op == TAU_RSQRT || op == TAU_RECIP) { *lo = 0.2; *hi = 3; }
    if (op == TAU_LOG1P) { *lo = -0.8; *hi = 3; }
}

static void check_unary_on(tau_unop op, const tau_tensor *x, double p0, double p1) {
    tau_tensor *out = tau_unary_forward(op, x, p0, p1);
    ck_assert_msg(out != NULL, "%s: %s", tau_unop_name(op), tau_errmsg());
    ck_assert(tau_same_shape(out, x));
    int64_t idx[TAU_MAXDIM] = {0};
    do {
        double v = tau_get(x, idx), got = tau_get(out, idx), want = ref_un(op, v, p0, p1);
        ck_assert_msg(close_to(got, want, 2e-6), "%s(%g) = %.9g, expected %.9g", tau_unop_name(op), v, got, want);
    } while (next_idx(x->ndim, x->shape, idx));
    /* in place gives the same values */
    tau_tensor *c = tau_clone((tau_tensor *)x);
    ck_assert_int_eq(tau_unary_inplace(op, c, p0, p1), TAU_OK);
    assert_same_values(c, out, 0);
    tau_release(c);
    tau_release(out);
}

START_TEST(test_unary_all) {
    for (int op = 0; op < TAU_NUNARY; op++) {
        double lo, hi, p0 = 0, p1 = 0;
        unary_domain((tau_unop)op, &lo, &hi);
        if (op == TAU_CLAMP) { p0 = -0.5; p1 = 0.7; }
        if (op == TAU_POWS) { p0 = 3; }
        tau_tensor *x = MKF(2, I(5), I(7));
        fill_uniform(x, lo, hi);
        tau_f32(x)[0] = 0.5f; tau_f32(x)[1] = 2.5f; tau_f32(x)[2] = -1.5f; /* rounding ties */
        if (op == TAU_LOG || op == TAU_SQRT || op == TAU_RSQRT || op == TAU_RECIP || op == TAU_LOG1P) tau_f32(x)[2] = 1.5f;
        check_unary_on((tau_unop)op, x, p0, p1);
        tau_tensor *t = tau_transpose(x, 0, 1);
        check_unary_on((tau_unop)op, t, p0, p1);
        tau_tensor *big = MKF(1, I(1000)); /* the vectorised contiguous loops */
        fill_uniform(big, lo, hi);
        check_unary_on((tau_unop)op, big, p0, p1);
        tau_release(big); tau_release(t); tau_release(x);
    }
    tau_tensor *x = MKF(1, I(6));
    fill_uniform(x, 0.1, 3);
    check_unary_on(TAU_POWS, x, 0.5, 0);
    check_unary_on(TAU_POWS, x, 2, 0);
    check_unary_on(TAU_POWS, x, -1.5, 0);
    /* clamp with one bound only */
    fill_uniform(x, -3, 3);
    tau_tensor *lo = tau_unary_forward(TAU_CLAMP, x, 0, NAN), *hi = tau_unary_forward(TAU_CLAMP, x, NAN, 0);
    for (int i = 0; i < 6; i++) {
        ck_assert(tau_f32(lo)[i] == fmaxf(tau_f32(x)[i], 0));
        ck_assert(tau_f32(hi)[i] == fminf(tau_f32(x)[i], 0));
    }
    tau_release(lo); tau_release(hi); tau_release(x);
    ck_assert_str_eq(tau_unop_name(TAU_RECIP), "reciprocal");
    ck_assert_str_eq(tau_binop_name(TAU_MAXIMUM), "maximum");
    ck_assert_str_eq(tau_redop_name(TAU_LOGSUMEXP), "logsumexp");
}
END_TEST

START_TEST(test_unary_nan) {
    /* NaN passes through relu, max, clamp the same whatever the layout */
    tau_tensor *x = MKF(2, I(2), I(2));
    tau_f32(x)[0] = 1; tau_f32(x)[1] = NAN; tau_f32(x)[2] = -1; tau_f32(x)[3] = 2;
    tau_tensor *t = tau_transpose(x, 0, 1);
    tau_tensor *big = MKF(1, I(64));
    for (int i = 0; i < 64; i++) tau_f32(big)[i] = i % 3 == 0 ? NAN : (float)(i % 3) - 1.5f;
    const tau_tensor *xs[3] = {x, t, big};
    for (int k = 0; k < 3; k++) {
        tau_tensor *r = tau_unary_forward(TAU_RELU, xs[k], 0, 0);
        tau_tensor *n = tau_unary_forward(TAU_ISNAN, xs[k], 0, 0);
        int64_t idx[TAU_MAXDIM] = {0};
        do {
            double v = tau_get(xs[k], idx), rv = tau_get(r, idx);
            ck_assert(tau_get(n, idx) == (isnan(v) ? 1 : 0));
            if (isnan(v)) ck_assert_msg(isnan(rv), "relu(nan) = %g in layout %d", rv, k);
            else ck_assert(rv == (v > 0 ? v : 0));
        } while (next_idx(xs[k]->ndim, xs[k]->shape, idx));
        tau_release(r); tau_release(n);
    }
    tau_release(big); tau_release(t); tau_release(x);
}
END_TEST

START_TEST(test_unary_int) {
    tau_tensor *x = MKI(2, I(2), I(3));
    int32_t vals[6] = {-5, -1, 0, 1, 4, 9};
    memcpy(tau_i32(x), vals, sizeof vals);
    tau_tensor *t = tau_transpose(x, 0, 1);
    tau_unop ops[4] = {TAU_NEG, TAU_ABS, TAU_SIGN, TAU_CLAMP};
    for (int k = 0; k < 4; k++) {
        tau_tensor *r = tau_unary_forward(ops[k], t, -1.5, 3.5);
        ck_assert(r->dtype == TAU_I32);
        int64_t idx[2] = {0, 0};
        do {
            double v = tau_get(t, idx), want = ops[k] == TAU_CLAMP ? (v < -1 ? -1 : v > 3 ? 3 : v) : ref_un(ops[k], v, 0, 0);
            ck_assert_msg(tau_get(r, idx) == want, "%s(%g) = %g", tau_unop_name(ops[k]), v, tau_get(r, idx));
        } while (next_idx(2, t->shape, idx));
        tau_release(r);
    }
    /* other ops compute in float32 */
    tau_tensor *e = tau_unary_forward(TAU_EXP, x, 0, 0);
    ck_assert(e->dtype == TAU_F32);
    ck_assert(close_to(tau_f32(e)[4], exp(4), 1e-6));
    /* in place keeps int32 */
    tau_tensor *c = tau_clone(x);
    ck_assert_int_eq(tau_unary_inplace(TAU_SQRT, c, 0, 0), TAU_OK);
    ck_assert(c->dtype == TAU_I32 && tau_i32(c)[5] == 3 && tau_i32(c)[4] == 2);
    tau_release(c); tau_release(e); tau_release(t); tau_release(x);
}
END_TEST

START_TEST(test_where) {
    tau_tensor *cond = MKI(2, I(2), I(1)), *a = MKF(2, I(2), I(3)), *b = MKF(1, I(3));
    tau_i32(cond)[0] = 1; tau_i32(cond)[1] = 0;
    fill_uniform(a, -1, 1);
    fill_uniform(b, 5, 6);
    tau_tensor *r = tau_where_forward(cond, a, b);
    ck_assert_ptr_nonnull(r);
    assert_shape(r, 2, I(2), I(3));
    for (int j = 0; j < 3; j++) {
        ck_assert(tau_f32(r)[j] == tau_f32(a)[j]);
        ck_assert(tau_f32(r)[3 + j] == tau_f32(b)[j]);
    }
    /* float condition, transposed operand, scalar operand */
    tau_tensor *fc = MKF(2, I(3), I(2)), *at = tau_transpose(a, 0, 1), *s = tau_scalar(-7);
    fill_choice(fc, (const double[]){0, 1}, 2);
    tau_tensor *r2 = tau_where_forward(fc, at, s);
    int64_t idx[2] = {0, 0};
    do ck_assert(tau_get(r2, idx) == (tau_get(fc, idx) != 0 ? tau_get(at, idx) : -7));
    while (next_idx(2, r2->shape, idx));
    /* int32 with int32 stays int32; mixed is float32 */
    tau_tensor *ia = MKI(1, I(3)), *ib = MKI(1, I(3)), *c3 = MKI(1, I(3));
    tau_tensor *ri = tau_where_forward(c3, ia, ib), *rm = tau_where_forward(c3, ia, b);
    ck_assert(ri->dtype == TAU_I32 && rm->dtype == TAU_F32);
    tau_tensor *bad = MKF(1, I(4));
    ck_assert_ptr_null(tau_where_forward(bad, a, b));
    assert_err("where: shapes [4] and [2, 3] cannot be broadcast");
    tau_release(bad); tau_release(ri); tau_release(rm); tau_release(ia); tau_release(ib); tau_release(c3);
    tau_release(r2); tau_release(fc); tau_release(at); tau_release(s);
    tau_release(r); tau_release(cond); tau_release(a); tau_release(b);
}
END_TEST

/* ---- reductions -------------------------------------------------------------------------------- */

/* The reference for one reduction over vals[0..n). */
static double ref_reduce(tau_redop op, const double *v, int64_t n, int unbiased, int64_t *pos) {
    double s = 0, p = 1, mx = -INFINITY, mn = INFINITY;
    int64_t imx = 0, imn = 0;
    for (int64_t i = 0; i < n; i++) {
        s += v[i]; p *= v[i];
        if (v[i] > mx) { mx = v[i]; imx = i; }
        if (v[i] < mn) { mn = v[i]; imn = i; }
    }
    double mean = s / (double)n, ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    double var = ss / ((double)n - (unbiased ? 1 : 0));
    double lse = 0;
    if (isinf(mx) && mx < 0) lse = -INFINITY;
    else if (isinf(mx)) lse = INFINITY;
    else { for (int64_t i = 0; i < n; i++) lse += exp(v[i] - mx); lse = mx + log(lse); }
    switch (op) {
    case TAU_SUM: return s;
    case TAU_MEAN: return mean;
    case TAU_PROD: return p;
    case TAU_VAR: return var;
    case TAU_STD: return sqrt(var);
    case TAU_MAX: *pos = imx; return mx;
    case TAU_MIN: *pos = imn; return mn;
    case TAU_ARGMAX: return (double)imx;
    case TAU_ARGMIN: return (double)imn;
    case TAU_LOGSUMEXP: return lse;
    default: return NAN;
    }
}

static void check_reduce(tau_redop op, tau_tensor *x, int dim, int keep, int unbiased) {
    tau_tensor *ind = NULL;
    int want_ind = (op == TAU_MAX || op == TAU_MIN) && dim >= 0;
    tau_tensor *out = tau_reduce_forward(op, x, dim, keep, unbiased, want_ind ? &ind : NULL);
    ck_assert_msg(out != NULL, "%s: %s", tau_redop_name(op), tau_errmsg());
    /* expected shape */
    int64_t osh[TAU_MAXDIM];
    int ond = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (dim < 0 || i == dim) { if (keep) osh[ond++] = 1; }
        else osh[ond++] = x->shape[i];
    }
    ck_assert_int_eq(out->ndim, ond);
    for (int i = 0; i < ond; i++) ck_assert_int_eq(out->shape[i], osh[i]);
    int isarg = op == TAU_ARGMAX || op == TAU_ARGMIN;
    int intout = isarg || (x->dtype == TAU_I32 && (op == TAU_SUM || op == TAU_PROD || op == TAU_MAX || op == TAU_MIN));
    ck_assert(out->dtype == (intout ? TAU_I32 : TAU_F32));
    if (want_ind) { ck_assert_ptr_nonnull(ind); ck_assert(tau_same_shape(ind, out)); ck_assert(ind->dtype == TAU_I32); }
    /* walk the output; gather the reduced elements for each */
    int64_t n = dim < 0 ? tau_numel(x) : x->shape[dim];
    double *vals = malloc(sizeof(double) * (size_t)(n ? n : 1));
    int64_t oidx[TAU_MAXDIM] = {0};
    do {
        int64_t xi[TAU_MAXDIM] = {0};
        int64_t k = 0;
        if (dim < 0) {
            do vals[k++] = tau_get(x, xi);
            while (next_idx(x->ndim, x->shape, xi));
        } else {
            int o = 0;
            for (int i = 0; i < x->ndim; i++) {
                if (i == dim) { if (keep) o++; }
                else xi[i] = oidx[o++];
            }
            for (k = 0; k < n; k++) { xi[dim] = k; vals[k] = tau_get(x, xi); }
        }
        int64_t pos = -1;
        double want = ref_reduce(op, vals, n, unbiased, &pos), got = tau_get(out, oidx);
        ck_assert_msg(close_to(got, want, 2e-5), "%s dim %d keep %d: got %.9g, expected %.9g", tau_redop_name(op), dim,
                      keep, got, want);
        if (want_ind) ck_assert_int_eq((int64_t)tau_get(ind, oidx), pos);
    } while (next_idx(ond, osh, oidx));
    free(vals);
    tau_release(ind);
    tau_release(out);
}

START_TEST(test_reduce_all_dims) {
    tau_tensor *x = MKF(3, I(3), I(4), I(5));
    fill_uniform(x, -1, 1);
    int perm[3] = {2, 0, 1};
    tau_tensor *y0 = MKF(3, I(5), I(3), I(4));
    fill_uniform(y0, 0.5, 1.5);
    tau_tensor *y = tau_permute(y0, perm); /* (4, 5, 3), non-contiguous */
    tau_tensor *xs[2] = {x, y};
    for (int k = 0; k < 2; k++)
        for (int op = 0; op < TAU_NREDUCE; op++)
            for (int dim = -1; dim < 3; dim++)
                for (int keep = 0; keep < 2; keep++) {
                    check_reduce((tau_redop)op, xs[k], dim, keep, 1);
                    if (op == TAU_VAR || op == TAU_STD) check_reduce((tau_redop)op, xs[k], dim, keep, 0);
                }
    tau_release(x); tau_release(y); tau_release(y0);
}
END_TEST

START_TEST(test_reduce_int_and_edge) {
    tau_tensor *x = MKI(2, I(3), I(4));
    fill_uniform(x, -5, 5);
    for (int op = 0; op < TAU_NREDUCE; op++)
        for (int dim = -1; dim < 2; dim++) check_reduce((tau_redop)op, x, dim, 0, 1);
    /* a 0-dim tensor reduces to itself */
    tau_tensor *s = tau_scalar(3);
    tau_tensor *r = tau_reduce_forward(TAU_SUM, s, 0, 0, 0, NULL);
    ck_assert(r->ndim == 0 && tau_f32(r)[0] == 3);
    tau_release(r);
    /* out of range, empty */
    ck_assert_ptr_null(tau_reduce_forward(TAU_SUM, x, 2, 0, 0, NULL));
    ck_assert_str_eq(tau_errmsg(), "sum: dimension 3 out of range for a 2-dimensional tensor");
    tau_tensor *z = MKF(2, I(0), I(3));
    tau_tensor *zs = tau_reduce_forward(TAU_SUM, z, 0, 0, 0, NULL);
    ck_assert(zs->ndim == 1 && zs->shape[0] == 3 && tau_f32(zs)[1] == 0);
    tau_release(zs);
    ck_assert_ptr_null(tau_reduce_forward(TAU_MAX, z, 0, 0, 0, NULL));
    ck_assert_str_eq(tau_errmsg(), "max: cannot reduce over an empty dimension (tensor of size [0, 3])");
    /* the first of equal maxima wins */
    tau_tensor *t = MKF(1, I(4));
    tau_f32(t)[0] = 1; tau_f32(t)[1] = 3; tau_f32(t)[2] = 3; tau_f32(t)[3] = 0;
    tau_tensor *ind = NULL, *m = tau_reduce_forward(TAU_MAX, t, 0, 0, 0, &ind);
    ck_assert(tau_f32(m)[0] == 3 && tau_i32(ind)[0] == 1);
    tau_tensor *am = tau_reduce_forward(TAU_ARGMAX, t, -1, 0, 0, NULL);
    ck_assert(tau_i32(am)[0] == 1);
    /* NaN propagates through max */
    tau_f32(t)[3] = NAN;
    tau_tensor *mn = tau_reduce_forward(TAU_MAX, t, -1, 0, 0, NULL);
    ck_assert(isnan(tau_f32(mn)[0]));
    tau_release(mn); tau_release(am); tau_release(m); tau_release(ind); tau_release(t);
    tau_release(z); tau_release(s); tau_release(x);
}
END_TEST

START_TEST(test_logsumexp_inf) {
    double v[9] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, 0, 1, INFINITY, 1, 2};
    int64_t sh[2] = {3, 3};
    tau_tensor *x = from_values(TAU_F32, 2, sh, v);
    tau_tensor *r = tau_reduce_forward(TAU_LOGSUMEXP, x, 1, 0, 0, NULL);
    ck_assert(isinf(tau_f32(r)[0]) && tau_f32(r)[0] < 0);
    ck_assert(close_to(tau_f32(r)[1], log(1 + exp(1)), 1e-6));
    ck_assert(isinf(tau_f32(r)[2]) && tau_f32(r)[2] > 0);
    tau_tensor *r0 = tau_reduce_forward(TAU_LOGSUMEXP, x, 0, 1, 0, NULL);
    assert_shape(r0, 2, I(1), I(3));
    ck_assert(isinf(tau_f32(r0)[0]) && tau_f32(r0)[0] > 0);
    ck_assert(close_to(tau_f32(r0)[2], log(exp(2) + exp(1)), 1e-6));
    /* large values do not overflow */
    double big[2] = {1000, 1000};
    int64_t s2[1] = {2};
    tau_tensor *b = from_values(TAU_F32, 1, s2, big);
    tau_tensor *rb = tau_reduce_forward(TAU_LOGSUMEXP, b, -1, 0, 0, NULL);
    ck_assert(close_to(tau_f32(rb)[0], 1000 + log(2), 1e-6));
    tau_release(rb); tau_release(b); tau_release(r0); tau_release(r); tau_release(x);
}
END_TEST

START_TEST(test_sum_to) {
    tau_tensor *g = MKF(3, I(4), I(2), I(3));
    fill_uniform(g, -1, 1);
    int64_t targets[5][3] = {{2, 1}, {1, 3}, {3}, {4, 1, 3}, {1, 1, 1}};
    int nds[5] = {2, 2, 1, 3, 3};
    for (int k = 0; k < 5; k++) {
        tau_tensor *r = tau_sum_to(g, nds[k], targets[k]);
        ck_assert_msg(r != NULL, "%s", tau_errmsg());
        ck_assert_int_eq(r->ndim, nds[k]);
        /* reference: add every element of g into its broadcast source */
        double acc[64] = {0};
        int64_t idx[3] = {0, 0, 0};
        do {
            int64_t off = 0, mul = 1;
            for (int d = nds[k] - 1; d >= 0; d--) {
                int gd = d + 3 - nds[k];
                off += (targets[k][d] == 1 ? 0 : idx[gd]) * mul;
                mul *= targets[k][d];
            }
            acc[off] += tau_get(g, idx);
        } while (next_idx(3, g->shape, idx));
        for (int64_t i = 0; i < tau_numel(r); i++) ck_assert(close_to(tau_f32(r)[i], acc[i], 1e-6));
        tau_release(r);
    }
    /* to a 0-dim scalar */
    tau_tensor *s = tau_sum_to(g, 0, NULL);
    double tot = 0;
    for (int i = 0; i < 24; i++) tot += tau_f32(g)[i];
    ck_assert(s->ndim == 0 && close_to(tau_f32(s)[0], tot, 1e-6));
    /* the same shape is returned as is; a transposed gradient works too */
    tau_tensor *same = tau_sum_to(g, 3, g->shape);
    ck_assert_ptr_eq(same, g);
    tau_tensor *gt = tau_transpose(g, 0, 2);
    int64_t t1[2] = {1, 4};
    tau_tensor *rt = tau_sum_to(gt, 2, t1);
    for (int i = 0; i < 4; i++) {
        double a = 0;
        for (int j = 0; j < 6; j++) a += tau_f32(g)[i * 6 + j];
        ck_assert(close_to(tau_f32(rt)[i], a, 1e-6));
    }
    int64_t bad[1] = {5};
    ck_assert_ptr_null(tau_sum_to(g, 1, bad));
    assert_err("sum_to: a gradient of size [4, 2, 3] cannot be reduced to [5]");
    tau_release(rt); tau_release(gt); tau_release(same); tau_release(s); tau_release(g);
}
END_TEST

/* ---- matmul -------------------------------------------------------------------------------------- */

/* Naive product with NumPy semantics; checks shape and values of out. */
static void check_matmul(tau_tensor *a, tau_tensor *b) {
    tau_tensor *out = tau_matmul_forward(a, b);
    ck_assert_msg(out != NULL, "%s", tau_errmsg());
    int a1 = a->ndim == 1, b1 = b->ndim == 1;
    int64_t m = a1 ? 1 : a->shape[a->ndim - 2], k = a->shape[a->ndim - 1];
    int64_t n = b1 ? 1 : b->shape[b->ndim - 1];
    int bna = a1 ? 0 : a->ndim - 2, bnb = b1 ? 0 : b->ndim - 2, bn = bna > bnb ? bna : bnb;
    int64_t bs[TAU_MAXDIM], osh[TAU_MAXDIM];
    int ond = 0;
    for (int i = 0; i < bn; i++) {
        int ia = i - (bn - bna), ib = i - (bn - bnb);
        int64_t x = ia >= 0 ? a->shape[ia] : 1, y = ib >= 0 ? b->shape[ib] : 1;
        bs[i] = x == 1 ? y : x;
        osh[ond++] = bs[i];
    }
    if (!a1) osh[ond++] = m;
    if (!b1) osh[ond++] = n;
    ck_assert_int_eq(out->ndim, ond);
    for (int i = 0; i < ond; i++) ck_assert_int_eq(out->shape[i], osh[i]);
    int64_t bi[TAU_MAXDIM] = {0};
    int64_t count = 0;
    do {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++) {
                    int64_t ai[TAU_MAXDIM], bj[TAU_MAXDIM];
                    for (int d = 0; d < bna; d++) ai[d] = a->shape[d] == 1 ? 0 : bi[d + bn - bna];
                    for (int d = 0; d < bnb; d++) bj[d] = b->shape[d] == 1 ? 0 : bi[d + bn - bnb];
                    if (a1) ai[0] = p; else { ai[bna] = i; ai[bna + 1] = p; }
                    if (b1) bj[0] = p; else { bj[bnb] = p; bj[bnb + 1] = j; }
                    s += tau_get(a, ai) * tau_get(b, bj);
                }
                int64_t oi[TAU_MAXDIM];
                int o = 0;
                for (int d = 0; d < bn; d++) oi[o++] = bi[d];
                if (!a1) oi[o++] = i;
                if (!b1) oi[o++] = j;
                double got = tau_get(out, oi);
                ck_assert_msg(close_to(got, s, 1e-5), "matmul: got %g, expected %g", got, s);
                count++;
            }
    } while (bn > 0 && next_idx(bn, bs, bi));
    ck_assert_int_eq(count, tau_numel(out));
    tau_release(out);
}

static tau_tensor *rnd(int nd, const int64_t *shape) {
    tau_tensor *t = tau_zeros(TAU_F32, nd, shape);
    fill_uniform(t, -1, 1);
    return t;
}
#define RND(...) rnd((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

START_TEST(test_matmul) {
    tau_tensor *v3 = RND(3), *w3 = RND(3), *m23 = RND(2, 3), *m34 = RND(3, 4);
    check_matmul(v3, w3);
    check_matmul(v3, m34);
    check_matmul(m23, v3);
    check_matmul(m23, m34);
    /* transposed operands go to sgemm as such */
    tau_tensor *m32 = RND(3, 2), *m43 = RND(4, 3);
    tau_tensor *at = tau_transpose(m32, 0, 1), *bt = tau_transpose(m43, 0, 1);
    check_matmul(at, m34);
    check_matmul(m23, bt);
    check_matmul(at, bt);
    check_matmul(bt, v3 = (tau_release(v3), RND(4)));
    /* a narrowed operand (row stride larger than its width) */
    tau_tensor *wide = RND(2, 7), *nw = tau_narrow(wide, 1, 2, 3);
    check_matmul(nw, m34);
    tau_tensor *tall = RND(3, 9), *nt = tau_narrow(tall, 1, 4, 4);
    check_matmul(m23, nt);
    /* layouts sgemm cannot read: copied */
    tau_tensor *row = RND(1, 3);
    int64_t es[2] = {5, 3};
    tau_tensor *ex = tau_expand(row, 2, es);
    check_matmul(ex, m34);
    tau_tensor *c3 = RND(3, 2, 4);
    int perm[3] = {2, 0, 1};
    tau_tensor *pm = tau_permute(c3, perm); /* (4, 3, 2), last two strides (8, 4) */
    tau_tensor *m25 = RND(2, 5);
    check_matmul(pm, m25);
    /* batched, broadcast batch, transposed batched operands, 1-D with a batch */
    tau_tensor *ba = RND(2, 2, 3), *bb = RND(2, 3, 4);
    check_matmul(ba, bb);
    tau_tensor *b4 = RND(2, 1, 2, 3), *b5 = RND(5, 3, 4);
    check_matmul(b4, b5);
    check_matmul(b4, m34);
    tau_tensor *bb2 = RND(2, 4, 3), *bbt = tau_transpose(bb2, 1, 2);
    check_matmul(ba, bbt);
    tau_tensor *bat0 = RND(2, 3, 2), *bat = tau_transpose(bat0, 1, 2);
    check_matmul(bat, bbt);
    tau_tensor *u3 = RND(3);
    check_matmul(u3, bb);
    check_matmul(ba, u3);
    /* k = 0 gives zeros; m = 0 an empty result */
    tau_tensor *k0a = RND(2, 0), *k0b = RND(0, 3);
    tau_tensor *z = tau_matmul_forward(k0a, k0b);
    assert_shape(z, 2, I(2), I(3));
    for (int i = 0; i < 6; i++) ck_assert(tau_f32(z)[i] == 0);
    tau_tensor *m0 = RND(0, 3), *e0 = tau_matmul_forward(m0, m34);
    assert_shape(e0, 2, I(0), I(4));
    tau_release(m0); tau_release(e0);
    tau_release(z); tau_release(k0a); tau_release(k0b); tau_release(u3);
    tau_release(bat0); tau_release(bat); tau_release(bb2); tau_release(bbt); tau_release(b4); tau_release(b5);
    tau_release(ba); tau_release(bb); tau_release(m25); tau_release(pm); tau_release(c3); tau_release(ex);
    tau_release(row); tau_release(tall); tau_release(nt); tau_release(wide); tau_release(nw);
    tau_release(at); tau_release(bt); tau_release(m32); tau_release(m43);
    tau_release(v3); tau_release(w3); tau_release(m23); tau_release(m34);
}
END_TEST

START_TEST(test_matmul_errors) {
    tau_tensor *a = RND(4, 3), *b = RND(5, 2), *v = RND(5), *s = tau_scalar(1), *i = MKI(2, I(3), I(2));
    ck_assert_ptr_null(tau_matmul_forward(a, b));
    ck_assert_str_eq(tau_errmsg(), "matmul: size mismatch, a is [4, 3], b is [5, 2] (a:size(2) must equal b:size(1))");
    ck_assert_ptr_null(tau_matmul_forward(a, v));
    ck_assert_str_eq(tau_errmsg(), "matmul: size mismatch, a is [4, 3], b is [5] (a:size(2) must equal b:size(1))");
    tau_tensor *b3 = RND(2, 5, 2), *a3 = RND(3, 4, 3);
    ck_assert_ptr_null(tau_matmul_forward(a, b3));
    ck_assert_str_eq(tau_errmsg(), "matmul: size mismatch, a is [4, 3], b is [2, 5, 2] (a:size(2) must equal b:size(2))");
    tau_tensor *b33 = RND(2, 3, 2);
    ck_assert_ptr_null(tau_matmul_forward(a3, b33));
    ck_assert_str_eq(tau_errmsg(), "matmul: batch dimensions of [3, 4, 3] and [2, 3, 2] cannot be broadcast");
    ck_assert_ptr_null(tau_matmul_forward(s, a));
    assert_err("matmul: both arguments must have at least one dimension");
    ck_assert_ptr_null(tau_matmul_forward(i, b));
    ck_assert_str_eq(tau_errmsg(), "matmul: float32 tensors expected, got int32 and float32");
    tau_release(b33); tau_release(a3); tau_release(b3);
    tau_release(a); tau_release(b); tau_release(v); tau_release(s); tau_release(i);
}
END_TEST

/* ---- joining and indexing ------------------------------------------------------------------------ */

START_TEST(test_cat_stack) {
    tau_tensor *a = RND(2, 3), *b0 = RND(1, 2), *b = tau_transpose(b0, 0, 1); /* (2, 1) */
    tau_tensor *ts[2] = {a, b};
    tau_tensor *c = tau_cat_forward(ts, 2, 1);
    assert_shape(c, 2, I(2), I(4));
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 3; j++) ck_assert(tau_f32(c)[i * 4 + j] == tau_f32(a)[i * 3 + j]);
        ck_assert(tau_f32(c)[i * 4 + 3] == tau_f32(b0)[i]);
    }
    tau_tensor *d = RND(1, 3), *ts2[3] = {a, d, a};
    tau_tensor *c0 = tau_cat_forward(ts2, 3, 0);
    assert_shape(c0, 2, I(5), I(3));
    ck_assert(tau_f32(c0)[2 * 3 + 1] == tau_f32(d)[1]);
    ck_assert(tau_f32(c0)[4 * 3 + 2] == tau_f32(a)[5]);
    ck_assert_ptr_null(tau_cat_forward(ts2, 3, 1));
    ck_assert_str_eq(tau_errmsg(), "cat: tensor 2 has size [1, 3], which does not match [2, 3] except in dimension 2");
    ck_assert_ptr_null(tau_cat_forward(ts2, 3, 2));
    ck_assert_str_eq(tau_errmsg(), "cat: dimension 3 out of range for 2-dimensional tensors");
    ck_assert_ptr_null(tau_cat_forward(ts2, 0, 0));
    assert_err("non-empty list");
    /* mixed dtypes join as float32 */
    tau_tensor *ia = MKI(2, I(1), I(3)), *ts3[2] = {ia, a};
    tau_i32(ia)[1] = 4;
    tau_tensor *cm = tau_cat_forward(ts3, 2, 0);
    ck_assert(cm->dtype == TAU_F32 && tau_f32(cm)[1] == 4.0f);
    /* stack along each position */
    tau_tensor *e = RND(2, 3), *ts4[3] = {a, e, a};
    for (int dim = 0; dim <= 2; dim++) {
        tau_tensor *s = tau_stack_forward(ts4, 3, dim);
        ck_assert_msg(s != NULL, "%s", tau_errmsg());
        ck_assert_int_eq(s->ndim, 3);
        ck_assert_int_eq(s->shape[dim], 3);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++) {
                    int64_t src[2] = {i, j}, dst[3];
                    int64_t rest[2] = {i, j};
                    int r = 0;
                    for (int q = 0; q < 3; q++) dst[q] = q == dim ? k : rest[r++];
                    ck_assert(tau_get(s, dst) == tau_get(ts4[k], src));
                }
        tau_release(s);
    }
    tau_tensor *ts5[2] = {a, d};
    ck_assert_ptr_null(tau_stack_forward(ts5, 2, 0));
    ck_assert_str_eq(tau_errmsg(), "stack: tensor 2 has size [1, 3] but tensor 1 has size [2, 3]");
    ck_assert_ptr_null(tau_stack_forward(ts4, 3, 3));
    ck_assert_str_eq(tau_errmsg(), "stack: dimension 4 out of range 1..3");
    tau_release(e); tau_release(cm); tau_release(ia); tau_release(c0); tau_release(d);
    tau_release(c); tau_release(a); tau_release(b); tau_release(b0);
}
END_TEST

static tau_tensor *ints(int n, const int32_t *v) {
    int64_t s = n;
    tau_tensor *t = tau_empty(TAU_I32, 1, &s);
    memcpy(tau_i32(t), v, sizeof(int32_t) * (size_t)n);
    return t;
}

START_TEST(test_index_select_gather_scatter) {
    tau_tensor *x0 = RND(3, 4), *x = tau_transpose(x0, 0, 1); /* (4, 3), non-contiguous */
    tau_tensor *ix = ints(3, (int32_t[]){3, 0, 0});
    tau_tensor *r = tau_index_select_forward(x, 0, ix);
    assert_shape(r, 2, I(3), I(3));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int64_t a[2] = {i, j}, b[2] = {tau_i32(ix)[i], j};
            ck_assert(tau_get(r, a) == tau_get(x, b));
        }
    tau_tensor *r1 = tau_index_select_forward(x, 1, ix = (tau_release(ix), ints(2, (int32_t[]){2, 1})));
    assert_shape(r1, 2, I(4), I(2));
    int64_t p[2] = {3, 0}, q[2] = {3, 2};
    ck_assert(tau_get(r1, p) == tau_get(x, q));
    tau_tensor *bad = ints(2, (int32_t[]){0, 4});
    ck_assert_ptr_null(tau_index_select_forward(x, 0, bad));
    ck_assert_str_eq(tau_errmsg(), "index_select: index 5 out of range 1..4");
    tau_tensor *neg = ints(1, (int32_t[]){-1});
    ck_assert_ptr_null(tau_index_select_forward(x, 0, neg));
    ck_assert_str_eq(tau_errmsg(), "index_select: index 0 out of range 1..4");
    tau_tensor *fi = MKF(1, I(2));
    ck_assert_ptr_null(tau_index_select_forward(x, 0, fi));
    ck_assert_str_eq(tau_errmsg(), "index_select: index must be an int32 tensor, got float32");
    ck_assert_ptr_null(tau_index_select_forward(x, 2, ix));
    assert_err("dimension 3 out of range");
    /* gather along each dim */
    int64_t gs[2] = {4, 2};
    tau_tensor *gi = tau_zeros(TAU_I32, 2, gs);
    int32_t gv[8] = {2, 0, 1, 1, 0, 2, 2, 2};
    memcpy(tau_i32(gi), gv, sizeof gv);
    tau_tensor *g = tau_gather_forward(x, 1, gi);
    assert_shape(g, 2, I(4), I(2));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) {
            int64_t a[2] = {i, j}, b[2] = {i, gv[i * 2 + j]};
            ck_assert(tau_get(g, a) == tau_get(x, b));
        }
    int64_t gs0[2] = {2, 3};
    tau_tensor *gi0 = tau_zeros(TAU_I32, 2, gs0);
    int32_t gv0[6] = {3, 0, 1, 2, 2, 0};
    memcpy(tau_i32(gi0), gv0, sizeof gv0);
    tau_tensor *g0 = tau_gather_forward(x, 0, gi0);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            int64_t a[2] = {i, j}, b[2] = {gv0[i * 3 + j], j};
            ck_assert(tau_get(g0, a) == tau_get(x, b));
        }
    tau_i32(gi)[3] = 3;
    ck_assert_ptr_null(tau_gather_forward(x, 1, gi));
    ck_assert_str_eq(tau_errmsg(), "gather: index 4 out of range 1..3");
    int64_t gbs[2] = {5, 1};
    tau_tensor *gbig = tau_zeros(TAU_I32, 2, gbs);
    ck_assert_ptr_null(tau_gather_forward(x, 1, gbig));
    ck_assert_str_eq(tau_errmsg(), "gather: index of size [5, 1] does not fit a tensor of size [4, 3]");
    /* scatter_add with repeated indices accumulates */
    tau_tensor *acc = RND(3, 4), *src = RND(2, 3);
    int64_t ss[2] = {2, 3};
    tau_tensor *si = tau_zeros(TAU_I32, 2, ss);
    int32_t sv[6] = {1, 1, 3, 0, 2, 0};
    memcpy(tau_i32(si), sv, sizeof sv);
    tau_tensor *sa = tau_scatter_add_forward(acc, 1, si, src);
    ck_assert_ptr_nonnull(sa);
    double want[12];
    for (int i = 0; i < 12; i++) want[i] = tau_f32(acc)[i];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) want[i * 4 + sv[i * 3 + j]] += tau_f32(src)[i * 3 + j];
    for (int i = 0; i < 12; i++) ck_assert(close_to(tau_f32(sa)[i], want[i], 1e-6));
    /* along dim 0, in place */
    tau_tensor *acc0 = MKF(2, I(3), I(3));
    int32_t sv0[6] = {2, 2, 0, 2, 1, 0};
    memcpy(tau_i32(si), sv0, sizeof sv0);
    ck_assert_int_eq(tau_scatter_add_(acc0, 0, si, src), TAU_OK);
    double w0[9] = {0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) w0[sv0[i * 3 + j] * 3 + j] += tau_f32(src)[i * 3 + j];
    for (int i = 0; i < 9; i++) ck_assert(close_to(tau_f32(acc0)[i], w0[i], 1e-6));
    tau_tensor *src2 = RND(3, 3);
    ck_assert_int_eq(tau_scatter_add_(acc0, 0, si, src2), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "scatter_add: index of size [2, 3] and src of size [3, 3] must have the same size");
    tau_i32(si)[0] = 7;
    ck_assert_ptr_null(tau_scatter_add_forward(acc, 1, si, src));
    ck_assert_str_eq(tau_errmsg(), "scatter_add: index 8 out of range 1..4");
    /* index_add_ */
    tau_tensor *ia = MKF(2, I(4), I(3)), *isrc = RND(3, 3), *iix = ints(3, (int32_t[]){1, 1, 3});
    ck_assert_int_eq(tau_index_add_(ia, 0, iix, isrc), TAU_OK);
    for (int j = 0; j < 3; j++) {
        ck_assert(tau_f32(ia)[j] == 0);
        ck_assert(close_to(tau_f32(ia)[3 + j], tau_f32(isrc)[j] + tau_f32(isrc)[3 + j], 1e-6));
        ck_assert(tau_f32(ia)[9 + j] == tau_f32(isrc)[6 + j]);
    }
    tau_release(ia); tau_release(isrc); tau_release(iix);
    tau_release(src2); tau_release(acc0); tau_release(sa); tau_release(si); tau_release(src); tau_release(acc);
    tau_release(gbig); tau_release(g0); tau_release(gi0); tau_release(g); tau_release(gi);
    tau_release(fi); tau_release(neg); tau_release(bad); tau_release(r1); tau_release(r); tau_release(ix);
    tau_release(x); tau_release(x0);
}
END_TEST

START_TEST(test_one_hot) {
    tau_tensor *l = ints(4, (int32_t[]){0, 2, 1, 2});
    tau_tensor *o = tau_one_hot(l, 3);
    assert_shape(o, 2, I(4), I(3));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) ck_assert(tau_f32(o)[i * 3 + j] == (j == tau_i32(l)[i] ? 1.0f : 0.0f));
    int64_t s2[2] = {2, 2};
    tau_tensor *l2 = tau_zeros(TAU_I32, 2, s2), *o2;
    tau_i32(l2)[3] = 4;
    o2 = tau_one_hot(l2, 5);
    assert_shape(o2, 3, I(2), I(2), I(5));
    ck_assert(tau_f32(o2)[3 * 5 + 4] == 1);
    ck_assert_ptr_null(tau_one_hot(l, 2));
    ck_assert_str_eq(tau_errmsg(), "one_hot: index 3 out of range 1..2");
    ck_assert_ptr_null(tau_one_hot(l, 0));
    ck_assert_str_eq(tau_errmsg(), "one_hot: number of classes must be positive, got 0");
    tau_tensor *f = MKF(1, I(2));
    ck_assert_ptr_null(tau_one_hot(f, 2));
    ck_assert_str_eq(tau_errmsg(), "one_hot: labels must be int32, got float32");
    tau_release(f); tau_release(o2); tau_release(l2); tau_release(o); tau_release(l);
}
END_TEST

START_TEST(test_copy_fill_convert) {
    tau_tensor *dst = MKF(2, I(2), I(3)), *row = RND(3);
    uint64_t v = dst->storage->version;
    ck_assert_int_eq(tau_copy_(dst, row), TAU_OK);
    ck_assert(dst->storage->version > v);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) ck_assert(tau_f32(dst)[i * 3 + j] == tau_f32(row)[j]);
    /* into a transposed destination, from an int32 source */
    tau_tensor *m = MKF(2, I(3), I(2)), *mt = tau_transpose(m, 0, 1), *is = MKI(2, I(2), I(3));
    fill_uniform(is, -9, 9);
    ck_assert_int_eq(tau_copy_(mt, is), TAU_OK);
    assert_same_values(mt, is, 0);
    /* a float source into int32 truncates toward zero */
    tau_tensor *fs = MKF(1, I(3)), *id = MKI(1, I(3));
    tau_f32(fs)[0] = 2.7f; tau_f32(fs)[1] = -2.7f; tau_f32(fs)[2] = 0.5f;
    ck_assert_int_eq(tau_copy_(id, fs), TAU_OK);
    ck_assert(tau_i32(id)[0] == 2 && tau_i32(id)[1] == -2 && tau_i32(id)[2] == 0);
    tau_tensor *ti = tau_to_dtype(fs, TAU_I32);
    ck_assert(ti->dtype == TAU_I32 && tau_i32(ti)[1] == -2);
    tau_tensor *tf = tau_to_dtype(is, TAU_F32);
    assert_same_values(tf, is, 0);
    /* int32 into a transposed int32 destination, and a float column broadcast along rows
     * (a stride of 0 in the innermost dimension) */
    tau_tensor *mi = MKI(2, I(3), I(2)), *mit = tau_transpose(mi, 0, 1);
    ck_assert_int_eq(tau_copy_(mit, is), TAU_OK);
    assert_same_values(mit, is, 0);
    tau_tensor *column = RND(2, 1);
    ck_assert_int_eq(tau_copy_(dst, column), TAU_OK);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) ck_assert(tau_f32(dst)[i * 3 + j] == tau_f32(column)[i]);
    tau_release(column); tau_release(mit); tau_release(mi);
    /* errors */
    tau_tensor *four = RND(4);
    ck_assert_int_eq(tau_copy_(dst, four), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "copy: shapes [2, 3] and [4] cannot be broadcast (dimension 2: 3 vs 4)");
    tau_tensor *big = RND(2, 2, 3);
    ck_assert_int_eq(tau_copy_(dst, big), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "copy: source of size [2, 2, 3] cannot be copied into a tensor of size [2, 3]");
    /* overlapping source and destination read the source as it was */
    double sq[4] = {1, 2, 3, 4};
    int64_t s22[2] = {2, 2};
    tau_tensor *o = from_values(TAU_F32, 2, s22, sq), *ot = tau_transpose(o, 0, 1);
    ck_assert_int_eq(tau_copy_(o, ot), TAU_OK);
    ck_assert(tau_f32(o)[0] == 1 && tau_f32(o)[1] == 3 && tau_f32(o)[2] == 2 && tau_f32(o)[3] == 4);
    tau_tensor *line = tau_arange(0, 6, 1, TAU_F32), *l0 = tau_narrow(line, 0, 0, 5), *l1 = tau_narrow(line, 0, 1, 5);
    ck_assert_int_eq(tau_copy_(l1, l0), TAU_OK);
    for (int i = 1; i < 6; i++) ck_assert(tau_f32(line)[i] == i - 1);
    int64_t s23[2] = {2, 3};
    tau_tensor *grid = tau_arange(0, 6, 1, TAU_F32), *gv = tau_view(grid, 2, s23);
    tau_tensor *g0 = tau_narrow(gv, 1, 0, 2), *g1 = tau_narrow(gv, 1, 1, 2);
    ck_assert_int_eq(tau_copy_(g1, g0), TAU_OK); /* strided, overlapping */
    float gw[6] = {0, 0, 1, 3, 3, 4};
    for (int i = 0; i < 6; i++) ck_assert_msg(tau_f32(grid)[i] == gw[i], "element %d is %g", i, tau_f32(grid)[i]);
    tau_release(g0); tau_release(g1); tau_release(gv); tau_release(grid);
    tau_release(l0); tau_release(l1); tau_release(line); tau_release(o); tau_release(ot);
    /* fill, contiguous and not */
    ck_assert_int_eq(tau_fill_(dst, 1.5), TAU_OK);
    for (int i = 0; i < 6; i++) ck_assert(tau_f32(dst)[i] == 1.5f);
    tau_tensor *col = tau_select(m, 1, 1);
    ck_assert_int_eq(tau_fill_(col, -4), TAU_OK);
    for (int i = 0; i < 3; i++) ck_assert(tau_f32(m)[i * 2 + 1] == -4 && tau_f32(m)[i * 2] != -4);
    ck_assert_int_eq(tau_fill_(id, 7.9), TAU_OK);
    ck_assert(tau_i32(id)[2] == 7);
    tau_tensor *f7 = tau_full(TAU_I32, 1, (int64_t[]){2}, 7);
    ck_assert(tau_i32(f7)[1] == 7);
    /* contiguous returns the tensor itself when it can; clone never shares */
    tau_tensor *c1 = tau_contiguous(dst);
    ck_assert_ptr_eq(c1, dst);
    tau_tensor *c2 = tau_contiguous(mt);
    ck_assert_ptr_ne(c2->storage, mt->storage);
    ck_assert(tau_is_contiguous(c2));
    assert_same_values(c2, mt, 0);
    tau_tensor *cl = tau_clone(dst);
    ck_assert_ptr_ne(cl->storage, dst->storage);
    assert_same_values(cl, dst, 0);
    tau_release(cl); tau_release(c1); tau_release(c2); tau_release(f7); tau_release(col); tau_release(big);
    tau_release(four); tau_release(tf); tau_release(ti); tau_release(fs); tau_release(id);
    tau_release(m); tau_release(mt); tau_release(is); tau_release(dst); tau_release(row);
}
END_TEST

START_TEST(test_allclose_equal) {
    tau_tensor *a = RND(2, 3), *b = tau_clone(a), *at = tau_transpose(a, 0, 1);
    ck_assert(tau_allclose(a, b, 1e-5, 1e-8, 0));
    ck_assert(tau_equal(a, b));
    tau_f32(b)[4] += 1e-6f;
    ck_assert(!tau_equal(a, b));
    ck_assert(tau_allclose(a, b, 1e-5, 1e-5, 0));
    tau_f32(b)[4] += 0.1f;
    ck_assert(!tau_allclose(a, b, 1e-5, 1e-5, 0));
    ck_assert(!tau_allclose(a, at, 1, 1, 0)); /* shapes differ */
    tau_tensor *att = tau_transpose(at, 0, 1);
    ck_assert(tau_equal(a, att));
    tau_tensor *n1 = MKF(1, I(2)), *n2 = MKF(1, I(2));
    tau_f32(n1)[0] = NAN; tau_f32(n2)[0] = NAN;
    ck_assert(!tau_allclose(n1, n2, 0, 0, 0));
    ck_assert(tau_allclose(n1, n2, 0, 0, 1));
    ck_assert(!tau_equal(n1, n2));
    tau_tensor *i2 = MKI(1, I(2)), *z2 = MKF(1, I(2));
    ck_assert(!tau_equal(i2, z2)); /* dtypes differ */
    ck_assert(tau_allclose(i2, z2, 0, 0, 0));
    tau_release(i2); tau_release(z2); tau_release(n1); tau_release(n2); tau_release(att);
    tau_release(a); tau_release(b); tau_release(at);
}
END_TEST

/* ---- creation and the generator ---------------------------------------------------------------- */

START_TEST(test_arange_linspace_eye) {
    tau_tensor *a = tau_arange(0, 5, 1, TAU_F32);
    assert_shape(a, 1, I(5));
    for (int i = 0; i < 5; i++) ck_assert(tau_f32(a)[i] == i);
    tau_tensor *b = tau_arange(5, 0, -2, TAU_I32);
    assert_shape(b, 1, I(3));
    ck_assert(tau_i32(b)[0] == 5 && tau_i32(b)[1] == 3 && tau_i32(b)[2] == 1);
    tau_tensor *c = tau_arange(0, 1, 0.25, TAU_F32);
    assert_shape(c, 1, I(4));
    ck_assert(tau_f32(c)[3] == 0.75f);
    tau_tensor *e = tau_arange(3, 1, 1, TAU_F32);
    assert_shape(e, 1, I(0));
    ck_assert_ptr_null(tau_arange(0, 1, 0, TAU_F32));
    assert_err("arange: step must be non-zero");
    ck_assert_ptr_null(tau_arange(0, NAN, 1, TAU_F32));
    ck_assert_ptr_null(tau_arange(0, 1e300, 1, TAU_F32));
    assert_err("arange: too many elements");
    tau_tensor *l = tau_linspace(0, 1, 5);
    for (int i = 0; i < 5; i++) ck_assert(close_to(tau_f32(l)[i], i / 4.0, 1e-7));
    tau_tensor *l1 = tau_linspace(2, 3, 1);
    ck_assert(tau_f32(l1)[0] == 2);
    ck_assert_ptr_null(tau_linspace(0, 1, -1));
    ck_assert_str_eq(tau_errmsg(), "linspace: negative number of points -1");
    tau_tensor *I2 = tau_eye(2, 3);
    assert_shape(I2, 2, I(2), I(3));
    float want[6] = {1, 0, 0, 0, 1, 0};
    for (int i = 0; i < 6; i++) ck_assert(tau_f32(I2)[i] == want[i]);
    ck_assert_ptr_null(tau_eye(-1, 2));
    tau_release(I2); tau_release(l1); tau_release(l); tau_release(e); tau_release(c); tau_release(b); tau_release(a);
}
END_TEST

START_TEST(test_rng) {
    int64_t s[1] = {1000};
    tau_manual_seed(42);
    tau_tensor *a = tau_rand(1, s), *an = tau_randn(1, s), *ai = tau_randint(-3, 3, 1, s);
    tau_manual_seed(42);
    tau_tensor *b = tau_rand(1, s), *bn = tau_randn(1, s), *bi = tau_randint(-3, 3, 1, s);
    ck_assert(tau_equal(a, b) && tau_equal(an, bn) && tau_equal(ai, bi));
    tau_manual_seed(43);
    tau_tensor *c = tau_rand(1, s);
    ck_assert(!tau_equal(a, c));
    /* ranges and moments */
    double mean = 0, var = 0;
    int seen[7] = {0};
    for (int i = 0; i < 1000; i++) {
        ck_assert(tau_f32(a)[i] >= 0 && tau_f32(a)[i] < 1);
        mean += tau_f32(an)[i];
        var += tau_f32(an)[i] * tau_f32(an)[i];
        int v = tau_i32(ai)[i];
        ck_assert(v >= -3 && v <= 3);
        seen[v + 3]++;
    }
    mean /= 1000;
    var = var / 1000 - mean * mean;
    ck_assert(fabs(mean) < 0.15 && fabs(var - 1) < 0.2);
    for (int k = 0; k < 7; k++) ck_assert_msg(seen[k] > 0, "randint never gave %d", k - 3); /* both bounds hit */
    tau_tensor *one = tau_randint(5, 5, 1, s);
    for (int i = 0; i < 1000; i++) ck_assert(tau_i32(one)[i] == 5);
    ck_assert_ptr_null(tau_randint(2, 1, 1, s));
    ck_assert_str_eq(tau_errmsg(), "randint: empty range 2..1");
    ck_assert_ptr_null(tau_randint(0, (int64_t)1 << 40, 1, s));
    assert_err("exceed int32");
    /* randperm is a permutation */
    tau_tensor *p = tau_randperm(50);
    int hit[50] = {0};
    for (int i = 0; i < 50; i++) {
        int v = tau_i32(p)[i];
        ck_assert(v >= 0 && v < 50);
        hit[v]++;
    }
    for (int i = 0; i < 50; i++) ck_assert_int_eq(hit[i], 1);
    tau_tensor *p0 = tau_randperm(0);
    ck_assert_int_eq(tau_numel(p0), 0);
    /* state round trip, including the spare normal */
    uint64_t st[4];
    (void)tau_rng_normal();
    tau_rng_get_state(st);
    double u1 = tau_rng_uniform(), n1 = tau_rng_normal();
    tau_rng_set_state(st);
    ck_assert(tau_rng_uniform() == u1);
    ck_assert(tau_rng_normal() == n1);
    tau_release(p0); tau_release(p); tau_release(one); tau_release(c);
    tau_release(a); tau_release(an); tau_release(ai); tau_release(b); tau_release(bn); tau_release(bi);
}
END_TEST

/* ---- autograd from C --------------------------------------------------------------------------- */

static tau_tensor *leaf(int nd, const int64_t *shape) {
    tau_tensor *t = rnd(nd, shape);
    t->requires_grad = 1;
    return t;
}

START_TEST(test_autograd_small_graph) {
    int64_t s[1] = {3};
    tau_tensor *a = leaf(1, s), *b = leaf(1, s);
    /* loss = sum(a * b + a) */
    tau_tensor *m = tau_op_binary(TAU_MUL, a, b);
    ck_assert_ptr_nonnull(m->grad_fn);
    ck_assert(m->requires_grad);
    tau_tensor *p = tau_op_binary(TAU_ADD, m, a);
    tau_tensor *loss = tau_op_reduce(TAU_SUM, p, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_backward(loss, NULL, 1), TAU_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert(close_to(tau_f32(a->grad)[i], tau_f32(b)[i] + 1, 1e-6));
        ck_assert(close_to(tau_f32(b->grad)[i], tau_f32(a)[i], 1e-6));
    }
    ck_assert_ptr_null(m->grad); /* intermediate tensors keep no .grad */
    /* retained: a second backward accumulates */
    ck_assert_int_eq(tau_backward(loss, NULL, 0), TAU_OK);
    for (int i = 0; i < 3; i++) ck_assert(close_to(tau_f32(b->grad)[i], 2 * tau_f32(a)[i], 1e-6));
    /* freed now */
    ck_assert_int_eq(tau_backward(loss, NULL, 0), TAU_ERR);
    assert_err("backward: the graph has already been freed by an earlier backward; pass retain_graph = true");
    /* a graph that shares freed parts */
    tau_tensor *q = tau_op_binary(TAU_MUL, m, m), *ql = tau_op_reduce(TAU_SUM, q, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_backward(ql, NULL, 0), TAU_ERR);
    assert_err("part of the graph was freed");
    /* non-scalar roots need a seed of their shape */
    tau_tensor *m2 = tau_op_binary(TAU_MUL, a, b);
    ck_assert_int_eq(tau_backward(m2, NULL, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "backward: a gradient must be given for a non-scalar tensor of size [3]");
    tau_tensor *seed = RND(2);
    ck_assert_int_eq(tau_backward(m2, seed, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "backward: gradient of size [2] given for a tensor of size [3]");
    tau_tensor *seed3 = RND(3);
    tau_release(a->grad); a->grad = NULL;
    ck_assert_int_eq(tau_backward(m2, seed3, 0), TAU_OK);
    for (int i = 0; i < 3; i++) ck_assert(close_to(tau_f32(a->grad)[i], tau_f32(seed3)[i] * tau_f32(b)[i], 1e-6));
    /* a tensor outside any graph */
    tau_tensor *plain = RND(1);
    ck_assert_int_eq(tau_backward(plain, NULL, 0), TAU_ERR);
    assert_err("does not require grad");
    tau_release(plain); tau_release(seed); tau_release(seed3); tau_release(m2); tau_release(q); tau_release(ql);
    tau_release(loss); tau_release(p); tau_release(m); tau_release(a); tau_release(b);
}
END_TEST

START_TEST(test_autograd_grad_targets) {
    int64_t s[1] = {4};
    tau_tensor *x = leaf(1, s), *w = leaf(1, s);
    tau_tensor *y = tau_op_binary(TAU_MUL, x, w);            /* y = x w */
    tau_tensor *z = tau_op_binary(TAU_MUL, y, y);            /* z = y^2 */
    tau_tensor *l = tau_op_reduce(TAU_SUM, z, -1, 0, 0, NULL);
    /* the gradient w.r.t. the intermediate y alone */
    tau_tensor *targets[3] = {y, NULL, NULL}, *res[3];
    ck_assert_int_eq(tau_grad(l, NULL, targets, 1, res, 1), TAU_OK);
    ck_assert_ptr_nonnull(res[0]);
    for (int i = 0; i < 4; i++) ck_assert(close_to(tau_f32(res[0])[i], 2 * tau_f32(y)[i], 1e-6));
    tau_release(res[0]);
    /* leaves and intermediates together; .grad is left alone */
    targets[0] = x; targets[1] = y; targets[2] = z;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 3, res, 1), TAU_OK);
    for (int i = 0; i < 4; i++) {
        float yi = tau_f32(y)[i];
        ck_assert(close_to(tau_f32(res[0])[i], 2 * yi * tau_f32(w)[i], 1e-5));
        ck_assert(close_to(tau_f32(res[1])[i], 2 * yi, 1e-6));
        ck_assert(close_to(tau_f32(res[2])[i], 1, 1e-6));
    }
    ck_assert_ptr_null(x->grad);
    ck_assert_ptr_null(w->grad);
    for (int k = 0; k < 3; k++) tau_release(res[k]);
    /* a leaf the root does not depend on gives NULL */
    tau_tensor *u = leaf(1, s);
    targets[0] = u;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 1, res, 1), TAU_OK);
    ck_assert_ptr_null(res[0]);
    /* an input that does not require grad is refused */
    tau_tensor *plain = RND(4);
    targets[0] = x; targets[1] = plain;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 2, res, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "grad: input 2 does not require grad");
    ck_assert_ptr_null(res[0]);
    /* the root itself */
    targets[0] = l;
    ck_assert_int_eq(tau_grad(l, NULL, targets, 1, res, 0), TAU_OK);
    ck_assert(close_to(tau_f32(res[0])[0], 1, 0));
    tau_release(res[0]);
    tau_release(plain); tau_release(u); tau_release(l); tau_release(z); tau_release(y); tau_release(x); tau_release(w);
}
END_TEST

START_TEST(test_autograd_inplace_checks) {
    int64_t s[1] = {3};
    tau_tensor *w = leaf(1, s), *x = RND(3);
    ck_assert_int_eq(tau_check_inplace("add_", w), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "add_: a leaf tensor that requires grad cannot be modified in place "
                                   "(use tau.no_grad, or detach() it first)");
    tau_tensor *y = tau_op_binary(TAU_MUL, w, x);
    ck_assert_int_eq(tau_check_inplace("mul_", y), TAU_ERR);
    assert_err("in-place operations on a tensor recorded in an autograd graph are not supported");
    ck_assert_int_eq(tau_check_inplace("mul_", x), TAU_OK);
    tau_grad_enabled = 0;
    ck_assert_int_eq(tau_check_inplace("add_", w), TAU_OK);
    tau_grad_enabled = 1;
    /* x was saved by mul: writing it afterwards is caught at backward time */
    tau_tensor *l = tau_op_reduce(TAU_SUM, y, -1, 0, 0, NULL);
    tau_tensor *one = tau_scalar(1);
    ck_assert_int_eq(tau_binary_inplace(TAU_ADD, x, one), TAU_OK);
    ck_assert_int_eq(tau_backward(l, NULL, 1), TAU_ERR);
    assert_err("backward: input 2 of mul was modified in place after it was used");
    /* an output saved by exp, written through a view */
    tau_tensor *e = tau_op_unary(TAU_EXP, w, 0, 0), *el = tau_op_reduce(TAU_SUM, e, -1, 0, 0, NULL);
    tau_tensor *ev = tau_alias(e);
    ck_assert_int_eq(tau_fill_(ev, 0), TAU_OK);
    ck_assert_int_eq(tau_backward(el, NULL, 1), TAU_ERR);
    assert_err("a tensor saved by exp was modified in place");
    /* add does not read its inputs, so writing them is harmless */
    tau_tensor *x2 = RND(3), *a = tau_op_binary(TAU_ADD, w, x2), *al = tau_op_reduce(TAU_SUM, a, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_fill_(x2, 3), TAU_OK);
    ck_assert_int_eq(tau_backward(al, NULL, 0), TAU_OK);
    for (int i = 0; i < 3; i++) ck_assert(tau_f32(w->grad)[i] == 1);
    tau_release(x2); tau_release(a); tau_release(al); tau_release(ev); tau_release(e); tau_release(el);
    tau_release(one); tau_release(l); tau_release(y); tau_release(w); tau_release(x);
}
END_TEST

START_TEST(test_autograd_no_grad_and_dot) {
    int64_t s[2] = {2, 3};
    tau_tensor *w = leaf(2, s), *x = RND(3, 4);
    tau_grad_enabled = 0;
    tau_tensor *n = tau_op_matmul(w, x);
    ck_assert_ptr_null(n->grad_fn);
    ck_assert(!n->requires_grad);
    tau_grad_enabled = 1;
    tau_tensor *m = tau_op_matmul(w, x);
    tau_tensor *r = tau_op_unary(TAU_RELU, m, 0, 0);
    tau_tensor *l = tau_op_reduce(TAU_MEAN, r, -1, 0, 0, NULL);
    char *dot = tau_graph_dot(l);
    ck_assert_ptr_nonnull(dot);
    ck_assert(strstr(dot, "digraph") && strstr(dot, "matmul") && strstr(dot, "relu") && strstr(dot, "mean"));
    ck_assert(strstr(dot, "leaf [2, 3]"));
    free(dot);
    /* comparisons and int32 conversions do not record */
    tau_tensor *c = tau_op_binary(TAU_GT, m, m);
    ck_assert(!c->requires_grad && !c->grad_fn);
    tau_tensor *ci = tau_op_to_dtype(m, TAU_I32);
    ck_assert(!ci->requires_grad);
    tau_tensor *am = tau_op_reduce(TAU_ARGMAX, m, 1, 0, 0, NULL);
    ck_assert(!am->requires_grad);
    tau_release(am); tau_release(ci); tau_release(c);
    tau_release(l); tau_release(r); tau_release(m); tau_release(n); tau_release(w); tau_release(x);
}
END_TEST

START_TEST(test_autograd_missing_rule) {
    /* an op recorded without a backward is an error at backward time, never a zero gradient */
    static const tau_op_info no_rule = {"custom", NULL};
    int64_t s[1] = {2};
    tau_tensor *x = leaf(1, s), *y = tau_clone(x);
    tau_tensor *ins[1] = {x};
    tau_node *n = tau_record(&no_rule, y, ins, 1, 1u);
    ck_assert_ptr_nonnull(n);
    ck_assert_ptr_eq(y->grad_fn, n);
    ck_assert(y->requires_grad);
    tau_tensor *l = tau_op_reduce(TAU_SUM, y, -1, 0, 0, NULL);
    ck_assert_int_eq(tau_backward(l, NULL, 1), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "backward: custom has no gradient rule");
    ck_assert_ptr_null(x->grad);
    /* saving: the node's slots are limited and say so */
    for (int i = 0; i < TAU_NODE_SAVED; i++) ck_assert_int_eq(tau_node_save(n, x), TAU_OK);
    ck_assert_int_eq(tau_node_save(n, x), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "custom: too many saved tensors");
    tau_tensor *ins2[2] = {y, NULL};
    ck_assert(tau_needs_grad(ins2, 2));
    tau_tensor *plain = RND(2), *ins3[2] = {plain, NULL};
    ck_assert(!tau_needs_grad(ins3, 2));
    tau_grad_enabled = 0;
    ck_assert(!tau_needs_grad(ins2, 2));
    tau_grad_enabled = 1;
    tau_release(plain); tau_release(l); tau_release(y); tau_release(x);
}
END_TEST

START_TEST(test_autograd_memory) {
    /* building and freeing graphs leaves no tensor memory behind */
    size_t before = tau_live_bytes();
    int64_t s[2] = {8, 8};
    tau_tensor *w = leaf(2, s);
    for (int it = 0; it < 50; it++) {
        tau_tensor *x = rnd(2, s);
        tau_tensor *h = tau_op_matmul(x, w), *a = tau_op_unary(TAU_TANH, h, 0, 0);
        tau_tensor *l = tau_op_reduce(TAU_SUM, a, -1, 0, 0, NULL);
        ck_assert_int_eq(tau_backward(l, NULL, it % 2), TAU_OK);
        tau_release(l); tau_release(a); tau_release(h); tau_release(x);
    }
    ck_assert_ptr_nonnull(w->grad);
    tau_release(w);
    ck_assert_uint_eq(tau_live_bytes(), before);
    /* a long chain releases without deep recursion */
    tau_tensor *v = leaf(1, (int64_t[]){1}), *cur = tau_retain(v);
    for (int i = 0; i < 200000; i++) {
        tau_tensor *nx = tau_op_unary(TAU_NEG, cur, 0, 0);
        tau_release(cur);
        cur = nx;
    }
    tau_release(cur);
    tau_release(v);
    ck_assert_uint_eq(tau_live_bytes(), before);
}
END_TEST

/* The block cache reuses freed blocks by size class and, when full, gives up the classes idle
 * longest rather than the block being freed. */
START_TEST(test_alloc_cache) {
    tau_alloc_trim();
    uint64_t h0 = tau_heap_allocs();
    void *a = tau_alloc(1000), *b = tau_alloc(1000);
    tau_free(a, 1000);
    void *c = tau_alloc(990); /* same class: the cached block comes back */
    ck_assert_ptr_eq(c, a);
    ck_assert_uint_eq(tau_heap_allocs() - h0, 2);
    tau_free(b, 1000);
    tau_free(c, 990);
    ck_assert_uint_eq(tau_cached_bytes(), 2 * 1024);
    /* fill the 1 GiB cache with an idle class, then cache a block of a busier one */
    size_t big = (size_t)384 << 20, other = (size_t)640 << 20; /* exact class sizes */
    void *p[3];
    for (int i = 0; i < 3; i++) p[i] = tau_alloc(big);
    for (int i = 0; i < 3; i++) tau_free(p[i], big); /* the small blocks go, the third does not fit */
    ck_assert_uint_eq(tau_cached_bytes(), 2 * big);
    void *q = tau_alloc(other);
    h0 = tau_heap_allocs();
    tau_free(q, other); /* evicts one idle 384 MB block, keeps q */
    void *r = tau_alloc(other);
    ck_assert_ptr_eq(r, q);
    ck_assert_uint_eq(tau_heap_allocs(), h0);
    tau_free(r, other);
    ck_assert_uint_le(tau_cached_bytes(), (size_t)1 << 30);
    tau_alloc_trim();
    ck_assert_uint_eq(tau_cached_bytes(), 0);
    /* tensor headers and storage records come from the cache too, so a training step that
     * creates the same tensors again makes no heap calls */
    int64_t four = 4;
    h0 = tau_heap_allocs();
    tau_tensor *t = tau_empty(TAU_F32, 1, &four);
    ck_assert_uint_eq(tau_heap_allocs() - h0, 3);
    tau_release(t);
    t = tau_empty(TAU_F32, 1, &four);
    ck_assert_uint_eq(tau_heap_allocs() - h0, 3);
    tau_release(t);
}
END_TEST

/* Blocks are 64-byte aligned; from 2 MiB on, 2 MiB aligned (so that huge pages can back
 * them), and usable to their last byte either way. */
START_TEST(test_alloc_alignment) {
    const size_t sizes[] = {1, 100, 4096, ((size_t)2 << 20) - 4, (size_t)2 << 20, (size_t)3 << 20, (size_t)9 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *b = tau_alloc(sizes[i]);
        ck_assert_ptr_nonnull(b);
        const uintptr_t align = sizes[i] >= ((size_t)2 << 20) ? (uintptr_t)2 << 20 : 64;
        ck_assert_uint_eq((uintptr_t)b % align, 0);
        memset(b, 0xa5, sizes[i]);
        ck_assert_uint_eq(b[sizes[i] - 1], 0xa5);
        tau_free(b, sizes[i]);
    }
    tau_alloc_trim();
}
END_TEST

static Suite *tensor_suite(void) {
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("shapes");
    tcase_add_test(tc, test_empty_and_metadata);
    tcase_add_test(tc, test_alloc_cache);
    tcase_add_test(tc, test_alloc_alignment);
    tcase_add_test(tc, test_check_shape);
    tcase_add_test(tc, test_view_contiguous);
    tcase_add_test(tc, test_view_noncontiguous);
    tcase_add_test(tc, test_reshape);
    tcase_add_test(tc, test_view_random_layouts);
    tcase_add_test(tc, test_view_ops_strides);
    tcase_add_test(tc, test_views_keep_storage_alive);
    tcase_add_test(tc, test_broadcast_shape);
    suite_add_tcase(s, tc);
    tc = tcase_create("elementwise");
    tcase_add_test(tc, test_binary_contiguous);
    tcase_add_test(tc, test_binary_noncontiguous);
    tcase_add_test(tc, test_binary_broadcast);
    tcase_add_test(tc, test_binary_int_and_mixed);
    tcase_add_test(tc, test_ewise_parallel_split);
    tcase_add_test(tc, test_binary_errors_and_inplace);
    tcase_add_test(tc, test_unary_all);
    tcase_add_test(tc, test_unary_nan);
    tcase_add_test(tc, test_unary_int);
    tcase_add_test(tc, test_where);
    suite_add_tcase(s, tc);
    tc = tcase_create("reductions");
    tcase_add_test(tc, test_reduce_all_dims);
    tcase_add_test(tc, test_reduce_int_and_edge);
    tcase_add_test(tc, test_logsumexp_inf);
    tcase_add_test(tc, test_sum_to);
    suite_add_tcase(s, tc);
    tc = tcase_create("linalg_index");
    tcase_add_test(tc, test_matmul);
    tcase_add_test(tc, test_matmul_errors);
    tcase_add_test(tc, test_cat_stack);
    tcase_add_test(tc, test_index_select_gather_scatter);
    tcase_add_test(tc, test_one_hot);
    tcase_add_test(tc, test_copy_fill_convert);
    tcase_add_test(tc, test_allclose_equal);
    suite_add_tcase(s, tc);
    tc = tcase_create("creation");
    tcase_add_test(tc, test_arange_linspace_eye);
    tcase_add_test(tc, test_rng);
    suite_add_tcase(s, tc);
    tc = tcase_create("autograd");
    tcase_add_test(tc, test_autograd_small_graph);
    tcase_add_test(tc, test_autograd_grad_targets);
    tcase_add_test(tc, test_autograd_inplace_checks);
    tcase_add_test(tc, test_autograd_no_grad_and_dot);
    tcase_add_test(tc, test_autograd_missing_rule);
    tcase_add_test(tc, test_autograd_memory);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(tensor_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
