/* t-SNE and embedding separation measures (see tsne.h).
 *
 * The cost is KL(P || Q): P holds input-space affinities, each point's conditional
 * distribution calibrated by binary search to the asked perplexity, then symmetrised;
 * Q is the Student-t (one degree of freedom) kernel in the embedding. Its gradient is
 *   dC/dy_i = 4 sum_j (p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j).
 * Exact mode forms every pair. Barnes-Hut mode keeps p_ij on the 3*perplexity nearest
 * neighbours only and sums the repulsive part over a 2^dims-ary space-partitioning tree,
 * replacing a cell by its centre of mass when it looks small from y_i (width/distance < theta).
 * The optimiser is the papers' gradient descent with momentum (0.5, then 0.8) and per-
 * coordinate gains, with early exaggeration of P over the first steps. Positions and sums are
 * kept in double: the float output is rounded once at the end. */
#include "analysis/tsne.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/parallel.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void tau_tsne_defaults(tau_tsne_opts *o) {
    o->dims = 2;
    o->perplexity = 30;
    o->iters = 1000;
    o->seed = 0;
    o->theta = 0.5;
    o->exact = -1;
    o->learning_rate = 0;
    o->exaggeration = 12;
    o->exaggeration_iters = -1;
}

/* ** {====== Small helpers ====== */

/* splitmix64 then Box-Muller: the initial layout needs no more than this, and a private
 * generator keeps the result independent of the library's global seed. */
static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return ((splitmix(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double gaussian(uint64_t *s) {
    double u = uniform01(s), v = uniform01(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double sqdist_f(const float *a, const float *b, int64_t d) {
    double s = 0;
    for (int64_t k = 0; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}

static void *alloc_or_fail(size_t bytes, const char *what) {
    void *p = tau_alloc(bytes ? bytes : 1);
    if (!p) tau_fail("tau_tsne: out of memory for %s (%zu bytes)", what, bytes);
    return p;
}

static int check_finite(const float *x, int64_t count, const char *fn) {
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return tau_fail("%s: x holds a non-finite value (%g) at flat index %lld", fn, (double)x[i], (long long)i);
    return TAU_OK;
}

/* }====== */

/* ** {====== Input affinities ====== */

/* Conditional affinities of one point from its squared distances dist[0..m-1]: writes
 * p[j] = exp(-beta dist[j]) / sum with beta chosen so that the entropy is log(perplexity).
 * Distances are shifted by their minimum first, which leaves p unchanged and keeps the sum
 * at least 1 whatever the input's scale. */
static void calibrate_row(const double *dist, int64_t m, double perplexity, double *p) {
    double dmin = INFINITY, mean = 0;
    for (int64_t j = 0; j < m; j++) {
        if (dist[j] < dmin) dmin = dist[j];
        mean += dist[j];
    }
    mean = mean / (double)m - dmin;
    double target = log(perplexity);
    double beta = mean > 0 ? 1.0 / mean : 1.0, lo = 0, hi = INFINITY;
    for (int step = 0; step < 200; step++) {
        double sum = 0, wsum = 0;
        for (int64_t j = 0; j < m; j++) {
            double e = dist[j] - dmin;
            p[j] = exp(-beta * e);
            sum += p[j];
            wsum += p[j] * e;
        }
        double h = log(sum) + beta * wsum / sum;
        for (int64_t j = 0; j < m; j++) p[j] /= sum;
        double diff = h - target;
        if (fabs(diff) < 1e-5) break;
        if (diff > 0) { /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2 : 0.5 * (beta + hi);
        } else {
            hi = beta;
            beta = 0.5 * (beta + lo);
        }
    }
}

/* Workers allocate their own scratch; a failed allocation is flagged and reported after the
 * parallel loop returns. */
typedef struct {
    const float *x;
    int64_t n, d, k;   /* k: neighbours per row (Barnes-Hut) */
    double perplexity;
    double *p;         /* exact: (n, n); Barnes-Hut: (n, k) conditional affinities */
    int64_t *nbr;      /* Barnes-Hut: (n, k) neighbour indices */
    atomic_int oom;
} affinity_ctx;

static void exact_rows(void *vc, int64_t begin, int64_t end) {
    affinity_ctx *c = vc;
    int64_t n = c->n;
    size_t bytes = 2 * (size_t)n * sizeof(double);
    double *dist = tau_alloc(bytes);
    if (!dist) { atomic_store(&c->oom, 1); return; }
    double *p = dist + n;
    for (int64_t i = begin; i < end; i++) {
        int64_t m = 0;
        for (int64_t j = 0; j < n; j++)
            if (j != i) dist[m++] = sqdist_f(c->x + i * c->d, c->x + j * c->d, c->d);
        calibrate_row(dist, m, c->perplexity, p);
        double *row = c->p + i * n;
        for (int64_t j = 0, q = 0; j < n; j++) row[j] = j == i ? 0 : p[q++];
    }
    tau_free(dist, bytes);
}

/* Max-heap on (distance, index) of the k nearest found so far: the root is the farthest. */
static int heap_less(double da, int64_t ia, double db, int64_t ib) { return da < db || (da == db && ia < ib); }

static void heap_sift_down(double *hd, int64_t *hi, int64_t k, int64_t r) {
    for (;;) {
        int64_t a = 2 * r + 1, b = a + 1, m = r;
        if (a < k && heap_less(hd[m], hi[m], hd[a], hi[a])) m = a;
        if (b < k && heap_less(hd[m], hi[m], hd[b], hi[b])) m = b;
        if (m == r) return;
        double td = hd[r]; hd[r] = hd[m]; hd[m] = td;
        int64_t ti = hi[r]; hi[r] = hi[m]; hi[m] = ti;
        r = m;
    }
}

/* The k nearest other points of x[i] (squared distances into hd, indices into hi), unordered. */
static void nearest(const float *x, int64_t n, int64_t d, int64_t i, int64_t k, double *hd, int64_t *hi) {
    int64_t filled = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j == i) continue;
        double dj = sqdist_f(x + i * d, x + j * d, d);
        if (filled < k) {
            hd[filled] = dj; hi[filled] = j; filled++;
            if (filled == k)
                for (int64_t r = k / 2; r >= 0; r--) heap_sift_down(hd, hi, k, r);
        } else if (heap_less(dj, j, hd[0], hi[0])) {
            hd[0] = dj; hi[0] = j;
            heap_sift_down(hd, hi, k, 0);
        }
    }
}

static void knn_rows(void *vc, int64_t begin, int64_t end) {
    affinity_ctx *c = vc;
    size_t bytes = (size_t)c->k * sizeof(double);
    double *dist = tau_alloc(bytes);
    if (!dist) { atomic_store(&c->oom, 1); return; }
    for (int64_t i = begin; i < end; i++) {
        nearest(c->x, c->n, c->d, i, c->k, dist, c->nbr + i * c->k);
        calibrate_row(dist, c->k, c->perplexity, c->p + i * c->k);
    }
    tau_free(dist, bytes);
}

typedef struct { int64_t i, j; double v; } triple;

static int triple_cmp(const void *a, const void *b) {
    const triple *x = a, *y = b;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    if (x->j != y->j) return x->j < y->j ? -1 : 1;
    return 0;
}

/* Sparse symmetric P: rows in CSR (row[n + 1], col, val), summing to 1. */
typedef struct {
    int64_t *row, *col;
    double *val;
    int64_t nnz;
} sparse;

static void sparse_free(sparse *s, int64_t n) {
    tau_free(s->row, (size_t)(n + 1) * sizeof(int64_t));
    tau_free(s->col, (size_t)s->nnz * sizeof(int64_t));
    tau_free(s->val, (size_t)s->nnz * sizeof(double));
    memset(s, 0, sizeof *s);
}

/* (P + P^T) / (2n) from the conditional affinities on each row's k neighbours. A pair listed
 * from both ends sums two values, whose order does not change a sum of two. */
static int symmetrise(const double *p, const int64_t *nbr, int64_t n, int64_t k, sparse *s) {
    int64_t m = 2 * n * k;
    triple *t = alloc_or_fail((size_t)m * sizeof(triple), "the affinity pairs");
    if (!t) return TAU_ERR;
    for (int64_t i = 0, q = 0; i < n; i++)
        for (int64_t a = 0; a < k; a++, q += 2) {
            int64_t j = nbr[i * k + a];
            t[q] = (triple){i, j, p[i * k + a]};
            t[q + 1] = (triple){j, i, p[i * k + a]};
        }
    qsort(t, (size_t)m, sizeof(triple), triple_cmp);
    int64_t nnz = 0;
    for (int64_t q = 0; q < m; q++)
        if (q == 0 || triple_cmp(&t[q], &t[q - 1])) nnz++;
    s->nnz = nnz;
    s->row = alloc_or_fail((size_t)(n + 1) * sizeof(int64_t), "the affinity rows");
    s->col = alloc_or_fail((size_t)nnz * sizeof(int64_t), "the affinity columns");
    s->val = alloc_or_fail((size_t)nnz * sizeof(double), "the affinities");
    if (!s->row || !s->col || !s->val) {
        tau_free(t, (size_t)m * sizeof(triple));
        sparse_free(s, n);
        return TAU_ERR;
    }
    memset(s->row, 0, (size_t)(n + 1) * sizeof(int64_t));
    int64_t e = -1;
    for (int64_t q = 0; q < m; q++) {
        if (q == 0 || triple_cmp(&t[q], &t[q - 1])) {
            e++;
            s->col[e] = t[q].j;
            s->val[e] = t[q].v;
            s->row[t[q].i + 1]++;
        } else {
            s->val[e] += t[q].v;
        }
    }
    for (int64_t i = 0; i < n; i++) s->row[i + 1] += s->row[i];
    for (int64_t q = 0; q < nnz; q++) s->val[q] /= 2.0 * (double)n;
    tau_free(t, (size_t)m * sizeof(triple));
    return TAU_OK;
}

/* }====== */

/* ** {====== Barnes-Hut tree ====== */

#define MAXDEPTH 40   /* cells 2^-40 of the root: only duplicates share a leaf this deep */

typedef struct {
    double center[TAU_TSNE_BH_MAXDIMS], half;   /* a cube */
    double sum[TAU_TSNE_BH_MAXDIMS];            /* of the positions below; centre of mass = sum / count */
    int64_t count;
    int64_t child;   /* first of 2^dims children, or -1 for a leaf */
    int64_t head;    /* a leaf's points, linked through next[]; -1 when empty */
    int depth;
} bh_node;

typedef struct {
    bh_node *nodes;
    int64_t len, cap;
    int64_t *next;   /* (n) */
    const double *y;
    int dims;
} bh_tree;

static void node_init(bh_node *nd, const double *center, double half, int depth, int dims) {
    memset(nd, 0, sizeof *nd);
    for (int k = 0; k < dims; k++) nd->center[k] = center[k];
    nd->half = half;
    nd->child = -1;
    nd->head = -1;
    nd->depth = depth;
}

static int subdivide(bh_tree *t, int64_t at) {
    int nc = 1 << t->dims;
    if (t->len + nc > t->cap) {
        int64_t cap = 2 * (t->len + nc);
        bh_node *grown = alloc_or_fail((size_t)cap * sizeof(bh_node), "the Barnes-Hut tree");
        if (!grown) return TAU_ERR;
        memcpy(grown, t->nodes, (size_t)t->len * sizeof(bh_node));
        tau_free(t->nodes, (size_t)t->cap * sizeof(bh_node));
        t->nodes = grown;
        t->cap = cap;
    }
    bh_node *nd = &t->nodes[at];
    nd->child = t->len;
    for (int c = 0; c < nc; c++) {
        double center[TAU_TSNE_BH_MAXDIMS];
        for (int k = 0; k < t->dims; k++) center[k] = nd->center[k] + ((c >> k) & 1 ? 0.5 : -0.5) * nd->half;
        node_init(&t->nodes[t->len + c], center, 0.5 * nd->half, nd->depth + 1, t->dims);
    }
    t->len += nc;
    return TAU_OK;
}

static int which_child(const bh_node *nd, const double *p, int dims) {
    int c = 0;
    for (int k = 0; k < dims; k++)
        if (p[k] >= nd->center[k]) c |= 1 << k;
    return c;
}

static void node_add(bh_node *nd, const double *p, int dims) {
    nd->count++;
    for (int k = 0; k < dims; k++) nd->sum[k] += p[k];
}

static int tree_insert(bh_tree *t, int64_t i) {
    int dims = t->dims;
    const double *p = t->y + i * dims;
    int64_t cur = 0;
    for (;;) {
        bh_node *nd = &t->nodes[cur];
        node_add(nd, p, dims);
        if (nd->child < 0) {
            if (nd->head < 0) { nd->head = i; t->next[i] = -1; return TAU_OK; }
            if (nd->depth >= MAXDEPTH) { t->next[i] = nd->head; nd->head = i; return TAU_OK; }
            int64_t q = nd->head;
            if (subdivide(t, cur) != TAU_OK) return TAU_ERR;
            nd = &t->nodes[cur];
            nd->head = -1;
            const double *pq = t->y + q * dims;
            bh_node *cq = &t->nodes[nd->child + which_child(nd, pq, dims)];
            node_add(cq, pq, dims);
            cq->head = q;
            t->next[q] = -1;
        }
        cur = nd->child + which_child(nd, p, dims);
    }
}

static int tree_build(bh_tree *t, const double *y, int64_t n) {
    int dims = t->dims;
    double lo[TAU_TSNE_BH_MAXDIMS], hi[TAU_TSNE_BH_MAXDIMS], center[TAU_TSNE_BH_MAXDIMS], half = 0;
    for (int k = 0; k < dims; k++) { lo[k] = INFINITY; hi[k] = -INFINITY; }
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < dims; k++) {
            if (y[i * dims + k] < lo[k]) lo[k] = y[i * dims + k];
            if (y[i * dims + k] > hi[k]) hi[k] = y[i * dims + k];
        }
    for (int k = 0; k < dims; k++) {
        center[k] = 0.5 * (lo[k] + hi[k]);
        if (0.5 * (hi[k] - lo[k]) > half) half = 0.5 * (hi[k] - lo[k]);
    }
    half = half * (1 + 1e-6) + 1e-12;   /* every point strictly inside */
    t->y = y;
    t->len = 1;
    node_init(&t->nodes[0], center, half, 0, dims);
    for (int64_t i = 0; i < n; i++)
        if (tree_insert(t, i) != TAU_OK) return TAU_ERR;
    return TAU_OK;
}

/* Repulsion on point i from the cell at `at`: adds sum_j num_ij to *z and sum_j num_ij^2
 * (y_i - y_j) to f, a far cell counting as count points at its centre of mass. */
static void repulse(const bh_tree *t, int64_t at, int64_t i, double theta2, double *z, double *f) {
    const bh_node *nd = &t->nodes[at];
    if (nd->count == 0) return;
    int dims = t->dims;
    const double *yi = t->y + i * dims;
    double diff[TAU_TSNE_BH_MAXDIMS], d2 = 0;
    if (nd->child < 0) {
        for (int64_t j = nd->head; j >= 0; j = t->next[j]) {
            if (j == i) continue;
            d2 = 0;
            for (int k = 0; k < dims; k++) { diff[k] = yi[k] - t->y[j * dims + k]; d2 += diff[k] * diff[k]; }
            double num = 1.0 / (1.0 + d2);
            *z += num;
            for (int k = 0; k < dims; k++) f[k] += num * num * diff[k];
        }
        return;
    }
    for (int k = 0; k < dims; k++) { diff[k] = yi[k] - nd->sum[k] / (double)nd->count; d2 += diff[k] * diff[k]; }
    double width = 2 * nd->half;
    if (width * width < theta2 * d2) {
        double num = 1.0 / (1.0 + d2), cnt = (double)nd->count;
        *z += cnt * num;
        for (int k = 0; k < dims; k++) f[k] += cnt * num * num * diff[k];
        return;
    }
    for (int c = 0; c < (1 << dims); c++) repulse(t, nd->child + c, i, theta2, z, f);
}

/* }====== */

/* ** {====== Gradient ====== */

typedef struct {
    int64_t n;
    int dims;
    const double *y;
    double *grad;      /* (n, dims): attractive part, then the full gradient */
    double *rep;       /* (n, dims) repulsive sums */
    double *zrow;      /* (n) each point's share of the normaliser Z */
    double exag;
    const double *p;   /* exact: (n, n) */
    double *num;       /* exact: (n, n) kernel values */
    const sparse *sp;  /* Barnes-Hut */
    const bh_tree *tree;
    double theta2;
    double z;
} grad_ctx;

static void exact_kernel_rows(void *vc, int64_t begin, int64_t end) {
    grad_ctx *c = vc;
    int dims = c->dims;
    for (int64_t i = begin; i < end; i++) {
        const double *yi = c->y + i * dims;
        double *row = c->num + i * c->n, z = 0;
        if (dims == 2) { /* the usual case, in a loop the compiler can vectorise */
            for (int64_t j = 0; j < c->n; j++) {
                double a = yi[0] - c->y[2 * j], b = yi[1] - c->y[2 * j + 1];
                row[j] = 1.0 / (1.0 + a * a + b * b);
            }
            row[i] = 0;
            for (int64_t j = 0; j < c->n; j++) z += row[j];
            c->zrow[i] = z;
            continue;
        }
        for (int64_t j = 0; j < c->n; j++) {
            double d2 = 0;
            for (int k = 0; k < dims; k++) {
                double t = yi[k] - c->y[j * dims + k];
                d2 += t * t;
            }
            row[j] = j == i ? 0 : 1.0 / (1.0 + d2);
            z += row[j];
        }
        c->zrow[i] = z;
    }
}

static void exact_grad_rows(void *vc, int64_t begin, int64_t end) {
    grad_ctx *c = vc;
    int dims = c->dims;
    for (int64_t i = begin; i < end; i++) {
        const double *yi = c->y + i * dims, *prow = c->p + i * c->n, *nrow = c->num + i * c->n;
        double *gi = c->grad + i * dims;
        for (int k = 0; k < dims; k++) gi[k] = 0;
        if (dims == 2) {
            double g0 = 0, g1 = 0;
            for (int64_t j = 0; j < c->n; j++) {
                double m = (c->exag * prow[j] - nrow[j] / c->z) * nrow[j];
                g0 += m * (yi[0] - c->y[2 * j]);
                g1 += m * (yi[1] - c->y[2 * j + 1]);
            }
            gi[0] = 4 * g0;
            gi[1] = 4 * g1;
            continue;
        }
        for (int64_t j = 0; j < c->n; j++) {
            double m = (c->exag * prow[j] - nrow[j] / c->z) * nrow[j];
            for (int k = 0; k < dims; k++) gi[k] += m * (yi[k] - c->y[j * dims + k]);
        }
        for (int k = 0; k < dims; k++) gi[k] *= 4;
    }
}

static void bh_rows(void *vc, int64_t begin, int64_t end) {
    grad_ctx *c = vc;
    int dims = c->dims;
    for (int64_t i = begin; i < end; i++) {
        const double *yi = c->y + i * dims;
        double *att = c->grad + i * dims, *rep = c->rep + i * dims, z = 0;
        for (int k = 0; k < dims; k++) att[k] = rep[k] = 0;
        for (int64_t e = c->sp->row[i]; e < c->sp->row[i + 1]; e++) {
            const double *yj = c->y + c->sp->col[e] * dims;
            double diff[TAU_TSNE_BH_MAXDIMS], d2 = 0;
            for (int k = 0; k < dims; k++) { diff[k] = yi[k] - yj[k]; d2 += diff[k] * diff[k]; }
            double m = c->sp->val[e] / (1.0 + d2);
            for (int k = 0; k < dims; k++) att[k] += m * diff[k];
        }
        repulse(c->tree, 0, i, c->theta2, &z, rep);
        c->zrow[i] = z;
    }
}

/* }====== */

static int check_opts(int64_t n, int64_t d, const tau_tsne_opts *o, int exact) {
    const char *fn = "tau.analysis.tsne";
    if (n < 2 || d < 1) return tau_fail("%s: needs at least 2 points of at least 1 dimension, got (%lld, %lld)", fn, (long long)n, (long long)d);
    if (o->dims < 1 || o->dims > 64) return tau_fail("%s: dims must be in 1..64, got %d", fn, o->dims);
    if (!exact && o->dims > TAU_TSNE_BH_MAXDIMS)
        return tau_fail("%s: Barnes-Hut embeds in at most %d dimensions, got dims = %d (use exact = true)", fn, TAU_TSNE_BH_MAXDIMS, o->dims);
    if (!(o->perplexity > 0) || !isfinite(o->perplexity))
        return tau_fail("%s: perplexity must be a positive number, got %g", fn, o->perplexity);
    if (o->perplexity > (double)(n - 1))
        return tau_fail("%s: perplexity %g needs more than %g points, got %lld", fn, o->perplexity, o->perplexity, (long long)n);
    if (o->iters < 1) return tau_fail("%s: iters must be at least 1, got %d", fn, o->iters);
    if (!(o->theta >= 0) || !isfinite(o->theta)) return tau_fail("%s: theta must be a number >= 0, got %g", fn, o->theta);
    if (!(o->learning_rate >= 0) || !isfinite(o->learning_rate))
        return tau_fail("%s: learning_rate must be a positive number, got %g", fn, o->learning_rate);
    if (!(o->exaggeration >= 1) || !isfinite(o->exaggeration))
        return tau_fail("%s: exaggeration must be a number >= 1, got %g", fn, o->exaggeration);
    return TAU_OK;
}

int tau_tsne(const float *x, int64_t n, int64_t d, const tau_tsne_opts *o, float *yout) {
    int exact = o->exact < 0 ? n <= TAU_TSNE_EXACT_MAX : o->exact != 0;
    if (check_opts(n, d, o, exact) != TAU_OK) return TAU_ERR;
    if (check_finite(x, n * d, "tau.analysis.tsne") != TAU_OK) return TAU_ERR;
    int dims = o->dims, rc = TAU_ERR;
    int64_t nd = n * dims;
    int64_t k = (int64_t)(3 * o->perplexity);
    if (k > n - 1) k = n - 1;
    if (k < 1) k = 1;
    size_t bytes_p = exact ? (size_t)n * n * sizeof(double) : (size_t)n * k * sizeof(double);
    size_t bytes_nbr = exact ? 0 : (size_t)n * k * sizeof(int64_t);
    size_t bytes_v = (size_t)nd * sizeof(double);
    double *p = alloc_or_fail(bytes_p, "the input affinities");
    int64_t *nbr = exact ? NULL : alloc_or_fail(bytes_nbr, "the neighbour lists");
    double *y = alloc_or_fail(bytes_v, "the embedding");
    double *grad = alloc_or_fail(bytes_v, "the gradient");
    double *rep = alloc_or_fail(bytes_v, "the repulsive forces");
    double *upd = tau_calloc(bytes_v), *gains = alloc_or_fail(bytes_v, "the gains");
    double *zrow = alloc_or_fail((size_t)n * sizeof(double), "the normaliser");
    double *num = NULL;
    sparse sp = {0};
    bh_tree tree = {0};
    if (!p || (!exact && !nbr) || !y || !grad || !rep || !upd || !gains || !zrow) {
        if (!upd) tau_fail("tau_tsne: out of memory for the updates");
        goto done;
    }

    /* input affinities */
    affinity_ctx ac = {.x = x, .n = n, .d = d, .k = k, .perplexity = o->perplexity, .p = p, .nbr = nbr};
    atomic_init(&ac.oom, 0);
    tau_parallel_for(n, 16, exact ? exact_rows : knn_rows, &ac);
    if (atomic_load(&ac.oom)) { tau_fail("tau_tsne: out of memory for a row of distances"); goto done; }
    if (tau_interrupted) { tau_fail("interrupted"); goto done; }
    if (exact) {
        /* symmetrise in place; the rows sum to n, so the total to 2n */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) {
                double v = (p[i * n + j] + p[j * n + i]) / (2.0 * (double)n);
                p[i * n + j] = p[j * n + i] = v;
            }
        num = alloc_or_fail(bytes_p, "the embedding's kernel");
        if (!num) goto done;
    } else {
        if (symmetrise(p, nbr, n, k, &sp) != TAU_OK) goto done;
        tree.dims = dims;
        tree.cap = 4 * n + 16;
        tree.nodes = alloc_or_fail((size_t)tree.cap * sizeof(bh_node), "the Barnes-Hut tree");
        tree.next = alloc_or_fail((size_t)n * sizeof(int64_t), "the Barnes-Hut leaves");
        if (!tree.nodes || !tree.next) goto done;
    }

    uint64_t s = o->seed;
    for (int64_t q = 0; q < nd; q++) { y[q] = 1e-4 * gaussian(&s); gains[q] = 1; }
    double eta = o->learning_rate > 0 ? o->learning_rate : fmax((double)n / o->exaggeration / 4, 50);
    int stop = o->exaggeration_iters >= 0 ? o->exaggeration_iters : (o->iters / 4 < 250 ? o->iters / 4 : 250);
    grad_ctx gc = {.n = n, .dims = dims, .y = y, .grad = grad, .rep = rep, .zrow = zrow, .p = p, .num = num,
                   .sp = &sp, .tree = &tree, .theta2 = o->theta * o->theta};
    for (int it = 0; it < o->iters; it++) {
        gc.exag = it < stop ? o->exaggeration : 1.0;
        double momentum = it < stop ? 0.5 : 0.8;
        if (exact) {
            tau_parallel_for(n, 16, exact_kernel_rows, &gc);
            gc.z = 0;
            for (int64_t i = 0; i < n; i++) gc.z += zrow[i];
            tau_parallel_for(n, 16, exact_grad_rows, &gc);
        } else {
            if (tree_build(&tree, y, n) != TAU_OK) goto done;
            tau_parallel_for(n, 16, bh_rows, &gc);
            double z = 0;
            for (int64_t i = 0; i < n; i++) z += zrow[i];
            for (int64_t q = 0; q < nd; q++) grad[q] = 4 * (gc.exag * grad[q] - rep[q] / z);
        }
        double mean[64] = {0};
        for (int64_t q = 0; q < nd; q++) {
            gains[q] = (grad[q] > 0) != (upd[q] > 0) ? gains[q] + 0.2 : gains[q] * 0.8;
            if (gains[q] < 0.01) gains[q] = 0.01;
            upd[q] = momentum * upd[q] - eta * gains[q] * grad[q];
            y[q] += upd[q];
            mean[q % dims] += y[q];
        }
        for (int64_t q = 0; q < nd; q++) y[q] -= mean[q % dims] / (double)n;
        if (tau_interrupted) { tau_fail("interrupted"); goto done; }
    }
    for (int64_t q = 0; q < nd; q++) {
        if (!isfinite(y[q])) { tau_fail("tau.analysis.tsne: the embedding diverged (try a smaller learning_rate)"); goto done; }
        yout[q] = (float)y[q];
    }
    rc = TAU_OK;
done:
    tau_free(p, bytes_p);
    tau_free(nbr, bytes_nbr);
    tau_free(y, bytes_v);
    tau_free(grad, bytes_v);
    tau_free(rep, bytes_v);
    tau_free(upd, bytes_v);
    tau_free(gains, bytes_v);
    tau_free(zrow, (size_t)n * sizeof(double));
    tau_free(num, bytes_p);
    if (!exact) sparse_free(&sp, n);
    tau_free(tree.nodes, (size_t)tree.cap * sizeof(bh_node));
    tau_free(tree.next, (size_t)n * sizeof(int64_t));
    return rc;
}

/* ** {====== Separation measures ====== */

typedef struct {
    const float *x;
    const int32_t *labels;
    int64_t n, d;
    int classes, k;
    const int64_t *count;   /* points per class (silhouette) */
    double *out;            /* per point: 1/0 correct (k-NN), silhouette */
    atomic_int oom;
} measure_ctx;

static void knn_vote_rows(void *vc, int64_t begin, int64_t end) {
    measure_ctx *c = vc;
    size_t bytes = (size_t)c->k * (sizeof(double) + sizeof(int64_t)) + (size_t)c->classes * (sizeof(int64_t) + sizeof(double));
    char *buf = tau_alloc(bytes);
    if (!buf) { atomic_store(&c->oom, 1); return; }
    double *hd = (double *)buf;
    int64_t *hi = (int64_t *)(hd + c->k);
    int64_t *votes = hi + c->k;
    double *closest = (double *)(votes + c->classes);
    for (int64_t i = begin; i < end; i++) {
        nearest(c->x, c->n, c->d, i, c->k, hd, hi);
        for (int q = 0; q < c->classes; q++) { votes[q] = 0; closest[q] = INFINITY; }
        for (int a = 0; a < c->k; a++) {
            int32_t l = c->labels[hi[a]];
            votes[l]++;
            if (hd[a] < closest[l]) closest[l] = hd[a];
        }
        int best = 0;
        for (int q = 1; q < c->classes; q++)
            if (votes[q] > votes[best] || (votes[q] == votes[best] && closest[q] < closest[best])) best = q;
        c->out[i] = best == c->labels[i];
    }
    tau_free(buf, bytes);
}

static int check_labelled(const float *x, const int32_t *labels, int64_t n, int64_t d, int classes, const char *fn) {
    if (n < 2 || d < 1) return tau_fail("%s: needs at least 2 points of at least 1 dimension, got (%lld, %lld)", fn, (long long)n, (long long)d);
    if (classes < 1) return tau_fail("%s: classes must be at least 1, got %d", fn, classes);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return tau_fail("%s: label %d at position %lld is out of range 1..%d", fn, labels[i] + 1, (long long)i + 1, classes);
    return check_finite(x, n * d, fn);
}

int tau_knn_accuracy(const float *x, const int32_t *labels, int64_t n, int64_t d, int classes, int k, double *acc) {
    const char *fn = "tau.analysis.knn_accuracy";
    if (check_labelled(x, labels, n, d, classes, fn) != TAU_OK) return TAU_ERR;
    if (k < 1 || k > n - 1) return tau_fail("%s: k must be in 1..%lld (the other points), got %d", fn, (long long)n - 1, k);
    double *out = alloc_or_fail((size_t)n * sizeof(double), "the votes");
    if (!out) return TAU_ERR;
    measure_ctx c = {.x = x, .labels = labels, .n = n, .d = d, .classes = classes, .k = k, .out = out};
    atomic_init(&c.oom, 0);
    tau_parallel_for(n, 16, knn_vote_rows, &c);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += out[i];
    tau_free(out, (size_t)n * sizeof(double));
    if (atomic_load(&c.oom)) return tau_fail("%s: out of memory", fn);
    *acc = s / (double)n;
    return TAU_OK;
}

static void silhouette_rows(void *vc, int64_t begin, int64_t end) {
    measure_ctx *c = vc;
    size_t bytes = (size_t)c->classes * sizeof(double);
    double *sum = tau_alloc(bytes);
    if (!sum) { atomic_store(&c->oom, 1); return; }
    for (int64_t i = begin; i < end; i++) {
        int li = c->labels[i];
        for (int q = 0; q < c->classes; q++) sum[q] = 0;
        for (int64_t j = 0; j < c->n; j++)
            if (j != i) sum[c->labels[j]] += sqrt(sqdist_f(c->x + i * c->d, c->x + j * c->d, c->d));
        if (c->count[li] < 2) { c->out[i] = 0; continue; }
        double a = sum[li] / (double)(c->count[li] - 1), b = INFINITY;
        for (int q = 0; q < c->classes; q++)
            if (q != li && c->count[q] > 0 && sum[q] / (double)c->count[q] < b) b = sum[q] / (double)c->count[q];
        double m = a > b ? a : b;
        c->out[i] = m > 0 ? (b - a) / m : 0;
    }
    tau_free(sum, bytes);
}

int tau_silhouette(const float *x, const int32_t *labels, int64_t n, int64_t d, int classes, double *score) {
    const char *fn = "tau.analysis.silhouette";
    if (check_labelled(x, labels, n, d, classes, fn) != TAU_OK) return TAU_ERR;
    int64_t *count = tau_calloc((size_t)classes * sizeof(int64_t));
    double *out = alloc_or_fail((size_t)n * sizeof(double), "the scores");
    if (!count || !out) {
        tau_free(count, (size_t)classes * sizeof(int64_t));
        tau_free(out, (size_t)n * sizeof(double));
        return tau_fail("%s: out of memory", fn);
    }
    int present = 0;
    for (int64_t i = 0; i < n; i++) if (count[labels[i]]++ == 0) present++;
    int rc = TAU_OK;
    if (present < 2) {
        rc = tau_fail("%s: needs points of at least 2 classes, got only class %d", fn, labels[0] + 1);
    } else {
        measure_ctx c = {.x = x, .labels = labels, .n = n, .d = d, .classes = classes, .count = count, .out = out};
        atomic_init(&c.oom, 0);
        tau_parallel_for(n, 16, silhouette_rows, &c);
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += out[i];
        if (atomic_load(&c.oom)) rc = tau_fail("%s: out of memory", fn);
        else *score = s / (double)n;
    }
    tau_free(count, (size_t)classes * sizeof(int64_t));
    tau_free(out, (size_t)n * sizeof(double));
    return rc;
}

/* }====== */
