/* tau's C core: the public headers, and the rules every file below keeps.
 *
 * Floors. Each folder uses only the folders below it; nothing in core/ includes Lua (the build
 * compiles core/ without Lua's include path, so it cannot):
 *
 *   folder   holds                                               may use
 *   analysis/ t-SNE, k-NN accuracy, silhouette (raw float arrays)  tensor, base
 *   data/    data sets, image files, batches, safetensors        base
 *   robust/  attacks, corruptions, distribution shifts           nn, tensor, base
 *   nn/      network kernels (conv, attention, softmax, norms,
 *            pooling), their autograd ops, optimizer steps       tensor, base
 *   tensor/  strided tensors, element-wise, reductions,
 *            indexing, matmul, autograd                          base
 *   base/    errors, allocation, threads, CPU features, gemm,
 *            atomic files, random numbers, file helpers
 *
 * tests/core/layers.sh checks this on the built objects, as part of make test.
 *
 * Inside tensor/, autograd sits on top of the tensors it differentiates; the one edge back down
 * (a tensor releasing the node that produced it) is the hook tau__grad_fn_release in
 * tensor/tensor.h. New areas go in by what they use.
 *
 * Index rule. Everything the core takes or returns is 0-based: dimensions, element indices,
 * class labels (0 .. C-1), data-set and corruption indices. The Lua API is 1-based; bindings/
 * converts at its boundary (ltau_checkdim for dimensions, ltau_checklabels / ltau_pushlabels
 * for labels) and nowhere else. Messages are read by people, so they count positions (the
 * dimension, row or sample at fault) from 1, and show values as the core holds them.
 * Severities (1..5) and counts are quantities, not indices.
 *
 * Errors. A failing function returns TAU_ERR (or NULL) after tau_fail() recorded a message that
 * names the function and the problem; the core never exits or aborts on user input.
 *
 * Names. Public functions are tau_<area>_... and marked TAU_API (base/api.h): only those, and
 * luaopen_tau, are exported from tau.so. Helpers shared between core files are tau__..., declared
 * in internal headers (base/file.h, tensor/iter.h, nn/conv_*.h, robust/corrupt_impl.h,
 * data/dataset_internal.h, ...); everything else is static. */
#ifndef TAU_TAU_H
#define TAU_TAU_H

#include "base/api.h"
#include "base/error.h"
#include "base/alloc.h"
#include "base/atomic.h"
#include "base/parallel.h"

#include "tensor/tensor.h"
#include "tensor/kernels.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"

#include "nn/nn.h"
#include "nn/ops_nn.h"
#include "nn/optim.h"

#include "robust/attack.h"
#include "robust/corrupt.h"
#include "robust/shift.h"

#include "data/dataset.h"
#include "data/batch.h"
#include "data/image.h"

#include "analysis/tsne.h"
#include "data/safetensors.h"

#endif
