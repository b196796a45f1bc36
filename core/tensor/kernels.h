/* The tensor core's kernels: element-wise maths with broadcasting, reductions, matmul and
 * indexing. These compute; they do not record autograd history (core/tensor/ops.h does). Results
 * are new contiguous tensors; inputs are borrowed. Dimensions are 0-based. */
#ifndef TAU_KERNELS_H
#define TAU_KERNELS_H
#include "base/api.h"
#include "tensor/tensor.h"

typedef enum {
    TAU_ADD, TAU_SUB, TAU_MUL, TAU_DIV, TAU_POW, TAU_MAXIMUM, TAU_MINIMUM,
    TAU_EQ, TAU_NE, TAU_LT, TAU_LE, TAU_GT, TAU_GE, TAU_NBINARY
} tau_binop;

typedef enum {
    TAU_NEG, TAU_EXP, TAU_LOG, TAU_SQRT, TAU_RSQRT, TAU_ABS, TAU_SIGN, TAU_TANH, TAU_SIGMOID,
    TAU_RELU, TAU_FLOOR, TAU_CEIL, TAU_ROUND, TAU_SIN, TAU_COS, TAU_LOG1P, TAU_EXPM1,
    TAU_RECIP, TAU_SQUARE, TAU_ERF, TAU_ISNAN,
    TAU_CLAMP,        /* p0 = min, p1 = max (NaN: no bound) */
    TAU_POWS,         /* x ^ p0 */
    TAU_NUNARY
} tau_unop;

typedef enum {
    TAU_SUM, TAU_MEAN, TAU_PROD, TAU_VAR, TAU_STD, TAU_MAX, TAU_MIN, TAU_ARGMAX, TAU_ARGMIN,
    TAU_LOGSUMEXP, TAU_NREDUCE
} tau_redop;

TAU_API const char *tau_binop_name(tau_binop op);
TAU_API const char *tau_unop_name(tau_unop op);
TAU_API const char *tau_redop_name(tau_redop op);

/* Comparisons give int32 0/1. int32 with int32 stays int32 except DIV and POW (float32);
 * mixed dtypes compute in float32. */
TAU_API tau_tensor *tau_binary_forward(tau_binop op, const tau_tensor *a, const tau_tensor *b);
/* a op= b in place, b broadcast to a's shape (a keeps its dtype). */
TAU_API int tau_binary_inplace(tau_binop op, tau_tensor *a, const tau_tensor *b);
TAU_API tau_tensor *tau_unary_forward(tau_unop op, const tau_tensor *x, double p0, double p1);
TAU_API int tau_unary_inplace(tau_unop op, tau_tensor *x, double p0, double p1);
/* cond (any dtype, non-zero = true) ? a : b, all broadcast together. */
TAU_API tau_tensor *tau_where_forward(const tau_tensor *cond, const tau_tensor *a, const tau_tensor *b);
/* y += alpha * x (same shape, y float32) */
TAU_API int tau_axpy_(tau_tensor *y, double alpha, const tau_tensor *x);

/* dim < 0 reduces over all elements. For MAX/MIN, *indices (if given) receives the int32
 * positions (0-based) along dim. unbiased: VAR/STD divide by n - 1. */
TAU_API tau_tensor *tau_reduce_forward(tau_redop op, tau_tensor *x, int dim, int keepdim, int unbiased,
                                       tau_tensor **indices);
/* Sums g (of a broadcast shape) back down to the given shape: the adjoint of broadcasting. */
TAU_API tau_tensor *tau_sum_to(tau_tensor *g, int ndim, const int64_t *shape);

/* matmul with NumPy semantics for 1-D, 2-D and batched (broadcast batch dims) operands;
 * transposed operands are passed to sgemm as such, without copies. */
TAU_API tau_tensor *tau_matmul_forward(tau_tensor *a, tau_tensor *b);

TAU_API tau_tensor *tau_cat_forward(tau_tensor *const *ts, int n, int dim);
TAU_API tau_tensor *tau_stack_forward(tau_tensor *const *ts, int n, int dim);
/* index: int32, 0-based */
TAU_API tau_tensor *tau_index_select_forward(tau_tensor *x, int dim, tau_tensor *index);
TAU_API tau_tensor *tau_gather_forward(tau_tensor *x, int dim, tau_tensor *index);
/* out = x with src added at index along dim (index has src's shape) */
TAU_API tau_tensor *tau_scatter_add_forward(tau_tensor *x, int dim, tau_tensor *index, tau_tensor *src);
/* Adds into acc in place (acc contiguous float32). */
TAU_API int tau_index_add_(tau_tensor *acc, int dim, tau_tensor *index, tau_tensor *src);
TAU_API int tau_scatter_add_(tau_tensor *acc, int dim, tau_tensor *index, tau_tensor *src);
/* labels int32 0-based -> float32 (..., classes) */
TAU_API tau_tensor *tau_one_hot(tau_tensor *labels, int64_t classes);

/* max |a - b| <= atol + rtol * |b| elementwise (same shape required); NaNs equal if equal_nan */
TAU_API int tau_allclose(const tau_tensor *a, const tau_tensor *b, double rtol, double atol, int equal_nan);
TAU_API int tau_equal(const tau_tensor *a, const tau_tensor *b);

#endif
