/* Image files <-> float (C, H, W) planes in [0, 1], through stb_image / stb_image_write. */
#ifndef TAU_IMAGE_H
#define TAU_IMAGE_H
#include "base/api.h"
#include <stddef.h>
#include <stdint.h>

/* Loads a PNG, JPEG or BMP (anything stb_image decodes) as (C, H, W) float in [0, 1].
 * C is the file's own channel count: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
 * *data is allocated with tau_alloc; release it with tau_free(*data, tau_image_bytes(c, h, w)).
 * Errors name the file and give the decoder's reason. */
TAU_API int tau_image_load(const char *path, int *c, int *h, int *w, float **data);

/* As tau_image_load, converting to `channels` (1, 2, 3 or 4; 0 keeps the file's count). */
TAU_API int tau_image_load_channels(const char *path, int channels, int *c, int *h, int *w, float **data);

static inline size_t tau_image_bytes(int c, int h, int w) {
    return (size_t)c * (size_t)h * (size_t)w * sizeof(float);
}

/* Saves chw, (C, H, W) float with C in 1..4, as PNG (.png), JPEG (.jpg/.jpeg) or BMP (.bmp),
 * chosen by the extension (any case). Each value is x*255 rounded half up and clamped to
 * 0..255; a NaN is an error. quality is the JPEG quality 1..100 (0 means 90), ignored for
 * PNG/BMP. The file is replaced atomically (see atomic.h). */
TAU_API int tau_image_save(const char *path, const float *chw, int c, int h, int w, int quality);

/* The byte conversion used by tau_image_save, exposed for callers that encode in memory:
 * (C, H, W) float -> (H, W, C) bytes. Fails (naming `what` and the index) on NaN. */
TAU_API int tau_image_to_hwc_u8(const float *chw, int c, int h, int w, uint8_t *hwc, const char *what);

/* Encodes to a PNG or JPEG in memory (format "png" or "jpg"); *out is malloc'ed. Used by
 * tau_image_save, and useful for e.g. JPEG-compression corruption round trips. */
TAU_API int tau_image_encode(const char *format, const float *chw, int c, int h, int w, int quality,
                             uint8_t **out, size_t *out_len);

/* Decodes an in-memory PNG/JPEG/BMP to (C, H, W) float (channels 0 keeps the file's count).
 * `what` names the source in errors. *data as in tau_image_load. */
TAU_API int tau_image_decode(const uint8_t *buf, size_t len, int channels, const char *what, int *c,
                             int *h, int *w, float **data);

#endif
