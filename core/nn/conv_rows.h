/* Row helpers shared by the stride-2 lowerings of conv.c and conv_taps.c; internal. */
#ifndef TAU_CONV_ROWS_H
#define TAU_CONV_ROWS_H
#include <stdint.h>

/* Deals a row of n to its even (a) and odd (b) columns, and back. */
static inline void deal2(float *restrict a, float *restrict b, const float *restrict row, int64_t n) {
    int64_t c = 0, half = n / 2;
    for (; c + 4 <= half; c += 4) {
        a[c] = row[2 * c]; a[c + 1] = row[2 * c + 2]; a[c + 2] = row[2 * c + 4]; a[c + 3] = row[2 * c + 6];
        b[c] = row[2 * c + 1]; b[c + 1] = row[2 * c + 3]; b[c + 2] = row[2 * c + 5]; b[c + 3] = row[2 * c + 7];
    }
    for (; c < half; c++) { a[c] = row[2 * c]; b[c] = row[2 * c + 1]; }
    if (n & 1) a[half] = row[n - 1];
}

static inline void interleave2(float *restrict row, const float *restrict a, const float *restrict b, int64_t n) {
    int64_t c = 0, half = n / 2;
    for (; c + 4 <= half; c += 4) {
        row[2 * c] = a[c]; row[2 * c + 1] = b[c]; row[2 * c + 2] = a[c + 1]; row[2 * c + 3] = b[c + 1];
        row[2 * c + 4] = a[c + 2]; row[2 * c + 5] = b[c + 2]; row[2 * c + 6] = a[c + 3]; row[2 * c + 7] = b[c + 3];
    }
    for (; c < half; c++) { row[2 * c] = a[c]; row[2 * c + 1] = b[c]; }
    if (n & 1) row[n - 1] = a[half];
}

#endif
