/* Tensors: strided views on refcounted storage, float32 or int32.
 *
 * Ownership: every function returning tau_tensor * returns a new reference (NULL on failure,
 * with the message in tau_errmsg()); arguments are borrowed. tau_release drops a reference.
 * Shapes are int64_t, dimensions 0-based here (the Lua binding converts from 1-based). */
#ifndef TAU_TENSOR_H
#define TAU_TENSOR_H
#include "base/api.h"
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

#define TAU_MAXDIM 8
/* Refuse tensors larger than this many elements: far beyond memory, and keeps byte counts
 * and index arithmetic clear of int64 overflow. */
#define TAU_MAX_NUMEL ((int64_t)1 << 40)

typedef enum { TAU_F32 = 0, TAU_I32 = 1 } tau_dtype;

typedef struct tau_storage {
    void *data;
    size_t nbytes;
    int refcount;
    uint64_t version;      /* bumped by every in-place write; autograd checks it */
} tau_storage;

TAU_API struct tau_node;

/* The one edge from tensors up to autograd, made a hook so that tensor.c needs nothing above
 * it: a tensor an op produced holds that op's node (grad_fn) and releasing the tensor must
 * release the node. autograd.c installs its release here when it records a node, and a tensor
 * can only have a grad_fn after that, so the hook is never NULL when it is called. */
extern void (*tau__grad_fn_release)(struct tau_node *n);

typedef struct tau_tensor {
    int refcount;
    tau_dtype dtype;
    int ndim;
    int64_t shape[TAU_MAXDIM];
    int64_t stride[TAU_MAXDIM];   /* in elements */
    int64_t offset;               /* in elements */
    tau_storage *storage;
    /* autograd */
    int requires_grad;
    struct tau_tensor *grad;      /* accumulated gradient of a leaf, or NULL */
    struct tau_node *grad_fn;     /* the op that made this tensor, NULL for leaves */
} tau_tensor;

/* ---- life cycle and metadata ---- */
TAU_API tau_tensor *tau_empty(tau_dtype dt, int ndim, const int64_t *shape);
TAU_API tau_tensor *tau_retain(tau_tensor *t);
TAU_API void tau_release(tau_tensor *t);
TAU_API int64_t tau_numel(const tau_tensor *t);
TAU_API int tau_is_contiguous(const tau_tensor *t);
TAU_API int tau_same_shape(const tau_tensor *a, const tau_tensor *b);
TAU_API size_t tau_elsize(tau_dtype dt);
TAU_API const char *tau_dtype_name(tau_dtype dt);
static inline float *tau_f32(const tau_tensor *t) { return (float *)t->storage->data + t->offset; }
static inline int32_t *tau_i32(const tau_tensor *t) { return (int32_t *)t->storage->data + t->offset; }
/* Writes "[2, 3]" into buf; returns buf (for messages). */
TAU_API char *tau_shape_str(const tau_tensor *t, char *buf, size_t n);
TAU_API char *tau_dims_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* Validates a shape (non-negative, product within TAU_MAX_NUMEL); fn names the caller. */
TAU_API int tau_check_shape(const char *fn, int ndim, const int64_t *shape);
/* Element offset of a multi-index into the storage. */
TAU_API int64_t tau_offset_of(const tau_tensor *t, const int64_t *idx);
TAU_API double tau_get(const tau_tensor *t, const int64_t *idx);
TAU_API void tau_set(tau_tensor *t, const int64_t *idx, double v);
TAU_API void tau_bump_version(tau_tensor *t);

/* ---- creation ---- */
TAU_API tau_tensor *tau_zeros(tau_dtype dt, int ndim, const int64_t *shape);
TAU_API tau_tensor *tau_full(tau_dtype dt, int ndim, const int64_t *shape, double value);
TAU_API tau_tensor *tau_scalar(double v);                    /* 0-dim float32 */
TAU_API tau_tensor *tau_arange(double start, double stop, double step, tau_dtype dt); /* [start, stop) */
TAU_API tau_tensor *tau_linspace(double start, double stop, int64_t n);
TAU_API tau_tensor *tau_eye(int64_t n, int64_t m);
TAU_API tau_tensor *tau_rand(int ndim, const int64_t *shape);
TAU_API tau_tensor *tau_randn(int ndim, const int64_t *shape);
TAU_API tau_tensor *tau_randint(int64_t lo, int64_t hi, int ndim, const int64_t *shape); /* inclusive */
TAU_API tau_tensor *tau_randperm(int64_t n);                 /* int32, 0-based values */

/* ---- the seeded generator (xoshiro256**) ---- */
TAU_API void tau_manual_seed(uint64_t seed);
TAU_API uint64_t tau_rng_next(void);
TAU_API double tau_rng_uniform(void);                        /* [0, 1) */
TAU_API double tau_rng_normal(void);
TAU_API void tau_rng_get_state(uint64_t state[4]);
TAU_API void tau_rng_set_state(const uint64_t state[4]);

/* ---- views (share storage) ---- */
TAU_API tau_tensor *tau_view(tau_tensor *t, int ndim, const int64_t *shape);   /* one -1 allowed */
TAU_API tau_tensor *tau_reshape(tau_tensor *t, int ndim, const int64_t *shape);/* view or copy */
TAU_API tau_tensor *tau_transpose(tau_tensor *t, int d0, int d1);
TAU_API tau_tensor *tau_permute(tau_tensor *t, const int *perm);
TAU_API tau_tensor *tau_narrow(tau_tensor *t, int dim, int64_t start, int64_t len);
TAU_API tau_tensor *tau_select(tau_tensor *t, int dim, int64_t index);         /* drops dim */
TAU_API tau_tensor *tau_expand(tau_tensor *t, int ndim, const int64_t *shape); /* -1 keeps */
TAU_API tau_tensor *tau_squeeze(tau_tensor *t, int dim);                       /* dim -1: all */
TAU_API tau_tensor *tau_unsqueeze(tau_tensor *t, int dim);
TAU_API tau_tensor *tau_alias(tau_tensor *t);                                  /* same view */

/* ---- copies and conversion ---- */
TAU_API tau_tensor *tau_contiguous(tau_tensor *t);           /* t itself (retained) when contiguous */
TAU_API tau_tensor *tau_clone(tau_tensor *t);
TAU_API tau_tensor *tau_to_dtype(tau_tensor *t, tau_dtype dt);
TAU_API int tau_copy_(tau_tensor *dst, const tau_tensor *src);  /* src broadcast to dst's shape */
TAU_API int tau_fill_(tau_tensor *t, double v);

/* ---- broadcasting ---- */
TAU_API int tau_broadcast_shape(const char *fn, const tau_tensor *a, const tau_tensor *b,
                                int *ndim, int64_t *shape);

#endif
