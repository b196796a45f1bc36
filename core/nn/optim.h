/* Fused optimiser updates on float arrays: one pass over a parameter, its gradient and its
 * state per call, so an optimiser step allocates nothing. The formulas follow PyTorch's
 * single-tensor SGD and Adam: hyper-parameters are combined in double, element-wise work is
 * float. Loops are single-threaded: they are memory-bound. */
#ifndef TAU_OPTIM_H
#define TAU_OPTIM_H
#include "base/api.h"
#include <stdint.h>
#include "base/error.h"

typedef struct {
    double lr, momentum, dampening, weight_decay;
    int nesterov;
} tau_sgd_opts;

/* p, g and buf hold n floats; buf may be NULL only when momentum is 0. When first is set the
 * buffer holds nothing yet and becomes the (decayed) gradient itself, undampened. */
TAU_API int tau_sgd_step(float *p, const float *g, float *buf, int64_t n, const tau_sgd_opts *o, int first);

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int decoupled;   /* AdamW: p *= 1 - lr * weight_decay, instead of adding it to the gradient */
    int amsgrad;     /* vmax keeps the running maximum of v and replaces it in the denominator */
} tau_adam_opts;

/* p, g, m (first moment), v (second moment) and vmax (amsgrad only, else NULL) hold n floats;
 * step is the 1-based count of this update, for the bias corrections. */
TAU_API int tau_adam_step(float *p, const float *g, float *m, float *v, float *vmax, int64_t n, int64_t step,
                          const tau_adam_opts *o);

/* Sum of squares of x in double, for gradient-norm clipping. */
TAU_API double tau_sumsq(const float *x, int64_t n);
/* Largest absolute value of x (0 for n = 0). */
TAU_API double tau_absmax(const float *x, int64_t n);
/* Sum of |x|^q in double. */
TAU_API double tau_sumpow(const float *x, int64_t n, double q);
TAU_API void tau_scale_(float *x, int64_t n, float c);

#endif
