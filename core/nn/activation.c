/* Element-wise activations and their derivatives. GELU (an erf or a tanh per element) runs 8
 * at a time with AVX2 and splits large arrays over the pool; the cheap ones stay
 * single-threaded. */
#include "nn/nn.h"
#include "base/cpu.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/vmath.h"
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

static int64_t vector_part(const elwork *w, int64_t b, int64_t e, int tanh_form, int backward);

static void gelu_exact_fwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = vector_part(w, b, e, 0, 0); i < e; i++) {
        float x = w->x[i];
        w->out[i] = 0.5f * x * (1.0f + erff(x * SQRT1_2));
    }
}

static void gelu_tanh_fwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = vector_part(w, b, e, 1, 0); i < e; i++) {
        float x = w->x[i];
        w->out[i] = 0.5f * x * (1.0f + tanhf(SQRT2_PI * (x + GELU_C * x * x * x)));
    }
}

/* d/dx x Phi(x) = Phi(x) + x phi(x). */
static void gelu_exact_bwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = vector_part(w, b, e, 0, 1); i < e; i++) {
        float x = w->x[i];
        float cdf = 0.5f * (1.0f + erff(x * SQRT1_2));
        float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
        w->out[i] = w->dy[i] * (cdf + x * pdf);
    }
}

static void gelu_tanh_bwd(void *ctx, int64_t b, int64_t e) {
    const elwork *w = ctx;
    for (int64_t i = vector_part(w, b, e, 1, 1); i < e; i++) {
        float x = w->x[i];
        float th = tanhf(SQRT2_PI * (x + GELU_C * x * x * x));
        float du = SQRT2_PI * (1.0f + 3.0f * GELU_C * x * x);
        w->out[i] = w->dy[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
}

#ifdef HAVE_X86_DISPATCH
/* 8 at a time with AVX2. Exact GELU through 1 + erf(z) = 2 - q (z >= 0) or q (z < 0), with
 * q = erfc(|z|) = t e^{-z^2 + P(t)}, t = 1 / (1 + |z|/2), P of degree 9 (the Chebyshev fit of
 * Numerical Recipes' erfcc: relative error under 1.2e-7 everywhere), so that the small tail
 * for negative x keeps its relative accuracy, where 1 + erff(z) cancelled. The tanh form
 * through 1 + tanh(u) = 2 s, s = 1 / (1 + e^{-2u}), and 1 - tanh(u)^2 = 4 s (1 - s). */
__attribute__((target("avx2,fma"))) static inline __m256 erfc_abs8(__m256 x) {
    const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(SQRT1_2));
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.5f), z, _mm256_set1_ps(1.0f)));
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                                0.27886807f, -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
    __m256 poly = _mm256_set1_ps(c[9]);
    for (int k = 8; k >= 0; k--) poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(c[k]));
    return _mm256_mul_ps(t, tau_exp8(_mm256_fnmadd_ps(z, z, poly)));
}

/* 2 Phi(x) = 1 + erf(x / sqrt 2). */
__attribute__((target("avx2,fma"))) static inline __m256 two_cdf8(__m256 x) {
    const __m256 q = erfc_abs8(x);
    const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), q), q, neg);
}

/* s = 1 / (1 + e^{-2u}), u = sqrt(2/pi) (x + c x^3), from e = e^{-2|u|} (no overflow), and
 * s (1 - s) = e / (1 + e)^2 either side, with no cancellation where s is near 1. */
__attribute__((target("avx2,fma"))) static inline __m256 tanh_gate8(__m256 x, __m256 *s1s) {
    const __m256 x2 = _mm256_mul_ps(x, x);
    const __m256 u = _mm256_mul_ps(_mm256_set1_ps(SQRT2_PI), _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_C), x2), x, x));
    const __m256 e = tau_exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), _mm256_andnot_ps(_mm256_set1_ps(-0.0f), u)));
    const __m256 r = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    *s1s = _mm256_mul_ps(_mm256_mul_ps(e, r), r);
    /* u >= 0: 1 / (1 + e^{-2u}); u < 0: e^{2u} / (1 + e^{2u}) */
    return _mm256_blendv_ps(r, _mm256_mul_ps(e, r), _mm256_cmp_ps(u, _mm256_setzero_ps(), _CMP_LT_OQ));
}

/* The vector part of [b, e) (whole groups of 8); returns where the scalar rest starts. */
__attribute__((target("avx2,fma"))) static int64_t gelu8(const elwork *w, int64_t b, int64_t e, int tanh_form,
                                                         int backward) {
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
        const __m256 x = _mm256_loadu_ps(w->x + i);
        __m256 r;
        if (!tanh_form) {
            const __m256 c2 = two_cdf8(x);
            if (!backward) r = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), c2);
            else {
                const __m256 gauss = tau_exp8(_mm256_mul_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(-0.5f)));
                r = _mm256_fmadd_ps(_mm256_mul_ps(x, _mm256_set1_ps(INV_SQRT_2PI)), gauss,
                                    _mm256_mul_ps(_mm256_set1_ps(0.5f), c2));
            }
        } else {
            __m256 sp;
            const __m256 s = tanh_gate8(x, &sp);
            if (!backward) r = _mm256_mul_ps(x, s);
            else {
                /* s + x s (1 - s) * 2 du, du = sqrt(2/pi) (1 + 3 c x^2) */
                const __m256 du = _mm256_mul_ps(_mm256_set1_ps(SQRT2_PI),
                                                _mm256_fmadd_ps(_mm256_set1_ps(3.0f * GELU_C), _mm256_mul_ps(x, x), _mm256_set1_ps(1.0f)));
                r = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(x, sp), _mm256_set1_ps(2.0f)), du, s);
            }
        }
        if (backward) r = _mm256_mul_ps(r, _mm256_loadu_ps(w->dy + i));
        _mm256_storeu_ps(w->out + i, r);
    }
    return i;
}
#endif

static int64_t vector_part(const elwork *w, int64_t b, int64_t e, int tanh_form, int backward) {
#ifdef HAVE_X86_DISPATCH
    if (tau__cpu() >= TAU_CPU_AVX2) return gelu8(w, b, e, tanh_form, backward);
#endif
    (void)w; (void)e; (void)tanh_form; (void)backward;
    return b;
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
