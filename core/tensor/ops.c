/* Differentiable tensor ops: each forward beside its backward, registered in op tables. */
#include "tensor/ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IN(n, k) ((n)->inputs[k])

static tau_tensor *bin(tau_binop op, tau_tensor *a, tau_tensor *b) { return tau_binary_forward(op, a, b); }

static tau_tensor *scal(double v) { return tau_scalar(v); }

static tau_tensor *bin_s(tau_binop op, tau_tensor *a, double s) {
    tau_tensor *t = scal(s);
    tau_tensor *r = t ? bin(op, a, t) : NULL;
    tau_release(t);
    return r;
}

/* g reduced to x's shape (the adjoint of broadcasting). */
static tau_tensor *to_shape(tau_tensor *g, const tau_tensor *x) {
    if (!g) return NULL;
    tau_tensor *r = tau_sum_to(g, x->ndim, x->shape);
    tau_release(g);
    return r;
}

/* ------------------------------------------------------------ binary */

static int binary_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    tau_tensor *a = IN(n, 0), *b = IN(n, 1);
    tau_binop op = (tau_binop)n->i[0];
    tau_tensor *ga = NULL, *gb = NULL;
    switch (op) {
    case TAU_ADD:
        if (need[0]) ga = tau_retain(g);
        if (need[1]) gb = tau_retain(g);
        break;
    case TAU_SUB:
        if (need[0]) ga = tau_retain(g);
        if (need[1]) gb = tau_unary_forward(TAU_NEG, g, 0, 0);
        break;
    case TAU_MUL:
        if (need[0]) ga = bin(TAU_MUL, g, b);
        if (need[1]) gb = bin(TAU_MUL, g, a);
        break;
    case TAU_DIV:
        if (need[0]) ga = bin(TAU_DIV, g, b);
        if (need[1]) { /* -g a / b^2 */
            tau_tensor *q = bin(TAU_DIV, a, b), *q2 = q ? bin(TAU_DIV, q, b) : NULL;
            tau_tensor *m = q2 ? bin(TAU_MUL, g, q2) : NULL;
            gb = m ? tau_unary_forward(TAU_NEG, m, 0, 0) : NULL;
            tau_release(q); tau_release(q2); tau_release(m);
        }
        break;
    case TAU_POW: {
        tau_tensor *out = n->saved[0];
        if (need[0]) { /* g b a^(b-1) */
            tau_tensor *bm1 = bin_s(TAU_SUB, b, 1.0), *p = bm1 ? bin(TAU_POW, a, bm1) : NULL;
            tau_tensor *m = p ? bin(TAU_MUL, p, b) : NULL;
            ga = m ? bin(TAU_MUL, g, m) : NULL;
            tau_release(bm1); tau_release(p); tau_release(m);
        }
        if (need[1]) { /* g a^b log a, zero where a <= 0 as the limit for a -> 0+ */
            tau_tensor *la = tau_unary_forward(TAU_LOG, a, 0, 0);
            tau_tensor *pos = bin_s(TAU_GT, a, 0.0), *z = scal(0.0);
            tau_tensor *lz = (la && pos && z) ? tau_where_forward(pos, la, z) : NULL;
            tau_tensor *m = lz ? bin(TAU_MUL, out, lz) : NULL;
            gb = m ? bin(TAU_MUL, g, m) : NULL;
            tau_release(la); tau_release(pos); tau_release(z); tau_release(lz); tau_release(m);
        }
        break;
    }
    case TAU_MAXIMUM: case TAU_MINIMUM: { /* ties share the gradient equally, as PyTorch does */
        tau_tensor *w = bin(op == TAU_MAXIMUM ? TAU_GT : TAU_LT, a, b), *e = bin(TAU_EQ, a, b);
        tau_tensor *wf = w ? tau_to_dtype(w, TAU_F32) : NULL, *ef = e ? tau_to_dtype(e, TAU_F32) : NULL;
        tau_tensor *half = ef ? bin_s(TAU_MUL, ef, 0.5) : NULL;
        tau_tensor *wa = (wf && half) ? bin(TAU_ADD, wf, half) : NULL;
        if (need[0] && wa) ga = bin(TAU_MUL, g, wa);
        if (need[1] && wa) {
            tau_tensor *wb = bin_s(TAU_SUB, wa, 1.0), *nb = wb ? tau_unary_forward(TAU_NEG, wb, 0, 0) : NULL;
            gb = nb ? bin(TAU_MUL, g, nb) : NULL;
            tau_release(wb); tau_release(nb);
        }
        tau_release(w); tau_release(e); tau_release(wf); tau_release(ef); tau_release(half); tau_release(wa);
        break;
    }
    default:
        return tau_fail("%s has no gradient", tau_binop_name(op));
    }
    if (need[0]) { if (!(gin[0] = to_shape(ga, a))) { tau_release(gb); return TAU_ERR; } }
    if (need[1]) { if (!(gin[1] = to_shape(gb, b))) return TAU_ERR; }
    return TAU_OK;
}

static const tau_op_info binary_info[TAU_NBINARY] = {
    [TAU_ADD] = {"add", binary_backward}, [TAU_SUB] = {"sub", binary_backward},
    [TAU_MUL] = {"mul", binary_backward}, [TAU_DIV] = {"div", binary_backward},
    [TAU_POW] = {"pow", binary_backward}, [TAU_MAXIMUM] = {"maximum", binary_backward},
    [TAU_MINIMUM] = {"minimum", binary_backward},
};

tau_tensor *tau_op_binary(tau_binop op, tau_tensor *a, tau_tensor *b) {
    tau_tensor *out = tau_binary_forward(op, a, b);
    if (!out || op >= TAU_EQ || out->dtype != TAU_F32) return out;
    tau_tensor *ins[2] = {a, b};
    if (!tau_needs_grad(ins, 2)) return out;
    unsigned saves = op == TAU_ADD || op == TAU_SUB ? 0u : 3u;
    tau_node *nd = tau_record(&binary_info[op], out, ins, 2, saves);
    if (!nd || (nd->i[0] = op, op == TAU_POW && tau_node_save_output(nd, out))) { tau_release(out); return NULL; }
    return out;
}

tau_tensor *tau_op_binary_scalar(tau_binop op, tau_tensor *a, double s, int scalar_first) {
    tau_tensor *t = tau_full(a->dtype == TAU_I32 && s == floor(s) && fabs(s) < 2e9 ? TAU_I32 : TAU_F32, 0, NULL, s);
    if (!t) return NULL;
    tau_tensor *r = scalar_first ? tau_op_binary(op, t, a) : tau_op_binary(op, a, t);
    tau_release(t);
    return r;
}

/* ------------------------------------------------------------ unary */

static int unary_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_unop op = (tau_unop)n->i[0];
    tau_tensor *x = IN(n, 0), *out = n->nsaved ? n->saved[0] : NULL;
    tau_tensor *xc = tau_contiguous(x), *oc = out ? tau_contiguous(out) : NULL, *gc = tau_contiguous(g);
    tau_tensor *r = (xc && gc && (!out || oc)) ? tau_empty(TAU_F32, x->ndim, x->shape) : NULL;
    if (r) {
        const float *restrict px = tau_f32(xc), *restrict pg = tau_f32(gc), *restrict po = oc ? tau_f32(oc) : NULL;
        float *restrict pr = tau_f32(r);
        float p0 = (float)n->f[0], p1 = (float)n->f[1];
        int64_t m = tau_numel(r);
        /* one loop per op, so the compiler vectorises each instead of branching per element */
#define DERIV(EXPR) for (int64_t k = 0; k < m; k++) { float v = px[k]; (void)v; pr[k] = pg[k] * (EXPR); } break
        switch (op) {
        case TAU_NEG: DERIV(-1.0f);
        case TAU_EXP: DERIV(po[k]);
        case TAU_LOG: DERIV(1 / v);
        case TAU_SQRT: DERIV(0.5f / po[k]);
        case TAU_RSQRT: DERIV(-0.5f * po[k] * po[k] * po[k]);
        case TAU_ABS: DERIV((float)((v > 0) - (v < 0)));
        case TAU_TANH: DERIV(1 - po[k] * po[k]);
        case TAU_SIGMOID: DERIV(po[k] * (1 - po[k]));
        case TAU_RELU: for (int64_t k = 0; k < m; k++) { float gk = pg[k]; pr[k] = px[k] > 0 ? gk : 0.0f; } break;
        case TAU_SIN: DERIV(cosf(v));
        case TAU_COS: DERIV(-sinf(v));
        case TAU_LOG1P: DERIV(1 / (1 + v));
        case TAU_EXPM1: DERIV(po[k] + 1);
        case TAU_RECIP: DERIV(-po[k] * po[k]);
        case TAU_SQUARE: DERIV(2 * v);
        case TAU_ERF: DERIV(1.1283791670955126f * expf(-v * v));
        case TAU_CLAMP: DERIV((float)((isnan(p0) || v >= p0) && (isnan(p1) || v <= p1)));
        case TAU_POWS: DERIV(p0 == 0 ? 0.0f : p0 * powf(v, p0 - 1));
        default: DERIV(0.0f); /* sign, floor, ceil, round: zero almost everywhere */
        }
#undef DERIV
    }
    tau_release(xc); tau_release(oc); tau_release(gc);
    gin[0] = r;
    return r ? TAU_OK : TAU_ERR;
}

static const tau_op_info unary_info[TAU_NUNARY] = {
#define U(e, s) [e] = {s, unary_backward}
    U(TAU_NEG, "neg"), U(TAU_EXP, "exp"), U(TAU_LOG, "log"), U(TAU_SQRT, "sqrt"), U(TAU_RSQRT, "rsqrt"),
    U(TAU_ABS, "abs"), U(TAU_SIGN, "sign"), U(TAU_TANH, "tanh"), U(TAU_SIGMOID, "sigmoid"),
    U(TAU_RELU, "relu"), U(TAU_FLOOR, "floor"), U(TAU_CEIL, "ceil"), U(TAU_ROUND, "round"),
    U(TAU_SIN, "sin"), U(TAU_COS, "cos"), U(TAU_LOG1P, "log1p"), U(TAU_EXPM1, "expm1"),
    U(TAU_RECIP, "reciprocal"), U(TAU_SQUARE, "square"), U(TAU_ERF, "erf"), U(TAU_CLAMP, "clamp"),
    U(TAU_POWS, "pow"),
#undef U
};

tau_tensor *tau_op_unary(tau_unop op, tau_tensor *x, double p0, double p1) {
    tau_tensor *out = tau_unary_forward(op, x, p0, p1);
    if (!out || op == TAU_ISNAN || out->dtype != TAU_F32 || !tau_needs_grad(&x, 1)) return out;
    int uses_out = op == TAU_EXP || op == TAU_SQRT || op == TAU_RSQRT || op == TAU_TANH ||
                   op == TAU_SIGMOID || op == TAU_EXPM1 || op == TAU_RECIP;
    tau_node *nd = tau_record(&unary_info[op], out, &x, 1, uses_out ? 0u : 1u);
    if (!nd) { tau_release(out); return NULL; }
    nd->i[0] = op;
    nd->f[0] = p0;
    nd->f[1] = p1;
    if (uses_out && tau_node_save_output(nd, out)) { tau_release(out); return NULL; }
    return out;
}

/* ------------------------------------------------------------ reductions */

/* g of the reduced shape, broadcast back to x's shape (re-inserting dim when not kept). */
static tau_tensor *expand_back(tau_node *n, tau_tensor *g, const tau_tensor *x) {
    int dim = (int)n->i[1], keep = (int)n->i[2];
    tau_tensor *u = (dim >= 0 && !keep && x->ndim > 0) ? tau_unsqueeze(g, dim) : tau_retain(g);
    if (!u) return NULL;
    tau_tensor *e;
    if (dim < 0 && !keep) { /* all-reduce: g is 0-dim */
        int64_t ones[TAU_MAXDIM];
        for (int i = 0; i < x->ndim; i++) ones[i] = 1;
        tau_tensor *v = tau_view(u, x->ndim, ones);
        e = v ? tau_expand(v, x->ndim, x->shape) : NULL;
        tau_release(v);
    } else e = tau_expand(u, x->ndim, x->shape);
    tau_release(u);
    return e;
}

/* For each element of x, the product of the other elements of its slice along dim (all of x
 * when dim < 0): prefix times suffix products, so zeros in x give exact gradients rather than
 * the 0/0 of out / x. */
static tau_tensor *prod_others(tau_tensor *x, int dim) {
    tau_tensor *xc = tau_to_dtype(x, TAU_F32);
    tau_tensor *r = xc ? tau_empty(TAU_F32, x->ndim, x->shape) : NULL;
    if (!r) { tau_release(xc); return NULL; }
    int64_t outer = 1, len = tau_numel(x), inner = 1;
    if (dim >= 0 && x->ndim > 0) {
        len = x->shape[dim];
        for (int d = 0; d < dim; d++) outer *= x->shape[d];
        for (int d = dim + 1; d < x->ndim; d++) inner *= x->shape[d];
    }
    const float *px = tau_f32(xc);
    float *pr = tau_f32(r);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i;
            double acc = 1;
            for (int64_t k = 0; k < len; k++) { pr[base + k * inner] = (float)acc; acc *= px[base + k * inner]; }
            acc = 1;
            for (int64_t k = len - 1; k >= 0; k--) { pr[base + k * inner] *= (float)acc; acc *= px[base + k * inner]; }
        }
    tau_release(xc);
    return r;
}

static int reduce_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_redop op = (tau_redop)n->i[0];
    int dim = (int)n->i[1], unbiased = (int)n->i[3];
    tau_tensor *x = IN(n, 0), *out = n->nsaved ? n->saved[0] : NULL;
    double cnt = dim < 0 || x->ndim == 0 ? (double)tau_numel(x) : (double)x->shape[dim];
    tau_tensor *ge = expand_back(n, g, x), *r = NULL;
    if (!ge) return TAU_ERR;
    switch (op) {
    case TAU_SUM: r = tau_contiguous(ge); break;
    case TAU_MEAN: r = bin_s(TAU_DIV, ge, cnt); break;
    case TAU_PROD: { tau_tensor *q = prod_others(x, dim);
        r = q ? bin(TAU_MUL, ge, q) : NULL; tau_release(q); break; }
    case TAU_VAR: case TAU_STD: {
        tau_tensor *m = tau_reduce_forward(TAU_MEAN, x, dim, 1, 0, NULL);
        tau_tensor *d = m ? bin(TAU_SUB, x, m) : NULL;
        double den = cnt - (unbiased ? 1 : 0);
        tau_tensor *s = d ? bin_s(TAU_MUL, d, (op == TAU_VAR ? 2.0 : 1.0) / den) : NULL;
        if (op == TAU_STD && s) {
            tau_tensor *oe = expand_back(n, out, x), *q = oe ? bin(TAU_DIV, s, oe) : NULL;
            tau_release(s); tau_release(oe);
            s = q;
        }
        r = s ? bin(TAU_MUL, ge, s) : NULL;
        tau_release(m); tau_release(d); tau_release(s);
        break;
    }
    case TAU_MAX: case TAU_MIN: case TAU_LOGSUMEXP: {
        tau_tensor *oe = expand_back(n, out, x), *w = NULL;
        if (op == TAU_LOGSUMEXP) {
            tau_tensor *d = oe ? bin(TAU_SUB, x, oe) : NULL;
            w = d ? tau_unary_forward(TAU_EXP, d, 0, 0) : NULL;
            tau_release(d);
        } else if (oe) { /* ties share the gradient equally */
            tau_tensor *eq = bin(TAU_EQ, x, oe), *ef = eq ? tau_to_dtype(eq, TAU_F32) : NULL;
            tau_tensor *c = ef ? tau_reduce_forward(TAU_SUM, ef, dim, 1, 0, NULL) : NULL;
            w = c ? bin(TAU_DIV, ef, c) : NULL;
            tau_release(eq); tau_release(ef); tau_release(c);
        }
        r = w ? bin(TAU_MUL, ge, w) : NULL;
        tau_release(oe); tau_release(w);
        break;
    }
    default: tau_fail("%s has no gradient", tau_redop_name(op));
    }
    tau_release(ge);
    gin[0] = r;
    return r ? TAU_OK : TAU_ERR;
}

static const tau_op_info reduce_info[TAU_NREDUCE] = {
    [TAU_SUM] = {"sum", reduce_backward}, [TAU_MEAN] = {"mean", reduce_backward},
    [TAU_PROD] = {"prod", reduce_backward}, [TAU_VAR] = {"var", reduce_backward},
    [TAU_STD] = {"std", reduce_backward}, [TAU_MAX] = {"max", reduce_backward},
    [TAU_MIN] = {"min", reduce_backward}, [TAU_LOGSUMEXP] = {"logsumexp", reduce_backward},
};

tau_tensor *tau_op_reduce(tau_redop op, tau_tensor *x, int dim, int keepdim, int unbiased, tau_tensor **indices) {
    tau_tensor *out = tau_reduce_forward(op, x, dim, keepdim, unbiased, indices);
    if (!out || out->dtype != TAU_F32 || op == TAU_ARGMAX || op == TAU_ARGMIN || !tau_needs_grad(&x, 1)) return out;
    tau_node *nd = tau_record(&reduce_info[op], out, &x, 1, op == TAU_SUM || op == TAU_MEAN ? 0u : 1u);
    if (!nd) { tau_release(out); if (indices) { tau_release(*indices); *indices = NULL; } return NULL; }
    nd->i[0] = op; nd->i[1] = dim; nd->i[2] = keepdim; nd->i[3] = unbiased;
    if ((op == TAU_STD || op == TAU_MAX || op == TAU_MIN || op == TAU_LOGSUMEXP) &&
        tau_node_save_output(nd, out)) { tau_release(out); return NULL; }
    return out;
}

/* ------------------------------------------------------------ matmul */

static int matmul_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    tau_tensor *a = IN(n, 0), *b = IN(n, 1);
    /* work on matrices: 1-D operands become a row (a) or a column (b), and g gets those dims */
    tau_tensor *A = a->ndim == 1 ? tau_unsqueeze(a, 0) : tau_retain(a);
    tau_tensor *B = b->ndim == 1 ? tau_unsqueeze(b, 1) : tau_retain(b);
    tau_tensor *G = tau_retain(g), *t;
    int rc = TAU_ERR;
    if (!A || !B || !G) goto done;
    if (a->ndim == 1) { t = tau_unsqueeze(G, G->ndim - (b->ndim == 1 ? 0 : 1)); tau_release(G); G = t; if (!G) goto done; }
    if (b->ndim == 1) { t = tau_unsqueeze(G, G->ndim); tau_release(G); G = t; if (!G) goto done; }
    if (need[0]) {
        tau_tensor *Bt = tau_transpose(B, B->ndim - 2, B->ndim - 1);
        tau_tensor *ga = Bt ? tau_matmul_forward(G, Bt) : NULL;
        tau_release(Bt);
        tau_tensor *gs = ga ? tau_sum_to(ga, A->ndim, A->shape) : NULL;
        tau_release(ga);
        gin[0] = gs ? tau_reshape(gs, a->ndim, a->shape) : NULL;
        tau_release(gs);
        if (!gin[0]) goto done;
    }
    if (need[1]) {
        tau_tensor *At = tau_transpose(A, A->ndim - 2, A->ndim - 1);
        tau_tensor *gb = At ? tau_matmul_forward(At, G) : NULL;
        tau_release(At);
        tau_tensor *gs = gb ? tau_sum_to(gb, B->ndim, B->shape) : NULL;
        tau_release(gb);
        gin[1] = gs ? tau_reshape(gs, b->ndim, b->shape) : NULL;
        tau_release(gs);
        if (!gin[1]) goto done;
    }
    rc = TAU_OK;
done:
    tau_release(A); tau_release(B); tau_release(G);
    return rc;
}

static const tau_op_info matmul_info = {"matmul", matmul_backward};

tau_tensor *tau_op_matmul(tau_tensor *a, tau_tensor *b) {
    tau_tensor *out = tau_matmul_forward(a, b);
    tau_tensor *ins[2] = {a, b};
    if (!out || !tau_needs_grad(ins, 2)) return out;
    if (!tau_record(&matmul_info, out, ins, 2, 3u)) { tau_release(out); return NULL; }
    return out;
}

/* ------------------------------------------------------------ where */

static int where_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    tau_tensor *c = IN(n, 0), *z = scal(0.0);
    if (!z) return TAU_ERR;
    for (int k = 1; k <= 2; k++) {
        if (!need[k]) continue;
        tau_tensor *w = k == 1 ? tau_where_forward(c, g, z) : tau_where_forward(c, z, g);
        if (!(gin[k] = to_shape(w, IN(n, k)))) { tau_release(z); return TAU_ERR; }
    }
    tau_release(z);
    return TAU_OK;
}

static const tau_op_info where_info = {"where", where_backward};

tau_tensor *tau_op_where(tau_tensor *cond, tau_tensor *a, tau_tensor *b) {
    tau_tensor *out = tau_where_forward(cond, a, b);
    tau_tensor *ins[3] = {cond, a, b};
    if (!out || out->dtype != TAU_F32 || !tau_needs_grad(ins + 1, 2)) return out;
    if (!tau_record(&where_info, out, ins, 3, 1u)) { tau_release(out); return NULL; }
    return out;
}

/* ------------------------------------------------------------ views and copies */

enum { V_RESHAPE, V_TRANSPOSE, V_PERMUTE, V_NARROW, V_SELECT, V_EXPAND, V_IDENTITY };

static int view_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_tensor *x = IN(n, 0), *r = NULL;
    switch ((int)n->i[0]) {
    case V_RESHAPE: r = tau_reshape(g, x->ndim, x->shape); break;
    case V_TRANSPOSE: { tau_tensor *t = tau_transpose(g, (int)n->i[1], (int)n->i[2]);
        r = t ? tau_contiguous(t) : NULL; tau_release(t); break; }
    case V_PERMUTE: {
        int inv[TAU_MAXDIM];
        for (int d = 0; d < x->ndim; d++) inv[n->i[1 + d]] = d;
        tau_tensor *t = tau_permute(g, inv);
        r = t ? tau_contiguous(t) : NULL;
        tau_release(t);
        break;
    }
    case V_NARROW: case V_SELECT: {
        r = tau_zeros(TAU_F32, x->ndim, x->shape);
        tau_tensor *slot = !r ? NULL : n->i[0] == V_NARROW ? tau_narrow(r, (int)n->i[1], n->i[2], n->i[3])
                                                           : tau_select(r, (int)n->i[1], n->i[2]);
        if (!slot || tau_copy_(slot, g)) { tau_release(r); r = NULL; }
        tau_release(slot);
        break;
    }
    case V_EXPAND: r = tau_sum_to(g, x->ndim, x->shape); break;
    default: r = tau_retain(g);
    }
    gin[0] = r;
    return r ? TAU_OK : TAU_ERR;
}

static const tau_op_info view_info[] = {
    [V_RESHAPE] = {"reshape", view_backward}, [V_TRANSPOSE] = {"transpose", view_backward},
    [V_PERMUTE] = {"permute", view_backward}, [V_NARROW] = {"narrow", view_backward},
    [V_SELECT] = {"select", view_backward}, [V_EXPAND] = {"expand", view_backward},
    [V_IDENTITY] = {"clone", view_backward},
};

static tau_tensor *record_view(tau_tensor *out, tau_tensor *x, int kind, int64_t a, int64_t b, int64_t c) {
    if (!out || out->dtype != TAU_F32 || !tau_needs_grad(&x, 1)) return out;
    tau_node *nd = tau_record(&view_info[kind], out, &x, 1, 0u);
    if (!nd) { tau_release(out); return NULL; }
    nd->i[0] = kind; nd->i[1] = a; nd->i[2] = b; nd->i[3] = c;
    return out;
}

tau_tensor *tau_op_view(tau_tensor *x, int ndim, const int64_t *shape) {
    return record_view(tau_view(x, ndim, shape), x, V_RESHAPE, 0, 0, 0);
}
tau_tensor *tau_op_reshape(tau_tensor *x, int ndim, const int64_t *shape) {
    return record_view(tau_reshape(x, ndim, shape), x, V_RESHAPE, 0, 0, 0);
}
tau_tensor *tau_op_transpose(tau_tensor *x, int d0, int d1) {
    return record_view(tau_transpose(x, d0, d1), x, V_TRANSPOSE, d0, d1, 0);
}
tau_tensor *tau_op_permute(tau_tensor *x, const int *perm) {
    tau_tensor *out = record_view(tau_permute(x, perm), x, V_PERMUTE, 0, 0, 0);
    if (out && out->grad_fn && out->grad_fn->op == &view_info[V_PERMUTE])
        for (int d = 0; d < x->ndim; d++) out->grad_fn->i[1 + d] = perm[d];
    return out;
}
tau_tensor *tau_op_narrow(tau_tensor *x, int dim, int64_t start, int64_t len) {
    return record_view(tau_narrow(x, dim, start, len), x, V_NARROW, dim, start, len);
}
tau_tensor *tau_op_select(tau_tensor *x, int dim, int64_t index) {
    return record_view(tau_select(x, dim, index), x, V_SELECT, dim, index, 0);
}
tau_tensor *tau_op_expand(tau_tensor *x, int ndim, const int64_t *shape) {
    return record_view(tau_expand(x, ndim, shape), x, V_EXPAND, 0, 0, 0);
}
tau_tensor *tau_op_squeeze(tau_tensor *x, int dim) {
    return record_view(tau_squeeze(x, dim), x, V_RESHAPE, 0, 0, 0);
}
tau_tensor *tau_op_unsqueeze(tau_tensor *x, int dim) {
    return record_view(tau_unsqueeze(x, dim), x, V_RESHAPE, 0, 0, 0);
}
tau_tensor *tau_op_contiguous(tau_tensor *x) {
    if (tau_is_contiguous(x)) return tau_retain(x);
    return record_view(tau_clone(x), x, V_IDENTITY, 0, 0, 0);
}
tau_tensor *tau_op_clone(tau_tensor *x) { return record_view(tau_clone(x), x, V_IDENTITY, 0, 0, 0); }
tau_tensor *tau_op_to_dtype(tau_tensor *x, tau_dtype dt) {
    tau_tensor *out = tau_to_dtype(x, dt);
    return dt == TAU_F32 && x->dtype == TAU_F32 ? record_view(out, x, V_IDENTITY, 0, 0, 0) : out;
}

/* ------------------------------------------------------------ joining and indexing */

static int cat_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    int dim = (int)n->i[0], stack = (int)n->i[1];
    int64_t pos = 0;
    for (int k = 0; k < n->ninputs; k++) {
        tau_tensor *x = IN(n, k);
        int64_t len = stack ? 1 : x->shape[dim];
        if (need[k]) {
            tau_tensor *s = stack ? tau_select(g, dim, pos) : tau_narrow(g, dim, pos, len);
            gin[k] = s ? tau_contiguous(s) : NULL;
            tau_release(s);
            if (!gin[k]) return TAU_ERR;
        }
        pos += len;
    }
    return TAU_OK;
}

static const tau_op_info cat_info = {"cat", cat_backward}, stack_info = {"stack", cat_backward};

tau_tensor *tau_op_cat(tau_tensor *const *ts, int n, int dim) {
    tau_tensor *out = tau_cat_forward(ts, n, dim);
    if (!out || out->dtype != TAU_F32 || !tau_needs_grad(ts, n)) return out;
    tau_node *nd = tau_record(&cat_info, out, ts, n, 0u);
    if (!nd) { tau_release(out); return NULL; }
    nd->i[0] = dim;
    return out;
}

tau_tensor *tau_op_stack(tau_tensor *const *ts, int n, int dim) {
    tau_tensor *out = tau_stack_forward(ts, n, dim);
    if (!out || out->dtype != TAU_F32 || !tau_needs_grad(ts, n)) return out;
    tau_node *nd = tau_record(&stack_info, out, ts, n, 0u);
    if (!nd) { tau_release(out); return NULL; }
    nd->i[0] = dim;
    nd->i[1] = 1;
    return out;
}

static int index_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    tau_tensor *x = IN(n, 0), *idx = IN(n, 1);
    int dim = (int)n->i[0], kind = (int)n->i[1];
    if (need[0]) {
        if (kind == 2) gin[0] = tau_retain(g); /* scatter_add passes g through to x */
        else {
            tau_tensor *r = tau_zeros(TAU_F32, x->ndim, x->shape);
            int rc = !r ? TAU_ERR : kind == 0 ? tau_index_add_(r, dim, idx, g) : tau_scatter_add_(r, dim, idx, g);
            if (rc) { tau_release(r); return TAU_ERR; }
            gin[0] = r;
        }
    }
    if (kind == 2 && need[2] && !(gin[2] = tau_gather_forward(g, dim, idx))) return TAU_ERR;
    return TAU_OK;
}

static const tau_op_info index_select_info = {"index_select", index_backward},
                         gather_info = {"gather", index_backward},
                         scatter_info = {"scatter_add", index_backward};

static tau_tensor *record_index(tau_tensor *out, const tau_op_info *info, tau_tensor **ins, int n, int dim, int kind) {
    if (!out || out->dtype != TAU_F32 || !tau_needs_grad(ins, n)) return out;
    tau_node *nd = tau_record(info, out, ins, n, 0u);
    if (!nd) { tau_release(out); return NULL; }
    nd->i[0] = dim;
    nd->i[1] = kind;
    return out;
}

tau_tensor *tau_op_index_select(tau_tensor *x, int dim, tau_tensor *index) {
    tau_tensor *ins[2] = {x, index};
    return record_index(tau_index_select_forward(x, dim, index), &index_select_info, ins, 2, dim, 0);
}
tau_tensor *tau_op_gather(tau_tensor *x, int dim, tau_tensor *index) {
    tau_tensor *ins[2] = {x, index};
    return record_index(tau_gather_forward(x, dim, index), &gather_info, ins, 2, dim, 1);
}
tau_tensor *tau_op_scatter_add(tau_tensor *x, int dim, tau_tensor *index, tau_tensor *src) {
    tau_tensor *ins[3] = {x, index, src};
    return record_index(tau_scatter_add_forward(x, dim, index, src), &scatter_info, ins, 3, dim, 2);
}
