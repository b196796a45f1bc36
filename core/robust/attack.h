/* Adversarial attacks: the fused inner work of the attack loops (a steepest-ascent step with its
 * projection onto the threat model and the pixel box in one pass, random starts inside the
 * ball, per-sample perturbation norms) and the margin losses (Carlini-Wagner, Croce-Hein's DLR)
 * as a differentiable op. The loops that call the model run in Lua (scripts/tau/attack.lua);
 * nothing here calls back.
 *
 * Images are batched: a tensor of shape (N, ...) is N samples of d = numel / N values each,
 * and the L2 geometry is per sample. Labels are int32 in 0..K-1, as everywhere in the core. */
#ifndef TAU_ATTACK_H
#define TAU_ATTACK_H
#include "base/api.h"
#include "tensor/autograd.h"

typedef enum { TAU_NORM_LINF = 0, TAU_NORM_L2 = 1 } tau_norm;

/* "linf" (also "inf", "Linf", "l_inf") or "l2" ("L2"); fn names the caller in the message. */
TAU_API int tau_attack_parse_norm(const char *fn, const char *s, tau_norm *out);
TAU_API const char *tau_norm_name(tau_norm norm);

/* ---- array kernels: every array is (n, d), contiguous float32 -------------------------------- */

/* The threat model: the ball of radius eps around x0 in the given norm, intersected with the
 * box [lo, hi]^d of valid pixels. */
typedef struct {
    int64_t n, d;
    tau_norm norm;
    float eps, lo, hi;
} tau_ball;

/* Step sizes: alpha[i * alpha_stride], so stride 0 broadcasts one value to every sample and
 * stride 1 reads a per-sample vector (as APGD needs). */
typedef struct {
    const float *alpha;
    int64_t alpha_stride;
    int descend;                 /* step down the gradient (a targeted attack on the target's loss) */
} tau_step_size;

/* One projected steepest-ascent step, fused:
 *   linf: out = clip_[lo,hi](clip_[x0-eps, x0+eps](x + alpha sign(g)))
 *   l2:   u = x + alpha g/||g||_2 (a sample with g = 0 takes no step), then the perturbation
 *         u - x0 is scaled back onto the eps-ball and the result clamped to [lo, hi].
 * out may alias x. *nzero (nullable) receives the number of samples whose gradient is exactly
 * zero: the signature of saturated (masked) gradients. Fails on NaN in x, g or x0. */
TAU_API int tau_attack_step_forward(const float *x, const float *g, const float *x0, float *out,
                                    const tau_step_size *s, int64_t *nzero, const tau_ball *b);

/* The APGD update (Croce & Hein 2020) with momentum m:
 *   z   = P(x + alpha dir(g))
 *   out = P(x + m (z - x) + (1 - m) (x - x_prev))
 * where P projects onto the ball and clamps to the box, and dir is sign(g) for linf or
 * g/||g||_2 for l2. out may alias any input. */
TAU_API int tau_attack_apgd_step_forward(const float *x, const float *x_prev, const float *g,
                                         const float *x0, float *out, float momentum,
                                         const tau_step_size *s, int64_t *nzero, const tau_ball *b);

/* out = P(x): projection onto the ball around x0, then the clamp. out may alias x. */
TAU_API int tau_attack_project_forward(const float *x, const float *x0, float *out, const tau_ball *b);

/* A uniform random point of the ball around x0, clamped to the box: linf draws each value
 * from U(-eps, eps); l2 draws a Gaussian direction and the radius eps U^(1/d), which is uniform
 * in the volume. Uses tau's seeded generator. out must not alias x0. */
TAU_API int tau_attack_random_start_forward(const float *x0, float *out, const tau_ball *b);

/* norms[i] = ||x_i - x0_i|| in the ball's norm, computed in double. */
TAU_API int tau_attack_norms_forward(const float *x, const float *x0, float *norms, const tau_ball *b);

/* First sample (0-based) holding a NaN, or a value outside [lo, hi] when check_range; -1 when
 * there is none. *bad receives the offending value. */
TAU_API int64_t tau_attack_find_bad(const float *x, int64_t n, int64_t d, int check_range, float lo,
                                    float hi, float *bad);

/* ---- margin losses ------------------------------------------------------------------------- */

typedef enum { TAU_MARGIN_CW = 0, TAU_MARGIN_DLR = 1 } tau_margin_kind;

/* z is (n, k). Each loss is what the attacker maximises, one value per sample:
 *   cw,  untargeted: max_{i != y} z_i - z_y                       (k >= 2)
 *   cw,  targeted:   z_t - max_{i != t} z_i                       (k >= 2)
 *   dlr, untargeted: -(z_y - max_{i != y} z_i) / (z_p1 - z_p3 + 1e-12)          (k >= 3)
 *   dlr, targeted:   -(z_y - z_t) / (z_p1 - (z_p3 + z_p4) / 2 + 1e-12)          (k >= 4)
 * with z_p1 >= z_p2 >= ... the sorted logits. Ties pick the lowest index. */
typedef struct {
    int64_t n, k;
    tau_margin_kind kind;
} tau_margin_params;

/* labels (n) and targets (n, or NULL for untargeted) in 0..k-1; loss (n). */
TAU_API int tau_margin_loss_forward(const float *z, const int32_t *labels, const int32_t *targets,
                                    float *loss, const tau_margin_params *p);
/* dloss (n); dz (n, k) is overwritten. */
TAU_API int tau_margin_loss_backward(const float *z, const int32_t *labels, const int32_t *targets,
                                     const float *dloss, float *dz, const tau_margin_params *p);

/* ---- tensor level: shape and value checks, then the kernels ------------------------------- */

typedef struct {
    tau_norm norm;
    double eps;          /* radius, >= 0 */
    double alpha;        /* step size when no per-sample tensor is given, >= 0 */
    double lo, hi;       /* pixel box, lo <= hi */
    double momentum;     /* APGD's, in [0, 1] */
    int descend;
} tau_attack_opts;

/* x, g, x0 are (N, ...) float32 of one shape; alpha is NULL (use o->alpha) or N float32 values.
 * Results are new contiguous tensors; inputs are borrowed. */
TAU_API tau_tensor *tau_attack_step(tau_tensor *x, tau_tensor *g, tau_tensor *x0, tau_tensor *alpha,
                                    const tau_attack_opts *o, int64_t *nzero);
TAU_API tau_tensor *tau_attack_apgd_step(tau_tensor *x, tau_tensor *x_prev, tau_tensor *g, tau_tensor *x0,
                                         tau_tensor *alpha, const tau_attack_opts *o, int64_t *nzero);
TAU_API tau_tensor *tau_attack_project(tau_tensor *x, tau_tensor *x0, const tau_attack_opts *o);
TAU_API tau_tensor *tau_attack_random_start(tau_tensor *x0, const tau_attack_opts *o);
/* (N) per-sample norms of x - x0. */
TAU_API tau_tensor *tau_attack_norms(tau_tensor *x, tau_tensor *x0, tau_norm norm);
/* Fails naming the first sample with a NaN or a value outside [lo, hi] (when check_range). */
TAU_API int tau_attack_check_images(const char *fn, const char *what, tau_tensor *x, int check_range,
                                    double lo, double hi);

/* Differentiable (N) margin loss of logits (N, K); targets NULL for untargeted. */
TAU_API tau_tensor *tau_op_margin_loss(tau_tensor *logits, tau_tensor *labels, tau_tensor *targets,
                                       tau_margin_kind kind);

#endif
