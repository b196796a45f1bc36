/* Crash-safe file replacement: data goes to a temporary file in the destination's directory
 * (so rename stays on one file system), is flushed and fsync'ed, then renamed over the
 * destination. Readers see either the old file or the complete new one, never a torn write.
 * On any failure the temporary file is removed and the destination is untouched. */
#ifndef TAU_ATOMIC_H
#define TAU_ATOMIC_H
#include "base/api.h"
#include <stddef.h>
#include <stdio.h>

/* Writes n bytes to path atomically. Errors name the path and the system's reason. */
TAU_API int tau_atomic_write(const char *path, const void *data, size_t n);

/* Streaming form, for output too large to assemble in memory first:
 *   tau_atomic_file af;
 *   if (tau_atomic_open(&af, path)) return TAU_ERR;
 *   if (tau_atomic_put(&af, a, na) || tau_atomic_put(&af, b, nb)) { tau_atomic_abort(&af); return TAU_ERR; }
 *   return tau_atomic_commit(&af);
 * commit and abort both release everything, whatever the outcome. */
typedef struct tau_atomic_file {
    FILE *f;
    char *tmp;      /* "<path>.tmp.XXXXXX" */
    char *path;
} tau_atomic_file;

TAU_API int tau_atomic_open(tau_atomic_file *af, const char *path);
TAU_API int tau_atomic_put(tau_atomic_file *af, const void *data, size_t n);
TAU_API int tau_atomic_commit(tau_atomic_file *af);
TAU_API void tau_atomic_abort(tau_atomic_file *af);

#endif
