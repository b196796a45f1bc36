/* Neural-network kernels on raw contiguous float32 arrays (NCHW for images), forward and
 * backward side by side. Shapes are given by small parameter structs; every function checks
 * them and returns TAU_OK, or TAU_ERR with a message naming the op and the problem.
 * Backward kernels overwrite their gradient outputs (they never accumulate); a NULL gradient
 * pointer means "not wanted" and skips that work. Scratch memory comes from tau_alloc, so a
 * steady-state training loop makes no heap calls. */
#ifndef TAU_NN_H
#define TAU_NN_H
#include "base/api.h"
#include <stdint.h>

/* ---- conv2d ------------------------------------------------------------------------------ */

/* Every field must be set: strides and dilations are >= 1, paddings >= 0. */
typedef struct {
    int64_t n, c, h, w;          /* input x is (n, c, h, w) */
    int64_t k, kh, kw;           /* weight is (k, c/groups, kh, kw), bias is (k) */
    int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
} tau_conv2d_params;

/* Validates p and gives the output size: y is (n, k, oh, ow). */
TAU_API int tau_conv2d_out_size(const tau_conv2d_params *p, int64_t *oh, int64_t *ow);

/* x is (N, C, H, W), w is (K, C/groups, kh, kw), b is (K) or NULL; y is (N, K, OH, OW). */
TAU_API int tau_conv2d_forward(const float *x, const float *w, const float *b, float *y,
                               const tau_conv2d_params *p);

/* dy is (N, K, OH, OW); dx like x, dw like w, db (K); each may be NULL. */
TAU_API int tau_conv2d_backward(const float *x, const float *w, const float *dy,
                                float *dx, float *dw, float *db, const tau_conv2d_params *p);

/* ---- pooling ----------------------------------------------------------------------------- */

/* PyTorch semantics: padding at most half the kernel; with ceil_mode the last window must start
 * inside the input or the left padding. count_include_pad only matters for avg_pool2d (PyTorch's
 * default is 1). */
typedef struct {
    int64_t n, c, h, w;          /* x is (n, c, h, w) */
    int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
    int ceil_mode, count_include_pad;
} tau_pool2d_params;

TAU_API int tau_max_pool2d_out_size(const tau_pool2d_params *p, int64_t *oh, int64_t *ow);
TAU_API int tau_avg_pool2d_out_size(const tau_pool2d_params *p, int64_t *oh, int64_t *ow);

/* x is (N, C, H, W); y and idx are (N, C, OH, OW). idx (nullable) receives the position of each
 * maximum inside its input plane, ih * W + iw. NaN wins, so it propagates. */
TAU_API int tau_max_pool2d_forward(const float *x, float *y, int32_t *idx, const tau_pool2d_params *p);
/* dy and idx are (N, C, OH, OW); dx is (N, C, H, W). */
TAU_API int tau_max_pool2d_backward(const float *dy, const int32_t *idx, float *dx,
                                    const tau_pool2d_params *p);

/* x is (N, C, H, W); y is (N, C, OH, OW). */
TAU_API int tau_avg_pool2d_forward(const float *x, float *y, const tau_pool2d_params *p);
TAU_API int tau_avg_pool2d_backward(const float *dy, float *dx, const tau_pool2d_params *p);

/* Output cell i covers input rows floor(i*H/OH) .. ceil((i+1)*H/OH)-1, likewise for columns. */
typedef struct { int64_t n, c, h, w, oh, ow; } tau_adaptive_pool2d_params;

/* x is (N, C, H, W); y is (N, C, OH, OW). */
TAU_API int tau_adaptive_avg_pool2d_forward(const float *x, float *y, const tau_adaptive_pool2d_params *p);
TAU_API int tau_adaptive_avg_pool2d_backward(const float *dy, float *dx,
                                             const tau_adaptive_pool2d_params *p);

/* ---- normalisation ----------------------------------------------------------------------- */

/* x is (n, c, l): l = H*W for images, 1 for (N, C). In training the batch statistics (biased
 * variance) normalise x and the running statistics move by momentum towards the batch mean and
 * the unbiased variance; in evaluation the running statistics normalise x. */
typedef struct { int64_t n, c, l; float eps, momentum; int training; } tau_batch_norm_params;

/* x, y are (N, C, L); gamma, beta (C) or NULL (1 and 0); running_mean, running_var (C), updated
 * in place in training, NULL allowed in training only (no tracking). save_mean and save_invstd
 * (C, nullable) receive the mean and 1/sqrt(var + eps) actually used, for the backward. */
TAU_API int tau_batch_norm_forward(const float *x, const float *gamma, const float *beta,
                                   float *running_mean, float *running_var,
                                   float *y, float *save_mean, float *save_invstd,
                                   const tau_batch_norm_params *p);
/* In evaluation mode the statistics are constants, so dx = dy * gamma * invstd. */
TAU_API int tau_batch_norm_backward(const float *x, const float *dy, const float *gamma,
                                    const float *save_mean, const float *save_invstd,
                                    float *dx, float *dgamma, float *dbeta,
                                    const tau_batch_norm_params *p);

/* Normalises each of m rows of d contiguous elements. */
typedef struct { int64_t m, d; float eps; } tau_layer_norm_params;

/* x, y are (M, D); gamma, beta (D) or NULL; save_mean, save_invstd (M), nullable. */
TAU_API int tau_layer_norm_forward(const float *x, const float *gamma, const float *beta,
                                   float *y, float *save_mean, float *save_invstd,
                                   const tau_layer_norm_params *p);
TAU_API int tau_layer_norm_backward(const float *x, const float *dy, const float *gamma,
                                    const float *save_mean, const float *save_invstd,
                                    float *dx, float *dgamma, float *dbeta,
                                    const tau_layer_norm_params *p);

/* ---- softmax with temperature and losses ------------------------------------------------- */

/* m rows of k contiguous elements; tau > 0. p = softmax((z - max(z)) / tau). */
typedef struct { int64_t m, k; float tau; } tau_softmax_params;

/* z, p are (M, K). */
TAU_API int tau_softmax_forward(const float *z, float *p, const tau_softmax_params *sp);
/* p is the saved output; dz = p * (dp - sum(dp * p)) / tau. */
TAU_API int tau_softmax_backward(const float *p, const float *dp, float *dz, const tau_softmax_params *sp);
/* z, y are (M, K); y = log softmax(z / tau). */
TAU_API int tau_log_softmax_forward(const float *z, float *y, const tau_softmax_params *sp);
/* y is the saved output; dz = (dy - exp(y) * sum(dy)) / tau. */
TAU_API int tau_log_softmax_backward(const float *y, const float *dy, float *dz,
                                     const tau_softmax_params *sp);

typedef enum { TAU_REDUCTION_MEAN = 0, TAU_REDUCTION_SUM = 1, TAU_REDUCTION_NONE = 2 } tau_reduction;

/* Class labels are 0-based (0..k-1), as everywhere in the core. */
typedef struct {
    int64_t n, k;
    float tau;                   /* > 0 */
    float label_smoothing;       /* in [0, 1]: target (1-e) onehot + e/k, as PyTorch */
    tau_reduction reduction;
} tau_cross_entropy_params;

/* z is (N, K) logits, labels (N) in 0..K-1; loss is (N) for REDUCTION_NONE, else (1).
 * Per row: (1-e) (-log q_y) + e mean_j(-log q_j), q = softmax(z / tau). p (N, K, nullable)
 * receives q for the backward. */
TAU_API int tau_cross_entropy_forward(const float *z, const int32_t *labels, float *loss, float *p,
                                      const tau_cross_entropy_params *cp);
/* dloss is (N) for REDUCTION_NONE, else (1); dz (N, K) = (q - target) / tau * upstream,
 * upstream divided by N for REDUCTION_MEAN. */
TAU_API int tau_cross_entropy_backward(const float *p, const int32_t *labels, const float *dloss,
                                       float *dz, const tau_cross_entropy_params *cp);

typedef struct { int64_t n, k; tau_reduction reduction; } tau_nll_loss_params;

/* logp is (N, K) log-probabilities, labels (N) in 0..K-1; loss per row -logp[label]. */
TAU_API int tau_nll_loss_forward(const float *logp, const int32_t *labels, float *loss,
                                 const tau_nll_loss_params *np);
TAU_API int tau_nll_loss_backward(const int32_t *labels, const float *dloss, float *dlogp,
                                  const tau_nll_loss_params *np);

/* n elements; the mean is over all of them. */
typedef struct { int64_t n; tau_reduction reduction; } tau_mse_loss_params;

/* x, target (N); loss (N) for REDUCTION_NONE, else (1); per element (x - target)^2. */
TAU_API int tau_mse_loss_forward(const float *x, const float *target, float *loss,
                                 const tau_mse_loss_params *mp);
/* dx and dtarget (= -dx) are (N), each nullable. */
TAU_API int tau_mse_loss_backward(const float *x, const float *target, const float *dloss,
                                  float *dx, float *dtarget, const tau_mse_loss_params *mp);

/* ---- attention --------------------------------------------------------------------------- */

/* q is (b, h, t, d); k and v are (b, h, s, d). mask (nullable) is a float32 additive mask of
 * shape (mask_b, mask_h, t, s) with mask_b in {1, b} and mask_h in {1, h} (1 broadcasts; a
 * (t, s) mask is mask_b = mask_h = 1); -INFINITY removes a key. causal removes key j for query
 * i when j > i (PyTorch's top-left alignment). A query whose keys are all removed gives zeros.
 * dropout in [0, 1) drops attention probabilities with a keep-mask derived from seed alone (the
 * rate resolved to 1/65536), so the backward re-derives it; the same seed gives the same mask
 * for any thread count. scale 0 means 1/sqrt(d). */
typedef struct {
    int64_t b, h, t, s, d;
    int64_t mask_b, mask_h;
    float scale;
    int causal;
    float dropout;
    uint64_t seed;
} tau_attention_params;

/* out is (B, H, T, D); probs (B, H, T, S) receives the attention probabilities before dropout
 * and must be kept for the backward. */
TAU_API int tau_attention_forward(const float *q, const float *k, const float *v, const float *mask,
                                  float *out, float *probs, const tau_attention_params *p);
/* dout is (B, H, T, D); dq like q, dk and dv like k (each nullable). */
TAU_API int tau_attention_backward(const float *q, const float *k, const float *v, const float *probs,
                                   const float *dout, float *dq, float *dk, float *dv,
                                   const tau_attention_params *p);

/* ---- activations (n elements) ------------------------------------------------------------ */

typedef enum { TAU_GELU_EXACT = 0, TAU_GELU_TANH = 1 } tau_gelu_approx;

/* exact: x/2 (1 + erf(x/sqrt 2)); tanh: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
TAU_API int tau_gelu_forward(const float *x, float *y, int64_t n, tau_gelu_approx approx);
TAU_API int tau_gelu_backward(const float *x, const float *dy, float *dx, int64_t n,
                              tau_gelu_approx approx);

TAU_API int tau_relu_forward(const float *x, float *y, int64_t n);
/* x is the forward input; the gradient at 0 is 0, as PyTorch. */
TAU_API int tau_relu_backward(const float *x, const float *dy, float *dx, int64_t n);
TAU_API int tau_sigmoid_forward(const float *x, float *y, int64_t n);
/* y is the saved output. */
TAU_API int tau_sigmoid_backward(const float *y, const float *dy, float *dx, int64_t n);
TAU_API int tau_tanh_forward(const float *x, float *y, int64_t n);
/* y is the saved output. */
TAU_API int tau_tanh_backward(const float *y, const float *dy, float *dx, int64_t n);

#endif
