/* Tensors: life cycle, metadata, shapes, strides and views, broadcasting, creation and the
 * generator (core/tensor/tensor.c). */
#include "tensor_helpers.h"

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

static Suite *suite(void) {
    Suite *s = suite_create("tensor_views");
    TCase *tc = check_tcase("shapes", 0);
    tcase_add_test(tc, test_empty_and_metadata);
    tcase_add_test(tc, test_check_shape);
    tcase_add_test(tc, test_view_contiguous);
    tcase_add_test(tc, test_view_noncontiguous);
    tcase_add_test(tc, test_reshape);
    tcase_add_test(tc, test_view_random_layouts);
    tcase_add_test(tc, test_view_ops_strides);
    tcase_add_test(tc, test_views_keep_storage_alive);
    tcase_add_test(tc, test_broadcast_shape);
    suite_add_tcase(s, tc);
    tc = check_tcase("creation", 0);
    tcase_add_test(tc, test_arange_linspace_eye);
    tcase_add_test(tc, test_rng);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main(suite()); }
