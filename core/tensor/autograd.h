/* Reverse-mode autograd over a dynamic graph. Each differentiable op records a node that holds
 * its inputs and saved tensors (never its output); the output holds the node. backward() walks
 * the nodes in reverse topological order and frees the graph unless asked to retain it. */
#ifndef TAU_AUTOGRAD_H
#define TAU_AUTOGRAD_H
#include "base/api.h"
#include "tensor/tensor.h"

#define TAU_NODE_SAVED 4
#define TAU_NODE_ARGS 16

typedef struct tau_node tau_node;

/* gin[i] receives a new reference to the gradient of input i when need[i] is set (or NULL for
 * a zero gradient). gout has the output's shape and is float32. */
typedef int (*tau_backward_fn)(tau_node *n, tau_tensor *gout, tau_tensor **gin, const int *need);

typedef struct {
    const char *name;
    tau_backward_fn backward;
} tau_op_info;

struct tau_node {
    int refcount;
    const tau_op_info *op;
    int ninputs;
    tau_tensor **inputs;          /* strong references */
    uint64_t *in_version;         /* versions at record time of the inputs backward reads */
    unsigned saves_inputs;        /* bit i: backward reads input i's values */
    int nsaved;
    tau_tensor *saved[TAU_NODE_SAVED];
    uint64_t saved_version[TAU_NODE_SAVED];
    double f[TAU_NODE_ARGS];      /* the op's options */
    int64_t i[TAU_NODE_ARGS];
    void *ctx;                    /* op-specific block, freed with the node */
    size_t ctx_size;
    int out_ndim;
    int64_t out_shape[TAU_MAXDIM];
    int freed;                    /* graph already freed by a backward */
    /* traversal state */
    tau_tensor *gacc;
    int gacc_owned;               /* gacc is this node's own sum, safe to add into */
    int deps;
    uint64_t mark;
    int needed;
};

extern TAU_API int tau_grad_enabled;

/* Whether an op on these inputs must record a node. */
TAU_API int tau_needs_grad(tau_tensor *const *inputs, int n);
/* Records a node for out (which takes a reference to it). inputs are retained; saves_inputs
 * marks those whose values backward reads. Returns the node so the op can save more. */
TAU_API tau_node *tau_record(const tau_op_info *op, tau_tensor *out, tau_tensor *const *inputs, int n,
                             unsigned saves_inputs);
TAU_API int tau_node_save(tau_node *n, tau_tensor *t);
/* Saves the node's own output: as a header sharing its storage, since holding the output
 * itself would make a reference cycle. */
TAU_API int tau_node_save_output(tau_node *n, tau_tensor *out);
TAU_API void tau_node_release(tau_node *n);

/* Gradient of root (seed: its upstream gradient, NULL for a scalar root = 1) accumulated into
 * the .grad of every leaf that requires grad. */
TAU_API int tau_backward(tau_tensor *root, tau_tensor *seed, int retain_graph);
/* Gradients of root w.r.t. the chosen tensors (leaves or intermediate), .grad untouched;
 * results[i] is a new reference, or NULL when root does not depend on inputs[i]. */
TAU_API int tau_grad(tau_tensor *root, tau_tensor *seed, tau_tensor *const *inputs, int n,
                     tau_tensor **results, int retain_graph);

/* Error for an in-place write on t when autograd forbids it (leaf requiring grad or a tensor
 * inside a graph while grad mode is on); TAU_OK otherwise. */
TAU_API int tau_check_inplace(const char *fn, const tau_tensor *t);

/* Graphviz dot of the graph behind t into a malloc'd string. */
TAU_API char *tau_graph_dot(const tau_tensor *t);

#endif
