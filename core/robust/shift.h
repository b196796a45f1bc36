/* Natural perturbations: small rotations, translations and zooms of a batch of images, the
 * kind of distribution shift a camera that moves a little produces (as opposed to the pixel
 * corruptions of corrupt.h).
 *
 * Images: x and out are float32 (n, c, h, w), contiguous, finite; any c >= 1 and h, w >= 1.
 * out must not overlap x (every output pixel reads a neighbourhood of the input). Values need
 * not lie in [0, 1]: each output value is a convex combination of input values (and the fill
 * value), clamped to the range of the values it combines, so an input in [0, 1] with a fill in
 * [0, 1] gives an output in [0, 1] exactly, without rounding overshoot.
 *
 * The warp. Coordinates are pixel centres, (0, 0) the top-left pixel, x to the right, y down;
 * the centre of the image is ((w - 1) / 2, (h - 1) / 2). The image content is scaled by
 * `scale` about the centre (2 enlarges, 0.5 shrinks), rotated by `rotate` degrees
 * counter-clockwise as displayed, then moved by (dx, dy) pixels (+dx right, +dy down;
 * fractions allowed). Each output pixel takes the bilinear interpolation of the input at the
 * inverse-mapped point. Rotations by multiples of 90 degrees use exact sines and cosines, so
 * together with integer translations and scale 1 they move pixels without any blending.
 *
 * Outside the image: with TAU_SHIFT_CONSTANT (the default of the Lua API) a pixel whose source
 * point falls outside reads `fill` (default 0, black), and bilinear taps outside the image read
 * it too, so the image edge is blended with the fill over one pixel; the revealed region shows
 * plainly as a border, like torchvision's affine transform. With TAU_SHIFT_EDGE the nearest
 * edge pixel is replicated instead, which hides the border at the cost of streaks.
 *
 * The random variant draws, for image i, rotate ~ U[-max_rotate, max_rotate],
 * dx, dy ~ U[-max_translate, max_translate] (independently) and scale ~ U[1 - max_scale,
 * 1 + max_scale], in that order, from a generator seeded from (seed, i): results depend on
 * neither the thread count nor the other images of the batch.
 */
#ifndef TAU_SHIFT_H
#define TAU_SHIFT_H
#include "base/api.h"
#include <stdint.h>

enum { TAU_SHIFT_CONSTANT = 0, TAU_SHIFT_EDGE = 1 };

typedef struct {
    double rotate;   /* degrees, counter-clockwise as displayed */
    double dx, dy;   /* pixels */
    double scale;    /* > 0 */
} tau_shift_params;

/* The same warp for every image. Returns TAU_OK, or TAU_ERR (tau_errmsg()) for a bad shape, a
 * non-finite input value or parameter, scale <= 0, an unknown border, lack of memory or an
 * interrupt. */
TAU_API int tau_shift_apply(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                            const tau_shift_params *p, int border, double fill);

/* Image i gets the warp per_image[i]. */
TAU_API int tau_shift_apply_each(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                                 const tau_shift_params *per_image, int border, double fill);

/* A random warp per image; max_rotate and max_translate >= 0, 0 <= max_scale < 1. drawn, when
 * not NULL, receives the n warps used. */
TAU_API int tau_shift_random(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                             double max_rotate, double max_translate, double max_scale, uint64_t seed,
                             int border, double fill, tau_shift_params *drawn);

#endif
