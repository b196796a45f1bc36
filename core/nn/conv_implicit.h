/* Implicit-GEMM convolution for layers of stride 2 across (core/nn/conv_implicit.c); internal to
 * conv.c. */
#ifndef TAU_CONV_IMPLICIT_H
#define TAU_CONV_IMPLICIT_H
#include "nn/nn.h"

/* Whether the implicit GEMM covers p for the forward pass (which 0) or the input gradient (1);
 * p must be validated. */
int tau__conv_implicit_wanted(const tau_conv2d_params *p, int which);
/* y (n, k, oh, ow) from x, w and optional bias b. */
int tau__conv_implicit_forward(const float *x, const float *w, const float *b, float *y,
                               const tau_conv2d_params *p, int64_t oh, int64_t ow);
/* dx (n, c, h, w), overwritten, from w and dy (n, k, oh, ow); 1x1 kernels only. */
int tau__conv_implicit_dx(const float *w, const float *dy, float *dx, const tau_conv2d_params *p,
                          int64_t oh, int64_t ow);

#endif
