/* Convolution, attention and cross-entropy kernel speed.
 *
 * For each convolution layer the forward, input-gradient and weight-gradient passes are timed
 * beside raw cblas_sgemm on the GEMM shapes they lower to (one call per image, the batch split
 * over the threads as the kernel splits it, each thread's column matrix reused so that it stays
 * in cache: the most favourable case for sgemm), and the ratio of the two rates is printed.
 * Attention is timed beside raw cblas_sgemm on its six GEMMs per head. Times are medians of
 * several repeats after a warm-up; the heap allocations made during the timed repeats are
 * counted (the caching allocator should make that 0).
 *
 * Usage: [TAU_BENCH_ONLY=name-part] [TAU_BENCH_BATCH=n] [TAU_BENCH_ROUNDS=r] bench_conv
 * [threads...] (default: 1 2 threads, batch 128, one round). A smaller batch keeps a layer's
 * tensors in cache, which tells a memory-bound layer from a slow kernel; r rounds over all
 * the layers print each figure's median and the lowest ratio, for a shared machine whose speed
 * drifts between runs. */
#include "nn/nn.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPEATS 11

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

/* From the tensor allocator, so that operands are placed (aligned, huge pages) as tensors are */
static float *buffer(size_t n, unsigned seed) {
    float *p = tau_alloc(n * sizeof *p);
    if (!p) { fprintf(stderr, "bench_conv: out of memory\n"); exit(1); }
    srand(seed);
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

static void release(float *p, size_t n) { tau_free(p, n * sizeof *p); }

static void check(int rc) {
    if (rc != TAU_OK) { fprintf(stderr, "bench_conv: %s\n", tau_errmsg()); exit(1); }
}

static uint64_t timed_allocs;    /* heap allocations inside timed repeats */

/* One benchmark body, run once to warm up and then REPEATS times. */
typedef void (*body_fn)(void *ctx);

/* The kernel and its raw-sgemm baseline timed in alternation, so that both see the same
 * machine state; medians of each. */
static void time_pair(body_fn a, body_fn b, void *ctx, double *ta, double *tb) {
    double t1[REPEATS], t2[REPEATS];
    a(ctx); b(ctx); a(ctx); b(ctx);
    uint64_t a0 = tau_heap_allocs();
    for (int r = 0; r < REPEATS; r++) {
        double t0 = now();
        a(ctx);
        t1[r] = now() - t0;
        uint64_t mid = tau_heap_allocs();
        t0 = now();
        b(ctx);
        t2[r] = now() - t0;
        a0 += tau_heap_allocs() - mid;     /* the baseline does not count */
    }
    timed_allocs += tau_heap_allocs() - a0;
    *ta = median(t1, REPEATS);
    *tb = median(t2, REPEATS);
}

static double time_median(body_fn fn, void *ctx) {
    double t[REPEATS];
    fn(ctx);
    fn(ctx);
    uint64_t a0 = tau_heap_allocs();
    for (int r = 0; r < REPEATS; r++) {
        double t0 = now();
        fn(ctx);
        t[r] = now() - t0;
    }
    timed_allocs += tau_heap_allocs() - a0;
    return median(t, REPEATS);
}

/* ---- convolution ------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int64_t c, h, w, k, ksize, stride, pad;
} layer;

typedef struct {
    tau_conv2d_params p;
    int64_t oh, ow;
    float *x, *w, *y, *dy, *dx, *dw;
    float *a, *col, *out;        /* raw sgemm operands: a column buffer and a dw per part */
    int64_t parts;
    int which;                   /* 0 forward, 1 input grad, 2 weight grad */
} conv_ctx;

static void run_conv(void *ctx) {
    conv_ctx *c = ctx;
    /* No bias, like the GEMM it is compared with (and like convolutions before batch norm). */
    if (c->which == 0) check(tau_conv2d_forward(c->x, c->w, NULL, c->y, &c->p));
    else if (c->which == 1) check(tau_conv2d_backward(c->x, c->w, c->dy, c->dx, NULL, NULL, &c->p));
    else check(tau_conv2d_backward(c->x, c->w, c->dy, NULL, c->dw, NULL, &c->p));
}

/* The GEMMs the convolution lowers to, on preallocated operands, with the batch split over
 * the threads the way the kernel splits it: each part's column buffer stays in its cache. */
static void sgemm_parts(void *ctx, int64_t b, int64_t e) {
    conv_ctx *c = ctx;
    const tau_conv2d_params *p = &c->p;
    int m = (int)p->k, ohw = (int)(c->oh * c->ow), ckk = (int)(p->c * p->kh * p->kw);
    for (int64_t part = b; part < e; part++) {
        float *col = c->col + part * (int64_t)ckk * ohw, *acc = c->a + part * (int64_t)m * ckk;
        int64_t n0 = p->n * part / c->parts, n1 = p->n * (part + 1) / c->parts;
        for (int64_t n = n0; n < n1; n++) {
            if (c->which == 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, ohw, ckk, 1.0f, c->w, ckk,
                            col, ohw, 0.0f, c->out + n * m * ohw, ohw);
            else if (c->which == 1)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, ohw, m, 1.0f, c->w, ckk,
                            c->out + n * m * ohw, ohw, 0.0f, col, ohw);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, ckk, ohw, 1.0f,
                            c->out + n * m * ohw, ohw, col, ohw, n == n0 ? 0.0f : 1.0f, acc, ckk);
        }
    }
}

static void run_sgemm(void *ctx) {
    conv_ctx *c = ctx;
    tau_parallel_for(c->parts, 1, sgemm_parts, c);
    if (c->which == 2) {
        int64_t ws = c->p.k * c->p.c * c->p.kh * c->p.kw;
        for (int64_t part = 1; part < c->parts; part++)
            for (int64_t i = 0; i < ws; i++) c->a[i] += c->a[part * ws + i];
    }
}

static const layer layers[] = {
    {"cnn28 1->32 3x3 @28", 1, 28, 28, 32, 3, 1, 1},
    {"cnn28 32->64 3x3 @14", 32, 14, 14, 64, 3, 1, 1},
    {"cnn32 3->32 3x3 @32", 3, 32, 32, 32, 3, 1, 1},
    {"cnn32 32->64 3x3 @16", 32, 16, 16, 64, 3, 1, 1},
    {"res20 3->16 3x3 @32", 3, 32, 32, 16, 3, 1, 1},
    {"res20 16->16 3x3 @32", 16, 32, 32, 16, 3, 1, 1},
    {"res20 16->32 3x3 s2", 16, 32, 32, 32, 3, 2, 1},
    {"res20 16->32 1x1 s2", 16, 32, 32, 32, 1, 2, 0},
    {"res20 32->32 3x3 @16", 32, 16, 16, 32, 3, 1, 1},
    {"res20 32->64 3x3 s2", 32, 16, 16, 64, 3, 2, 1},
    {"res20 64->64 3x3 @8", 64, 8, 8, 64, 3, 1, 1},
    {"1x1 64->64 @8", 64, 8, 8, 64, 1, 1, 0},
};
#define NLAYERS (sizeof layers / sizeof *layers)
#define ROUNDS_MAX 99

/* One layer's figures in every round, and their medians (a round is one pass over all the
 * layers, so that a slow spell of a shared machine falls on one round of every layer rather
 * than on every round of one). */
static void print_layer(const char *name, double rate[][3][2], int rounds) {
    printf("%-22s", name);
    for (int which = 0; which < 3; which++) {
        double k[ROUNDS_MAX], g[ROUNDS_MAX], r[ROUNDS_MAX];
        for (int i = 0; i < rounds; i++) {
            k[i] = rate[i][which][0];
            g[i] = rate[i][which][1];
            r[i] = 100.0 * k[i] / g[i];
        }
        const double rk = median(k, rounds), rg = median(g, rounds), rr = median(r, rounds);
        if (rounds == 1) printf("  %6.1f/%6.1f %4.0f%%", rk, rg, rr);
        else printf("  %6.1f/%6.1f %4.0f%% (%3.0f)", rk, rg, rr, r[0]);
    }
    printf("\n");
}

/* Kernel and raw sgemm GFLOP/s of one layer's three passes: rate[pass][0 kernel, 1 sgemm]. */
static void bench_layer(const layer *l, int64_t batch, double rate[3][2]) {
    conv_ctx c;
    memset(&c, 0, sizeof c);
    c.p = (tau_conv2d_params){batch, l->c, l->h, l->w, l->k, l->ksize, l->ksize, l->stride,
                              l->stride, l->pad, l->pad, 1, 1, 1};
    check(tau_conv2d_out_size(&c.p, &c.oh, &c.ow));
    size_t xs = (size_t)(batch * l->c * l->h * l->w), ws = (size_t)(l->k * l->c * l->ksize * l->ksize);
    size_t ys = (size_t)(batch * l->k * c.oh * c.ow), cs = (size_t)(l->c * l->ksize * l->ksize * c.oh * c.ow);
    c.x = buffer(xs, 1); c.w = buffer(ws, 2);
    c.y = buffer(ys, 4); c.dy = buffer(ys, 5); c.dx = buffer(xs, 6); c.dw = buffer(ws, 7);
    c.parts = tau_get_num_threads() < batch ? tau_get_num_threads() : batch;
    c.a = buffer(ws * (size_t)c.parts, 8); c.col = buffer(cs * (size_t)c.parts, 9); c.out = buffer(ys, 10);
    double flops = 2.0 * (double)batch * (double)l->k * (double)(l->c * l->ksize * l->ksize) *
                   (double)(c.oh * c.ow);
    for (int which = 0; which < 3; which++) {
        c.which = which;
        double tk, ts;
        time_pair(run_conv, run_sgemm, &c, &tk, &ts);
        rate[which][0] = flops / tk * 1e-9;
        rate[which][1] = flops / ts * 1e-9;
    }
    release(c.x, xs); release(c.w, ws); release(c.y, ys); release(c.dy, ys); release(c.dx, xs);
    release(c.dw, ws); release(c.a, ws * (size_t)c.parts); release(c.col, cs * (size_t)c.parts);
    release(c.out, ys);
}

/* ---- attention and cross-entropy ---------------------------------------------------------- */

typedef struct {
    tau_attention_params p;
    float *q, *k, *v, *out, *probs, *dout, *dq, *dk, *dv;
    float *ds;                   /* raw sgemm: a T x T score gradient per part */
    int64_t parts;
} att_ctx;

/* The six GEMMs of attention, per (batch, head) on the same buffers, heads split over the
 * threads: S = Q K^T, O = P V; dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q (the
 * softmax, its gradient and dropout left out). */
static void att_sgemm_parts(void *ctx, int64_t b, int64_t e) {
    att_ctx *a = ctx;
    const int t = (int)a->p.t, d = (int)a->p.d;
    const int64_t heads = a->p.b * a->p.h;
    for (int64_t part = b; part < e; part++) {
        float *ds = a->ds + part * (int64_t)t * t;
        for (int64_t i = heads * part / a->parts; i < heads * (part + 1) / a->parts; i++) {
            const int64_t o = i * t * d;
            float *pr = a->probs + i * t * t;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, t, d, 1.0f, a->q + o, d, a->k + o, d, 0.0f, pr, t);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, d, t, 1.0f, pr, t, a->v + o, d, 0.0f, a->out + o, d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, t, d, 1.0f, a->dout + o, d, a->v + o, d, 0.0f, ds, t);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t, d, t, 1.0f, pr, t, a->dout + o, d, 0.0f, a->dv + o, d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, d, t, 1.0f, ds, t, a->k + o, d, 0.0f, a->dq + o, d);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t, d, t, 1.0f, ds, t, a->q + o, d, 0.0f, a->dk + o, d);
        }
    }
}

static void run_att_sgemm(void *ctx) {
    att_ctx *a = ctx;
    tau_parallel_for(a->parts, 1, att_sgemm_parts, a);
}

static void run_attention(void *ctx) {
    att_ctx *a = ctx;
    check(tau_attention_forward(a->q, a->k, a->v, NULL, a->out, a->probs, &a->p));
    check(tau_attention_backward(a->q, a->k, a->v, a->probs, a->dout, a->dq, a->dk, a->dv, &a->p));
}

static void bench_attention(int64_t b, int64_t h, int64_t t, int64_t d, float dropout) {
    att_ctx a;
    a.p = (tau_attention_params){b, h, t, t, d, 1, 1, 0, 0, dropout, 7};
    size_t qs = (size_t)(b * h * t * d), ps = (size_t)(b * h * t * t);
    a.q = buffer(qs, 1); a.k = buffer(qs, 2); a.v = buffer(qs, 3); a.out = buffer(qs, 4);
    a.probs = buffer(ps, 5); a.dout = buffer(qs, 6); a.dq = buffer(qs, 7); a.dk = buffer(qs, 8);
    a.dv = buffer(qs, 9);
    a.parts = tau_get_num_threads() < b * h ? tau_get_num_threads() : b * h;
    a.ds = buffer((size_t)(a.parts * t * t), 10);
    double tm, ts;
    time_pair(run_attention, run_att_sgemm, &a, &tm, &ts);
    /* Four GEMMs of 2 T T D flops in the backward, two in the forward. */
    double flops = 6.0 * 2.0 * (double)(b * h) * (double)(t * t * d);
    printf("attention B=%lld H=%lld T=%lld D=%lld dropout %.1f: fwd+bwd %.3f ms, %.1f/%6.1f GFLOP/s in its "
           "GEMMs against raw sgemm on them, %.0f%%\n",
           (long long)b, (long long)h, (long long)t, (long long)d, (double)dropout, tm * 1e3,
           flops / tm * 1e-9, flops / ts * 1e-9, 100.0 * ts / tm);
    float *each[] = {a.q, a.k, a.v, a.out, a.dout, a.dq, a.dk, a.dv};
    for (size_t i = 0; i < sizeof each / sizeof *each; i++) release(each[i], qs);
    release(a.probs, ps);
    release(a.ds, (size_t)(a.parts * t * t));
}

typedef struct {
    tau_cross_entropy_params p;
    float *z, *prob, *dz, loss, one;
    int32_t *labels;
} ce_ctx;

static void run_ce(void *ctx) {
    ce_ctx *c = ctx;
    check(tau_cross_entropy_forward(c->z, c->labels, &c->loss, c->prob, &c->p));
    check(tau_cross_entropy_backward(c->prob, c->labels, &c->one, c->dz, &c->p));
}

static void bench_ce(int64_t n, int64_t k, float tau) {
    ce_ctx c;
    c.p = (tau_cross_entropy_params){n, k, tau, 0, TAU_REDUCTION_MEAN};
    c.z = buffer((size_t)(n * k), 1); c.prob = buffer((size_t)(n * k), 2); c.dz = buffer((size_t)(n * k), 3);
    c.one = 1;
    c.labels = malloc((size_t)n * sizeof *c.labels);
    for (int64_t i = 0; i < n; i++) c.labels[i] = (int32_t)(i % k);
    double tm = time_median(run_ce, &c);
    printf("cross_entropy (%lld, %lld) tau %g: fwd+bwd %.2f us\n", (long long)n, (long long)k,
           (double)tau, tm * 1e6);
    release(c.z, (size_t)(n * k)); release(c.prob, (size_t)(n * k)); release(c.dz, (size_t)(n * k));
    free(c.labels);
}

int main(int argc, char **argv) {
    int threads[8] = {1, 2}, nt = 2;
    const char *only = getenv("TAU_BENCH_ONLY"); /* run just the layers whose name holds this */
    const char *batch_env = getenv("TAU_BENCH_BATCH");
    const long batch = batch_env ? strtol(batch_env, NULL, 10) : 128;
    if (batch < 1 || batch > 4096) {
        fprintf(stderr, "bench_conv: TAU_BENCH_BATCH must be 1..4096, not %s\n", batch_env);
        return 1;
    }
    const char *rounds_env = getenv("TAU_BENCH_ROUNDS");
    const long rounds = rounds_env ? strtol(rounds_env, NULL, 10) : 1;
    if (rounds < 1 || rounds > ROUNDS_MAX) {
        fprintf(stderr, "bench_conv: TAU_BENCH_ROUNDS must be 1..%d, not %s\n", ROUNDS_MAX, rounds_env);
        return 1;
    }
    static double rate[NLAYERS][ROUNDS_MAX][3][2];
    if (argc > 1) {
        nt = 0;
        for (int i = 1; i < argc && nt < 8; i++) threads[nt++] = atoi(argv[i]);
    }
    for (int ti = 0; ti < nt; ti++) {
        tau_set_num_threads(threads[ti]);
        timed_allocs = 0;
        printf("== %d thread%s (GFLOP/s: kernel/raw sgemm, ratio)\n", threads[ti],
               threads[ti] == 1 ? "" : "s");
        printf("raw sgemm per image: forward K x OH*OW x C*kh*kw, input grad C*kh*kw x OH*OW x K,\n"
               "weight grad K x C*kh*kw x OH*OW (accumulated)\n");
        if (rounds > 1)
            printf("medians of %ld rounds over all the layers, the lowest round's ratio in brackets\n", rounds);
        char head[32];
        snprintf(head, sizeof head, "conv layer, batch %ld", batch);
        const int width = rounds > 1 ? 26 : 20;
        printf("%-22s  %-*s  %-*s  %-*s\n", head, width, "forward", width, "input grad", width, "weight grad");
        for (long r = 0; r < rounds; r++)
            for (size_t i = 0; i < NLAYERS; i++)
                if (!only || strstr(layers[i].name, only)) bench_layer(&layers[i], batch, rate[i][r]);
        for (size_t i = 0; i < NLAYERS; i++)
            if (!only || strstr(layers[i].name, only)) print_layer(layers[i].name, rate[i], (int)rounds);
        if (only) continue;
        bench_attention(128, 4, 64, 32, 0.0f);
        bench_attention(128, 4, 64, 32, 0.1f);
        bench_ce(128, 10, 1.0f);
        bench_ce(128, 200, 1.0f);
        printf("heap allocations in timed repeats: %llu\n\n", (unsigned long long)timed_allocs);
    }
    return 0;
}
