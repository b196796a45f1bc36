/* Element-wise kernels: binary with broadcasting, unary, where. Large ones are split over the
 * thread pool (tau__iter_run); OpenBLAS is single-threaded, so nothing else competes. */
#include "tensor/kernels.h"
#include "tensor/iter.h"
#include <math.h>
#include <string.h>

static const char *binop_names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                    "eq", "ne", "lt", "le", "gt", "ge"};
static const char *unop_names[] = {"neg", "exp", "log", "sqrt", "rsqrt", "abs", "sign", "tanh",
                                   "sigmoid", "relu", "floor", "ceil", "round", "sin", "cos",
                                   "log1p", "expm1", "reciprocal", "square", "erf", "isnan",
                                   "clamp", "pow"};
const char *tau_binop_name(tau_binop op) { return op < TAU_NBINARY ? binop_names[op] : "?"; }
const char *tau_unop_name(tau_unop op) { return op < TAU_NUNARY ? unop_names[op] : "?"; }

static int is_cmp(tau_binop op) { return op >= TAU_EQ; }

static inline float fbin(tau_binop op, float x, float y) {
    switch (op) {
    case TAU_ADD: return x + y;
    case TAU_SUB: return x - y;
    case TAU_MUL: return x * y;
    case TAU_DIV: return x / y;
    case TAU_POW: return powf(x, y);
    case TAU_MAXIMUM: return (x > y || isnan(x)) ? x : y;
    case TAU_MINIMUM: return (x < y || isnan(x)) ? x : y;
    case TAU_EQ: return x == y;
    case TAU_NE: return x != y;
    case TAU_LT: return x < y;
    case TAU_LE: return x <= y;
    case TAU_GT: return x > y;
    case TAU_GE: return x >= y;
    default: return 0;
    }
}

static inline int32_t ibin(tau_binop op, int32_t x, int32_t y) {
    switch (op) {
    case TAU_ADD: return (int32_t)((uint32_t)x + (uint32_t)y);
    case TAU_SUB: return (int32_t)((uint32_t)x - (uint32_t)y);
    case TAU_MUL: return (int32_t)((uint32_t)x * (uint32_t)y);
    case TAU_MAXIMUM: return x > y ? x : y;
    case TAU_MINIMUM: return x < y ? x : y;
    case TAU_EQ: return x == y;
    case TAU_NE: return x != y;
    case TAU_LT: return x < y;
    case TAU_LE: return x <= y;
    case TAU_GT: return x > y;
    case TAU_GE: return x >= y;
    default: return 0;
    }
}

/* The inner loops are specialised per op and stride pattern so the compiler vectorises the
 * common contiguous and scalar-broadcast cases. */
#define FLOAT_LOOP(OP)                                                                        \
    case OP:                                                                                  \
        if (so == 1 && sa == 1 && sb == 1) for (int64_t k = 0; k < n; k++) o[k] = fbin(OP, a[k], b[k]); \
        else if (so == 1 && sa == 1 && sb == 0) { float y = b[0]; for (int64_t k = 0; k < n; k++) o[k] = fbin(OP, a[k], y); } \
        else if (so == 1 && sa == 0 && sb == 1) { float x = a[0]; for (int64_t k = 0; k < n; k++) o[k] = fbin(OP, x, b[k]); } \
        else for (int64_t k = 0; k < n; k++) o[k * so] = fbin(OP, a[k * sa], b[k * sb]);   \
        break;

static void float_inner(tau_binop op, int64_t n, float *o, int64_t so, const float *a, int64_t sa,
                        const float *b, int64_t sb) {
    switch (op) {
        FLOAT_LOOP(TAU_ADD) FLOAT_LOOP(TAU_SUB) FLOAT_LOOP(TAU_MUL) FLOAT_LOOP(TAU_DIV)
        FLOAT_LOOP(TAU_POW) FLOAT_LOOP(TAU_MAXIMUM) FLOAT_LOOP(TAU_MINIMUM)
    default: for (int64_t k = 0; k < n; k++) o[k * so] = fbin(op, a[k * sa], b[k * sb]);
    }
}

/* Runs shorter than two grains stay on the calling thread: below that, waking the pool costs
 * more than the loop. Transcendental unary ops split sooner. */
#define CHEAP_GRAIN ((int64_t)1 << 15)
#define COSTLY_GRAIN ((int64_t)1 << 12)

typedef struct {
    tau_binop op;
    tau_tensor *out;
    const tau_tensor *a, *b;
    int64_t so, sa, sb;
} binary_job;

static void binary_run(void *p, const int64_t *off, int64_t n) {
    const binary_job *j = p;
    int64_t so = j->so, sa = j->sa, sb = j->sb;
    if (j->a->dtype == TAU_F32 && j->out->dtype == TAU_F32) {
        float_inner(j->op, n, (float *)j->out->storage->data + off[0], so,
                    (const float *)j->a->storage->data + off[1], sa, (const float *)j->b->storage->data + off[2], sb);
    } else if (j->a->dtype == TAU_F32) { /* float comparison into int32 */
        int32_t *o = (int32_t *)j->out->storage->data + off[0];
        const float *x = (const float *)j->a->storage->data + off[1];
        const float *y = (const float *)j->b->storage->data + off[2];
        for (int64_t k = 0; k < n; k++) o[k * so] = (int32_t)fbin(j->op, x[k * sa], y[k * sb]);
    } else {
        int32_t *o = (int32_t *)j->out->storage->data + off[0];
        const int32_t *x = (const int32_t *)j->a->storage->data + off[1];
        const int32_t *y = (const int32_t *)j->b->storage->data + off[2];
        if (so == 1 && sa == 1 && sb == 1) for (int64_t k = 0; k < n; k++) o[k] = ibin(j->op, x[k], y[k]);
        else for (int64_t k = 0; k < n; k++) o[k * so] = ibin(j->op, x[k * sa], y[k * sb]);
    }
}

/* Broadcast a and b into out (whose shape is the broadcast shape). Comparisons of floats
 * write int32. */
static void run_binary(tau_binop op, tau_tensor *out, const tau_tensor *a, const tau_tensor *b) {
    const tau_tensor *ops[3] = {out, a, b};
    tau_iter it;
    tau__iter_init(&it, out->ndim, out->shape, 3, ops);
    binary_job j = {op, out, a, b, tau__iter_step(&it, 0), tau__iter_step(&it, 1), tau__iter_step(&it, 2)};
    tau__iter_run(&it, op == TAU_POW ? COSTLY_GRAIN : CHEAP_GRAIN, binary_run, &j);
}

/* Both operands in one compute dtype: float32 unless both are int32 and the op is exact. */
static tau_dtype compute_dtype(tau_binop op, const tau_tensor *a, const tau_tensor *b) {
    if (a->dtype == TAU_I32 && b->dtype == TAU_I32 && op != TAU_DIV && op != TAU_POW) return TAU_I32;
    return TAU_F32;
}

static const tau_tensor *as_dtype(const tau_tensor *t, tau_dtype dt, tau_tensor **tmp) {
    *tmp = NULL;
    if (t->dtype == dt) return t;
    *tmp = tau_to_dtype((tau_tensor *)t, dt);
    return *tmp;
}

tau_tensor *tau_binary_forward(tau_binop op, const tau_tensor *a, const tau_tensor *b) {
    int nd;
    int64_t shape[TAU_MAXDIM];
    if (tau_broadcast_shape(tau_binop_name(op), a, b, &nd, shape)) return NULL;
    tau_dtype cd = compute_dtype(op, a, b);
    tau_tensor *ta, *tb, *out = NULL;
    const tau_tensor *ca = as_dtype(a, cd, &ta), *cb = as_dtype(b, cd, &tb);
    if (ca && cb) out = tau_empty(is_cmp(op) ? TAU_I32 : cd, nd, shape);
    if (out) run_binary(op, out, ca, cb);
    tau_release(ta);
    tau_release(tb);
    return out;
}

/* b reads exactly the elements of a in a's order, so updating a in place while reading b is
 * safe; any other overlap must read from a copy. */
static int same_elements(const tau_tensor *b, const tau_tensor *a) {
    if (b->offset != a->offset || !tau_same_shape(a, b)) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != 1 && a->stride[i] != b->stride[i]) return 0;
    return 1;
}

int tau_binary_inplace(tau_binop op, tau_tensor *a, const tau_tensor *b) {
    int nd;
    int64_t shape[TAU_MAXDIM];
    if (tau_broadcast_shape(tau_binop_name(op), a, b, &nd, shape)) return TAU_ERR;
    int fits = nd == a->ndim;
    for (int i = 0; fits && i < nd; i++) fits = shape[i] == a->shape[i];
    if (!fits) {
        char x[160], y[160];
        return tau_fail("%s_: the result of size %s does not fit the tensor of size %s written in place",
                        tau_binop_name(op), tau_dims_str(nd, shape, y, sizeof y), tau_shape_str(a, x, sizeof x));
    }
    tau_dtype cd = compute_dtype(op, a, b);
    if (cd == a->dtype && !is_cmp(op)) {
        tau_tensor *tb = NULL;
        const tau_tensor *cb = as_dtype(b, cd, &tb);
        if (cb && cb->storage == a->storage && !same_elements(cb, a)) /* e.g. x:add_(x:t()) */
            cb = tb = tau_clone((tau_tensor *)b);
        if (!cb) return TAU_ERR;
        run_binary(op, a, a, cb);
        tau_release(tb);
    } else {
        tau_tensor *r = tau_binary_forward(op, a, b);
        if (!r) return TAU_ERR;
        int rc = tau_copy_(a, r);
        tau_release(r);
        if (rc) return rc;
    }
    tau_bump_version(a);
    return TAU_OK;
}

static inline float fun(tau_unop op, float x, float p0, float p1) {
    switch (op) {
    case TAU_NEG: return -x;
    case TAU_EXP: return expf(x);
    case TAU_LOG: return logf(x);
    case TAU_SQRT: return sqrtf(x);
    case TAU_RSQRT: return 1.0f / sqrtf(x);
    case TAU_ABS: return fabsf(x);
    case TAU_SIGN: return (float)((x > 0) - (x < 0));
    case TAU_TANH: return tanhf(x);
    case TAU_SIGMOID: return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
    case TAU_RELU: return x > 0 ? x : (isnan(x) ? x : 0.0f);
    case TAU_FLOOR: return floorf(x);
    case TAU_CEIL: return ceilf(x);
    case TAU_ROUND: return nearbyintf(x);
    case TAU_SIN: return sinf(x);
    case TAU_COS: return cosf(x);
    case TAU_LOG1P: return log1pf(x);
    case TAU_EXPM1: return expm1f(x);
    case TAU_RECIP: return 1.0f / x;
    case TAU_SQUARE: return x * x;
    case TAU_ERF: return erff(x);
    case TAU_ISNAN: return (float)(x != x);
    case TAU_CLAMP:
        if (!isnan(p0) && x < p0) x = p0;
        if (!isnan(p1) && x > p1) x = p1;
        return x;
    case TAU_POWS: return p0 == 2.0f ? x * x : powf(x, p0);
    default: return 0;
    }
}

typedef struct {
    tau_unop op;
    float p0, p1;
    tau_tensor *out;
    const tau_tensor *x;
    int64_t so, sx;
} unary_job;

static void unary_run(void *p, const int64_t *off, int64_t n) {
    const unary_job *j = p;
    tau_unop op = j->op;
    float p0 = j->p0, p1 = j->p1;
    float *o = (float *)j->out->storage->data + off[0];
    const float *a = (const float *)j->x->storage->data + off[1];
    if (j->so == 1 && j->sx == 1) {
        switch (op) { /* the hot ones get their own vectorisable loops */
        case TAU_NEG: for (int64_t k = 0; k < n; k++) o[k] = -a[k]; break;
        case TAU_RELU: for (int64_t k = 0; k < n; k++) o[k] = a[k] <= 0 ? 0.0f : a[k]; break; /* NaN passes */
        case TAU_SQUARE: for (int64_t k = 0; k < n; k++) o[k] = a[k] * a[k]; break;
        default: for (int64_t k = 0; k < n; k++) o[k] = fun(op, a[k], p0, p1);
        }
    } else {
        for (int64_t k = 0; k < n; k++) o[k * j->so] = fun(op, a[k * j->sx], p0, p1);
    }
}

static int costly_unop(tau_unop op) {
    return !(op == TAU_NEG || op == TAU_ABS || op == TAU_RELU || op == TAU_SQUARE || op == TAU_CLAMP ||
             op == TAU_SIGN || op == TAU_ISNAN);
}

static void run_unary(tau_unop op, tau_tensor *out, const tau_tensor *x, float p0, float p1) {
    const tau_tensor *ops[2] = {out, x};
    tau_iter it;
    tau__iter_init(&it, out->ndim, out->shape, 2, ops);
    unary_job j = {op, p0, p1, out, x, tau__iter_step(&it, 0), tau__iter_step(&it, 1)};
    tau__iter_run(&it, costly_unop(op) ? COSTLY_GRAIN : CHEAP_GRAIN, unary_run, &j);
}

tau_tensor *tau_unary_forward(tau_unop op, const tau_tensor *x, double p0, double p1) {
    if (x->dtype == TAU_I32 && (op == TAU_NEG || op == TAU_ABS || op == TAU_SIGN || op == TAU_CLAMP)) {
        tau_tensor *out = tau_empty(TAU_I32, x->ndim, x->shape);
        if (!out) return NULL;
        if (tau_copy_(out, x)) { tau_release(out); return NULL; }
        int32_t *p = tau_i32(out);
        for (int64_t i = 0, n = tau_numel(out); i < n; i++) {
            int64_t v = p[i];
            if (op == TAU_NEG) v = -v;
            else if (op == TAU_ABS) v = v < 0 ? -v : v;
            else if (op == TAU_SIGN) v = (v > 0) - (v < 0);
            else { if (!isnan(p0) && v < p0) v = (int64_t)ceil(p0); if (!isnan(p1) && v > p1) v = (int64_t)floor(p1); }
            p[i] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
        }
        return out;
    }
    tau_tensor *tx;
    const tau_tensor *cx = as_dtype(x, TAU_F32, &tx);
    if (!cx) return NULL;
    tau_tensor *out = tau_empty(TAU_F32, x->ndim, x->shape);
    if (out) run_unary(op, out, cx, (float)p0, (float)p1);
    tau_release(tx);
    return out;
}

int tau_unary_inplace(tau_unop op, tau_tensor *x, double p0, double p1) {
    if (x->dtype != TAU_F32) {
        tau_tensor *r = tau_unary_forward(op, x, p0, p1);
        if (!r) return TAU_ERR;
        int rc = tau_copy_(x, r);
        tau_release(r);
        return rc;
    }
    run_unary(op, x, x, (float)p0, (float)p1);
    tau_bump_version(x);
    return TAU_OK;
}

tau_tensor *tau_where_forward(const tau_tensor *cond, const tau_tensor *a, const tau_tensor *b) {
    int nd1, nd;
    int64_t s1[TAU_MAXDIM], shape[TAU_MAXDIM];
    if (tau_broadcast_shape("where", a, b, &nd1, s1)) return NULL;
    tau_tensor tmp = {.ndim = nd1};
    memcpy(tmp.shape, s1, sizeof s1);
    if (tau_broadcast_shape("where", cond, &tmp, &nd, shape)) return NULL;
    tau_dtype dt = (a->dtype == TAU_I32 && b->dtype == TAU_I32) ? TAU_I32 : TAU_F32;
    tau_tensor *ta, *tb, *out = NULL;
    const tau_tensor *ca = as_dtype(a, dt, &ta), *cb = as_dtype(b, dt, &tb);
    if (ca && cb) out = tau_empty(dt, nd, shape);
    if (out && tau_numel(out) > 0) {
        const tau_tensor *ops[4] = {out, cond, ca, cb};
        tau_iter it;
        tau__iter_init(&it, nd, shape, 4, ops);
        int64_t s0 = tau__iter_step(&it, 0), sc = tau__iter_step(&it, 1), sa = tau__iter_step(&it, 2),
                sb = tau__iter_step(&it, 3);
        do {
            for (int64_t k = 0; k < it.inner; k++) {
                int64_t ci = it.offset[1] + k * sc;
                int c = cond->dtype == TAU_F32 ? ((const float *)cond->storage->data)[ci] != 0
                                               : ((const int32_t *)cond->storage->data)[ci] != 0;
                const tau_tensor *src = c ? ca : cb;
                int64_t si = c ? it.offset[2] + k * sa : it.offset[3] + k * sb;
                if (dt == TAU_F32) ((float *)out->storage->data)[it.offset[0] + k * s0] = ((const float *)src->storage->data)[si];
                else ((int32_t *)out->storage->data)[it.offset[0] + k * s0] = ((const int32_t *)src->storage->data)[si];
            }
        } while (tau__iter_next(&it));
    }
    tau_release(ta);
    tau_release(tb);
    return out;
}

int tau_axpy_(tau_tensor *y, double alpha, const tau_tensor *x) {
    if (y->dtype != TAU_F32 || x->dtype != TAU_F32 || !tau_same_shape(x, y)) {
        char a[160], b[160];
        return tau_fail("add_: cannot add a %s tensor of size %s into a %s tensor of size %s",
                        tau_dtype_name(x->dtype), tau_shape_str(x, a, sizeof a), tau_dtype_name(y->dtype),
                        tau_shape_str(y, b, sizeof b));
    }
    if (tau_is_contiguous(x) && tau_is_contiguous(y)) {
        float *py = tau_f32(y), fa = (float)alpha;
        const float *px = tau_f32(x);
        for (int64_t i = 0, n = tau_numel(y); i < n; i++) py[i] += fa * px[i];
        tau_bump_version(y);
        return TAU_OK;
    }
    tau_tensor *s = tau_full(TAU_F32, 0, NULL, alpha);
    tau_tensor *m = s ? tau_binary_forward(TAU_MUL, x, s) : NULL;
    int rc = m ? tau_binary_inplace(TAU_ADD, y, m) : TAU_ERR;
    tau_release(s);
    tau_release(m);
    return rc;
}
