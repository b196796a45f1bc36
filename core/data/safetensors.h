/* The safetensors file format (as written by Hugging Face's `safetensors`):
 *   8 bytes   N, little-endian u64
 *   N bytes   JSON header: {"__metadata__": {"k": "v", ...},
 *                           "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...}
 *   rest      tensor bytes, little-endian; offsets are relative to the start of this region,
 *             which every tensor must cover exactly (no holes, no overlaps).
 * Files written here pad the header with spaces to a multiple of 8 bytes, lay the tensors out
 * largest element first (so each is aligned to its element size), and record a CRC-32 of the
 * data region in the metadata as "tau.checksum": "crc32:xxxxxxxx", verified on reading when
 * present. Reading never trusts the file: every malformed input gives an error naming the file
 * and the problem. */
#ifndef TAU_SAFETENSORS_H
#define TAU_SAFETENSORS_H
#include "base/api.h"
#include <stddef.h>
#include <stdint.h>

enum {
    TAU_ST_F32, TAU_ST_I32, TAU_ST_F64, TAU_ST_I64, TAU_ST_F16, TAU_ST_BF16, TAU_ST_I16,
    TAU_ST_U16, TAU_ST_I8, TAU_ST_U8, TAU_ST_BOOL, TAU_ST_U32, TAU_ST_U64,
    TAU_ST_NDTYPES
};
#define TAU_ST_MAX_DIMS 8
#define TAU_ST_MAX_HEADER 100000000      /* bytes; larger headers are rejected as corrupt */
#define TAU_ST_CHECKSUM_KEY "tau.checksum"

/* dtype name ("F32") <-> code; -1 / NULL when unknown. */
TAU_API int tau_st_dtype_from_name(const char *name);
TAU_API const char *tau_st_dtype_name(int dtype);
TAU_API size_t tau_st_dtype_size(int dtype);     /* bytes per element; 0 when unknown */

typedef struct {
    char *name;
    int dtype;                    /* TAU_ST_* */
    int ndim;                     /* 0 (a scalar) .. TAU_ST_MAX_DIMS */
    int64_t shape[TAU_ST_MAX_DIMS];
    void *data;                   /* nbytes of little-endian elements, row-major */
    size_t nbytes;                /* must equal product(shape) * dtype size */
} tau_st_tensor;

typedef struct {
    tau_st_tensor *tensors;       /* in file (data offset) order */
    int count;
    char **meta_keys, **meta_values;
    int meta_count;
} tau_st_file;

/* Writes count tensors and the metadata meta_kv = {key, value, key, value, ..., NULL} (may be
 * NULL) atomically. Names must be unique, non-empty, valid UTF-8 and not "__metadata__". A
 * "tau.checksum" entry in meta_kv is ignored (so metadata read from one file can be passed on):
 * the checksum is always recomputed. */
TAU_API int tau_st_write(const char *path, const tau_st_tensor *ts, int count,
                         const char *const *meta_kv);

/* Reads a whole file. Every tensor's data is its own tau_alloc'ed, 64-byte-aligned block.
 * Any dtype listed above is accepted (data given raw); others are an error naming the dtype.
 * On failure *out is empty. Free with tau_st_free (idempotent); a caller that keeps a tensor's
 * block (e.g. as tensor storage) sets that tensor's data to NULL first and later releases it
 * with tau_free(data, nbytes). */
TAU_API int tau_st_read(const char *path, tau_st_file *out);
TAU_API void tau_st_free(tau_st_file *f);

/* Look-ups in a read file: NULL when absent. */
TAU_API const tau_st_tensor *tau_st_find(const tau_st_file *f, const char *name);
TAU_API const char *tau_st_meta(const tau_st_file *f, const char *key);

#endif
