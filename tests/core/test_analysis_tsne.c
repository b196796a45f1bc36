/* t-SNE and the separation measures (tsne.h) on raw arrays: clusters come apart in exact and
 * Barnes-Hut modes, duplicate points do not break the tree, results are the same bits at one
 * and two threads, and bad arguments and interrupts fail with a message. */
#include "base/error.h"
#include "base/parallel.h"
#include "analysis/tsne.h"
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static double normal(uint32_t *s) {
    double u = ((lcg(s) & 0xFFFFFF) + 0.5) / 16777216.0, v = ((lcg(s) & 0xFFFFFF) + 0.5) / 16777216.0;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* k clusters of m points in d dimensions, centres 10 apart on the axes; labels 0..k-1. */
static float *clusters(int k, int m, int d, int32_t *labels, uint32_t seed) {
    float *x = malloc(sizeof(float) * (size_t)(k * m * d));
    ck_assert_ptr_nonnull(x);
    for (int i = 0; i < k * m; i++) {
        labels[i] = i % k;
        for (int j = 0; j < d; j++) x[i * d + j] = (float)(normal(&seed) + (j == labels[i] % d ? 10.0 : 0.0) * (1 + labels[i] / d));
    }
    return x;
}

static void embed_ok(const float *x, int64_t n, int64_t d, const tau_tsne_opts *o, float *y) {
    int rc = tau_tsne(x, n, d, o, y);
    ck_assert_msg(rc == TAU_OK, "tsne failed: %s", rc ? tau_errmsg() : "");
}

START_TEST(test_separates) {
    int32_t labels[120];
    float *x = clusters(4, 30, 6, labels, 1), y[240];
    for (int exact = 0; exact <= 1; exact++) {
        tau_tsne_opts o;
        tau_tsne_defaults(&o);
        o.perplexity = 10;
        o.iters = 300;
        o.exact = exact;
        embed_ok(x, 120, 6, &o, y);
        double acc = 0, sil = 0;
        ck_assert_int_eq(tau_knn_accuracy(y, labels, 120, 2, 4, 5, &acc), TAU_OK);
        ck_assert_int_eq(tau_silhouette(y, labels, 120, 2, 4, &sil), TAU_OK);
        ck_assert_msg(acc >= 0.95, "exact %d: k-NN accuracy %g", exact, acc);
        ck_assert_msg(sil > 0.5, "exact %d: silhouette %g", exact, sil);
    }
    free(x);
}
END_TEST

START_TEST(test_duplicates) {
    /* forty copies of two points: the tree must stop splitting, the result stay finite */
    float x[80 * 2];
    for (int i = 0; i < 80; i++) { x[2 * i] = (float)(i % 2); x[2 * i + 1] = 0; }
    float y[160];
    tau_tsne_opts o;
    tau_tsne_defaults(&o);
    o.perplexity = 5;
    o.iters = 100;
    o.exact = 0;
    embed_ok(x, 80, 2, &o, y);
    for (int i = 0; i < 160; i++) ck_assert(isfinite(y[i]));
}
END_TEST

START_TEST(test_threads) {
    int32_t labels[90];
    float *x = clusters(3, 30, 5, labels, 2), a[180], b[180];
    int saved = tau_get_num_threads();
    for (int exact = 0; exact <= 1; exact++) {
        tau_tsne_opts o;
        tau_tsne_defaults(&o);
        o.perplexity = 8;
        o.iters = 150;
        o.exact = exact;
        o.seed = 42;
        tau_set_num_threads(1);
        embed_ok(x, 90, 5, &o, a);
        tau_set_num_threads(2);
        embed_ok(x, 90, 5, &o, b);
        ck_assert_msg(!memcmp(a, b, sizeof a), "exact %d: thread counts differ", exact);
    }
    tau_set_num_threads(saved);
    free(x);
}
END_TEST

START_TEST(test_errors) {
    float x[20] = {0}, y[20];
    int32_t labels[10] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    tau_tsne_opts o;
    tau_tsne_defaults(&o);
    ck_assert_int_eq(tau_tsne(x, 10, 2, &o, y), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "tau.analysis.tsne: perplexity 30 needs more than 30 points, got 10");
    o.perplexity = 3;
    o.exact = 0;
    o.dims = 4;
    ck_assert_int_eq(tau_tsne(x, 10, 2, &o, y), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "tau.analysis.tsne: Barnes-Hut embeds in at most 3 dimensions, got dims = 4 (use exact = true)");
    o.dims = 2;
    x[3] = NAN;
    ck_assert_int_eq(tau_tsne(x, 10, 2, &o, y), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "tau.analysis.tsne: x holds a non-finite value (nan) at flat index 3");
    x[3] = 0;
    tau_interrupted = 1;
    ck_assert_int_eq(tau_tsne(x, 10, 2, &o, y), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "interrupted");
    tau_interrupted = 0;
    double v;
    ck_assert_int_eq(tau_knn_accuracy(x, labels, 10, 2, 2, 10, &v), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "tau.analysis.knn_accuracy: k must be in 1..9 (the other points), got 10");
    labels[4] = 2;
    ck_assert_int_eq(tau_knn_accuracy(x, labels, 10, 2, 2, 3, &v), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "tau.analysis.knn_accuracy: label 3 at position 5 is out of range 1..2");
    for (int i = 0; i < 10; i++) labels[i] = 1;
    ck_assert_int_eq(tau_silhouette(x, labels, 10, 2, 2, &v), TAU_ERR);
    ck_assert_str_eq(tau_errmsg(), "tau.analysis.silhouette: needs points of at least 2 classes, got only class 2");
}
END_TEST

static Suite *tsne_suite(void) {
    Suite *s = suite_create("tsne");
    TCase *tc = tcase_create("tsne");
    tcase_add_test(tc, test_separates);
    tcase_add_test(tc, test_duplicates);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(tsne_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
