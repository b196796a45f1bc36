/* The 19 common corruptions of CIFAR-10-C / Tiny-ImageNet-C (Hendrycks & Dietterich): the 15
 * benchmark corruptions, then speckle_noise, gaussian_blur, spatter and saturate, at severities
 * 1..5, reimplemented from the description of the original scripts.
 *
 * Images: x and out are float32 (N, C, H, W), contiguous, values in [0, 1]; C is 1 or 3;
 * H, W >= 8. out may be x itself (any other overlap is undefined). Results are clamped to [0, 1].
 *
 * Severity constants and image size. The benchmark defines two tables: one for 32x32
 * (CIFAR-10-C) and one for 64x64 (Tiny-ImageNet-C). With s = min(H, W), images with s < 48 use
 * the 32x32 table and s >= 48 the 64x64 table; spatial parameters (blur sigmas and radii, glass
 * displacement, motion-blur radius and sigma, snow streak length, spatter blob size and
 * distance clamp, frost photo scale, elastic alpha/sigma/jitter) are multiplied by s/32 or s/64
 * respectively, so 32x32 and 64x64 get the benchmark's exact constants and, e.g., a 28x28 image
 * gets the 32x32 constants with spatial parameters scaled by 28/32. Scale-free parameters
 * (noise levels, zoom factors, colour factors, JPEG quality, pixelate ratio) are used as is.
 * Discrete sizes are rounded: the glass displacement to the nearest integer (at least 1), and
 * the defocus disk radius to the nearest distance between pixel centres (ties down), which
 * leaves both tables' disks unchanged. The plasma fractal behind fog is made at the next
 * power of two >= max(H, W) and cropped. For non-square images the affine points of
 * elastic_transform sit around the centre at min(H, W) / 3, and snow, glass and zoom work
 * per axis.
 *
 * One channel. Channel-wise corruptions (noise, blurs, fog, zoom, elastic, pixelate, contrast)
 * process the single plane as they would each RGB plane. Colour-space corruptions treat a
 * 1-channel image as the grey RGB image (v, v, v), apply the RGB algorithm, and return its
 * Rec. 601 luma 0.299 R + 0.587 G + 0.114 B: brightness then gives min(v + c, 1); saturate
 * leaves grey unchanged at severities 1-3 (grey has no saturation to scale) and, at 4-5, where
 * the original adds a saturation offset with hue 0, darkens to the luma of the tinted pixel;
 * snow, frost and spatter blend their RGB overlay and return its luma. jpeg_compression encodes
 * a 1-channel image as a greyscale JPEG.
 *
 * Randomness. Each image gets its own generator, seeded from (seed, index of the image in the
 * batch), so results do not depend on the thread count or on how a data set is batched when
 * indices are kept. The same seed at different severities reuses the same draws, as the
 * original (which reseeded before every call) did. The streams are not numpy's: random
 * corruptions agree with the original in distribution, not bit for bit.
 *
 * Deterministic corruptions (gaussian_blur, defocus_blur, zoom_blur, contrast, brightness,
 * saturate, jpeg_compression, pixelate) ignore the seed. The first six match the original to
 * within 1 level of 255 (uint8 truncation). pixelate reproduces Pillow's box resampling with its
 * fixed-point arithmetic (exact). jpeg_compression uses stb_image_write's encoder and
 * stb_image's decoder (baseline, 4:2:0 chroma below quality 91, the standard tables scaled by
 * quality), not libjpeg: on the reference images it differs from the original by 0.2 to 4.5
 * levels on average (up to 58 in a few blocks, where re-quantising a JPEG-decoded input lands
 * on rounding ties), while its mean absolute change agrees within 0.0002.
 *
 * Steps the original did at 8 bits are kept at 8 bits: motion_blur quantises its input and
 * output to 8 bits (ImageMagick's motion blur on 16-bit values), frost combines with an 8-bit
 * photo, glass_blur, snow and spatter quantise their intermediate layers as the original does,
 * and jpeg_compression and pixelate return 8-bit values (k / 255).
 *
 * frost: frost_dir names a folder holding the original frost photographs frost1.png,
 * frost2.png, frost3.png, frost4.jpg, frost5.jpg (frost6.jpg may be there; like the original,
 * it is never picked). For each image one of the readable photos is chosen at random, scaled
 * (0.2 for 32x32, 0.3 for 64x64, by bilinear resampling), and a random H x W crop is blended
 * in. With frost_dir NULL a procedural ice texture is used instead: a plasma-fractal haze with
 * randomly branching bright crystal needles, tinted pale blue, with mean and spread in the
 * range of the photographs. It keeps the corruption usable without the photos, but is not the
 * benchmark's frost. frost_dir is ignored by the other corruptions.
 */
#ifndef TAU_CORRUPT_H
#define TAU_CORRUPT_H
#include "base/api.h"
#include <stdint.h>

/* 19; names 0..14 are CIFAR-10-C's 15 corruptions in the benchmark's order. */
TAU_API int tau_corrupt_count(void);
/* NULL when i is out of range. */
TAU_API const char *tau_corrupt_name(int i);
/* 1 when the corruption ignores the seed, 0 when random, -1 for an unknown name. */
TAU_API int tau_corrupt_is_deterministic(const char *name);

/* x, out are (n, c, h, w). Returns TAU_OK, or TAU_ERR with a message (tau_errmsg()) for an
 * unknown name, a severity outside 1..5, c not 1 or 3, h or w outside 8..32768, a NaN or
 * infinite input value, frost_dir without readable frost photographs, lack of memory, or an
 * interrupt (tau_interrupted, checked between images). */
TAU_API int tau_corrupt_apply(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                              const char *name, int severity, uint64_t seed, const char *frost_dir);

/* The random corruptions whose randomness is a few draws, with those draws given: for
 * reproducing a recorded sample of the original exactly. angle_deg is the motion direction
 * (the original draws it from U(-45, 45)); frost_index 1..5 names frostK, row0/col0 the crop's
 * corner in the scaled photo (frost_dir required). All images of the batch use the same draws. */
TAU_API int tau_corrupt_motion_blur_at(const float *x, float *out, int64_t n, int64_t c, int64_t h,
                                       int64_t w, int severity, double angle_deg);
TAU_API int tau_corrupt_frost_at(const float *x, float *out, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int severity, const char *frost_dir, int frost_index, int row0,
                                 int col0);

#endif
