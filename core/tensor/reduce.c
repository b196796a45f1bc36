/* Reductions over one dimension or all elements, accumulated in double. */
#include "tensor/kernels.h"
#include "base/alloc.h"
#include "tensor/iter.h"
#include <math.h>
#include <string.h>

static const char *red_names[] = {"sum", "mean", "prod", "var", "std", "max", "min", "argmax",
                                  "argmin", "logsumexp"};
const char *tau_redop_name(tau_redop op) { return op < TAU_NREDUCE ? red_names[op] : "?"; }

static inline double at(const tau_tensor *x, int64_t i) {
    return x->dtype == TAU_F32 ? (double)tau_f32(x)[i] : (double)tau_i32(x)[i];
}

tau_tensor *tau_reduce_forward(tau_redop op, tau_tensor *x, int dim, int keepdim, int unbiased,
                               tau_tensor **indices) {
    const char *fn = tau_redop_name(op);
    if (indices) *indices = NULL;
    if (dim >= 0 && dim >= (x->ndim ? x->ndim : 1))
        return tau_fail("%s: dimension %d out of range for a %d-dimensional tensor", fn, dim + 1, x->ndim), NULL;
    int64_t outer = 1, n = 1, inner = 1;
    int ond = 0;
    int64_t oshape[TAU_MAXDIM];
    if (dim < 0 || x->ndim == 0) {
        n = tau_numel(x);
        if (keepdim) { ond = x->ndim; for (int i = 0; i < ond; i++) oshape[i] = 1; }
    } else {
        for (int i = 0; i < x->ndim; i++) {
            if (i < dim) outer *= x->shape[i];
            else if (i > dim) inner *= x->shape[i];
            if (i != dim) oshape[ond++] = x->shape[i];
            else if (keepdim) oshape[ond++] = 1;
        }
        n = x->shape[dim];
    }
    int needs_elems = op == TAU_MAX || op == TAU_MIN || op == TAU_ARGMAX || op == TAU_ARGMIN || op == TAU_LOGSUMEXP;
    if (n == 0 && needs_elems) {
        char b[160];
        return tau_fail("%s: cannot reduce over an empty dimension (tensor of size %s)", fn,
                        tau_shape_str(x, b, sizeof b)), NULL;
    }
    int is_arg = op == TAU_ARGMAX || op == TAU_ARGMIN;
    int int_out = is_arg || (x->dtype == TAU_I32 && (op == TAU_SUM || op == TAU_PROD || op == TAU_MAX || op == TAU_MIN));
    tau_tensor *xc = tau_contiguous(x);
    if (!xc) return NULL;
    tau_tensor *out = tau_empty(int_out ? TAU_I32 : TAU_F32, ond, oshape);
    tau_tensor *idx = NULL;
    if (out && indices && (op == TAU_MAX || op == TAU_MIN)) idx = tau_empty(TAU_I32, ond, oshape);
    double *acc = out ? tau_alloc(sizeof(double) * (size_t)inner) : NULL;
    double *acc2 = acc ? tau_alloc(sizeof(double) * (size_t)inner) : NULL;
    int64_t *pos = acc2 ? tau_alloc(sizeof(int64_t) * (size_t)inner) : NULL;
    if (!out || (indices && (op == TAU_MAX || op == TAU_MIN) && !idx) || !pos) {
        if (out && !pos) tau_fail("%s: out of memory", fn);
        tau_free(acc, sizeof(double) * (size_t)inner);
        tau_free(acc2, sizeof(double) * (size_t)inner);
        tau_release(xc); tau_release(out); tau_release(idx);
        return NULL;
    }
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = o * n * inner;
        for (int64_t i = 0; i < inner; i++) {
            acc[i] = op == TAU_PROD ? 1.0 : 0.0;
            pos[i] = 0;
            if (needs_elems) acc[i] = at(xc, base + i);
        }
        for (int64_t k = 0; k < n; k++) {
            int64_t row = base + k * inner;
            for (int64_t i = 0; i < inner; i++) {
                double v = at(xc, row + i);
                switch (op) {
                case TAU_SUM: case TAU_MEAN: case TAU_VAR: case TAU_STD: acc[i] += v; break;
                case TAU_PROD: acc[i] *= v; break;
                case TAU_MAX: case TAU_ARGMAX: case TAU_LOGSUMEXP:
                    if (v > acc[i] || (isnan(v) && !isnan(acc[i]))) { acc[i] = v; pos[i] = k; }
                    break;
                case TAU_MIN: case TAU_ARGMIN:
                    if (v < acc[i] || (isnan(v) && !isnan(acc[i]))) { acc[i] = v; pos[i] = k; }
                    break;
                default: break;
                }
            }
        }
        if (op == TAU_VAR || op == TAU_STD || op == TAU_LOGSUMEXP) {
            for (int64_t i = 0; i < inner; i++) acc2[i] = 0;
            for (int64_t k = 0; k < n; k++) {
                int64_t row = base + k * inner;
                for (int64_t i = 0; i < inner; i++) {
                    double v = at(xc, row + i);
                    if (op == TAU_LOGSUMEXP) acc2[i] += isinf(acc[i]) ? (v == acc[i]) : exp(v - acc[i]);
                    else { double d = v - acc[i] / (double)n; acc2[i] += d * d; }
                }
            }
        }
        for (int64_t i = 0; i < inner; i++) {
            double r;
            switch (op) {
            case TAU_MEAN: r = n ? acc[i] / (double)n : NAN; break;
            case TAU_VAR: case TAU_STD: {
                double den = (double)n - (unbiased ? 1.0 : 0.0);
                r = den > 0 ? acc2[i] / den : NAN;
                if (op == TAU_STD) r = sqrt(r);
                break;
            }
            case TAU_LOGSUMEXP: r = isinf(acc[i]) && acc[i] < 0 ? acc[i] : acc[i] + log(acc2[i]); break;
            case TAU_ARGMAX: case TAU_ARGMIN: r = (double)pos[i]; break;
            default: r = acc[i];
            }
            int64_t oi = o * inner + i;
            if (int_out) tau_i32(out)[oi] = (int32_t)(r > INT32_MAX ? INT32_MAX : r < INT32_MIN ? INT32_MIN : r);
            else tau_f32(out)[oi] = (float)r;
            if (idx) tau_i32(idx)[oi] = (int32_t)pos[i];
        }
    }
    tau_free(acc, sizeof(double) * (size_t)inner);
    tau_free(acc2, sizeof(double) * (size_t)inner);
    tau_free(pos, sizeof(int64_t) * (size_t)inner);
    tau_release(xc);
    if (indices) *indices = idx;
    return out;
}

tau_tensor *tau_sum_to(tau_tensor *g, int ndim, const int64_t *shape) {
    if (g->ndim == ndim) {
        int same = 1;
        for (int i = 0; i < ndim; i++) same &= g->shape[i] == shape[i];
        if (same) return tau_retain(g);
    }
    tau_tensor *out = tau_zeros(TAU_F32, ndim, shape);
    if (!out) return NULL;
    tau_tensor *ex = tau_expand(out, g->ndim, g->shape);
    if (!ex) {
        char a[160], b[160];
        tau_fail("sum_to: a gradient of size %s cannot be reduced to %s", tau_shape_str(g, a, sizeof a),
                 tau_dims_str(ndim, shape, b, sizeof b));
        tau_release(out);
        return NULL;
    }
    const tau_tensor *ops[2] = {ex, g};
    tau_iter it;
    tau__iter_init(&it, g->ndim, g->shape, 2, ops);
    if (it.inner > 0) {
        int64_t se = tau__iter_step(&it, 0), sg = tau__iter_step(&it, 1);
        float *po = out->storage->data;
        const float *pg = g->storage->data;
        do {
            if (se == 0) {
                double s = 0;
                for (int64_t k = 0; k < it.inner; k++) s += pg[it.offset[1] + k * sg];
                po[it.offset[0]] += (float)s;
            } else {
                for (int64_t k = 0; k < it.inner; k++) po[it.offset[0] + k * se] += pg[it.offset[1] + k * sg];
            }
        } while (tau__iter_next(&it));
    }
    tau_release(ex);
    return out;
}
