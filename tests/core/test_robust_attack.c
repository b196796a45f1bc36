/* The attack kernels: exact L-inf steps, L2 steps and projections against double-precision
 * reasoning, random starts inside the ball (and uniform in its volume), the APGD momentum
 * update, the CW and DLR margins against hand values and finite differences, and the errors. */
#include "check_helpers.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "robust/attack.h"
#include "base/error.h"

static double l2dist(const float *a, const float *b, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return sqrt(s);
}

/* ---- L-inf step ------------------------------------------------------------------------------ */

START_TEST(linf_step_exact) {
    /* one sample: positive, negative and zero gradients; a value pushed past the ball; one past
     * the box */
    float x0[5] = {0.5f, 0.5f, 0.5f, 0.98f, 0.5f};
    float x[5] = {0.5f, 0.5f, 0.5f, 0.98f, 0.55f};
    float g[5] = {2.0f, -1.0f, 0.0f, 3.0f, 1.0f};
    float out[5];
    float alpha = 0.04f;
    tau_step_size s = {&alpha, 0, 0};
    tau_ball b = {1, 5, TAU_NORM_LINF, 0.06f, 0.0f, 1.0f};
    int64_t nz = -1;
    ck_assert_int_eq(tau_attack_step_forward(x, g, x0, out, &s, &nz, &b), TAU_OK);
    ck_assert_float_eq(out[0], 0.5f + 0.04f);
    ck_assert_float_eq(out[1], 0.5f - 0.04f);
    ck_assert_float_eq(out[2], 0.5f);             /* sign(0) = 0: no move */
    ck_assert_float_eq(out[3], 1.0f);             /* the box */
    ck_assert_float_eq(out[4], 0.5f + 0.06f);     /* the ball: 0.55 + 0.04 > 0.56 */
    ck_assert_int_eq(nz, 0);
    /* descending flips every move */
    s.descend = 1;
    ck_assert_int_eq(tau_attack_step_forward(x, g, x0, out, &s, &nz, &b), TAU_OK);
    ck_assert_float_eq(out[0], 0.5f - 0.04f);
    ck_assert_float_eq(out[1], 0.5f + 0.04f);
    ck_assert_float_eq(out[3], 0.98f - 0.04f);
}
END_TEST

START_TEST(linf_step_per_sample_alpha_and_alias) {
    float x0[6] = {0.2f, 0.2f, 0.2f, 0.7f, 0.7f, 0.7f};
    float x[6], g[6] = {1, 1, -1, 0, 0, 0};
    memcpy(x, x0, sizeof x);
    float alpha[2] = {0.01f, 0.5f};
    tau_step_size s = {alpha, 1, 0};
    tau_ball b = {2, 3, TAU_NORM_LINF, 0.1f, 0.0f, 1.0f};
    int64_t nz = 0;
    ck_assert_int_eq(tau_attack_step_forward(x, g, x0, x, &s, &nz, &b), TAU_OK); /* in place */
    ck_assert_float_eq(x[0], 0.2f + 0.01f);
    ck_assert_float_eq(x[2], 0.2f - 0.01f);
    for (int j = 3; j < 6; j++) ck_assert_float_eq(x[j], 0.7f);
    ck_assert_int_eq(nz, 1);                      /* the second sample's gradient is all zero */
}
END_TEST

START_TEST(step_refuses_nan_without_writing) {
    float x0[4] = {0.5f, 0.5f, 0.5f, 0.5f}, x[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    float g[4] = {1, 1, 1, NAN};
    float alpha = 0.1f;
    tau_step_size s = {&alpha, 0, 0};
    tau_ball b = {2, 2, TAU_NORM_LINF, 0.2f, 0.0f, 1.0f};
    expect_error(tau_attack_step_forward(x, g, x0, x, &s, NULL, &b), "gradient contains NaN (sample 2)");
    for (int j = 0; j < 4; j++) ck_assert_float_eq(x[j], 0.5f);
    g[3] = 1;
    x0[1] = NAN;
    expect_error(tau_attack_step_forward(x, g, x0, x, &s, NULL, &b), "original images contain NaN (sample 1)");
    x0[1] = 0.5f;
    x[2] = NAN;
    expect_error(tau_attack_step_forward(x, g, x0, x, &s, NULL, &b), "adversarial images contain NaN (sample 2)");
}
END_TEST

START_TEST(step_option_errors) {
    float x[2] = {0.5f, 0.5f}, g[2] = {1, 1}, out[2];
    float alpha = 0.1f, bad_alpha = -0.1f;
    tau_step_size s = {&alpha, 0, 0}, sb = {&bad_alpha, 0, 0};
    tau_ball b = {1, 2, TAU_NORM_LINF, -0.1f, 0.0f, 1.0f};
    expect_error(tau_attack_step_forward(x, g, x, out, &s, NULL, &b), "eps must be a non-negative number");
    b.eps = NAN;
    expect_error(tau_attack_step_forward(x, g, x, out, &s, NULL, &b), "eps must be a non-negative number");
    b.eps = 0.1f;
    expect_error(tau_attack_step_forward(x, g, x, out, &sb, NULL, &b), "alpha must be a non-negative number");
    b.lo = 1.0f;
    b.hi = 0.0f;
    expect_error(tau_attack_step_forward(x, g, x, out, &s, NULL, &b), "pixel range");
    tau_norm nm;
    expect_error(tau_attack_parse_norm("pgd", "l1", &nm), "unknown norm 'l1' (expected 'linf' or 'l2')");
    ck_assert_int_eq(tau_attack_parse_norm("pgd", "Linf", &nm), TAU_OK);
    ck_assert_int_eq(nm, TAU_NORM_LINF);
    ck_assert_int_eq(tau_attack_parse_norm("pgd", "L2", &nm), TAU_OK);
    ck_assert_int_eq(nm, TAU_NORM_L2);
}
END_TEST

/* ---- L2 ---------------------------------------------------------------------------------- */

START_TEST(l2_step_direction_and_projection) {
    /* sample 1: g = (3, 4) -> unit direction (0.6, 0.8); sample 2: zero gradient */
    float x0[4] = {0.5f, 0.5f, 0.3f, 0.3f}, x[4], g[4] = {3, 4, 0, 0}, out[4];
    memcpy(x, x0, sizeof x);
    float alpha = 0.1f;
    tau_step_size s = {&alpha, 0, 0};
    tau_ball b = {2, 2, TAU_NORM_L2, 1.0f, 0.0f, 1.0f};
    int64_t nz = 0;
    ck_assert_int_eq(tau_attack_step_forward(x, g, x0, out, &s, &nz, &b), TAU_OK);
    ck_assert_float_eq_tol(out[0], 0.56f, 1e-6f);
    ck_assert_float_eq_tol(out[1], 0.58f, 1e-6f);
    ck_assert_float_eq(out[2], 0.3f);
    ck_assert_float_eq(out[3], 0.3f);
    ck_assert_int_eq(nz, 1);
    /* a step longer than the ball lands on its surface, in the same direction */
    alpha = 0.3f;
    b.eps = 0.05f;
    ck_assert_int_eq(tau_attack_step_forward(x, g, x0, out, &s, &nz, &b), TAU_OK);
    ck_assert_double_eq_tol(l2dist(out, x0, 2), 0.05, 1e-7);
    ck_assert_float_eq_tol(out[0], 0.5f + 0.03f, 1e-6f);
    ck_assert_float_eq_tol(out[1], 0.5f + 0.04f, 1e-6f);
}
END_TEST

START_TEST(l2_step_large_d_stays_in_ball) {
    enum { N = 3, D = 3072 };
    float *x0 = malloc(sizeof(float) * N * D), *x = malloc(sizeof(float) * N * D), *g = malloc(sizeof(float) * N * D);
    tau_manual_seed(5);
    for (int i = 0; i < N * D; i++) { x0[i] = (float)tau_rng_uniform(); g[i] = (float)tau_rng_normal(); }
    memcpy(x, x0, sizeof(float) * N * D);
    float alpha = 0.2f;
    tau_step_size s = {&alpha, 0, 0};
    tau_ball b = {N, D, TAU_NORM_L2, 0.5f, 0.0f, 1.0f};
    for (int it = 0; it < 10; it++) {
        for (int i = 0; i < N * D; i++) g[i] = (float)tau_rng_normal();
        ck_assert_int_eq(tau_attack_step_forward(x, g, x0, x, &s, NULL, &b), TAU_OK);
        for (int i = 0; i < N; i++) ck_assert(l2dist(x + i * D, x0 + i * D, D) <= 0.5 + 1e-6);
        for (int i = 0; i < N * D; i++) ck_assert(x[i] >= 0.0f && x[i] <= 1.0f);
    }
    free(x0); free(x); free(g);
}
END_TEST

START_TEST(l2_infinite_gradient) {
    float x0[3] = {0.5f, 0.5f, 0.5f}, g[3] = {INFINITY, 1e30f, -INFINITY}, out[3];
    float alpha = 0.1f;
    tau_step_size s = {&alpha, 0, 0};
    tau_ball b = {1, 3, TAU_NORM_L2, 1.0f, 0.0f, 1.0f};
    ck_assert_int_eq(tau_attack_step_forward(x0, g, x0, out, &s, NULL, &b), TAU_OK);
    ck_assert_float_eq_tol(out[0], 0.5f + 0.1f / sqrtf(2), 1e-6f);
    ck_assert_float_eq(out[1], 0.5f);
    ck_assert_float_eq_tol(out[2], 0.5f - 0.1f / sqrtf(2), 1e-6f);
}
END_TEST

START_TEST(project_both_norms) {
    float x0[2] = {0.5f, 0.5f}, x[2] = {0.9f, 0.2f}, out[2];
    tau_ball b = {1, 2, TAU_NORM_LINF, 0.1f, 0.0f, 1.0f};
    ck_assert_int_eq(tau_attack_project_forward(x, x0, out, &b), TAU_OK);
    ck_assert_float_eq(out[0], 0.5f + 0.1f);
    ck_assert_float_eq(out[1], 0.5f - 0.1f);
    b.norm = TAU_NORM_L2;
    b.eps = 0.25f;                                 /* |(0.4, -0.3)| = 0.5 -> halved */
    ck_assert_int_eq(tau_attack_project_forward(x, x0, out, &b), TAU_OK);
    ck_assert_float_eq_tol(out[0], 0.7f, 1e-6f);
    ck_assert_float_eq_tol(out[1], 0.35f, 1e-6f);
    float norms[1];
    ck_assert_int_eq(tau_attack_norms_forward(out, x0, norms, &b), TAU_OK);
    ck_assert_float_eq_tol(norms[0], 0.25f, 1e-6f);
    b.norm = TAU_NORM_LINF;
    ck_assert_int_eq(tau_attack_norms_forward(out, x0, norms, &b), TAU_OK);
    ck_assert_float_eq_tol(norms[0], 0.2f, 1e-6f);
}
END_TEST

/* ---- random starts ----------------------------------------------------------------------- */

START_TEST(random_start_linf) {
    enum { N = 200, D = 50 };
    static float x0[N * D], out[N * D], again[N * D];
    for (int i = 0; i < N * D; i++) x0[i] = (i % 7 == 0) ? 0.0f : 0.5f;
    tau_ball b = {N, D, TAU_NORM_LINF, 0.1f, 0.0f, 1.0f};
    tau_manual_seed(3);
    ck_assert_int_eq(tau_attack_random_start_forward(x0, out, &b), TAU_OK);
    tau_manual_seed(3);
    ck_assert_int_eq(tau_attack_random_start_forward(x0, again, &b), TAU_OK);
    ck_assert(memcmp(out, again, sizeof out) == 0);
    double sum = 0, sq = 0;
    int cnt = 0;
    for (int i = 0; i < N * D; i++) {
        ck_assert(fabsf(out[i] - x0[i]) <= 0.1f + 1e-7f);
        ck_assert(out[i] >= 0.0f && out[i] <= 1.0f);
        if (x0[i] == 0.5f) { double u = out[i] - 0.5; sum += u; sq += u * u; cnt++; }
    }
    /* U(-0.1, 0.1): mean 0, variance 0.01 / 3 */
    ck_assert_double_le(fabs(sum / cnt), 0.003);
    ck_assert_double_le(fabs(sq / cnt - 0.01 / 3), 0.0003);
}
END_TEST

START_TEST(random_start_l2_uniform_in_volume) {
    /* in d = 2 a uniform point of the disc has P(r <= eps / sqrt(2)) = 1/2 */
    enum { N = 4000, D = 2 };
    static float x0[N * D], out[N * D];
    for (int i = 0; i < N * D; i++) x0[i] = 0.5f;
    tau_ball b = {N, D, TAU_NORM_L2, 0.2f, 0.0f, 1.0f};
    tau_manual_seed(11);
    ck_assert_int_eq(tau_attack_random_start_forward(x0, out, &b), TAU_OK);
    int inner = 0;
    double mx = 0, my = 0;
    for (int i = 0; i < N; i++) {
        double r = l2dist(out + i * D, x0 + i * D, D);
        ck_assert(r <= 0.2 + 1e-6);
        inner += r <= 0.2 / sqrt(2.0);
        mx += out[i * D] - 0.5;
        my += out[i * D + 1] - 0.5;
    }
    ck_assert_int_ge(inner, N / 2 - 120);
    ck_assert_int_le(inner, N / 2 + 120);
    ck_assert_double_le(fabs(mx / N), 0.005);
    ck_assert_double_le(fabs(my / N), 0.005);
    expect_error(tau_attack_random_start_forward(x0, x0, &b), "must not alias");
}
END_TEST

/* ---- APGD update ------------------------------------------------------------------------- */

START_TEST(apgd_step_momentum) {
    float x0[3] = {0.5f, 0.5f, 0.5f}, x[3] = {0.52f, 0.5f, 0.48f}, xp[3] = {0.5f, 0.46f, 0.5f};
    float g[3] = {1, 1, -1}, out[3], plain[3];
    float eta = 0.02f;
    tau_step_size s = {&eta, 0, 0};
    tau_ball b = {1, 3, TAU_NORM_LINF, 0.1f, 0.0f, 1.0f};
    /* momentum 1 is the plain projected step */
    ck_assert_int_eq(tau_attack_apgd_step_forward(x, xp, g, x0, out, 1.0f, &s, NULL, &b), TAU_OK);
    ck_assert_int_eq(tau_attack_step_forward(x, g, x0, plain, &s, NULL, &b), TAU_OK);
    for (int j = 0; j < 3; j++) ck_assert_float_eq(out[j], plain[j]);
    /* 0.75: x + 0.75 (z - x) + 0.25 (x - x_prev) */
    ck_assert_int_eq(tau_attack_apgd_step_forward(x, xp, g, x0, out, 0.75f, &s, NULL, &b), TAU_OK);
    double want[3] = {0.52 + 0.75 * 0.02 + 0.25 * 0.02, 0.5 + 0.75 * 0.02 + 0.25 * 0.04, 0.48 - 0.75 * 0.02 - 0.25 * 0.02};
    for (int j = 0; j < 3; j++) ck_assert_double_eq_tol(out[j], want[j], 1e-6);
    /* in place, and l2 stays in its ball */
    b.norm = TAU_NORM_L2;
    b.eps = 0.03f;
    ck_assert_int_eq(tau_attack_apgd_step_forward(x, xp, g, x0, x, 0.75f, &s, NULL, &b), TAU_OK);
    ck_assert(l2dist(x, x0, 3) <= 0.03 + 1e-7);
    ck_assert_int_eq(b.n, 1);
    expect_error(tau_attack_apgd_step_forward(x, xp, g, x0, out, 1.5f, &s, NULL, &b), "momentum must be in [0, 1]");
}
END_TEST

/* ---- margin losses ----------------------------------------------------------------------- */

START_TEST(margin_values) {
    /* sorted: z3 = 4 > z1 = 3 > z4 = 1 > z2 = 0 */
    float z[4] = {3, 0, 4, 1}, loss[1];
    int32_t y[1] = {0}, t[1] = {1};
    tau_margin_params p = {1, 4, TAU_MARGIN_CW};
    ck_assert_int_eq(tau_margin_loss_forward(z, y, NULL, loss, &p), TAU_OK);
    ck_assert_float_eq(loss[0], 1.0f);            /* max_{i != 0} z_i - z_0 = 4 - 3 */
    ck_assert_int_eq(tau_margin_loss_forward(z, y, t, loss, &p), TAU_OK);
    ck_assert_float_eq(loss[0], -4.0f);           /* z_1 - max_{i != 1} z_i = 0 - 4 */
    p.kind = TAU_MARGIN_DLR;
    ck_assert_int_eq(tau_margin_loss_forward(z, y, NULL, loss, &p), TAU_OK);
    ck_assert_float_eq_tol(loss[0], (float)(-(3.0 - 4.0) / (4.0 - 1.0)), 1e-6f);
    ck_assert_int_eq(tau_margin_loss_forward(z, y, t, loss, &p), TAU_OK);
    ck_assert_float_eq_tol(loss[0], (float)(-(3.0 - 0.0) / (4.0 - (1.0 + 0.0) / 2)), 1e-6f);
    /* DLR does not change when the logits are scaled: the invariance it exists for */
    float z2[4] = {30, 0, 40, 10}, loss2[1];
    ck_assert_int_eq(tau_margin_loss_forward(z2, y, NULL, loss2, &p), TAU_OK);
    ck_assert_int_eq(tau_margin_loss_forward(z, y, NULL, loss, &p), TAU_OK);
    ck_assert_float_eq_tol(loss2[0], loss[0], 1e-6f);
}
END_TEST

static void fd_check(tau_margin_kind kind, int targeted) {
    enum { N = 3, KC = 6 };
    float z[N * KC], dz[N * KC], dl[N] = {1.0f, -0.5f, 2.0f}, lp[N], lm[N];
    int32_t y[N] = {0, 3, 5}, t[N] = {2, 1, 0};
    tau_manual_seed(kind * 2 + targeted + 1);
    for (int i = 0; i < N * KC; i++) z[i] = (float)(2 * tau_rng_normal());
    tau_margin_params p = {N, KC, kind};
    const int32_t *tg = targeted ? t : NULL;
    ck_assert_int_eq(tau_margin_loss_backward(z, y, tg, dl, dz, &p), TAU_OK);
    const float h = 1e-3f;
    for (int i = 0; i < N * KC; i++) {
        float keep = z[i];
        z[i] = keep + h;
        ck_assert_int_eq(tau_margin_loss_forward(z, y, tg, lp, &p), TAU_OK);
        z[i] = keep - h;
        ck_assert_int_eq(tau_margin_loss_forward(z, y, tg, lm, &p), TAU_OK);
        z[i] = keep;
        double fd = 0;
        for (int s = 0; s < N; s++) fd += dl[s] * ((double)lp[s] - lm[s]) / (2 * h);
        ck_assert_msg(fabs(fd - dz[i]) <= 2e-3 * (1 + fabs(fd)), "kind %d targeted %d: dz[%d] = %g, finite difference %g",
                      kind, targeted, i, (double)dz[i], fd);
    }
}

START_TEST(margin_gradients) {
    fd_check(TAU_MARGIN_CW, 0);
    fd_check(TAU_MARGIN_CW, 1);
    fd_check(TAU_MARGIN_DLR, 0);
    fd_check(TAU_MARGIN_DLR, 1);
}
END_TEST

START_TEST(margin_errors) {
    float z[6] = {1, 2, 3, 4, 5, 6}, loss[3];
    int32_t y[2] = {0, 3}, t[2] = {0, 1};
    tau_margin_params p = {2, 3, TAU_MARGIN_CW};
    expect_error(tau_margin_loss_forward(z, y, NULL, loss, &p), "label 3 out of range 0..2 at sample 2");
    y[1] = 1;
    p.kind = TAU_MARGIN_DLR;
    expect_error(tau_margin_loss_forward(z, y, t, loss, &p), "targeted dlr loss needs at least 4 classes, got 3");
    p = (tau_margin_params){3, 2, TAU_MARGIN_DLR};
    int32_t y3[3] = {0, 1, 0};
    expect_error(tau_margin_loss_forward(z, y3, NULL, loss, &p), "dlr loss needs at least 3 classes, got 2");
    /* NaN logits give a NaN loss rather than a silently finite one */
    float zn[3] = {1, NAN, 0};
    int32_t y1[1] = {0};
    p = (tau_margin_params){1, 3, TAU_MARGIN_CW};
    ck_assert_int_eq(tau_margin_loss_forward(zn, y1, NULL, loss, &p), TAU_OK);
    ck_assert(isnan(loss[0]));
}
END_TEST

/* ---- tensor level ------------------------------------------------------------------------ */

START_TEST(tensor_level_checks) {
    int64_t s1[2] = {2, 3}, s2[2] = {2, 4}, s3[1] = {3};
    tau_tensor *x = tau_full(TAU_F32, 2, s1, 0.5), *g = tau_full(TAU_F32, 2, s2, 1.0), *gi = tau_zeros(TAU_I32, 2, s1);
    tau_tensor *alpha = tau_full(TAU_F32, 1, s3, 0.1), *ok = tau_full(TAU_F32, 2, s1, 1.0);
    tau_attack_opts o = {TAU_NORM_LINF, 0.1, 0.05, 0.0, 1.0, 0.75, 0};
    int64_t nz;
    ck_assert_ptr_null(tau_attack_step(x, g, x, NULL, &o, &nz));
    ck_assert_msg(strstr(tau_errmsg(), "gradient of size [2, 4] does not match x of size [2, 3]"), "%s", tau_errmsg());
    ck_assert_ptr_null(tau_attack_step(x, gi, x, NULL, &o, &nz));
    ck_assert_msg(strstr(tau_errmsg(), "gradient must be float32, got int32"), "%s", tau_errmsg());
    ck_assert_ptr_null(tau_attack_step(x, ok, x, alpha, &o, &nz));
    ck_assert_msg(strstr(tau_errmsg(), "alpha must be a number or a float32 tensor of 2 per-sample step sizes"), "%s",
                  tau_errmsg());
    tau_tensor *r = tau_attack_step(x, ok, x, NULL, &o, &nz);
    ck_assert_ptr_nonnull(r);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(tau_f32(r)[i], 0.55f);
    tau_tensor *nr = tau_attack_norms(r, x, TAU_NORM_LINF);
    ck_assert_ptr_nonnull(nr);
    ck_assert_int_eq(nr->ndim, 1);
    ck_assert_float_eq_tol(tau_f32(nr)[1], 0.05f, 1e-6f);
    o.eps = -1;
    ck_assert_ptr_null(tau_attack_random_start(x, &o));
    ck_assert_msg(strstr(tau_errmsg(), "random_start: eps must be a non-negative number, got -1"), "%s", tau_errmsg());
    tau_tensor *big = tau_full(TAU_F32, 2, s1, 1.5);
    expect_error(tau_attack_check_images("pgd", "images", big, 1, 0, 1), "images must lie in [0, 1], found 1.5 in sample 1");
    ck_assert_int_eq(tau_attack_check_images("pgd", "images", big, 0, 0, 1), TAU_OK);
    tau_release(x); tau_release(g); tau_release(gi); tau_release(alpha); tau_release(ok); tau_release(r);
    tau_release(nr); tau_release(big);
}
END_TEST

START_TEST(margin_op_autograd) {
    int64_t zs[2] = {2, 4}, ls[1] = {2};
    tau_tensor *z = tau_zeros(TAU_F32, 2, zs), *y = tau_zeros(TAU_I32, 1, ls);
    float vals[8] = {3, 0, 4, 1, 1, 2, 0, -1};
    memcpy(tau_f32(z), vals, sizeof vals);
    tau_i32(y)[0] = 0;
    tau_i32(y)[1] = 1;
    z->requires_grad = 1;
    tau_tensor *l = tau_op_margin_loss(z, y, NULL, TAU_MARGIN_CW);
    ck_assert_ptr_nonnull(l);
    ck_assert_float_eq(tau_f32(l)[0], 1.0f);
    ck_assert_float_eq(tau_f32(l)[1], -1.0f);
    tau_tensor *gz[1], *seed = tau_full(TAU_F32, 1, ls, 1.0);
    ck_assert_int_eq(tau_grad(l, seed, &z, 1, gz, 0), TAU_OK);
    tau_release(seed);
    float want[8] = {-1, 0, 1, 0, 1, -1, 0, 0};
    for (int i = 0; i < 8; i++) ck_assert_float_eq(tau_f32(gz[0])[i], want[i]);
    tau_i32(y)[1] = 9;
    ck_assert_ptr_null(tau_op_margin_loss(z, y, NULL, TAU_MARGIN_CW));
    ck_assert_msg(strstr(tau_errmsg(), "label 9 out of range 0..3 at sample 2"), "%s", tau_errmsg());
    tau_release(l); tau_release(gz[0]); tau_release(z); tau_release(y);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("attack");
    TCase *tc = check_tcase("kernels", 0);
    tcase_add_test(tc, linf_step_exact);
    tcase_add_test(tc, linf_step_per_sample_alpha_and_alias);
    tcase_add_test(tc, step_refuses_nan_without_writing);
    tcase_add_test(tc, step_option_errors);
    tcase_add_test(tc, l2_step_direction_and_projection);
    tcase_add_test(tc, l2_step_large_d_stays_in_ball);
    tcase_add_test(tc, l2_infinite_gradient);
    tcase_add_test(tc, project_both_norms);
    tcase_add_test(tc, random_start_linf);
    tcase_add_test(tc, random_start_l2_uniform_in_volume);
    tcase_add_test(tc, apgd_step_momentum);
    tcase_add_test(tc, margin_values);
    tcase_add_test(tc, margin_gradients);
    tcase_add_test(tc, margin_errors);
    tcase_add_test(tc, tensor_level_checks);
    tcase_add_test(tc, margin_op_autograd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main(suite()); }
