/* Direct stride-1 convolution for thin layers (core/nn/conv_direct.c); internal to conv.c. */
#ifndef TAU_CONV_DIRECT_H
#define TAU_CONV_DIRECT_H
#include "nn/nn.h"

/* Whether the direct kernel covers p and beats the GEMM lowering for the forward pass
 * (for_dx 0), the input gradient (1) or the weight gradient (2); p must be validated. */
int tau__conv_direct_wanted(const tau_conv2d_params *p, int for_dx);
/* y (n, k, oh, ow) from x, w and optional bias b. */
int tau__conv_direct_forward(const float *x, const float *w, const float *b, float *y,
                             const tau_conv2d_params *p, int64_t oh, int64_t ow);
/* dx (n, c, h, w) from w and dy (n, k, oh, ow), overwritten. */
int tau__conv_direct_dx(const float *w, const float *dy, float *dx, const tau_conv2d_params *p, int64_t oh,
                        int64_t ow);

/* dw (k, c, kh, kw) from x and dy, overwritten (kw must be 3). */
int tau__conv_direct_dw(const float *x, const float *dy, float *dw, const tau_conv2d_params *p, int64_t oh,
                        int64_t ow);

#endif
