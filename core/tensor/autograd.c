#include "tensor/autograd.h"
#include "base/alloc.h"
#include "tensor/kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tau_grad_enabled = 1;
static uint64_t epoch;

int tau_needs_grad(tau_tensor *const *inputs, int n) {
    if (!tau_grad_enabled) return 0;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return 1;
    return 0;
}

tau_node *tau_record(const tau_op_info *op, tau_tensor *out, tau_tensor *const *inputs, int n,
                     unsigned saves_inputs) {
    /* from the block cache: a training step records the same nodes every time */
    tau_node *nd = tau_calloc(sizeof *nd);
    tau_tensor **ins = tau_calloc((size_t)(n ? n : 1) * sizeof *ins);
    uint64_t *ver = tau_calloc((size_t)(n ? n : 1) * sizeof *ver);
    if (!nd || !ins || !ver) {
        tau_free(nd, sizeof *nd);
        tau_free(ins, (size_t)(n ? n : 1) * sizeof *ins);
        tau_free(ver, (size_t)(n ? n : 1) * sizeof *ver);
        tau_fail("%s: out of memory recording the autograd graph", op->name);
        return NULL;
    }
    nd->refcount = 1;
    nd->op = op;
    nd->ninputs = n;
    nd->inputs = ins;
    nd->in_version = ver;
    nd->saves_inputs = saves_inputs;
    for (int i = 0; i < n; i++) {
        ins[i] = tau_retain(inputs[i]);
        if (inputs[i]) ver[i] = inputs[i]->storage->version;
    }
    nd->out_ndim = out->ndim;
    memcpy(nd->out_shape, out->shape, sizeof nd->out_shape);
    tau__grad_fn_release = tau_node_release;    /* before the first tensor holds a node */
    out->grad_fn = nd;
    out->requires_grad = 1;
    return nd;
}

int tau_node_save(tau_node *n, tau_tensor *t) {
    if (n->nsaved >= TAU_NODE_SAVED) return tau_fail("%s: too many saved tensors", n->op->name);
    n->saved[n->nsaved] = tau_retain(t);
    n->saved_version[n->nsaved] = t->storage->version;
    n->nsaved++;
    return TAU_OK;
}

int tau_node_save_output(tau_node *n, tau_tensor *out) {
    tau_tensor *alias = tau_alias(out);
    if (!alias) return TAU_ERR;
    int rc = tau_node_save(n, alias);
    tau_release(alias);
    return rc;
}

/* Drops what a node holds for backward; the node itself may live on as a tensor's grad_fn. */
static void free_contents(tau_node *n) {
    for (int i = 0; i < n->ninputs; i++) { tau_release(n->inputs[i]); n->inputs[i] = NULL; }
    for (int i = 0; i < n->nsaved; i++) { tau_release(n->saved[i]); n->saved[i] = NULL; }
    n->nsaved = 0;
    tau_free(n->ctx, n->ctx_size);
    n->ctx = NULL;
    tau_release(n->gacc);
    n->gacc = NULL;
    n->freed = 1;
}

static void free_node(tau_node *n) {
    size_t k = (size_t)(n->ninputs ? n->ninputs : 1);
    tau_free(n->inputs, k * sizeof *n->inputs);
    tau_free(n->in_version, k * sizeof *n->in_version);
    tau_free(n, sizeof *n);
}

/* Releasing a long chain would recurse once per node; a worklist keeps the stack flat. */
static tau_node **pending;
static size_t npending, cappending;
static int draining;

void tau_node_release(tau_node *n) {
    if (!n || --n->refcount > 0) return;
    if (npending == cappending) {
        size_t nc = cappending ? cappending * 2 : 64;
        tau_node **p = realloc(pending, nc * sizeof *p);
        if (!p) { free_contents(n); free_node(n); return; }
        pending = p;
        cappending = nc;
    }
    pending[npending++] = n;
    if (draining) return;
    draining = 1;
    while (npending) {
        tau_node *m = pending[--npending];
        free_contents(m);
        free_node(m);
    }
    draining = 0;
}

int tau_check_inplace(const char *fn, const tau_tensor *t) {
    if (!tau_grad_enabled) return TAU_OK;
    if (t->requires_grad && !t->grad_fn)
        return tau_fail("%s: a leaf tensor that requires grad cannot be modified in place "
                        "(use tau.no_grad, or detach() it first)", fn);
    if (t->grad_fn)
        return tau_fail("%s: in-place operations on a tensor recorded in an autograd graph are not "
                        "supported; use the out-of-place form", fn);
    return TAU_OK;
}

/* ---------------------------------------------------------------- traversal */

typedef struct { tau_node **v; size_t n, cap; } nodevec;

static void nodevec_free(nodevec *s) {
    tau_free(s->v, s->cap * sizeof *s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Grows through the block cache, so that every backward of a training loop reuses the same
 * blocks. */
static int push(nodevec *s, tau_node *n) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        tau_node **p = tau_alloc(nc * sizeof *p);
        if (!p) return tau_fail("backward: out of memory");
        if (s->n) memcpy(p, s->v, s->n * sizeof *p);
        tau_free(s->v, s->cap * sizeof *s->v);
        s->v = p;
        s->cap = nc;
    }
    s->v[s->n++] = n;
    return TAU_OK;
}

/* Nodes reachable from root in post-order (inputs before consumers), each once. */
static int collect(tau_node *root, nodevec *order) {
    nodevec stack = {0};
    uint64_t m = ++epoch * 2;       /* m: on stack, m + 1: done */
    int rc = push(&stack, root);
    root->mark = m;
    while (rc == TAU_OK && stack.n) {
        tau_node *n = stack.v[stack.n - 1];
        int pushed = 0;
        for (int i = 0; i < n->ninputs; i++) {
            tau_tensor *in = n->inputs[i];
            tau_node *c = in ? in->grad_fn : NULL;
            if (c && c->mark != m && c->mark != m + 1) {
                c->mark = m;
                if ((rc = push(&stack, c))) break;
                pushed = 1;
                break;
            }
        }
        if (rc) break;
        if (!pushed) {
            stack.n--;
            n->mark = m + 1;
            rc = push(order, n);
        }
    }
    nodevec_free(&stack);
    return rc;
}

static int accumulate(tau_tensor **slot, tau_tensor *g) {
    if (!*slot) {
        *slot = tau_clone(g);
        return *slot ? TAU_OK : TAU_ERR;
    }
    if (!tau_same_shape(*slot, g)) {
        tau_tensor *r = tau_binary_forward(TAU_ADD, *slot, g);
        if (!r) return TAU_ERR;
        tau_release(*slot);
        *slot = r;
        return TAU_OK;
    }
    return tau_binary_inplace(TAU_ADD, *slot, g);
}

/* A node's incoming gradient: the first contribution is shared, not copied (most nodes have
 * one consumer); a second one makes a new sum that the node owns and can add into in place. */
static int accumulate_node(tau_node *n, tau_tensor *g) {
    if (!n->gacc) {
        n->gacc = tau_retain(g);
        n->gacc_owned = 0;
        return TAU_OK;
    }
    if (n->gacc_owned && tau_same_shape(n->gacc, g) && tau_is_contiguous(n->gacc))
        return tau_binary_inplace(TAU_ADD, n->gacc, g);
    tau_tensor *r = tau_binary_forward(TAU_ADD, n->gacc, g);
    if (!r) return TAU_ERR;
    tau_release(n->gacc);
    n->gacc = r;
    n->gacc_owned = 1;
    return TAU_OK;
}

static int check_versions(tau_node *n) {
    for (int i = 0; i < n->ninputs; i++)
        if ((n->saves_inputs >> i & 1) && n->inputs[i] && n->inputs[i]->storage->version != n->in_version[i])
            return tau_fail("backward: input %d of %s was modified in place after it was used "
                            "(version %llu, saved at %llu)", i + 1, n->op->name,
                            (unsigned long long)n->inputs[i]->storage->version,
                            (unsigned long long)n->in_version[i]);
    for (int i = 0; i < n->nsaved; i++)
        if (n->saved[i] && n->saved[i]->storage->version != n->saved_version[i])
            return tau_fail("backward: a tensor saved by %s was modified in place after it was saved "
                            "(version %llu, saved at %llu)", n->op->name,
                            (unsigned long long)n->saved[i]->storage->version,
                            (unsigned long long)n->saved_version[i]);
    return TAU_OK;
}

/* The shared walk. With targets, gradients go to results[] (leaves' .grad untouched) and
 * only nodes on a path to a target run. */
static int run_backward(tau_tensor *root, tau_tensor *seed, int retain, tau_tensor *const *targets,
                        int ntargets, tau_tensor **results) {
    char a[160], b[160];
    if (!root->requires_grad)
        return tau_fail("backward: the tensor does not require grad and has no grad_fn");
    tau_tensor *g0;
    if (seed) {
        if (!tau_same_shape(seed, root))
            return tau_fail("backward: gradient of size %s given for a tensor of size %s",
                            tau_shape_str(seed, a, sizeof a), tau_shape_str(root, b, sizeof b));
        g0 = tau_to_dtype(seed, TAU_F32);
    } else {
        if (tau_numel(root) != 1)
            return tau_fail("backward: a gradient must be given for a non-scalar tensor of size %s",
                            tau_shape_str(root, a, sizeof a));
        g0 = tau_full(TAU_F32, root->ndim, root->shape, 1.0);
    }
    if (!g0) return TAU_ERR;
    int rc = TAU_OK;
    if (!root->grad_fn) { /* a leaf: its own gradient */
        for (int t = 0; t < ntargets; t++)
            if (targets[t] == root) rc = accumulate(&results[t], g0);
        if (!targets) rc = accumulate(&root->grad, g0);
        tau_release(g0);
        return rc;
    }
    if (root->grad_fn->freed) {
        tau_release(g0);
        return tau_fail("backward: the graph has already been freed by an earlier backward; "
                        "pass retain_graph = true the first time");
    }
    nodevec order = {0};
    if ((rc = collect(root->grad_fn, &order))) { tau_release(g0); nodevec_free(&order); return rc; }
    /* which nodes lead to a target (post-order: inputs are decided first) */
    for (size_t k = 0; k < order.n; k++) {
        tau_node *n = order.v[k];
        n->needed = !targets;
        n->deps = 0;
        n->gacc = NULL;
        /* an intermediate target's own node must run so its gradient is collected there */
        for (int t = 0; t < ntargets && !n->needed; t++) if (targets[t]->grad_fn == n) n->needed = 1;
        for (int i = 0; targets && i < n->ninputs && !n->needed; i++) {
            tau_tensor *in = n->inputs[i];
            if (!in) continue;
            for (int t = 0; t < ntargets; t++) if (targets[t] == in) n->needed = 1;
            if (in->grad_fn && in->grad_fn->needed && in->grad_fn->mark == order.v[0]->mark) n->needed = 1;
        }
    }
    for (size_t k = 0; k < order.n; k++) {
        tau_node *n = order.v[k];
        for (int i = 0; i < n->ninputs; i++)
            if (n->inputs[i] && n->inputs[i]->grad_fn) n->inputs[i]->grad_fn->deps++;
    }
    root->grad_fn->gacc = g0;
    root->grad_fn->gacc_owned = 1;
    for (size_t k = order.n; k-- > 0 && rc == TAU_OK;) {
        tau_node *n = order.v[k];
        if (tau_interrupted) { rc = tau_fail("backward: interrupted"); break; }
        if (!n->needed || !n->gacc) continue;
        if (n->freed) { rc = tau_fail("backward: part of the graph was freed by an earlier backward"); break; }
        for (int t = 0; t < ntargets; t++) /* an intermediate target: its gradient is complete now */
            if (targets[t]->grad_fn == n && (rc = accumulate(&results[t], n->gacc))) break;
        if (rc || (rc = check_versions(n))) break;
        int need[n->ninputs ? n->ninputs : 1];
        tau_tensor *gin[n->ninputs ? n->ninputs : 1];
        int any = 0;
        for (int i = 0; i < n->ninputs; i++) {
            tau_tensor *in = n->inputs[i];
            gin[i] = NULL;
            need[i] = in && in->requires_grad && (in->grad_fn ? in->grad_fn->needed : 1);
            if (need[i] && targets && !in->grad_fn) {
                need[i] = 0;
                for (int t = 0; t < ntargets; t++) if (targets[t] == in) need[i] = 1;
            }
            any |= need[i];
        }
        if (!any) continue;
        if (!n->op->backward) {
            rc = tau_fail("backward: %s has no gradient rule", n->op->name);
            break;
        }
        if ((rc = n->op->backward(n, n->gacc, gin, need))) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", tau_errmsg());
            rc = tau_fail("backward through %s: %s", n->op->name, msg);
            for (int i = 0; i < n->ninputs; i++) tau_release(gin[i]);
            break;
        }
        for (int i = 0; i < n->ninputs && rc == TAU_OK; i++) {
            tau_tensor *in = n->inputs[i], *g = gin[i];
            if (!g || !need[i]) { tau_release(g); continue; }
            if (!tau_same_shape(g, in)) {
                rc = tau_fail("backward: %s produced a gradient of size %s for an input of size %s",
                              n->op->name, tau_shape_str(g, a, sizeof a), tau_shape_str(in, b, sizeof b));
            } else if (in->grad_fn) {
                rc = accumulate_node(in->grad_fn, g);
            } else if (targets) {
                for (int t = 0; t < ntargets && rc == TAU_OK; t++)
                    if (targets[t] == in) rc = accumulate(&results[t], g);
            } else {
                rc = accumulate(&in->grad, g);
            }
            tau_release(g);
        }
        for (int i = 0; i < n->ninputs; i++) if (gin[i] && rc) { /* already released above */ }
        tau_release(n->gacc);
        n->gacc = NULL;
    }
    for (size_t k = 0; k < order.n; k++) {
        tau_release(order.v[k]->gacc);
        order.v[k]->gacc = NULL;
        if (!retain && rc == TAU_OK) free_contents(order.v[k]);
    }
    nodevec_free(&order);
    return rc;
}

int tau_backward(tau_tensor *root, tau_tensor *seed, int retain_graph) {
    return run_backward(root, seed, retain_graph, NULL, 0, NULL);
}

int tau_grad(tau_tensor *root, tau_tensor *seed, tau_tensor *const *inputs, int n, tau_tensor **results,
             int retain_graph) {
    for (int i = 0; i < n; i++) results[i] = NULL;
    for (int i = 0; i < n; i++)
        if (!inputs[i]->requires_grad)
            return tau_fail("grad: input %d does not require grad", i + 1);
    int rc = run_backward(root, seed, retain_graph, inputs, n, results);
    if (rc) for (int i = 0; i < n; i++) { tau_release(results[i]); results[i] = NULL; }
    return rc;
}

char *tau_graph_dot(const tau_tensor *t) {
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
#define EMIT(...) do {                                                          \
        int need_ = snprintf(NULL, 0, __VA_ARGS__);                             \
        if (len + (size_t)need_ + 1 > cap) {                                    \
            while (len + (size_t)need_ + 1 > cap) cap *= 2;                     \
            char *p_ = realloc(s, cap);                                         \
            if (!p_) { free(s); nodevec_free(&order); return NULL; }           \
            s = p_;                                                             \
        }                                                                       \
        len += (size_t)snprintf(s + len, cap - len, __VA_ARGS__);               \
    } while (0)
    nodevec order = {0};
    char b[160];
    EMIT("digraph tau {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n");
    EMIT("  out [label=\"output %s\", shape=ellipse];\n", tau_shape_str(t, b, sizeof b));
    if (t->grad_fn && collect(t->grad_fn, &order) == TAU_OK) {
        EMIT("  n%p -> out;\n", (void *)t->grad_fn);
        for (size_t k = 0; k < order.n; k++) {
            tau_node *n = order.v[k];
            EMIT("  n%p [label=\"%s\\n%s\"];\n", (void *)n, n->op->name,
                 tau_dims_str(n->out_ndim, n->out_shape, b, sizeof b));
            for (int i = 0; i < n->ninputs; i++) {
                tau_tensor *in = n->inputs[i];
                if (!in) continue;
                if (in->grad_fn) EMIT("  n%p -> n%p;\n", (void *)in->grad_fn, (void *)n);
                else if (in->requires_grad) {
                    EMIT("  l%p [label=\"leaf %s\", shape=ellipse];\n", (void *)in, tau_shape_str(in, b, sizeof b));
                    EMIT("  l%p -> n%p;\n", (void *)in, (void *)n);
                }
            }
        }
    }
    EMIT("}\n");
    nodevec_free(&order);
#undef EMIT
    return s;
}
