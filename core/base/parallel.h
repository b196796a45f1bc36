/* The project's one thread pool and the one place that sets thread counts. OpenBLAS is kept
 * single-threaded and matrix products are split over this pool (core/base/gemm.h), so two pools
 * never compete for the cores. */
#ifndef TAU_PARALLEL_H
#define TAU_PARALLEL_H
#include "base/api.h"
#include <stdint.h>

TAU_API int tau_get_num_threads(void);
/* Sets the pool's threads (OpenBLAS stays at one); n < 1 is clamped to 1. Default: the core
 * count. */
TAU_API void tau_set_num_threads(int n);

/* fn(ctx, begin, end) over contiguous chunks of [0, n); serial when n < grain, when one thread
 * is set, or when called from inside a pool worker. Returns once every chunk is done. */
typedef void (*tau_range_fn)(void *ctx, int64_t begin, int64_t end);
TAU_API void tau_parallel_for(int64_t n, int64_t grain, tau_range_fn fn, void *ctx);

#endif
