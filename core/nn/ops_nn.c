/* The autograd layer of the neural-network kernels: each op validates tensor shapes, runs the
 * forward kernel on contiguous data, and records a node whose backward runs the matching
 * backward kernel. */
#include "nn/ops_nn.h"
#include "base/alloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char sa[160], sb[160], sc[160];
#define SHAPE(buf, t) tau_shape_str(t, buf, sizeof buf)

static int need_f32(const char *fn, const char *what, const tau_tensor *t) {
    if (t->dtype != TAU_F32) return tau_fail("%s: %s must be float32, got %s", fn, what, tau_dtype_name(t->dtype));
    return TAU_OK;
}

/* A contiguous float32 version of t (a new reference). */
static tau_tensor *cont(tau_tensor *t) { return tau_contiguous(t); }

static void *ctx_copy(tau_node *n, const void *p, size_t size) {
    n->ctx = tau_alloc(size);
    if (n->ctx) { memcpy(n->ctx, p, size); n->ctx_size = size; }
    else tau_fail("out of memory");
    return n->ctx;
}

/* ------------------------------------------------------------ linear */

tau_tensor *tau_op_linear(tau_tensor *x, tau_tensor *w, tau_tensor *b) {
    if (need_f32("linear", "input", x) || need_f32("linear", "weight", w)) return NULL;
    if (w->ndim != 2) return tau_fail("linear: weight must be 2-dimensional (out, in), got %s", SHAPE(sa, w)), NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return tau_fail("linear: input of size %s does not match weight of size %s (last input dimension must be %lld)",
                        SHAPE(sa, x), SHAPE(sb, w), (long long)w->shape[1]), NULL;
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return tau_fail("linear: bias of size %s does not match weight of size %s", SHAPE(sa, b), SHAPE(sb, w)), NULL;
    if (x->ndim > 2) {
        /* (..., in) as one (rows, in) product, not a batch of small ones (a transformer's
         * (B, T, D) took 1.4x as long as a batch of B products) */
        int64_t rows2[2] = {1, x->shape[x->ndim - 1]}, shape[TAU_MAXDIM];
        for (int i = 0; i < x->ndim - 1; i++) rows2[0] *= x->shape[i]; /* not numel / in: in may be 0 */
        tau_tensor *x2 = tau_op_reshape(x, 2, rows2);
        tau_tensor *y2 = x2 ? tau_op_linear(x2, w, b) : NULL;
        tau_release(x2);
        if (!y2) return NULL;
        memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
        shape[x->ndim - 1] = w->shape[0];
        tau_tensor *y = tau_op_reshape(y2, x->ndim, shape);
        tau_release(y2);
        return y;
    }
    tau_tensor *wt = tau_op_transpose(w, 0, 1);
    tau_tensor *y = wt ? tau_op_matmul(x, wt) : NULL;
    tau_release(wt);
    if (!y || !b) return y;
    tau_tensor *r = tau_op_binary(TAU_ADD, y, b);
    tau_release(y);
    return r;
}

/* ------------------------------------------------------------ conv2d */

static int conv_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    const tau_conv2d_params *p = n->ctx;
    tau_tensor *x = cont(n->inputs[0]), *w = cont(n->inputs[1]), *gc = cont(g);
    int rc = TAU_ERR;
    if (!x || !w || !gc) goto done;
    if (need[0] && !(gin[0] = tau_empty(TAU_F32, 4, n->inputs[0]->shape))) goto done;
    if (need[1] && !(gin[1] = tau_empty(TAU_F32, 4, n->inputs[1]->shape))) goto done;
    if (n->ninputs > 2 && need[2] && !(gin[2] = tau_empty(TAU_F32, 1, n->inputs[2]->shape))) goto done;
    rc = tau_conv2d_backward(tau_f32(x), tau_f32(w), tau_f32(gc), gin[0] ? tau_f32(gin[0]) : NULL,
                             gin[1] ? tau_f32(gin[1]) : NULL, n->ninputs > 2 && gin[2] ? tau_f32(gin[2]) : NULL, p);
done:
    tau_release(x); tau_release(w); tau_release(gc);
    return rc;
}

static const tau_op_info conv_info = {"conv2d", conv_backward};

tau_tensor *tau_op_conv2d(tau_tensor *x, tau_tensor *w, tau_tensor *b, const tau_conv_opts *o) {
    const char *fn = "conv2d";
    if (need_f32(fn, "input", x) || need_f32(fn, "weight", w) || (b && need_f32(fn, "bias", b))) return NULL;
    if (x->ndim != 4) return tau_fail("%s: input must be 4-dimensional (N, C, H, W), got %s", fn, SHAPE(sa, x)), NULL;
    if (w->ndim != 4) return tau_fail("%s: weight must be 4-dimensional (K, C/groups, kh, kw), got %s", fn, SHAPE(sa, w)), NULL;
    if (o->groups < 1) return tau_fail("%s: groups must be positive, got %lld", fn, (long long)o->groups), NULL;
    if (x->shape[1] != w->shape[1] * o->groups)
        return tau_fail("%s: input of size %s has %lld channels but weight of size %s expects %lld (groups %lld)", fn,
                        SHAPE(sa, x), (long long)x->shape[1], SHAPE(sb, w), (long long)(w->shape[1] * o->groups),
                        (long long)o->groups), NULL;
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return tau_fail("%s: bias of size %s does not match %lld output channels", fn, SHAPE(sa, b), (long long)w->shape[0]), NULL;
    tau_conv2d_params p = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3],
                           o->stride[0], o->stride[1], o->pad[0], o->pad[1], o->dil[0], o->dil[1], o->groups};
    int64_t oh, ow;
    if (tau_conv2d_out_size(&p, &oh, &ow)) return NULL;
    int64_t shape[4] = {p.n, p.k, oh, ow};
    tau_tensor *xc = cont(x), *wc = cont(w), *bc = b ? cont(b) : NULL;
    tau_tensor *y = (xc && wc && (!b || bc)) ? tau_empty(TAU_F32, 4, shape) : NULL;
    if (y && tau_conv2d_forward(tau_f32(xc), tau_f32(wc), bc ? tau_f32(bc) : NULL, tau_f32(y), &p)) {
        tau_release(y);
        y = NULL;
    }
    tau_release(xc); tau_release(wc); tau_release(bc);
    tau_tensor *ins[3] = {x, w, b};
    if (!y || !tau_needs_grad(ins, b ? 3 : 2)) return y;
    tau_node *nd = tau_record(&conv_info, y, ins, b ? 3 : 2, 3u);
    if (!nd || !ctx_copy(nd, &p, sizeof p)) { tau_release(y); return NULL; }
    return y;
}

/* ------------------------------------------------------------ pooling */

typedef struct { tau_pool2d_params p; int kind; } pool_ctx; /* kind 0 max, 1 avg */

static int pool_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    pool_ctx *c = n->ctx;
    tau_tensor *gc = cont(g);
    tau_tensor *dx = gc ? tau_empty(TAU_F32, 4, n->inputs[0]->shape) : NULL;
    int rc = TAU_ERR;
    if (dx) rc = c->kind == 0 ? tau_max_pool2d_backward(tau_f32(gc), tau_i32(n->saved[0]), tau_f32(dx), &c->p)
                              : tau_avg_pool2d_backward(tau_f32(gc), tau_f32(dx), &c->p);
    tau_release(gc);
    if (rc) { tau_release(dx); return TAU_ERR; }
    gin[0] = dx;
    return TAU_OK;
}

static const tau_op_info maxpool_info = {"max_pool2d", pool_backward}, avgpool_info = {"avg_pool2d", pool_backward};

static tau_tensor *pool(tau_tensor *x, const tau_pool_opts *o, int kind) {
    const char *fn = kind ? "avg_pool2d" : "max_pool2d";
    if (need_f32(fn, "input", x)) return NULL;
    if (x->ndim != 4) return tau_fail("%s: input must be 4-dimensional (N, C, H, W), got %s", fn, SHAPE(sa, x)), NULL;
    pool_ctx c = {{x->shape[0], x->shape[1], x->shape[2], x->shape[3], o->kernel[0], o->kernel[1], o->stride[0],
                   o->stride[1], o->pad[0], o->pad[1], o->ceil_mode, o->count_include_pad}, kind};
    int64_t oh, ow;
    if ((kind ? tau_avg_pool2d_out_size : tau_max_pool2d_out_size)(&c.p, &oh, &ow)) return NULL;
    int64_t shape[4] = {c.p.n, c.p.c, oh, ow};
    tau_tensor *xc = cont(x), *y = xc ? tau_empty(TAU_F32, 4, shape) : NULL;
    tau_tensor *idx = (y && kind == 0) ? tau_empty(TAU_I32, 4, shape) : NULL;
    int rc = (!y || (kind == 0 && !idx)) ? TAU_ERR
             : kind ? tau_avg_pool2d_forward(tau_f32(xc), tau_f32(y), &c.p)
                    : tau_max_pool2d_forward(tau_f32(xc), tau_f32(y), tau_i32(idx), &c.p);
    tau_release(xc);
    if (rc) { tau_release(y); tau_release(idx); return NULL; }
    if (tau_needs_grad(&x, 1)) {
        tau_node *nd = tau_record(kind ? &avgpool_info : &maxpool_info, y, &x, 1, 0u);
        if (!nd || !ctx_copy(nd, &c, sizeof c) || (idx && tau_node_save(nd, idx))) {
            tau_release(y); tau_release(idx);
            return NULL;
        }
    }
    tau_release(idx);
    return y;
}

tau_tensor *tau_op_max_pool2d(tau_tensor *x, const tau_pool_opts *o) { return pool(x, o, 0); }
tau_tensor *tau_op_avg_pool2d(tau_tensor *x, const tau_pool_opts *o) { return pool(x, o, 1); }

static int adaptive_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_tensor *gc = cont(g), *dx = gc ? tau_empty(TAU_F32, 4, n->inputs[0]->shape) : NULL;
    int rc = dx ? tau_adaptive_avg_pool2d_backward(tau_f32(gc), tau_f32(dx), n->ctx) : TAU_ERR;
    tau_release(gc);
    if (rc) { tau_release(dx); return TAU_ERR; }
    gin[0] = dx;
    return TAU_OK;
}

static const tau_op_info adaptive_info = {"adaptive_avg_pool2d", adaptive_backward};

tau_tensor *tau_op_adaptive_avg_pool2d(tau_tensor *x, int64_t oh, int64_t ow) {
    const char *fn = "adaptive_avg_pool2d";
    if (need_f32(fn, "input", x)) return NULL;
    if (x->ndim != 4) return tau_fail("%s: input must be 4-dimensional (N, C, H, W), got %s", fn, SHAPE(sa, x)), NULL;
    if (oh < 1 || ow < 1) return tau_fail("%s: output size must be positive, got %lldx%lld", fn, (long long)oh, (long long)ow), NULL;
    tau_adaptive_pool2d_params p = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], oh, ow};
    int64_t shape[4] = {p.n, p.c, oh, ow};
    tau_tensor *xc = cont(x), *y = xc ? tau_empty(TAU_F32, 4, shape) : NULL;
    int rc = y ? tau_adaptive_avg_pool2d_forward(tau_f32(xc), tau_f32(y), &p) : TAU_ERR;
    tau_release(xc);
    if (rc) { tau_release(y); return NULL; }
    if (!tau_needs_grad(&x, 1)) return y;
    tau_node *nd = tau_record(&adaptive_info, y, &x, 1, 0u);
    if (!nd || !ctx_copy(nd, &p, sizeof p)) { tau_release(y); return NULL; }
    return y;
}

/* ------------------------------------------------------------ normalisation */

static int bn_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    const tau_batch_norm_params *p = n->ctx;
    tau_tensor *x = cont(n->inputs[0]), *gc = cont(g), *gamma = n->inputs[1] ? cont(n->inputs[1]) : NULL;
    int rc = TAU_ERR;
    if (!x || !gc || (n->inputs[1] && !gamma)) goto done;
    if (need[0] && !(gin[0] = tau_empty(TAU_F32, x->ndim, x->shape))) goto done;
    if (n->inputs[1] && need[1] && !(gin[1] = tau_empty(TAU_F32, 1, n->inputs[1]->shape))) goto done;
    if (n->inputs[2] && need[2] && !(gin[2] = tau_empty(TAU_F32, 1, n->inputs[2]->shape))) goto done;
    rc = tau_batch_norm_backward(tau_f32(x), tau_f32(gc), gamma ? tau_f32(gamma) : NULL, tau_f32(n->saved[0]),
                                 tau_f32(n->saved[1]), gin[0] ? tau_f32(gin[0]) : NULL, gin[1] ? tau_f32(gin[1]) : NULL,
                                 gin[2] ? tau_f32(gin[2]) : NULL, p);
done:
    tau_release(x); tau_release(gc); tau_release(gamma);
    return rc;
}

static const tau_op_info bn_info = {"batch_norm", bn_backward};

static int check_vec(const char *fn, const char *what, const tau_tensor *t, int64_t c) {
    if (!t) return TAU_OK;
    if (need_f32(fn, what, t)) return TAU_ERR;
    if (t->ndim != 1 || t->shape[0] != c)
        return tau_fail("%s: %s must have size [%lld], got %s", fn, what, (long long)c, SHAPE(sc, t));
    return TAU_OK;
}

tau_tensor *tau_op_batch_norm(tau_tensor *x, tau_tensor *rm, tau_tensor *rv, tau_tensor *gamma, tau_tensor *beta,
                              int training, double momentum, double eps) {
    const char *fn = "batch_norm";
    if (need_f32(fn, "input", x)) return NULL;
    if (x->ndim < 2) return tau_fail("%s: input must be (N, C, ...), got %s", fn, SHAPE(sa, x)), NULL;
    int64_t c = x->shape[1], l = 1;
    for (int i = 2; i < x->ndim; i++) l *= x->shape[i];
    if (check_vec(fn, "running_mean", rm, c) || check_vec(fn, "running_var", rv, c) ||
        check_vec(fn, "weight", gamma, c) || check_vec(fn, "bias", beta, c))
        return NULL;
    if (!training && (!rm || !rv)) return tau_fail("%s: evaluation mode needs running_mean and running_var", fn), NULL;
    if ((rm && !tau_is_contiguous(rm)) || (rv && !tau_is_contiguous(rv)))
        return tau_fail("%s: running statistics must be contiguous", fn), NULL;
    if (training && x->shape[0] * l <= 1)
        return tau_fail("%s: expected more than 1 value per channel when training, got input of size %s", fn, SHAPE(sa, x)), NULL;
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        return tau_fail("%s: eps must be positive and momentum in [0, 1]", fn), NULL;
    tau_batch_norm_params p = {x->shape[0], c, l, (float)eps, (float)momentum, training};
    tau_tensor *xc = cont(x), *gc = gamma ? cont(gamma) : NULL, *bc = beta ? cont(beta) : NULL;
    tau_tensor *y = xc ? tau_empty(TAU_F32, x->ndim, x->shape) : NULL;
    tau_tensor *sm = y ? tau_empty(TAU_F32, 1, &c) : NULL, *si = sm ? tau_empty(TAU_F32, 1, &c) : NULL;
    int rc = (!si || (gamma && !gc) || (beta && !bc)) ? TAU_ERR
             : tau_batch_norm_forward(tau_f32(xc), gc ? tau_f32(gc) : NULL, bc ? tau_f32(bc) : NULL,
                                      rm ? tau_f32(rm) : NULL, rv ? tau_f32(rv) : NULL, tau_f32(y), tau_f32(sm),
                                      tau_f32(si), &p);
    if (!rc && training) { if (rm) tau_bump_version(rm); if (rv) tau_bump_version(rv); }
    tau_release(xc); tau_release(gc); tau_release(bc);
    tau_tensor *ins[3] = {x, gamma, beta};
    if (!rc && tau_needs_grad(ins, 3)) {
        tau_node *nd = tau_record(&bn_info, y, ins, 3, 3u);
        if (!nd || !ctx_copy(nd, &p, sizeof p) || tau_node_save(nd, sm) || tau_node_save(nd, si)) rc = TAU_ERR;
    }
    tau_release(sm); tau_release(si);
    if (rc) { tau_release(y); return NULL; }
    return y;
}

static int ln_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    const tau_layer_norm_params *p = n->ctx;
    tau_tensor *x = cont(n->inputs[0]), *gc = cont(g), *gamma = n->inputs[1] ? cont(n->inputs[1]) : NULL;
    int rc = TAU_ERR;
    if (!x || !gc || (n->inputs[1] && !gamma)) goto done;
    if (need[0] && !(gin[0] = tau_empty(TAU_F32, x->ndim, x->shape))) goto done;
    if (n->inputs[1] && need[1] && !(gin[1] = tau_empty(TAU_F32, n->inputs[1]->ndim, n->inputs[1]->shape))) goto done;
    if (n->inputs[2] && need[2] && !(gin[2] = tau_empty(TAU_F32, n->inputs[2]->ndim, n->inputs[2]->shape))) goto done;
    rc = tau_layer_norm_backward(tau_f32(x), tau_f32(gc), gamma ? tau_f32(gamma) : NULL, tau_f32(n->saved[0]),
                                 tau_f32(n->saved[1]), gin[0] ? tau_f32(gin[0]) : NULL, gin[1] ? tau_f32(gin[1]) : NULL,
                                 gin[2] ? tau_f32(gin[2]) : NULL, p);
done:
    tau_release(x); tau_release(gc); tau_release(gamma);
    return rc;
}

static const tau_op_info ln_info = {"layer_norm", ln_backward};

tau_tensor *tau_op_layer_norm(tau_tensor *x, int nd, tau_tensor *gamma, tau_tensor *beta, double eps) {
    const char *fn = "layer_norm";
    if (need_f32(fn, "input", x)) return NULL;
    if (nd < 1 || nd > x->ndim)
        return tau_fail("%s: cannot normalise over the last %d dimensions of a tensor of size %s", fn, nd, SHAPE(sa, x)), NULL;
    int64_t d = 1;
    for (int i = x->ndim - nd; i < x->ndim; i++) d *= x->shape[i];
    tau_tensor *pars[2] = {gamma, beta};
    for (int k = 0; k < 2; k++) {
        tau_tensor *t = pars[k];
        if (!t) continue;
        if (need_f32(fn, k ? "bias" : "weight", t) || tau_numel(t) != d || t->ndim > nd)
            return tau_fail("%s: %s of size %s does not match the normalised shape of input %s", fn,
                            k ? "bias" : "weight", SHAPE(sa, t), SHAPE(sb, x)), NULL;
    }
    if (!(eps > 0)) return tau_fail("%s: eps must be positive", fn), NULL;
    int64_t m = d ? tau_numel(x) / d : 0;
    tau_layer_norm_params p = {m, d, (float)eps};
    tau_tensor *xc = cont(x), *gc = gamma ? cont(gamma) : NULL, *bc = beta ? cont(beta) : NULL;
    tau_tensor *y = xc ? tau_empty(TAU_F32, x->ndim, x->shape) : NULL;
    tau_tensor *sm = y ? tau_empty(TAU_F32, 1, &m) : NULL, *si = sm ? tau_empty(TAU_F32, 1, &m) : NULL;
    int rc = (!si || (gamma && !gc) || (beta && !bc)) ? TAU_ERR
             : tau_layer_norm_forward(tau_f32(xc), gc ? tau_f32(gc) : NULL, bc ? tau_f32(bc) : NULL, tau_f32(y),
                                      tau_f32(sm), tau_f32(si), &p);
    tau_release(xc); tau_release(gc); tau_release(bc);
    tau_tensor *ins[3] = {x, gamma, beta};
    if (!rc && tau_needs_grad(ins, 3)) {
        tau_node *n = tau_record(&ln_info, y, ins, 3, 3u);
        if (!n || !ctx_copy(n, &p, sizeof p) || tau_node_save(n, sm) || tau_node_save(n, si)) rc = TAU_ERR;
    }
    tau_release(sm); tau_release(si);
    if (rc) { tau_release(y); return NULL; }
    return y;
}

/* ------------------------------------------------------------ softmax with temperature */

/* The kernels work on rows; a dim other than the last is moved to the end and back. */
static tau_tensor *move_last(tau_tensor *t, int dim) {
    if (dim == t->ndim - 1) return tau_contiguous(t);
    tau_tensor *tr = tau_transpose(t, dim, t->ndim - 1);
    tau_tensor *c = tr ? tau_contiguous(tr) : NULL;
    tau_release(tr);
    return c;
}

static tau_tensor *move_back(tau_tensor *t, int dim) {
    if (dim == t->ndim - 1) return tau_retain(t);
    tau_tensor *tr = tau_transpose(t, dim, t->ndim - 1);
    tau_tensor *c = tr ? tau_contiguous(tr) : NULL;
    tau_release(tr);
    return c;
}

static int softmax_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    int dim = (int)n->i[0], log = (int)n->i[1];
    tau_tensor *saved = n->saved[0]; /* output, in moved layout */
    tau_tensor *gm = move_last(g, dim);
    tau_tensor *dz = gm ? tau_empty(TAU_F32, saved->ndim, saved->shape) : NULL;
    int64_t k = saved->ndim ? saved->shape[saved->ndim - 1] : 1;
    tau_softmax_params p = {k ? tau_numel(saved) / k : 0, k, (float)n->f[0]};
    int rc = !dz ? TAU_ERR : log ? tau_log_softmax_backward(tau_f32(saved), tau_f32(gm), tau_f32(dz), &p)
                                 : tau_softmax_backward(tau_f32(saved), tau_f32(gm), tau_f32(dz), &p);
    tau_release(gm);
    if (rc) { tau_release(dz); return TAU_ERR; }
    gin[0] = move_back(dz, dim);
    tau_release(dz);
    return gin[0] ? TAU_OK : TAU_ERR;
}

static const tau_op_info softmax_info = {"softmax", softmax_backward}, log_softmax_info = {"log_softmax", softmax_backward};

tau_tensor *tau_op_softmax(tau_tensor *z, int dim, double tau, int log) {
    const char *fn = log ? "log_softmax" : "softmax";
    if (need_f32(fn, "input", z)) return NULL;
    if (!(tau > 0) || isinf(tau)) return tau_fail("%s: temperature tau must be a positive number, got %g", fn, tau), NULL;
    if (z->ndim == 0) return tau_fail("%s: input must have at least one dimension", fn), NULL;
    if (dim < 0 || dim >= z->ndim) return tau_fail("%s: dimension %d out of range for a %d-dimensional tensor", fn, dim + 1, z->ndim), NULL;
    tau_tensor *zm = move_last(z, dim);
    if (!zm) return NULL;
    int64_t k = z->shape[dim];
    tau_softmax_params p = {k ? tau_numel(z) / k : 0, k, (float)tau};
    tau_tensor *om = tau_empty(TAU_F32, zm->ndim, zm->shape);
    int rc = !om ? TAU_ERR : log ? tau_log_softmax_forward(tau_f32(zm), tau_f32(om), &p)
                                 : tau_softmax_forward(tau_f32(zm), tau_f32(om), &p);
    tau_release(zm);
    tau_tensor *y = rc ? NULL : move_back(om, dim);
    if (y && tau_needs_grad(&z, 1)) {
        tau_node *n = tau_record(log ? &log_softmax_info : &softmax_info, y, &z, 1, 0u);
        /* the moved-layout output: its storage is y's only when dim is last */
        if (!n || (n->i[0] = dim, n->i[1] = log, n->f[0] = tau,
                   dim == z->ndim - 1 ? tau_node_save_output(n, y) : tau_node_save(n, om))) {
            tau_release(y);
            y = NULL;
        }
    }
    tau_release(om);
    return y;
}

/* ------------------------------------------------------------ losses */

static int check_labels(const char *fn, const tau_tensor *logits, const tau_tensor *labels) {
    if (labels->dtype != TAU_I32) return tau_fail("%s: labels must be an int32 tensor, got %s", fn, tau_dtype_name(labels->dtype));
    if (logits->ndim != 2) return tau_fail("%s: input must be 2-dimensional (N, C), got %s", fn, SHAPE(sa, logits));
    if (labels->ndim != 1 || labels->shape[0] != logits->shape[0])
        return tau_fail("%s: labels of size %s do not match input of size %s (expected [%lld])", fn, SHAPE(sa, labels),
                        SHAPE(sb, logits), (long long)logits->shape[0]);
    return TAU_OK;
}

static int64_t loss_shape(int reduction, int64_t n, int64_t *shape) {
    if (reduction == TAU_REDUCTION_NONE) { shape[0] = n; return 1; }
    return 0;
}

static int ce_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    const tau_cross_entropy_params *p = n->ctx;
    tau_tensor *gc = cont(g), *lab = cont(n->inputs[1]);
    tau_tensor *dz = (gc && lab) ? tau_empty(TAU_F32, 2, n->inputs[0]->shape) : NULL;
    int rc = dz ? tau_cross_entropy_backward(tau_f32(n->saved[0]), tau_i32(lab), tau_f32(gc), tau_f32(dz), p) : TAU_ERR;
    tau_release(gc); tau_release(lab);
    if (rc) { tau_release(dz); return TAU_ERR; }
    gin[0] = dz;
    return TAU_OK;
}

static const tau_op_info ce_info = {"cross_entropy", ce_backward};

tau_tensor *tau_op_cross_entropy(tau_tensor *logits, tau_tensor *labels, double tau, double smoothing, int reduction) {
    const char *fn = "cross_entropy";
    if (need_f32(fn, "input", logits) || check_labels(fn, logits, labels)) return NULL;
    if (!(tau > 0) || isinf(tau)) return tau_fail("%s: temperature tau must be a positive number, got %g", fn, tau), NULL;
    if (!(smoothing >= 0 && smoothing <= 1)) return tau_fail("%s: label_smoothing must be in [0, 1], got %g", fn, smoothing), NULL;
    tau_cross_entropy_params p = {logits->shape[0], logits->shape[1], (float)tau, (float)smoothing, (tau_reduction)reduction};
    int64_t shape[1];
    int nd = (int)loss_shape(reduction, p.n, shape);
    tau_tensor *zc = cont(logits), *lc = cont(labels);
    tau_tensor *loss = (zc && lc) ? tau_empty(TAU_F32, nd, shape) : NULL;
    tau_tensor *prob = loss ? tau_empty(TAU_F32, 2, logits->shape) : NULL;
    int rc = prob ? tau_cross_entropy_forward(tau_f32(zc), tau_i32(lc), tau_f32(loss), tau_f32(prob), &p) : TAU_ERR;
    tau_release(zc); tau_release(lc);
    tau_tensor *ins[2] = {logits, labels};
    if (!rc && tau_needs_grad(ins, 1)) {
        tau_node *n = tau_record(&ce_info, loss, ins, 2, 2u);
        if (!n || !ctx_copy(n, &p, sizeof p) || tau_node_save(n, prob)) rc = TAU_ERR;
    }
    tau_release(prob);
    if (rc) { tau_release(loss); return NULL; }
    return loss;
}

static int nll_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_tensor *gc = cont(g), *lab = cont(n->inputs[1]);
    tau_tensor *d = (gc && lab) ? tau_empty(TAU_F32, 2, n->inputs[0]->shape) : NULL;
    int rc = d ? tau_nll_loss_backward(tau_i32(lab), tau_f32(gc), tau_f32(d), n->ctx) : TAU_ERR;
    tau_release(gc); tau_release(lab);
    if (rc) { tau_release(d); return TAU_ERR; }
    gin[0] = d;
    return TAU_OK;
}

static const tau_op_info nll_info = {"nll_loss", nll_backward};

tau_tensor *tau_op_nll_loss(tau_tensor *logp, tau_tensor *labels, int reduction) {
    const char *fn = "nll_loss";
    if (need_f32(fn, "input", logp) || check_labels(fn, logp, labels)) return NULL;
    tau_nll_loss_params p = {logp->shape[0], logp->shape[1], (tau_reduction)reduction};
    int64_t shape[1];
    int nd = (int)loss_shape(reduction, p.n, shape);
    tau_tensor *xc = cont(logp), *lc = cont(labels);
    tau_tensor *loss = (xc && lc) ? tau_empty(TAU_F32, nd, shape) : NULL;
    int rc = loss ? tau_nll_loss_forward(tau_f32(xc), tau_i32(lc), tau_f32(loss), &p) : TAU_ERR;
    tau_release(xc); tau_release(lc);
    tau_tensor *ins[2] = {logp, labels};
    if (!rc && tau_needs_grad(ins, 1)) {
        tau_node *n = tau_record(&nll_info, loss, ins, 2, 2u);
        if (!n || !ctx_copy(n, &p, sizeof p)) rc = TAU_ERR;
    }
    if (rc) { tau_release(loss); return NULL; }
    return loss;
}

static int mse_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    tau_tensor *x = cont(n->inputs[0]), *t = cont(n->inputs[1]), *gc = cont(g);
    int rc = TAU_ERR;
    if (!x || !t || !gc) goto done;
    if (need[0] && !(gin[0] = tau_empty(TAU_F32, x->ndim, x->shape))) goto done;
    if (need[1] && !(gin[1] = tau_empty(TAU_F32, x->ndim, x->shape))) goto done;
    rc = tau_mse_loss_backward(tau_f32(x), tau_f32(t), tau_f32(gc), gin[0] ? tau_f32(gin[0]) : NULL,
                               gin[1] ? tau_f32(gin[1]) : NULL, n->ctx);
done:
    tau_release(x); tau_release(t); tau_release(gc);
    return rc;
}

static const tau_op_info mse_info = {"mse_loss", mse_backward};

tau_tensor *tau_op_mse_loss(tau_tensor *x, tau_tensor *target, int reduction) {
    const char *fn = "mse_loss";
    if (need_f32(fn, "input", x) || need_f32(fn, "target", target)) return NULL;
    if (!tau_same_shape(x, target))
        return tau_fail("%s: input of size %s and target of size %s must have the same size", fn, SHAPE(sa, x), SHAPE(sb, target)), NULL;
    tau_mse_loss_params p = {tau_numel(x), (tau_reduction)reduction};
    tau_tensor *xc = cont(x), *tc = cont(target);
    tau_tensor *loss = (xc && tc) ? (reduction == TAU_REDUCTION_NONE ? tau_empty(TAU_F32, x->ndim, x->shape)
                                                                     : tau_empty(TAU_F32, 0, NULL)) : NULL;
    int rc = loss ? tau_mse_loss_forward(tau_f32(xc), tau_f32(tc), tau_f32(loss), &p) : TAU_ERR;
    tau_release(xc); tau_release(tc);
    tau_tensor *ins[2] = {x, target};
    if (!rc && tau_needs_grad(ins, 2)) {
        tau_node *n = tau_record(&mse_info, loss, ins, 2, 3u);
        if (!n || !ctx_copy(n, &p, sizeof p)) rc = TAU_ERR;
    }
    if (rc) { tau_release(loss); return NULL; }
    return loss;
}

/* ------------------------------------------------------------ attention */

static int attn_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    const tau_attention_params *p = n->ctx;
    tau_tensor *q = cont(n->inputs[0]), *k = cont(n->inputs[1]), *v = cont(n->inputs[2]), *gc = cont(g);
    int rc = TAU_ERR;
    if (!q || !k || !v || !gc) goto done;
    for (int i = 0; i < 3; i++)
        if (need[i] && !(gin[i] = tau_empty(TAU_F32, 4, n->inputs[i]->shape))) goto done;
    rc = tau_attention_backward(tau_f32(q), tau_f32(k), tau_f32(v), tau_f32(n->saved[0]), tau_f32(gc),
                                gin[0] ? tau_f32(gin[0]) : NULL, gin[1] ? tau_f32(gin[1]) : NULL,
                                gin[2] ? tau_f32(gin[2]) : NULL, p);
done:
    tau_release(q); tau_release(k); tau_release(v); tau_release(gc);
    return rc;
}

static const tau_op_info attn_info = {"attention", attn_backward};

tau_tensor *tau_op_attention(tau_tensor *q, tau_tensor *k, tau_tensor *v, tau_tensor *mask, int causal,
                             double dropout, double scale) {
    const char *fn = "attention";
    if (need_f32(fn, "q", q) || need_f32(fn, "k", k) || need_f32(fn, "v", v) || (mask && need_f32(fn, "mask", mask))) return NULL;
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return tau_fail("%s: q, k, v must be 4-dimensional (B, H, T, D), got %s, %s, %s", fn, SHAPE(sa, q), SHAPE(sb, k),
                        SHAPE(sc, v)), NULL;
    if (k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3] || !tau_same_shape(k, v))
        return tau_fail("%s: q of size %s, k of size %s and v of size %s do not fit (k and v must be (B, H, S, D))", fn,
                        SHAPE(sa, q), SHAPE(sb, k), SHAPE(sc, v)), NULL;
    if (!(dropout >= 0 && dropout < 1)) return tau_fail("%s: dropout must be in [0, 1), got %g", fn, dropout), NULL;
    tau_attention_params p = {q->shape[0], q->shape[1], q->shape[2], k->shape[2], q->shape[3], 1, 1, (float)scale,
                              causal, (float)dropout, dropout > 0 ? tau_rng_next() : 0};
    tau_tensor *mc = NULL;
    if (mask) {
        int64_t T = p.t, S = p.s;
        int ok = mask->ndim >= 2 && mask->ndim <= 4 && mask->shape[mask->ndim - 2] == T && mask->shape[mask->ndim - 1] == S;
        if (ok && mask->ndim >= 3) { p.mask_h = mask->shape[mask->ndim - 3]; ok = p.mask_h == 1 || p.mask_h == p.h; }
        if (ok && mask->ndim == 4) { p.mask_b = mask->shape[0]; ok = p.mask_b == 1 || p.mask_b == p.b; }
        if (!ok)
            return tau_fail("%s: mask of size %s does not broadcast to (B, H, T, S) = (%lld, %lld, %lld, %lld)", fn,
                            SHAPE(sa, mask), (long long)p.b, (long long)p.h, (long long)T, (long long)S), NULL;
        if (!(mc = cont(mask))) return NULL;
    }
    int64_t pshape[4] = {p.b, p.h, p.t, p.s};
    tau_tensor *qc = cont(q), *kc = cont(k), *vc = cont(v);
    tau_tensor *out = (qc && kc && vc) ? tau_empty(TAU_F32, 4, q->shape) : NULL;
    tau_tensor *probs = out ? tau_empty(TAU_F32, 4, pshape) : NULL;
    int rc = probs ? tau_attention_forward(tau_f32(qc), tau_f32(kc), tau_f32(vc), mc ? tau_f32(mc) : NULL, tau_f32(out),
                                           tau_f32(probs), &p) : TAU_ERR;
    tau_release(qc); tau_release(kc); tau_release(vc); tau_release(mc);
    tau_tensor *ins[3] = {q, k, v};
    if (!rc && tau_needs_grad(ins, 3)) {
        tau_node *n = tau_record(&attn_info, out, ins, 3, 7u);
        if (!n || !ctx_copy(n, &p, sizeof p) || tau_node_save(n, probs)) rc = TAU_ERR;
    }
    tau_release(probs);
    if (rc) { tau_release(out); return NULL; }
    return out;
}

/* ------------------------------------------------------------ activations, dropout, pad */

static int gelu_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_tensor *x = cont(n->inputs[0]), *gc = cont(g);
    tau_tensor *dx = (x && gc) ? tau_empty(TAU_F32, x->ndim, x->shape) : NULL;
    int rc = dx ? tau_gelu_backward(tau_f32(x), tau_f32(gc), tau_f32(dx), tau_numel(x), (tau_gelu_approx)n->i[0]) : TAU_ERR;
    tau_release(x); tau_release(gc);
    if (rc) { tau_release(dx); return TAU_ERR; }
    gin[0] = dx;
    return TAU_OK;
}

static const tau_op_info gelu_info = {"gelu", gelu_backward};

tau_tensor *tau_op_gelu(tau_tensor *x, int tanh_approx) {
    if (need_f32("gelu", "input", x)) return NULL;
    tau_tensor *xc = cont(x), *y = xc ? tau_empty(TAU_F32, x->ndim, x->shape) : NULL;
    int rc = y ? tau_gelu_forward(tau_f32(xc), tau_f32(y), tau_numel(x), tanh_approx ? TAU_GELU_TANH : TAU_GELU_EXACT) : TAU_ERR;
    tau_release(xc);
    if (rc) { tau_release(y); return NULL; }
    if (!tau_needs_grad(&x, 1)) return y;
    tau_node *n = tau_record(&gelu_info, y, &x, 1, 1u);
    if (!n) { tau_release(y); return NULL; }
    n->i[0] = tanh_approx ? TAU_GELU_TANH : TAU_GELU_EXACT;
    return y;
}

tau_tensor *tau_op_dropout(tau_tensor *x, double p, int training) {
    if (!(p >= 0 && p <= 1)) return tau_fail("dropout: probability must be in [0, 1], got %g", p), NULL;
    if (!training || p == 0) return tau_op_clone(x);
    tau_tensor *mask = tau_empty(TAU_F32, x->ndim, x->shape);
    if (!mask) return NULL;
    float *m = tau_f32(mask), keep = (float)(p >= 1 ? 0.0 : 1.0 / (1.0 - p));
    for (int64_t i = 0, n = tau_numel(mask); i < n; i++) m[i] = tau_rng_uniform() >= p ? keep : 0.0f;
    tau_tensor *y = tau_op_binary(TAU_MUL, x, mask);
    tau_release(mask);
    return y;
}

static int pad_backward(tau_node *n, tau_tensor *g, tau_tensor **gin, const int *need) {
    (void)need;
    tau_tensor *x = n->inputs[0], *cur = tau_retain(g);
    for (int i = 0; i < x->ndim && cur; i++) {
        int64_t before = n->i[2 * i];
        tau_tensor *nx = tau_narrow(cur, i, before, x->shape[i]);
        tau_release(cur);
        cur = nx;
    }
    gin[0] = cur ? tau_contiguous(cur) : NULL;
    tau_release(cur);
    return gin[0] ? TAU_OK : TAU_ERR;
}

static const tau_op_info pad_info = {"pad", pad_backward};

tau_tensor *tau_op_pad(tau_tensor *x, int npairs, const int64_t *pads, double value) {
    if (npairs > x->ndim) return tau_fail("pad: %d pairs of padding given for a %d-dimensional tensor", npairs, x->ndim), NULL;
    int64_t before[TAU_MAXDIM] = {0}, shape[TAU_MAXDIM];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    for (int k = 0; k < npairs; k++) {
        int d = x->ndim - 1 - k;
        if (pads[2 * k] < 0 || pads[2 * k + 1] < 0) return tau_fail("pad: negative padding is not supported"), NULL;
        before[d] = pads[2 * k];
        shape[d] += pads[2 * k] + pads[2 * k + 1];
    }
    tau_tensor *y = tau_full(x->dtype, x->ndim, shape, value), *cur = y ? tau_retain(y) : NULL;
    for (int i = 0; i < x->ndim && cur; i++) {
        tau_tensor *nx = tau_narrow(cur, i, before[i], x->shape[i]);
        tau_release(cur);
        cur = nx;
    }
    int rc = cur ? tau_copy_(cur, x) : TAU_ERR;
    tau_release(cur);
    if (rc) { tau_release(y); return NULL; }
    if (x->dtype != TAU_F32 || !tau_needs_grad(&x, 1)) return y;
    tau_node *n = tau_record(&pad_info, y, &x, 1, 0u);
    if (!n) { tau_release(y); return NULL; }
    for (int i = 0; i < x->ndim; i++) n->i[2 * i] = before[i];
    return y;
}
