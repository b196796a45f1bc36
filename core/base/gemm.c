#include "base/gemm.h"
#include "base/parallel.h"
#include <stdint.h>

typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k, lda, ldb, ldc, split_rows;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_job;

/* Blocks are whole multiples of 16 rows or columns, matching the kernels' register tiles. */
#define QUANTUM 16

static void gemm_range(void *ctx, int64_t begin, int64_t end) {
    const gemm_job *g = ctx;
    int lo = (int)(begin * QUANTUM), hi = (int)(end * QUANTUM);
    if (g->split_rows) {
        if (hi > g->m) hi = g->m;
        if (hi <= lo) return;
        /* rows lo..hi of op(A): row offset in A, or column offset when A is transposed */
        const float *a = g->ta == CblasNoTrans ? g->a + (int64_t)lo * g->lda : g->a + lo;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, hi - lo, g->n, g->k, g->alpha, a, g->lda, g->b, g->ldb,
                    g->beta, g->c + (int64_t)lo * g->ldc, g->ldc);
    } else {
        if (hi > g->n) hi = g->n;
        if (hi <= lo) return;
        const float *b = g->tb == CblasNoTrans ? g->b + lo : g->b + (int64_t)lo * g->ldb;
        cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, hi - lo, g->k, g->alpha, g->a, g->lda, b, g->ldb,
                    g->beta, g->c + lo, g->ldc);
    }
}

void tau__gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    double flops = 2.0 * m * n * (k > 0 ? k : 1);
    int threads = tau_get_num_threads();
    /* small products are not worth waking the pool */
    if (threads <= 1 || flops < 4e6 || (m < 2 * QUANTUM && n < 2 * QUANTUM)) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_job g = {ta, tb, m, n, k, lda, ldb, ldc, m >= n, alpha, beta, a, b, c};
    int64_t units = ((g.split_rows ? m : n) + QUANTUM - 1) / QUANTUM;
    tau_parallel_for(units, 1, gemm_range, &g);
}
