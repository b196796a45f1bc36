/* Matrix products through cblas_sgemm. A 2-D operand whose rows or columns are unit-stride is
 * handed to sgemm as is (transposed if need be); only other layouts are copied. */
#include "tensor/kernels.h"
#include "base/gemm.h"
#include <limits.h>

/* How sgemm can read a (rows x cols) matrix at p with strides (rs, cs), or 0 if it cannot. */
static int gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, CBLAS_TRANSPOSE *tr, int64_t *ld) {
    if (cs == 1 && rs >= (cols > 1 ? cols : 1)) { *tr = CblasNoTrans; *ld = rs; return 1; }
    if (rs == 1 && cs >= (rows > 1 ? rows : 1)) { *tr = CblasTrans; *ld = cs; return 1; }
    if (rows == 1 && cs == 1) { *tr = CblasNoTrans; *ld = cols > 1 ? cols : 1; return 1; }
    if (cols == 1 && rs == 1) { *tr = CblasTrans; *ld = rows > 1 ? rows : 1; return 1; }
    return 0;
}

tau_tensor *tau_matmul_forward(tau_tensor *a, tau_tensor *b) {
    char sa[160], sb[160];
    if (a->dtype != TAU_F32 || b->dtype != TAU_F32)
        return tau_fail("matmul: float32 tensors expected, got %s and %s", tau_dtype_name(a->dtype),
                        tau_dtype_name(b->dtype)), NULL;
    if (a->ndim == 0 || b->ndim == 0)
        return tau_fail("matmul: both arguments must have at least one dimension, got %s and %s",
                        tau_shape_str(a, sa, sizeof sa), tau_shape_str(b, sb, sizeof sb)), NULL;
    /* promote 1-D operands to matrices, remembering which dims to drop at the end */
    tau_tensor *A = a->ndim == 1 ? tau_unsqueeze(a, 0) : tau_retain(a);
    tau_tensor *B = b->ndim == 1 ? tau_unsqueeze(b, 1) : tau_retain(b);
    tau_tensor *out = NULL, *Ac = NULL, *Bc = NULL;
    if (!A || !B) goto done;
    int64_t m = A->shape[A->ndim - 2], k = A->shape[A->ndim - 1];
    int64_t k2 = B->shape[B->ndim - 2], n = B->shape[B->ndim - 1];
    if (k != k2) {
        tau_fail("matmul: size mismatch, a is %s, b is %s (a:size(%d) must equal b:size(%d))",
                 tau_shape_str(a, sa, sizeof sa), tau_shape_str(b, sb, sizeof sb), a->ndim,
                 b->ndim == 1 ? 1 : b->ndim - 1);
        goto done;
    }
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX) {
        tau_fail("matmul: matrix dimensions above 2^31 are not supported");
        goto done;
    }
    /* broadcast batch dimensions */
    int bna = A->ndim - 2, bnb = B->ndim - 2, bn = bna > bnb ? bna : bnb;
    int64_t bshape[TAU_MAXDIM], oshape[TAU_MAXDIM];
    for (int i = 0; i < bn; i++) {
        int ia = i - (bn - bna), ib = i - (bn - bnb);
        int64_t x = ia >= 0 ? A->shape[ia] : 1, y = ib >= 0 ? B->shape[ib] : 1;
        if (x != y && x != 1 && y != 1) {
            tau_fail("matmul: batch dimensions of %s and %s cannot be broadcast",
                     tau_shape_str(a, sa, sizeof sa), tau_shape_str(b, sb, sizeof sb));
            goto done;
        }
        bshape[i] = x == 1 ? y : x;
        oshape[i] = bshape[i];
    }
    oshape[bn] = m;
    oshape[bn + 1] = n;
    out = tau_empty(TAU_F32, bn + 2, oshape);
    if (!out) goto done;
    CBLAS_TRANSPOSE ta, tb;
    int64_t lda, ldb;
    int64_t ars = A->stride[A->ndim - 2], acs = A->stride[A->ndim - 1];
    int64_t brs = B->stride[B->ndim - 2], bcs = B->stride[B->ndim - 1];
    if (!gemm_layout(m, k, ars, acs, &ta, &lda)) {
        Ac = tau_contiguous(A);
        if (!Ac) goto fail;
        ars = k; acs = 1; ta = CblasNoTrans; lda = k > 1 ? k : 1;
    } else Ac = tau_retain(A);
    if (!gemm_layout(k, n, brs, bcs, &tb, &ldb)) {
        Bc = tau_contiguous(B);
        if (!Bc) goto fail;
        brs = n; bcs = 1; tb = CblasNoTrans; ldb = n > 1 ? n : 1;
    } else Bc = tau_retain(B);
    if (lda > INT_MAX || ldb > INT_MAX) { tau_fail("matmul: leading dimension above 2^31"); goto fail; }
    int64_t nb = 1;
    for (int i = 0; i < bn; i++) nb *= bshape[i];
    float *po = tau_f32(out);
    for (int64_t bi = 0; bi < nb; bi++) {
        /* offsets of batch bi in A and B (stride 0 along broadcast dims) */
        int64_t oa = Ac->offset, ob = Bc->offset, rem = bi;
        for (int i = bn - 1; i >= 0; i--) {
            int64_t ix = rem % bshape[i];
            rem /= bshape[i];
            int ia = i - (bn - bna), ib = i - (bn - bnb);
            if (ia >= 0 && Ac->shape[ia] != 1) oa += ix * Ac->stride[ia];
            if (ib >= 0 && Bc->shape[ib] != 1) ob += ix * Bc->stride[ib];
        }
        float *c = po + bi * m * n;
        if (m == 0 || n == 0) continue;
        if (k == 0) { for (int64_t i = 0; i < m * n; i++) c[i] = 0; continue; }
        tau__gemm(ta, tb, (int)m, (int)n, (int)k, 1.0f,
                    (const float *)Ac->storage->data + oa, (int)lda,
                    (const float *)Bc->storage->data + ob, (int)ldb, 0.0f, c, (int)(n > 1 ? n : 1));
    }
    /* drop the dims added for 1-D operands */
    if (a->ndim == 1 || b->ndim == 1) {
        int64_t fs[TAU_MAXDIM];
        int fn = 0;
        for (int i = 0; i < bn; i++) fs[fn++] = oshape[i];
        if (a->ndim != 1) fs[fn++] = m;
        if (b->ndim != 1) fs[fn++] = n;
        tau_tensor *v = tau_view(out, fn, fs);
        tau_release(out);
        out = v;
    }
    goto done;
fail:
    tau_release(out);
    out = NULL;
done:
    tau_release(A); tau_release(B); tau_release(Ac); tau_release(Bc);
    return out;
}
