#include "tensor/tensor.h"
#include "base/alloc.h"
#include "base/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t tau_elsize(tau_dtype dt) { (void)dt; return 4; }
const char *tau_dtype_name(tau_dtype dt) { return dt == TAU_I32 ? "int32" : "float32"; }

char *tau_dims_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

char *tau_shape_str(const tau_tensor *t, char *buf, size_t n) {
    return tau_dims_str(t->ndim, t->shape, buf, n);
}

int tau_check_shape(const char *fn, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > TAU_MAXDIM)
        return tau_fail("%s: %d dimensions given, at most %d are supported", fn, ndim, TAU_MAXDIM);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return tau_fail("%s: negative size %lld in dimension %d", fn, (long long)shape[i], i + 1);
        if (shape[i] != 0 && n > TAU_MAX_NUMEL / shape[i]) {
            char b[160];
            return tau_fail("%s: size %s is too large (more than %lld elements)", fn,
                            tau_dims_str(ndim, shape, b, sizeof b), (long long)TAU_MAX_NUMEL);
        }
        n *= shape[i];
    }
    return TAU_OK;
}

static tau_tensor *new_header(void) {
    tau_tensor *t = tau_calloc(sizeof *t);
    if (!t) { tau_fail("out of memory"); return NULL; }
    t->refcount = 1;
    return t;
}

static void set_contiguous_strides(tau_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) { t->stride[i] = s; s *= t->shape[i] ? t->shape[i] : 1; }
}

tau_tensor *tau_empty(tau_dtype dt, int ndim, const int64_t *shape) {
    if (tau_check_shape("tensor", ndim, shape)) return NULL;
    tau_tensor *t = new_header();
    if (!t) return NULL;
    t->dtype = dt;
    t->ndim = ndim;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) { t->shape[i] = shape[i]; n *= shape[i]; }
    set_contiguous_strides(t);
    tau_storage *s = tau_calloc(sizeof *s);
    size_t nbytes = (size_t)n * tau_elsize(dt);
    void *data = s ? tau_alloc(nbytes) : NULL;
    if (!data) {
        char b[160];
        tau_fail("out of memory allocating a tensor of size %s (%.1f MB)",
                 tau_dims_str(ndim, shape, b, sizeof b), (double)nbytes / 1e6);
        tau_free(s, sizeof *s);
        tau_free(t, sizeof *t);
        return NULL;
    }
    s->data = data;
    s->nbytes = nbytes;
    s->refcount = 1;
    t->storage = s;
    return t;
}

tau_tensor *tau_retain(tau_tensor *t) { if (t) t->refcount++; return t; }

void (*tau__grad_fn_release)(struct tau_node *n);

void tau_release(tau_tensor *t) {
    if (!t || --t->refcount > 0) return;
    tau_storage *s = t->storage;
    if (s && --s->refcount == 0) {
        tau_free(s->data, s->nbytes);
        tau_free(s, sizeof *s);
    }
    tau_release(t->grad);
    if (t->grad_fn) tau__grad_fn_release(t->grad_fn);
    tau_free(t, sizeof *t);
}

/* A new header sharing t's storage; autograd state is not shared. */
static tau_tensor *share(const tau_tensor *t) {
    tau_tensor *v = new_header();
    if (!v) return NULL;
    v->dtype = t->dtype;
    v->ndim = t->ndim;
    memcpy(v->shape, t->shape, sizeof v->shape);
    memcpy(v->stride, t->stride, sizeof v->stride);
    v->offset = t->offset;
    v->storage = t->storage;
    v->storage->refcount++;
    return v;
}

tau_tensor *tau_alias(tau_tensor *t) { return share(t); }

int64_t tau_numel(const tau_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int tau_is_contiguous(const tau_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

int tau_same_shape(const tau_tensor *a, const tau_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++) if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

int64_t tau_offset_of(const tau_tensor *t, const int64_t *idx) {
    int64_t o = t->offset;
    for (int i = 0; i < t->ndim; i++) o += idx[i] * t->stride[i];
    return o;
}

double tau_get(const tau_tensor *t, const int64_t *idx) {
    int64_t o = tau_offset_of(t, idx);
    return t->dtype == TAU_F32 ? (double)((float *)t->storage->data)[o]
                               : (double)((int32_t *)t->storage->data)[o];
}

void tau_set(tau_tensor *t, const int64_t *idx, double v) {
    int64_t o = tau_offset_of(t, idx);
    if (t->dtype == TAU_F32) ((float *)t->storage->data)[o] = (float)v;
    else ((int32_t *)t->storage->data)[o] = (int32_t)v;
}

void tau_bump_version(tau_tensor *t) { t->storage->version++; }

/* ---------------------------------------------------------------- creation */

tau_tensor *tau_zeros(tau_dtype dt, int ndim, const int64_t *shape) {
    tau_tensor *t = tau_empty(dt, ndim, shape);
    if (t) memset(t->storage->data, 0, t->storage->nbytes);
    return t;
}

tau_tensor *tau_full(tau_dtype dt, int ndim, const int64_t *shape, double value) {
    tau_tensor *t = tau_empty(dt, ndim, shape);
    if (t) tau_fill_(t, value);
    return t;
}

tau_tensor *tau_scalar(double v) { return tau_full(TAU_F32, 0, NULL, v); }

tau_tensor *tau_arange(double start, double stop, double step, tau_dtype dt) {
    if (step == 0 || isnan(start) || isnan(stop) || isnan(step))
        return tau_fail("arange: step must be non-zero and bounds must be numbers"), NULL;
    double len = ceil((stop - start) / step);
    if (len < 0) len = 0;
    if (len > (double)TAU_MAX_NUMEL) return tau_fail("arange: too many elements (%g)", len), NULL;
    int64_t n = (int64_t)len;
    tau_tensor *t = tau_empty(dt, 1, &n);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) {
        double v = start + (double)i * step;
        if (dt == TAU_F32) tau_f32(t)[i] = (float)v; else tau_i32(t)[i] = (int32_t)v;
    }
    return t;
}

tau_tensor *tau_linspace(double start, double stop, int64_t n) {
    if (n < 0) return tau_fail("linspace: negative number of points %lld", (long long)n), NULL;
    tau_tensor *t = tau_empty(TAU_F32, 1, &n);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++)
        tau_f32(t)[i] = (float)(n == 1 ? start : start + (stop - start) * (double)i / (double)(n - 1));
    return t;
}

tau_tensor *tau_eye(int64_t n, int64_t m) {
    int64_t shape[2] = {n, m};
    tau_tensor *t = tau_zeros(TAU_F32, 2, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < n && i < m; i++) tau_f32(t)[i * m + i] = 1.0f;
    return t;
}

/* xoshiro256** seeded through splitmix64: fast, good quality, small state to checkpoint. */
static uint64_t rng_s[4] = {0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull, 1};

void tau_manual_seed(uint64_t seed) {
    for (int i = 0; i < 4; i++) rng_s[i] = tau_splitmix64(&seed);
}

uint64_t tau_rng_next(void) { return tau_xoshiro_next(rng_s); }

double tau_rng_uniform(void) { return tau_u01(tau_rng_next()); }

/* Marsaglia's polar method gives normals in pairs. The second of a pair is used only within
 * one call (one tensor fill), so that the four state words alone determine every later draw
 * and a saved state restores the stream exactly. */
static void normal_pair(double *a, double *b) {
    double u, v, s;
    do {
        u = 2 * tau_rng_uniform() - 1;
        v = 2 * tau_rng_uniform() - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    double f = sqrt(-2 * log(s) / s);
    *a = u * f;
    *b = v * f;
}

double tau_rng_normal(void) {
    double a, b;
    normal_pair(&a, &b);
    return a;
}

void tau_rng_get_state(uint64_t st[4]) { memcpy(st, rng_s, sizeof rng_s); }
void tau_rng_set_state(const uint64_t st[4]) { memcpy(rng_s, st, sizeof rng_s); }

tau_tensor *tau_rand(int ndim, const int64_t *shape) {
    tau_tensor *t = tau_empty(TAU_F32, ndim, shape);
    if (!t) return NULL;
    float *p = tau_f32(t);
    for (int64_t i = 0, n = tau_numel(t); i < n; i++) p[i] = (float)tau_rng_uniform();
    return t;
}

tau_tensor *tau_randn(int ndim, const int64_t *shape) {
    tau_tensor *t = tau_empty(TAU_F32, ndim, shape);
    if (!t) return NULL;
    float *p = tau_f32(t);
    int64_t n = tau_numel(t);
    for (int64_t i = 0; i < n; i += 2) {
        double a, b;
        normal_pair(&a, &b);
        p[i] = (float)a;
        if (i + 1 < n) p[i + 1] = (float)b;
    }
    return t;
}

/* Uniform in [0, n) without modulo bias. */
static uint64_t rng_below(uint64_t n) {
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, r;
    do r = tau_rng_next(); while (r >= lim);
    return r % n;
}

tau_tensor *tau_randint(int64_t lo, int64_t hi, int ndim, const int64_t *shape) {
    if (hi < lo) return tau_fail("randint: empty range %lld..%lld", (long long)lo, (long long)hi), NULL;
    if (lo < INT32_MIN || hi > INT32_MAX)
        return tau_fail("randint: bounds %lld..%lld exceed int32", (long long)lo, (long long)hi), NULL;
    tau_tensor *t = tau_empty(TAU_I32, ndim, shape);
    if (!t) return NULL;
    int32_t *p = tau_i32(t);
    uint64_t span = (uint64_t)(hi - lo) + 1;
    for (int64_t i = 0, n = tau_numel(t); i < n; i++) p[i] = (int32_t)(lo + (int64_t)rng_below(span));
    return t;
}

tau_tensor *tau_randperm(int64_t n) {
    if (n > INT32_MAX) return tau_fail("randperm: n = %lld exceeds int32", (long long)n), NULL;
    tau_tensor *t = tau_empty(TAU_I32, 1, &n);
    if (!t) return NULL;
    int32_t *p = tau_i32(t);
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below((uint64_t)i + 1);
        int32_t tmp = p[i]; p[i] = p[j]; p[j] = tmp;
    }
    return t;
}

/* ---------------------------------------------------------------- views */

static int norm_dim(const char *fn, int dim, int ndim) {
    if (dim < 0 || dim >= (ndim ? ndim : 1))
        return tau_fail("%s: dimension %d out of range for a %d-dimensional tensor", fn, dim + 1, ndim);
    return TAU_OK;
}

/* Strides for viewing t with a new shape without copying, when possible: old dimensions are
 * grouped into chunks that are contiguous within themselves, and each chunk must be covered
 * exactly by a run of new dimensions. */
static int view_strides(const tau_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
    if (tau_is_contiguous(t) || tau_numel(t) == 0) {
        int64_t s = 1;
        for (int i = ndim - 1; i >= 0; i--) { stride[i] = s; s *= shape[i] ? shape[i] : 1; }
        return 1;
    }
    int nd = ndim - 1;
    int64_t base = t->ndim ? t->stride[t->ndim - 1] : 1, old_n = 1, new_n = 1;
    for (int od = t->ndim - 1; od >= 0; od--) {
        old_n *= t->shape[od];
        int chunk_ends = od == 0 || (t->shape[od - 1] != 1 && t->stride[od - 1] != old_n * base);
        if (!chunk_ends) continue;
        while (nd >= 0 && (new_n < old_n || shape[nd] == 1)) {
            stride[nd] = new_n * base;
            new_n *= shape[nd];
            nd--;
        }
        if (new_n != old_n) return 0;
        if (od > 0) { base = t->stride[od - 1]; old_n = 1; new_n = 1; }
    }
    return nd == -1;
}

static int infer_shape(const char *fn, const tau_tensor *t, int ndim, const int64_t *in, int64_t *out) {
    if (ndim > TAU_MAXDIM) return tau_fail("%s: at most %d dimensions", fn, TAU_MAXDIM);
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        out[i] = in[i];
        if (in[i] == -1) {
            if (infer >= 0) return tau_fail("%s: only one dimension can be -1", fn);
            infer = i;
        } else if (in[i] < 0) {
            return tau_fail("%s: invalid size %lld in dimension %d", fn, (long long)in[i], i + 1);
        } else {
            if (in[i] && known > TAU_MAX_NUMEL / in[i]) return tau_fail("%s: size too large", fn);
            known *= in[i];
        }
    }
    int64_t n = tau_numel(t);
    if (infer >= 0) {
        if (known == 0 || n % known) goto bad;
        out[infer] = n / known;
    } else if (known != n) goto bad;
    return TAU_OK;
bad:;
    char a[160], b[160];
    return tau_fail("%s: shape %s is invalid for a tensor of size %s (%lld elements)", fn,
                    tau_dims_str(ndim, in, b, sizeof b), tau_shape_str(t, a, sizeof a), (long long)n);
}

tau_tensor *tau_view(tau_tensor *t, int ndim, const int64_t *shape) {
    int64_t sh[TAU_MAXDIM], st[TAU_MAXDIM];
    if (infer_shape("view", t, ndim, shape, sh)) return NULL;
    if (!view_strides(t, ndim, sh, st)) {
        char a[160];
        return tau_fail("view: a tensor of size %s with these strides cannot be viewed with a new "
                        "shape; use reshape (which copies) or contiguous() first",
                        tau_shape_str(t, a, sizeof a)), NULL;
    }
    tau_tensor *v = share(t);
    if (!v) return NULL;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) { v->shape[i] = sh[i]; v->stride[i] = st[i]; }
    return v;
}

tau_tensor *tau_reshape(tau_tensor *t, int ndim, const int64_t *shape) {
    int64_t sh[TAU_MAXDIM], st[TAU_MAXDIM];
    if (infer_shape("reshape", t, ndim, shape, sh)) return NULL;
    if (view_strides(t, ndim, sh, st)) return tau_view(t, ndim, sh);
    tau_tensor *c = tau_contiguous(t);
    if (!c) return NULL;
    tau_tensor *v = tau_view(c, ndim, sh);
    tau_release(c);
    return v;
}

tau_tensor *tau_transpose(tau_tensor *t, int d0, int d1) {
    if (norm_dim("transpose", d0, t->ndim) || norm_dim("transpose", d1, t->ndim)) return NULL;
    tau_tensor *v = share(t);
    if (!v || t->ndim == 0) return v;
    int64_t s = v->shape[d0]; v->shape[d0] = v->shape[d1]; v->shape[d1] = s;
    s = v->stride[d0]; v->stride[d0] = v->stride[d1]; v->stride[d1] = s;
    return v;
}

tau_tensor *tau_permute(tau_tensor *t, const int *perm) {
    int seen[TAU_MAXDIM] = {0};
    for (int i = 0; i < t->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= t->ndim || seen[perm[i]])
            return tau_fail("permute: the dimensions given are not a permutation of 1..%d", t->ndim), NULL;
        seen[perm[i]] = 1;
    }
    tau_tensor *v = share(t);
    if (!v) return NULL;
    for (int i = 0; i < t->ndim; i++) { v->shape[i] = t->shape[perm[i]]; v->stride[i] = t->stride[perm[i]]; }
    return v;
}

tau_tensor *tau_narrow(tau_tensor *t, int dim, int64_t start, int64_t len) {
    if (t->ndim == 0) return tau_fail("narrow: cannot narrow a 0-dimensional tensor"), NULL;
    if (norm_dim("narrow", dim, t->ndim)) return NULL;
    if (len < 0) return tau_fail("narrow: negative length %lld", (long long)len), NULL;
    if (start < 0 || start > t->shape[dim] - len)
        return tau_fail("narrow: range %lld..%lld is out of bounds for dimension %d of size %lld",
                        (long long)start + 1, (long long)(start + len), dim + 1,
                        (long long)t->shape[dim]), NULL;
    tau_tensor *v = share(t);
    if (!v) return NULL;
    v->offset += start * t->stride[dim];
    v->shape[dim] = len;
    return v;
}

tau_tensor *tau_select(tau_tensor *t, int dim, int64_t index) {
    if (t->ndim == 0) return tau_fail("select: cannot index a 0-dimensional tensor"), NULL;
    if (norm_dim("select", dim, t->ndim)) return NULL;
    if (index < 0 || index >= t->shape[dim])
        return tau_fail("select: index %lld is out of range 1..%lld for dimension %d",
                        (long long)index + 1, (long long)t->shape[dim], dim + 1), NULL;
    tau_tensor *v = share(t);
    if (!v) return NULL;
    v->offset += index * t->stride[dim];
    for (int i = dim; i < t->ndim - 1; i++) { v->shape[i] = t->shape[i + 1]; v->stride[i] = t->stride[i + 1]; }
    v->ndim--;
    return v;
}

tau_tensor *tau_expand(tau_tensor *t, int ndim, const int64_t *shape) {
    if (ndim < t->ndim || ndim > TAU_MAXDIM) {
        char a[160], b[160];
        return tau_fail("expand: cannot expand a tensor of size %s to %s", tau_shape_str(t, a, sizeof a),
                        tau_dims_str(ndim, shape, b, sizeof b)), NULL;
    }
    int64_t sh[TAU_MAXDIM], st[TAU_MAXDIM];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        int64_t want = shape[i];
        if (j < 0) {
            if (want < 0) return tau_fail("expand: size -1 is not allowed for a new leading dimension"), NULL;
            sh[i] = want; st[i] = 0;
        } else {
            if (want == -1) want = t->shape[j];
            if (t->shape[j] == want) { sh[i] = want; st[i] = t->stride[j]; }
            else if (t->shape[j] == 1 && want >= 0) { sh[i] = want; st[i] = 0; }
            else {
                char a[160], b[160];
                return tau_fail("expand: cannot expand a tensor of size %s to %s (dimension %d: %lld vs %lld)",
                                tau_shape_str(t, a, sizeof a), tau_dims_str(ndim, shape, b, sizeof b), i + 1,
                                (long long)t->shape[j], (long long)want), NULL;
            }
        }
    }
    if (tau_check_shape("expand", ndim, sh)) return NULL;
    tau_tensor *v = share(t);
    if (!v) return NULL;
    v->ndim = ndim;
    memcpy(v->shape, sh, sizeof sh);
    memcpy(v->stride, st, sizeof st);
    return v;
}

tau_tensor *tau_squeeze(tau_tensor *t, int dim) {
    if (dim >= 0 && norm_dim("squeeze", dim, t->ndim)) return NULL;
    tau_tensor *v = share(t);
    if (!v) return NULL;
    int k = 0;
    for (int i = 0; i < t->ndim; i++) {
        int drop = t->shape[i] == 1 && (dim < 0 || dim == i);
        if (!drop) { v->shape[k] = t->shape[i]; v->stride[k] = t->stride[i]; k++; }
    }
    v->ndim = k;
    return v;
}

tau_tensor *tau_unsqueeze(tau_tensor *t, int dim) {
    if (dim < 0 || dim > t->ndim)
        return tau_fail("unsqueeze: dimension %d out of range 1..%d", dim + 1, t->ndim + 1), NULL;
    if (t->ndim >= TAU_MAXDIM) return tau_fail("unsqueeze: at most %d dimensions", TAU_MAXDIM), NULL;
    tau_tensor *v = share(t);
    if (!v) return NULL;
    for (int i = t->ndim; i > dim; i--) { v->shape[i] = t->shape[i - 1]; v->stride[i] = t->stride[i - 1]; }
    v->shape[dim] = 1;
    v->stride[dim] = dim < t->ndim ? t->shape[dim] * t->stride[dim] : 1;
    v->ndim++;
    return v;
}

/* ---------------------------------------------------------------- copies */

int tau_broadcast_shape(const char *fn, const tau_tensor *a, const tau_tensor *b, int *ndim, int64_t *shape) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char x[160], y[160];
            return tau_fail("%s: shapes %s and %s cannot be broadcast (dimension %d: %lld vs %lld)", fn,
                            tau_shape_str(a, x, sizeof x), tau_shape_str(b, y, sizeof y), i + 1,
                            (long long)sa, (long long)sb);
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return TAU_OK;
}

/* Whether two tensors address exactly the same elements in the same order. */
static int same_view(const tau_tensor *a, const tau_tensor *b) {
    if (a->storage != b->storage || a->offset != b->offset || !tau_same_shape(a, b)) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != 1 && a->stride[i] != b->stride[i]) return 0;
    return 1;
}

/* Copies src (broadcast) into dst, converting dtypes; walks dst's index space. */
int tau_copy_(tau_tensor *dst, const tau_tensor *src) {
    int nd;
    int64_t shape[TAU_MAXDIM];
    if (tau_broadcast_shape("copy", dst, src, &nd, shape)) return TAU_ERR;
    for (int i = 0; i < nd; i++) {
        if (nd != dst->ndim || shape[i] != dst->shape[i]) {
            char x[160], y[160];
            return tau_fail("copy: source of size %s cannot be copied into a tensor of size %s",
                            tau_shape_str(src, x, sizeof x), tau_shape_str(dst, y, sizeof y));
        }
    }
    int64_t sst[TAU_MAXDIM];
    for (int i = 0; i < nd; i++) {
        int j = i - (nd - src->ndim);
        sst[i] = (j >= 0 && src->shape[j] != 1) ? src->stride[j] : 0;
    }
    int64_t n = tau_numel(dst);
    if (n == 0) return TAU_OK;
    if (tau_is_contiguous(dst) && tau_is_contiguous(src) && tau_numel(src) == n && dst->dtype == src->dtype) {
        memmove((char *)dst->storage->data + dst->offset * 4, (char *)src->storage->data + src->offset * 4,
                (size_t)n * 4);
        tau_bump_version(dst);
        return TAU_OK;
    }
    if (src->storage == dst->storage && !same_view(src, dst)) {
        /* the walk below would read elements it has already overwritten: copy src first */
        tau_tensor *tmp = tau_clone((tau_tensor *)src);
        if (!tmp) return TAU_ERR;
        int rc = tau_copy_(dst, tmp);
        tau_release(tmp);
        return rc;
    }
    int64_t idx[TAU_MAXDIM] = {0};
    int64_t od = dst->offset, os = src->offset;
    int last = nd - 1;
    const void *sd = src->storage->data;
    void *dd = dst->storage->data;
    int64_t inner = nd ? dst->shape[last] : 1, dstep = nd ? dst->stride[last] : 0, sstep = nd ? sst[last] : 0;
    /* one case per pair of dtypes, chosen once: a test of dst->dtype per element was reloaded
     * after every store (an int32 store may alias it), and kept the loop scalar */
    const int kind = (dst->dtype == TAU_F32) * 2 + (src->dtype == TAU_F32);
    for (int64_t done = 0; done < n; done += inner) {
        if (kind == 3 && dstep == 1 && sstep == 1)
            memcpy((float *)dd + od, (const float *)sd + os, (size_t)inner * sizeof(float));
        else if (kind == 3)
            for (int64_t k = 0; k < inner; k++) ((float *)dd)[od + k * dstep] = ((const float *)sd)[os + k * sstep];
        else if (kind == 2)
            for (int64_t k = 0; k < inner; k++) ((float *)dd)[od + k * dstep] = (float)((const int32_t *)sd)[os + k * sstep];
        else if (kind == 1)
            for (int64_t k = 0; k < inner; k++) ((int32_t *)dd)[od + k * dstep] = (int32_t)((const float *)sd)[os + k * sstep];
        else
            for (int64_t k = 0; k < inner; k++) ((int32_t *)dd)[od + k * dstep] = ((const int32_t *)sd)[os + k * sstep];
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < dst->shape[d]) { od += dst->stride[d]; os += sst[d]; break; }
            od -= (dst->shape[d] - 1) * dst->stride[d];
            os -= (dst->shape[d] - 1) * sst[d];
            idx[d] = 0;
        }
    }
    tau_bump_version(dst);
    return TAU_OK;
}

int tau_fill_(tau_tensor *t, double v) {
    int64_t n = tau_numel(t);
    if (tau_is_contiguous(t)) {
        if (t->dtype == TAU_F32) { float *p = tau_f32(t); float f = (float)v; for (int64_t i = 0; i < n; i++) p[i] = f; }
        else { int32_t *p = tau_i32(t); int32_t f = (int32_t)v; for (int64_t i = 0; i < n; i++) p[i] = f; }
        tau_bump_version(t);
        return TAU_OK;
    }
    tau_tensor *s = tau_full(t->dtype, 0, NULL, v);
    if (!s) return TAU_ERR;
    int rc = tau_copy_(t, s);
    tau_release(s);
    return rc;
}

tau_tensor *tau_contiguous(tau_tensor *t) {
    if (tau_is_contiguous(t)) return tau_retain(t);
    return tau_clone(t);
}

tau_tensor *tau_clone(tau_tensor *t) { return tau_to_dtype(t, t->dtype); }

tau_tensor *tau_to_dtype(tau_tensor *t, tau_dtype dt) {
    tau_tensor *c = tau_empty(dt, t->ndim, t->shape);
    if (!c) return NULL;
    if (tau_copy_(c, t)) { tau_release(c); return NULL; }
    return c;
}
