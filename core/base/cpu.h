/* Which vector units the kernels compiled for them may use: what the processor has, capped by
 * tau__cpu_set_limit (tests run every kernel path on one machine that way). */
#ifndef TAU_CPU_H
#define TAU_CPU_H
#include <stdint.h>

typedef enum { TAU_CPU_GENERIC = 0, TAU_CPU_AVX2 = 1, TAU_CPU_AVX512 = 2 } tau_cpu_level;

/* The best level the processor has (AVX2 with FMA; AVX-512 F), under the limit. */
tau_cpu_level tau__cpu(void);
/* Caps tau__cpu() at level (the processor's own level when higher); returns the previous cap. */
tau_cpu_level tau__cpu_set_limit(tau_cpu_level level);

/* Asks for the cache lines of [p, p + bytes) to be brought into L2 ahead of use. Written as an
 * instruction the compiler keeps: GCC deletes loops whose only statements are
 * __builtin_prefetch (seen at -O1 and up). Never faults, whatever the address. */
static inline void tau_prefetch_l2(const void *p, long bytes) {
#if defined(__x86_64__) && defined(__GNUC__)
    /* one prefetch a cache line, from the line holding p to the one holding its last byte */
    const char *b = (const char *)((uintptr_t)p & ~(uintptr_t)63), *e = (const char *)p + bytes;
    for (; b < e; b += 64) __asm__ volatile("prefetcht1 %0" : : "m"(*b));
#else
    (void)p;
    (void)bytes;
#endif
}

#endif
