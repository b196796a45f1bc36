#include "base/parallel.h"
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MAX_THREADS 64
/* A worker spins this many rounds (some tens of microseconds) for the next job before it
 * sleeps: a training step issues thousands of short jobs back to back, and a futex wake-up per
 * job cost more than the work. Spinning competes with nothing, since OpenBLAS is kept
 * single-threaded and ours is the only pool. */
#define SPIN_ROUNDS 2000

static int nthreads = 0;           /* 0: not yet initialised */
static _Thread_local int in_worker;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER; /* one job at a time */
static pthread_cond_t go = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int started;                /* worker threads created */
static atomic_ulong generation;
static atomic_int pending;
static unsigned long spawn_gen;   /* the generation a newly created worker has not yet run */
static int sleepers;               /* workers waiting on `go` (under mu) */
static int waiting_main;           /* the caller waits on `done` (under mu) */
static struct { tau_range_fn fn; void *ctx; int64_t n; int parts; } job;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_part(int part) {
    int64_t b = job.n * part / job.parts, e = job.n * (part + 1) / job.parts;
    if (e > b) job.fn(job.ctx, b, e);
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    in_worker = 1;
    pthread_mutex_lock(&mu);
    unsigned long seen = spawn_gen;
    pthread_mutex_unlock(&mu);
    for (;;) {
        unsigned long g;
        int spins = 0;
        while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen && spins < SPIN_ROUNDS) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&mu);
            sleepers++;
            while ((g = atomic_load(&generation)) == seen) pthread_cond_wait(&go, &mu);
            sleepers--;
            pthread_mutex_unlock(&mu);
        }
        seen = g;
        if (id < job.parts) {
            run_part(id);
            if (atomic_fetch_sub_explicit(&pending, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_lock(&mu);
                if (waiting_main) pthread_cond_signal(&done);
                pthread_mutex_unlock(&mu);
            }
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

/* The pthreads build of OpenBLAS starts its own workers when it loads, and after each change
 * of its thread count they spin on sched_yield for a long while (measured: a 2-thread
 * convolution sometimes ran at 1-thread speed, with an OpenBLAS thread taking the second
 * core). Single-threaded it never needs them, so they are stopped; it would start them again
 * only for a multi-threaded call. Other builds lack the function, hence the weak reference. */
extern void blas_thread_shutdown_(void) __attribute__((weak));

void tau_set_num_threads(int n) {
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    nthreads = n;
    /* OpenBLAS runs single-threaded inside our pool's blocks (see gemm.h) */
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
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
    spawn_gen = atomic_load(&generation);
    while (started < parts - 1) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)(started + 1)) != 0) break;
        pthread_detach(t);
        started++;
    }
    if (started < parts - 1) parts = started + 1;
    job.fn = fn; job.ctx = ctx; job.n = n; job.parts = parts;
    atomic_store(&pending, parts - 1);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    if (sleepers) pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&mu);
    in_worker = 1;
    run_part(0);
    in_worker = 0;
    for (int spins = 0; atomic_load_explicit(&pending, memory_order_acquire) > 0 && spins < SPIN_ROUNDS; spins++)
        cpu_relax();
    if (atomic_load(&pending) > 0) {
        pthread_mutex_lock(&mu);
        waiting_main = 1;
        while (atomic_load(&pending) > 0) pthread_cond_wait(&done, &mu);
        waiting_main = 0;
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_unlock(&job_mu);
}
