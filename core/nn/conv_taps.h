/* Convolution as one GEMM per kernel tap on padded (phase) planes (core/nn/conv_taps.c); internal
 * to conv.c. */
#ifndef TAU_CONV_TAPS_H
#define TAU_CONV_TAPS_H
#include "nn/nn.h"

/* Whether the tap GEMMs cover p (validated, output oh x ow) and beat the column matrix for the
 * forward pass (which 0), the input gradient (1) or the weight gradient (2). */
int tau__conv_taps_wanted(const tau_conv2d_params *p, int64_t oh, int64_t ow, int which);
int tau__conv_taps_forward(const float *x, const float *w, const float *b, float *y, const tau_conv2d_params *p,
                           int64_t oh, int64_t ow);
int tau__conv_taps_dx(const float *w, const float *dy, float *dx, const tau_conv2d_params *p, int64_t oh,
                      int64_t ow);
int tau__conv_taps_dw(const float *x, const float *dy, float *dw, const tau_conv2d_params *p, int64_t oh,
                      int64_t ow);

#endif
