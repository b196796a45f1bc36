/* Element-wise activations and their derivatives. GELU's erf/tanh cost tens of cycles per
 * element, so large arrays are split over the pool; the cheap ones stay single-threaded. */
#include "nn.h"
#include "error.h"
#include "parallel.h"
#include <math.h>

#define GELU_GRAIN 16384
#define SQRT1_2 0.70710678118654752440f
#define SQRT2_PI 0.79788456080286535588f     /* sqrt(2/pi) */
#define INV_SQRT_2PI 0.39894228040143267794f /* 1/sqrt(2 pi) */
#define GELU_C 0.044715f

typedef struct {
    const float *x, *dy;
    float *out;
} elwork;

static void gelu_exact_fwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = b; i < e; i++) {
        float x = w->x[i];
        w->out[i] = 0.5f * x * (1.0f + erff(x * SQRT1_2));
    }
}

static void gelu_tanh_fwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = b; i < e; i++) {
        float x = w->x[i];
        w->out[i] = 0.5f * x * (1.0f + tanhf(SQRT2_PI * (x + GELU_C * x * x * x)));
    }
}

/* d/dx x Phi(x) = Phi(x) + x phi(x). */
static void gelu_exact_bwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = b; i < e; i++) {
        float x = w->x[i];
        float cdf = 0.5f * (1.0f + erff(x * SQRT1_2));
        float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
        w->out[i] = w->dy[i] * (cdf + x * pdf);
    }
}

static void gelu_tanh_bwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = b; i < e; i++) {
        float x = w->x[i];
        float th = tanhf(SQRT2_PI * (x + GELU_C * x * x * x));
        float du = SQRT2_PI * (1.0f + 3.0f * GELU_C * x * x);
        w->out[i] = w->dy[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
}

static int el_check(const char *op, const void *a, const void *b, const void *out, int64_t n) {
    if (n < 0) return tau_fail("%s: invalid size %lld", op, (long long)n);
    if (n > 0 && (!a || !b || !out)) return tau_fail("%s: missing input or output array", op);
    return TAU_OK;
}

/* x, y are (n). */
int tau_gelu_forward(const float *x, float *y, int64_t n, tau_gelu_approx approx) {
    if (el_check("gelu", x, x, y, n) != TAU_OK) return TAU_ERR;
    if (approx != TAU_GELU_EXACT && approx != TAU_GELU_TANH)
        return tau_fail("gelu: unknown approximation %d", (int)approx);
    elwork w = {x, NULL, y};
    tau_parallel_for(n, GELU_GRAIN, approx == TAU_GELU_EXACT ? gelu_exact_fwd : gelu_tanh_fwd, &w);
    return TAU_OK;
}

/* x, dy, dx are (n). */
int tau_gelu_backward(const float *x, const float *dy, float *dx, int64_t n,
                      tau_gelu_approx approx) {
    if (el_check("gelu", x, dy, dx, n) != TAU_OK) return TAU_ERR;
    if (approx != TAU_GELU_EXACT && approx != TAU_GELU_TANH)
        return tau_fail("gelu: unknown approximation %d", (int)approx);
    elwork w = {x, dy, dx};
    tau_parallel_for(n, GELU_GRAIN, approx == TAU_GELU_EXACT ? gelu_exact_bwd : gelu_tanh_bwd, &w);
    return TAU_OK;
}

int tau_relu_forward(const float *x, float *y, int64_t n) {
    if (el_check("relu", x, x, y, n) != TAU_OK) return TAU_ERR;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : (isnan(x[i]) ? x[i] : 0.0f);
    return TAU_OK;
}

int tau_relu_backward(const float *x, const float *dy, float *dx, int64_t n) {
    if (el_check("relu", x, dy, dx, n) != TAU_OK) return TAU_ERR;
    for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : 0.0f;
    return TAU_OK;
}

int tau_sigmoid_forward(const float *x, float *y, int64_t n) {
    if (el_check("sigmoid", x, x, y, n) != TAU_OK) return TAU_ERR;
    /* exp(-x) overflows to inf for very negative x, which still gives the right limit 0. */
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
    return TAU_OK;
}

int tau_sigmoid_backward(const float *y, const float *dy, float *dx, int64_t n) {
    if (el_check("sigmoid", y, dy, dx, n) != TAU_OK) return TAU_ERR;
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
    return TAU_OK;
}

int tau_tanh_forward(const float *x, float *y, int64_t n) {
    if (el_check("tanh", x, x, y, n) != TAU_OK) return TAU_ERR;
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
    return TAU_OK;
}

int tau_tanh_backward(const float *y, const float *dy, float *dx, int64_t n) {
    if (el_check("tanh", y, dy, dx, n) != TAU_OK) return TAU_ERR;
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    return TAU_OK;
}
