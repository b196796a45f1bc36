#include "base/cpu.h"

static tau_cpu_level limit = TAU_CPU_AVX512;

static tau_cpu_level detected(void) {
    static int known = -1;
    if (known < 0) {
#if defined(__x86_64__) && defined(__GNUC__)
        __builtin_cpu_init();
        known = TAU_CPU_GENERIC;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            known = TAU_CPU_AVX2;
            if (__builtin_cpu_supports("avx512f")) known = TAU_CPU_AVX512;
        }
#else
        known = TAU_CPU_GENERIC;
#endif
    }
    return (tau_cpu_level)known;
}

tau_cpu_level tau__cpu(void) {
    const tau_cpu_level d = detected();
    return d < limit ? d : limit;
}

tau_cpu_level tau__cpu_set_limit(tau_cpu_level level) {
    const tau_cpu_level old = limit;
    limit = level;
    return old;
}
