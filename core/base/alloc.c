#include "base/alloc.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Size classes: four per power of two, so rounding wastes at most 25%. */
#define NCLASSES 256
#define CACHE_LIMIT ((size_t)1 << 30)

typedef struct block { struct block *next; } block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static block *freelist[NCLASSES];
static size_t live, cached;
static uint64_t heap_allocs;
/* When the cache is full, the classes idle longest give up their blocks first: a script that
 * trains one model after another keeps the current model's blocks, not the last one's. */
static uint64_t ticks, last_use[NCLASSES];
static void (*oom_fn)(void *);
static void *oom_ud;

static int size_class(size_t n, size_t *rounded) {
    if (n <= 64) { *rounded = 64; return 0; }
    int e = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^e < n <= 2^(e+1), e >= 6 */
    size_t step = (size_t)1 << (e - 2);
    size_t q = (n + step - 1) / step;                          /* 5..8 */
    *rounded = q * step;
    return 1 + (e - 6) * 4 + (int)(q - 5);
}

/* The block size of class c (the inverse of size_class). */
static void size_class_bytes(int c, size_t *rounded) {
    if (c == 0) { *rounded = 64; return; }
    int e = (c - 1) / 4 + 6;
    *rounded = (size_t)((c - 1) % 4 + 5) << (e - 2);
}

/* Blocks of 2 MiB and more (a batch of activations) start on a 2 MiB boundary and ask for
 * transparent huge pages: a kernel that walks such a tensor with a stride (a strided
 * convolution reads every other row) then misses the TLB once per 2 MiB, not once per 4 KiB
 * page. The request is a hint; where huge pages are off, the block is an ordinary one. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *raw_alloc(size_t n) {
    void *p = NULL;
    int large = n >= HUGE_PAGE;
    if (posix_memalign(&p, large ? HUGE_PAGE : 64, n) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (large) (void)madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

void tau_set_oom_handler(void (*fn)(void *), void *ud) { oom_fn = fn; oom_ud = ud; }

void *tau_alloc(size_t nbytes) {
    size_t rounded;
    if (nbytes > ((size_t)1 << 62)) return NULL;
    int c = size_class(nbytes, &rounded);
    if (c >= NCLASSES) return NULL;
    pthread_mutex_lock(&lock);
    last_use[c] = ++ticks;
    block *b = freelist[c];
    if (b) {
        freelist[c] = b->next;
        cached -= rounded;
        live += rounded;
        pthread_mutex_unlock(&lock);
        return b;
    }
    pthread_mutex_unlock(&lock);
    void *p = raw_alloc(rounded);
    if (!p) {
        tau_alloc_trim();
        if (oom_fn) oom_fn(oom_ud);
        p = raw_alloc(rounded);
        if (!p) return NULL;
    }
    pthread_mutex_lock(&lock);
    heap_allocs++;
    live += rounded;
    pthread_mutex_unlock(&lock);
    return p;
}

void *tau_calloc(size_t nbytes) {
    void *p = tau_alloc(nbytes);
    if (p) memset(p, 0, nbytes);
    return p;
}

/* Takes blocks out of the cache, idlest class first, until `want` more bytes fit, not touching
 * class `keep`; returns them as a list to be freed outside the lock. */
static block *evict(size_t want, int keep) {
    block *out = NULL;
    while (cached + want > CACHE_LIMIT) {
        int idle = -1;
        for (int c = 0; c < NCLASSES; c++)
            if (c != keep && freelist[c] && (idle < 0 || last_use[c] < last_use[idle])) idle = c;
        if (idle < 0) break;
        size_t rounded;
        block *b = freelist[idle];
        freelist[idle] = b->next;
        size_class_bytes(idle, &rounded);
        cached -= rounded;
        b->next = out;
        out = b;
    }
    return out;
}

void tau_free(void *p, size_t nbytes) {
    if (!p) return;
    size_t rounded;
    int c = size_class(nbytes, &rounded);
    pthread_mutex_lock(&lock);
    live -= rounded;
    block *gone = rounded <= CACHE_LIMIT ? evict(rounded, c) : NULL;
    if (cached + rounded <= CACHE_LIMIT) {
        block *b = p;
        b->next = freelist[c];
        freelist[c] = b;
        cached += rounded;
        p = NULL;
    }
    pthread_mutex_unlock(&lock);
    free(p);
    while (gone) { block *n = gone->next; free(gone); gone = n; }
}

void tau_alloc_trim(void) {
    pthread_mutex_lock(&lock);
    for (int c = 0; c < NCLASSES; c++) {
        block *b = freelist[c];
        while (b) { block *n = b->next; free(b); b = n; }
        freelist[c] = NULL;
    }
    cached = 0;
    pthread_mutex_unlock(&lock);
}

size_t tau_live_bytes(void) { pthread_mutex_lock(&lock); size_t v = live; pthread_mutex_unlock(&lock); return v; }
size_t tau_cached_bytes(void) { pthread_mutex_lock(&lock); size_t v = cached; pthread_mutex_unlock(&lock); return v; }
uint64_t tau_heap_allocs(void) { pthread_mutex_lock(&lock); uint64_t v = heap_allocs; pthread_mutex_unlock(&lock); return v; }
