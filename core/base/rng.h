/* The generators shared by the core: splitmix64 to seed and to hash, xoshiro256** for
 * streams. Each user keeps its own state, so streams can be per image, per batch or global. */
#ifndef TAU_RNG_H
#define TAU_RNG_H
#include <stdint.h>

#define TAU_GOLDEN64 0x9e3779b97f4a7c15ull

/* splitmix64's output function: a bijection that spreads every input bit over the word. */
static inline uint64_t tau_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* splitmix64: advances *x and returns the next output. */
static inline uint64_t tau_splitmix64(uint64_t *x) { return tau_mix64(*x += TAU_GOLDEN64); }

static inline uint64_t tau_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**: the next output of the state s. */
static inline uint64_t tau_xoshiro_next(uint64_t s[4]) {
    uint64_t out = tau_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = tau_rotl64(s[3], 45);
    return out;
}

/* The top 53 bits as a double in [0, 1). */
static inline double tau_u01(uint64_t v) { return (double)(v >> 11) * 0x1.0p-53; }

#endif
