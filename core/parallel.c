#include "parallel.h"
#include <cblas.h>
#include <pthread.h>
#include <unistd.h>

#define MAX_THREADS 64

static int nthreads = 0;           /* 0: not yet initialised */
static _Thread_local int in_worker;

/* A job is published under `mu`; workers wait on `go` for a new generation and report on
 * `done`. Threads sleep (no spinning) between jobs so they never compete with OpenBLAS's. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_cond_t go = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int started;                /* worker threads created */
static uint64_t generation;
static int pending;
static struct { tau_range_fn fn; void *ctx; int64_t n; int parts; } job;

static void run_part(int part) {
    int64_t b = job.n * part / job.parts, e = job.n * (part + 1) / job.parts;
    if (e > b) job.fn(job.ctx, b, e);
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    in_worker = 1;
    uint64_t seen = 0;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (generation == seen) pthread_cond_wait(&go, &mu);
        seen = generation;
        if (id < job.parts) {
            pthread_mutex_unlock(&mu);
            run_part(id);
            pthread_mutex_lock(&mu);
            if (--pending == 0) pthread_cond_signal(&done);
        }
    }
    return NULL;
}

static void init_once(void) {
    if (nthreads) return;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    tau_set_num_threads(n > 0 ? (int)n : 1);
}

int tau_get_num_threads(void) { init_once(); return nthreads; }

void tau_set_num_threads(int n) {
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    nthreads = n;
    openblas_set_num_threads(n);
}

void tau_parallel_for(int64_t n, int64_t grain, tau_range_fn fn, void *ctx) {
    if (n <= 0) return;
    init_once();
    int parts = nthreads;
    if (grain < 1) grain = 1;
    if (n / grain < parts) parts = (int)(n / grain);
    if (parts <= 1 || in_worker) { fn(ctx, 0, n); return; }
    pthread_mutex_lock(&job_mu);
    pthread_mutex_lock(&mu);
    while (started < parts - 1) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)(started + 1)) != 0) break;
        pthread_detach(t);
        started++;
    }
    if (started < parts - 1) parts = started + 1;
    job.fn = fn; job.ctx = ctx; job.n = n; job.parts = parts;
    pending = parts - 1;
    generation++;
    pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&mu);
    in_worker = 1;
    run_part(0);
    in_worker = 0;
    pthread_mutex_lock(&mu);
    while (pending > 0) pthread_cond_wait(&done, &mu);
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&job_mu);
}
