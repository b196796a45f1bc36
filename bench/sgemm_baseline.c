/* The baselines for bench_core.lua: raw cblas_sgemm on given shapes and a plain C loop for
 * element-wise add/mul, timed the same way (median of repeats).
 * usage: sgemm_baseline THREADS gemm M N K | sgemm_baseline THREADS ewise N */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) { qsort(t, (size_t)n, sizeof *t, cmp); return t[n / 2]; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s THREADS gemm M N K | THREADS ewise N\n", argv[0]); return 2; }
    openblas_set_num_threads(atoi(argv[1]));
    double t[15];
    if (!strcmp(argv[2], "gemm") && argc == 6) {
        int m = atoi(argv[3]), n = atoi(argv[4]), k = atoi(argv[5]);
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n),
              *c = malloc(sizeof(float) * (size_t)m * n);
        for (long i = 0; i < (long)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
        for (long i = 0; i < (long)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
        double flops = 2.0 * m * n * k;
        int reps = flops > 1e10 ? 5 : flops > 1e9 ? 9 : 15;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
            t[r] = now() - t0;
        }
        printf("%.3f\n", flops / median(t, reps) / 1e9);
        free(a); free(b); free(c);
    } else if (!strcmp(argv[2], "ewise")) {
        long n = atol(argv[3]);
        float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n);
        for (long i = 0; i < n; i++) { x[i] = (float)i; y[i] = 1.5f; z[i] = 0; }
        for (int op = 0; op < 2; op++) {
            for (int r = 0; r < 15; r++) {
                double t0 = now();
                if (op == 0) for (long i = 0; i < n; i++) z[i] = x[i] + y[i];
                else for (long i = 0; i < n; i++) z[i] = x[i] * y[i];
                t[r] = now() - t0;
            }
            /* bytes moved: two reads and one write */
            printf("%.3f%c", 12.0 * n / median(t, 15) / 1e9, op ? '\n' : ' ');
        }
        if (z[n / 2] < -1) puts("");
        free(x); free(y); free(z);
    } else {
        return 2;
    }
    return 0;
}
