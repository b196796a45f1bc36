/* Affine warps (shift.h): exact cases (identity, integer moves, quarter turns), interpolation,
 * borders, the seeded random variant, and argument errors. */
#include "check_helpers.h"
#include "base/error.h"
#include "base/parallel.h"
#include "robust/shift.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Values in [0, 1] with no two alike, so a misplaced pixel cannot go unnoticed. */
static float *noise_batch(int64_t n, int64_t c, int64_t h, int64_t w, uint32_t seed) {
    size_t nv = (size_t)(n * c * h * w);
    float *x = malloc(sizeof(float) * (nv ? nv : 1));
    ck_assert_ptr_nonnull(x);
    for (size_t k = 0; k < nv; k++) x[k] = (float)((lcg(&seed) % 1000000) / 999999.0);
    return x;
}

static float *buffer(int64_t nv) {
    float *p = malloc(sizeof(float) * (size_t)(nv ? nv : 1));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void shift_ok(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                     double rot, double dx, double dy, double scale, int border, double fill) {
    tau_shift_params p = {rot, dx, dy, scale};
    int rc = tau_shift_apply(x, out, n, c, h, w, &p, border, fill);
    ck_assert_msg(rc == TAU_OK, "shift failed: %s", rc ? tau_errmsg() : "");
}

#define AT(p, ch, y, x) (p)[((int64_t)(ch) * h + (y)) * w + (x)]

START_TEST(test_identity) {
    int64_t n = 2, c = 3, h = 17, w = 12, nv = n * c * h * w;
    float *x = noise_batch(n, c, h, w, 1), *out = buffer(nv);
    for (int border = 0; border < 2; border++) {
        shift_ok(x, out, n, c, h, w, 0, 0, 0, 1, border, 0.5);
        ck_assert(memcmp(x, out, sizeof(float) * (size_t)nv) == 0);
        /* Full turns are the identity too, exactly. */
        shift_ok(x, out, n, c, h, w, 360, 0, 0, 1, border, 0.5);
        ck_assert(memcmp(x, out, sizeof(float) * (size_t)nv) == 0);
        shift_ok(x, out, n, c, h, w, -720, 0, 0, 1, border, 0.5);
        ck_assert(memcmp(x, out, sizeof(float) * (size_t)nv) == 0);
    }
    free(x);
    free(out);
}
END_TEST

/* An integer move is a shifted copy: fill where nothing comes in, or the edge replicated. */
START_TEST(test_integer_translation) {
    int64_t c = 2, h = 10, w = 13;
    static const int moves[][2] = {{3, 0}, {0, -2}, {-4, 5}, {1, 1}, {20, 0}};
    float *x = noise_batch(1, c, h, w, 2), *out = buffer(c * h * w);
    for (size_t m = 0; m < sizeof moves / sizeof moves[0]; m++) {
        int dx = moves[m][0], dy = moves[m][1];
        for (int border = 0; border < 2; border++) {
            shift_ok(x, out, 1, c, h, w, 0, dx, dy, 1, border, 0.25);
            int bad = 0;
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++) {
                        int sy = y - dy, sx = xx - dx;
                        float expect;
                        if (border == TAU_SHIFT_EDGE) {
                            sy = sy < 0 ? 0 : sy >= h ? (int)h - 1 : sy;
                            sx = sx < 0 ? 0 : sx >= w ? (int)w - 1 : sx;
                            expect = AT(x, ch, sy, sx);
                        } else
                            expect = sy >= 0 && sy < h && sx >= 0 && sx < w ? AT(x, ch, sy, sx) : 0.25f;
                        bad += AT(out, ch, y, xx) != expect;
                    }
            ck_assert_msg(bad == 0, "move (%d, %d) border %d: %d pixels differ", dx, dy, border, bad);
        }
    }
    free(x);
    free(out);
}
END_TEST

/* Quarter turns of a square image: counter-clockwise 90 degrees is the transpose flipped
 * upside down (numpy's rot90). */
START_TEST(test_quarter_turns) {
    int64_t n = 2, c = 3, h = 9, w = 9, nv = n * c * h * w;
    float *x = noise_batch(n, c, h, w, 3), *out = buffer(nv);
    for (int turn = 1; turn <= 3; turn++) {
        shift_ok(x, out, n, c, h, w, 90.0 * turn, 0, 0, 1, TAU_SHIFT_CONSTANT, 0);
        double worst = 0;
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++) {
                        const float *img = x + i * c * h * w;
                        float expect = turn == 1   ? AT(img, ch, xx, w - 1 - y)
                                       : turn == 2 ? AT(img, ch, h - 1 - y, w - 1 - xx)
                                                   : AT(img, ch, h - 1 - xx, y);
                        double d = fabs(AT(out + i * c * h * w, ch, y, xx) - expect);
                        if (d > worst) worst = d;
                    }
        ck_assert_msg(worst <= 1e-5, "%d degrees: off by %g", 90 * turn, worst);
    }
    /* -90 is 270. */
    float *b = buffer(nv);
    shift_ok(x, out, n, c, h, w, -90, 0, 0, 1, TAU_SHIFT_CONSTANT, 0);
    shift_ok(x, b, n, c, h, w, 270, 0, 0, 1, TAU_SHIFT_CONSTANT, 0);
    ck_assert(memcmp(out, b, sizeof(float) * (size_t)nv) == 0);
    free(b);
    free(x);
    free(out);
}
END_TEST

/* A near-quarter turn goes through the general path and still lands close. */
START_TEST(test_general_rotation) {
    int64_t c = 1, h = 16, w = 16;
    float *x = buffer(h * w), *out = buffer(h * w);
    /* A smooth image, so the bilinear error of a 1e-4-degree miss is tiny. */
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) AT(x, 0, y, xx) = (float)(0.5 + 0.4 * sin(0.3 * xx + 0.2 * y));
    shift_ok(x, out, 1, c, h, w, 90.0001, 0, 0, 1, TAU_SHIFT_EDGE, 0);
    for (int y = 1; y < h - 1; y++)
        for (int xx = 1; xx < w - 1; xx++)
            ck_assert_double_lt(fabs(AT(out, 0, y, xx) - AT(x, 0, xx, w - 1 - y)), 1e-4);
    free(x);
    free(out);
}
END_TEST

START_TEST(test_scale_constant) {
    int64_t n = 2, c = 3, h = 12, w = 20, nv = n * c * h * w;
    float *x = buffer(nv), *out = buffer(nv);
    for (int64_t k = 0; k < nv; k++) x[k] = 0.625f;
    for (int border = 0; border < 2; border++) {
        shift_ok(x, out, n, c, h, w, 0, 0, 0, 2, border, 0);
        for (int64_t k = 0; k < nv; k++) ck_assert_float_eq(out[k], 0.625f);
        /* Rotating and moving while zoomed in still only sees the constant image. */
        shift_ok(x, out, n, c, h, w, 33, 0.75, -1.5, 2.5, border, 0);
        for (int64_t k = 0; k < nv; k++) ck_assert_float_eq(out[k], 0.625f);
    }
    /* Zooming out reveals the fill at the corners and keeps the centre. */
    shift_ok(x, out, 1, 1, h, w, 0, 0, 0, 0.5, TAU_SHIFT_CONSTANT, 0.125);
    ck_assert_float_eq(out[0], 0.125f);
    ck_assert_float_eq(out[h * w - 1], 0.125f);
    ck_assert_float_eq(out[(h / 2) * w + w / 2], 0.625f);
    shift_ok(x, out, 1, 1, h, w, 0, 0, 0, 0.5, TAU_SHIFT_EDGE, 0.125);
    for (int64_t k = 0; k < h * w; k++) ck_assert_float_eq(out[k], 0.625f);
    free(x);
    free(out);
}
END_TEST

/* Zoom by 2 about the centre of an odd-sized ramp: the source of pixel x is (x + cx) / 2. */
START_TEST(test_scale_ramp) {
    int64_t h = 3, w = 9;
    float x[27], out[27];
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) AT(x, 0, y, xx) = (float)xx / 8;
    shift_ok(x, out, 1, 1, h, w, 0, 0, 0, 2, TAU_SHIFT_CONSTANT, 0);
    for (int xx = 0; xx < w; xx++) ck_assert_double_lt(fabs(AT(out, 0, 1, xx) - (xx + 4.0) / 16), 1e-6);
}
END_TEST

/* Half-pixel moves average neighbours; the fill enters the blend at the border. */
START_TEST(test_fractional_translation) {
    int64_t h = 8, w = 8;
    float *x = noise_batch(1, 1, h, w, 4), out[64];
    shift_ok(x, out, 1, 1, h, w, 0, 0.5, 0, 1, TAU_SHIFT_CONSTANT, 0.5);
    for (int y = 0; y < h; y++) {
        ck_assert_double_lt(fabs(AT(out, 0, y, 0) - (0.5 + AT(x, 0, y, 0)) / 2), 1e-6);
        for (int xx = 1; xx < w; xx++)
            ck_assert_double_lt(fabs(AT(out, 0, y, xx) - (AT(x, 0, y, xx - 1) + AT(x, 0, y, xx)) / 2), 1e-6);
    }
    shift_ok(x, out, 1, 1, h, w, 0, 0, -0.25, 1, TAU_SHIFT_EDGE, 0);
    for (int xx = 0; xx < w; xx++) {
        for (int y = 0; y < h - 1; y++)
            ck_assert_double_lt(fabs(AT(out, 0, y, xx) - (0.75 * AT(x, 0, y, xx) + 0.25 * AT(x, 0, y + 1, xx))), 1e-6);
        ck_assert_float_eq(AT(out, 0, h - 1, xx), AT(x, 0, h - 1, xx));
    }
    free(x);
}
END_TEST

/* Whatever the warp, outputs stay within the inputs' range: [0, 1] in, [0, 1] out. */
START_TEST(test_range) {
    int64_t n = 3, c = 3, h = 21, w = 15, nv = n * c * h * w;
    float *x = noise_batch(n, c, h, w, 5), *out = buffer(nv);
    for (int64_t k = 0; k < nv; k += 7) x[k] = k % 2 ? 1.0f : 0.0f;
    for (int t = 0; t < 20; t++) {
        ck_assert_int_eq(tau_shift_random(x, out, n, c, h, w, 180, 6, 0.5, (uint64_t)t, t % 2, t % 3 / 2.0, NULL), TAU_OK);
        for (int64_t k = 0; k < nv; k++) ck_assert(out[k] >= 0.0f && out[k] <= 1.0f);
    }
    /* Far outside: all fill. */
    shift_ok(x, out, n, c, h, w, 0, 1e300, -1e300, 1, TAU_SHIFT_CONSTANT, 0.75);
    for (int64_t k = 0; k < nv; k++) ck_assert_float_eq(out[k], 0.75f);
    shift_ok(x, out, n, c, h, w, 10, 0, 0, 1e-300, TAU_SHIFT_CONSTANT, 0.75);
    for (int64_t k = 0; k < nv; k++) ck_assert(out[k] >= 0.0f && out[k] <= 1.0f);
    free(x);
    free(out);
}
END_TEST

START_TEST(test_random) {
    int64_t n = 6, c = 3, h = 16, w = 16, nv = n * c * h * w, img = c * h * w;
    size_t bytes = sizeof(float) * (size_t)nv;
    float *x = buffer(nv), *a = buffer(nv), *b = buffer(nv);
    float *one = noise_batch(1, c, h, w, 6);
    for (int i = 0; i < n; i++) memcpy(x + i * img, one, sizeof(float) * (size_t)img);
    tau_shift_params pa[6], pb[6];
    ck_assert_int_eq(tau_shift_random(x, a, n, c, h, w, 15, 2, 0.1, 7, TAU_SHIFT_CONSTANT, 0, pa), TAU_OK);
    ck_assert_int_eq(tau_shift_random(x, b, n, c, h, w, 15, 2, 0.1, 7, TAU_SHIFT_CONSTANT, 0, pb), TAU_OK);
    ck_assert(memcmp(a, b, bytes) == 0);
    ck_assert(memcmp(pa, pb, sizeof pa) == 0);
    for (int i = 0; i < n; i++) {
        ck_assert(fabs(pa[i].rotate) <= 15 && fabs(pa[i].dx) <= 2 && fabs(pa[i].dy) <= 2);
        ck_assert(pa[i].scale >= 0.9 && pa[i].scale <= 1.1);
        /* Identical images, different draws. */
        if (i) ck_assert(memcmp(a, a + i * img, sizeof(float) * (size_t)img) != 0);
    }
    /* The drawn warps, applied again, give the same images. */
    ck_assert_int_eq(tau_shift_apply_each(x, b, n, c, h, w, pa, TAU_SHIFT_CONSTANT, 0), TAU_OK);
    ck_assert(memcmp(a, b, bytes) == 0);
    /* Another seed, other draws. */
    ck_assert_int_eq(tau_shift_random(x, b, n, c, h, w, 15, 2, 0.1, 8, TAU_SHIFT_CONSTANT, 0, NULL), TAU_OK);
    ck_assert(memcmp(a, b, bytes) != 0);
    /* Image i draws from (seed, i): a shorter batch gets the same first images. */
    ck_assert_int_eq(tau_shift_random(x, b, 2, c, h, w, 15, 2, 0.1, 7, TAU_SHIFT_CONSTANT, 0, pb), TAU_OK);
    ck_assert(memcmp(a, b, sizeof(float) * (size_t)(2 * img)) == 0);
    /* Zero ranges are the identity. */
    ck_assert_int_eq(tau_shift_random(x, b, n, c, h, w, 0, 0, 0, 7, TAU_SHIFT_EDGE, 0, NULL), TAU_OK);
    ck_assert(memcmp(x, b, bytes) == 0);
    free(x);
    free(a);
    free(b);
    free(one);
}
END_TEST

START_TEST(test_threads) {
    int64_t n = 8, c = 3, h = 64, w = 48, nv = n * c * h * w;
    size_t bytes = sizeof(float) * (size_t)nv;
    float *x = noise_batch(n, c, h, w, 8), *a = buffer(nv), *b = buffer(nv);
    int threads = tau_get_num_threads();
    tau_set_num_threads(1);
    ck_assert_int_eq(tau_shift_random(x, a, n, c, h, w, 30, 4, 0.2, 3, TAU_SHIFT_CONSTANT, 0, NULL), TAU_OK);
    tau_set_num_threads(3);
    ck_assert_int_eq(tau_shift_random(x, b, n, c, h, w, 30, 4, 0.2, 3, TAU_SHIFT_CONSTANT, 0, NULL), TAU_OK);
    tau_set_num_threads(threads);
    ck_assert(memcmp(a, b, bytes) == 0);
    free(x);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_errors) {
    int64_t h = 8, w = 8;
    float *x = noise_batch(2, 1, h, w, 9), out[128];
    tau_shift_params p = {0, 0, 0, 1};
    ck_assert_int_eq(tau_shift_apply(x, out, 1, 0, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: images must be (N, C, H, W) with N >= 0 and C, H, W >= 1, got [1, 0, 8, 8]");
    ck_assert_int_eq(tau_shift_apply(x, out, -1, 1, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_int_eq(tau_shift_apply(x, out, 1, 1, 0, w, &p, 0, 0), TAU_ERR);
    ck_assert_int_eq(tau_shift_apply(x, out, 1, 1, h, -3, &p, 0, 0), TAU_ERR);
    ck_assert_int_eq(tau_shift_apply(x, out, (int64_t)1 << 40, 1, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_int_eq(tau_shift_apply(x, out, 1, 1, h, w, &p, 2, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: unknown border mode 2");
    ck_assert_int_eq(tau_shift_apply(x, out, 1, 1, h, w, &p, 0, NAN), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: fill value must be finite, got nan");
    ck_assert_int_eq(tau_shift_apply(x, x + 10, 1, 1, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: output must not overlap the input");
    p.scale = 0;
    ck_assert_int_eq(tau_shift_apply(x, out, 1, 1, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: scale must be positive, got 0");
    p.scale = 1;
    p.rotate = INFINITY;
    ck_assert_int_eq(tau_shift_apply(x, out, 1, 1, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: rotation, translation and scale must be finite");
    p.rotate = 0;
    tau_shift_params each[2] = {{0, 0, 0, 1}, {0, NAN, 0, 1}};
    ck_assert_int_eq(tau_shift_apply_each(x, out, 2, 1, h, w, each, 0, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: rotation, translation and scale must be finite (image 1)");
    x[70] = NAN;
    ck_assert_int_eq(tau_shift_apply(x, out, 2, 1, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: input has a NaN or infinite value at element 70 (NaN)");
    x[70] = -INFINITY;
    ck_assert_int_eq(tau_shift_random(x, out, 2, 1, h, w, 1, 1, 0, 0, 0, 0, NULL), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: input has a NaN or infinite value at element 70 (inf)");
    x[70] = 0.5f;
    ck_assert_int_eq(tau_shift_random(x, out, 2, 1, h, w, -1, 1, 0, 0, 0, 0, NULL), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: maximum rotation must be finite and >= 0, got -1");
    ck_assert_int_eq(tau_shift_random(x, out, 2, 1, h, w, 1, NAN, 0, 0, 0, 0, NULL), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: maximum translation must be finite and >= 0, got nan");
    ck_assert_int_eq(tau_shift_random(x, out, 2, 1, h, w, 1, 1, 1, 0, 0, 0, NULL), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "shift: maximum scale change must be in [0, 1), got 1");
    /* An empty batch is fine, and an interrupt stops the loop. */
    ck_assert_int_eq(tau_shift_apply(NULL, NULL, 0, 1, h, w, &p, 0, 0), TAU_OK);
    tau_interrupted = 1;
    ck_assert_int_eq(tau_shift_apply(x, out, 2, 1, h, w, &p, 0, 0), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "interrupted");
    tau_interrupted = 0;
    free(x);
}
END_TEST

static Suite *shift_suite(void) {
    Suite *s = suite_create("shift");
    TCase *tc = check_tcase("warps", 0);
    tcase_add_test(tc, test_identity);
    tcase_add_test(tc, test_integer_translation);
    tcase_add_test(tc, test_quarter_turns);
    tcase_add_test(tc, test_general_rotation);
    tcase_add_test(tc, test_scale_constant);
    tcase_add_test(tc, test_scale_ramp);
    tcase_add_test(tc, test_fractional_translation);
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_random);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main(shift_suite()); }
