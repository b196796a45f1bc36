/* Memory for tensor data, tensor and storage headers, autograd nodes and kernel scratch
 * space. A size-class cache recycles freed blocks, so a steady-state training loop makes no
 * heap calls; tau_heap_allocs() counts the real ones. Blocks are 64-byte aligned (blocks of
 * 2 MiB and more: 2 MiB aligned, backed by huge pages where the system allows). All
 * functions are thread-safe. */
#ifndef TAU_ALLOC_H
#define TAU_ALLOC_H
#include "base/api.h"
#include <stddef.h>
#include <stdint.h>

/* Returns NULL (after calling the out-of-memory handler and retrying once) when memory is
 * exhausted; the caller reports the failure with tau_fail(). nbytes 0 gives a valid block. */
TAU_API void *tau_alloc(size_t nbytes);
TAU_API void *tau_calloc(size_t nbytes);
/* nbytes must be the size given to tau_alloc. NULL is ignored. */
TAU_API void tau_free(void *p, size_t nbytes);

TAU_API size_t tau_live_bytes(void);      /* handed out and not yet freed */
TAU_API size_t tau_cached_bytes(void);    /* held in the cache for reuse */
TAU_API uint64_t tau_heap_allocs(void);   /* real allocations since start */
TAU_API void tau_alloc_trim(void);        /* returns the cache to the system */

/* Called on allocation failure before the single retry (the binding runs a full GC). */
TAU_API void tau_set_oom_handler(void (*fn)(void *ud), void *ud);

#endif
