/* Element-wise kernels with broadcasting, every operator against a naive loop written here
 * (core/tensor/ewise.c, iter.c). */
#include "tensor_helpers.h"

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

static Suite *suite(void) {
    Suite *s = suite_create("tensor_ewise");
    TCase *tc = check_tcase("elementwise", 0);
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
    return s;
}

int main(void) { return check_main(suite()); }
