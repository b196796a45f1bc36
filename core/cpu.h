/* Which vector units the kernels compiled for them may use: what the processor has, capped by
 * tau_cpu_set_limit (tests run every kernel path on one machine that way). */
#ifndef TAU_CPU_H
#define TAU_CPU_H

typedef enum { TAU_CPU_GENERIC = 0, TAU_CPU_AVX2 = 1, TAU_CPU_AVX512 = 2 } tau_cpu_level;

/* The best level the processor has (AVX2 with FMA; AVX-512 F), under the limit. */
tau_cpu_level tau_cpu(void);
/* Caps tau_cpu() at level (the processor's own level when higher); returns the previous cap. */
tau_cpu_level tau_cpu_set_limit(tau_cpu_level level);

#endif
