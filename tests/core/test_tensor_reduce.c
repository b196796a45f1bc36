/* Reductions against naive loops (core/tensor/reduce.c). */
#include "tensor_helpers.h"

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

static Suite *suite(void) {
    Suite *s = suite_create("tensor_reduce");
    TCase *tc = check_tcase("reductions", 0);
    tcase_add_test(tc, test_reduce_all_dims);
    tcase_add_test(tc, test_reduce_int_and_edge);
    tcase_add_test(tc, test_logsumexp_inf);
    tcase_add_test(tc, test_sum_to);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main(suite()); }
