/* Matrix products, joining and indexing (core/tensor/linalg.c, index.c). */
#include "tensor_helpers.h"

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

static Suite *suite(void) {
    Suite *s = suite_create("tensor_index");
    TCase *tc = check_tcase("linalg_index", 0);
    tcase_add_test(tc, test_matmul);
    tcase_add_test(tc, test_matmul_errors);
    tcase_add_test(tc, test_cat_stack);
    tcase_add_test(tc, test_index_select_gather_scatter);
    tcase_add_test(tc, test_one_hot);
    tcase_add_test(tc, test_copy_fill_convert);
    tcase_add_test(tc, test_allclose_equal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main(suite()); }
