/* Differentiable neural-network ops on tensors: the autograd layer over core/nn/nn.h. Inputs are
 * borrowed; results are new references, NULL on error. Dimensions are 0-based. */
#ifndef TAU_OPS_NN_H
#define TAU_OPS_NN_H
#include "base/api.h"
#include "nn/nn.h"
#include "tensor/ops.h"

typedef struct { int64_t stride[2], pad[2], dil[2], groups; } tau_conv_opts;
typedef struct { int64_t kernel[2], stride[2], pad[2]; int ceil_mode, count_include_pad; } tau_pool_opts;

TAU_API tau_tensor *tau_op_linear(tau_tensor *x, tau_tensor *w, tau_tensor *b);
TAU_API tau_tensor *tau_op_conv2d(tau_tensor *x, tau_tensor *w, tau_tensor *b, const tau_conv_opts *o);
TAU_API tau_tensor *tau_op_max_pool2d(tau_tensor *x, const tau_pool_opts *o);
TAU_API tau_tensor *tau_op_avg_pool2d(tau_tensor *x, const tau_pool_opts *o);
TAU_API tau_tensor *tau_op_adaptive_avg_pool2d(tau_tensor *x, int64_t oh, int64_t ow);
/* x is (N, C, ...); running stats (C) updated in place in training (may be NULL). */
TAU_API tau_tensor *tau_op_batch_norm(tau_tensor *x, tau_tensor *running_mean, tau_tensor *running_var,
                                      tau_tensor *gamma, tau_tensor *beta, int training, double momentum, double eps);
/* normalises over the last `nd` dims; gamma/beta have those dims' shape (or are NULL). */
TAU_API tau_tensor *tau_op_layer_norm(tau_tensor *x, int nd, tau_tensor *gamma, tau_tensor *beta, double eps);
TAU_API tau_tensor *tau_op_softmax(tau_tensor *z, int dim, double tau, int log);
/* labels int32 0..K-1; reduction as tau_reduction */
TAU_API tau_tensor *tau_op_cross_entropy(tau_tensor *logits, tau_tensor *labels, double tau, double smoothing, int reduction);
TAU_API tau_tensor *tau_op_nll_loss(tau_tensor *logp, tau_tensor *labels, int reduction);
TAU_API tau_tensor *tau_op_mse_loss(tau_tensor *x, tau_tensor *target, int reduction);
/* q (B, H, T, D), k/v (B, H, S, D); mask additive float, broadcastable (T, S) / (B|1, H|1, T, S) */
TAU_API tau_tensor *tau_op_attention(tau_tensor *q, tau_tensor *k, tau_tensor *v, tau_tensor *mask, int causal,
                                     double dropout, double scale);
TAU_API tau_tensor *tau_op_gelu(tau_tensor *x, int tanh_approx);
TAU_API tau_tensor *tau_op_dropout(tau_tensor *x, double p, int training);
/* pads[2*i], pads[2*i+1]: before/after for the i-th dim counted from the last, PyTorch order */
TAU_API tau_tensor *tau_op_pad(tau_tensor *x, int npairs, const int64_t *pads, double value);

#endif
