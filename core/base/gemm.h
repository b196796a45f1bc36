/* The project's one entry to cblas_sgemm (row-major). OpenBLAS itself stays single-threaded;
 * tau__gemm splits a product into blocks of rows or columns over the project's thread pool, so
 * only one pool ever runs: OpenBLAS's spinning workers never compete with ours (on 2 cores that
 * contention cost more than the second core gave). Blocks share no output, and each element's
 * sum over k is computed the same way whatever the split. */
#ifndef TAU_GEMM_H
#define TAU_GEMM_H
#include <cblas.h>

/* C = alpha op(A) op(B) + beta C, with the arguments of cblas_sgemm after the layout. */
void tau__gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

#endif
