/* The differentiable tensor operations: each computes with a kernel of core/tensor/kernels.h and
 * records an autograd node when an input requires grad. Returns a new reference or NULL. */
#ifndef TAU_OPS_H
#define TAU_OPS_H
#include "base/api.h"
#include "tensor/autograd.h"
#include "tensor/kernels.h"

TAU_API tau_tensor *tau_op_binary(tau_binop op, tau_tensor *a, tau_tensor *b);
TAU_API tau_tensor *tau_op_binary_scalar(tau_binop op, tau_tensor *a, double s, int scalar_first);
TAU_API tau_tensor *tau_op_unary(tau_unop op, tau_tensor *x, double p0, double p1);
TAU_API tau_tensor *tau_op_reduce(tau_redop op, tau_tensor *x, int dim, int keepdim, int unbiased,
                                  tau_tensor **indices);
TAU_API tau_tensor *tau_op_matmul(tau_tensor *a, tau_tensor *b);
TAU_API tau_tensor *tau_op_where(tau_tensor *cond, tau_tensor *a, tau_tensor *b);

TAU_API tau_tensor *tau_op_view(tau_tensor *x, int ndim, const int64_t *shape);
TAU_API tau_tensor *tau_op_reshape(tau_tensor *x, int ndim, const int64_t *shape);
TAU_API tau_tensor *tau_op_transpose(tau_tensor *x, int d0, int d1);
TAU_API tau_tensor *tau_op_permute(tau_tensor *x, const int *perm);
TAU_API tau_tensor *tau_op_narrow(tau_tensor *x, int dim, int64_t start, int64_t len);
TAU_API tau_tensor *tau_op_select(tau_tensor *x, int dim, int64_t index);
TAU_API tau_tensor *tau_op_expand(tau_tensor *x, int ndim, const int64_t *shape);
TAU_API tau_tensor *tau_op_squeeze(tau_tensor *x, int dim);
TAU_API tau_tensor *tau_op_unsqueeze(tau_tensor *x, int dim);
TAU_API tau_tensor *tau_op_contiguous(tau_tensor *x);
TAU_API tau_tensor *tau_op_clone(tau_tensor *x);
TAU_API tau_tensor *tau_op_to_dtype(tau_tensor *x, tau_dtype dt);

TAU_API tau_tensor *tau_op_cat(tau_tensor *const *ts, int n, int dim);
TAU_API tau_tensor *tau_op_stack(tau_tensor *const *ts, int n, int dim);
TAU_API tau_tensor *tau_op_index_select(tau_tensor *x, int dim, tau_tensor *index);
TAU_API tau_tensor *tau_op_gather(tau_tensor *x, int dim, tau_tensor *index);
TAU_API tau_tensor *tau_op_scatter_add(tau_tensor *x, int dim, tau_tensor *index, tau_tensor *src);

#endif
