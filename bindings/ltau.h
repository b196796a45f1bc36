/* Shared by the binding files: the tensor userdata and argument checking. */
#ifndef LTAU_H
#define LTAU_H
#include <lauxlib.h>
#include <lua.h>
#include "tensor/ops.h"

#define LTAU_TENSOR "tau.Tensor"

/* Pushes a userdata holding no tensor yet (so an allocation error cannot leak); the caller
 * stores a new reference in the returned slot, then calls ltau_done. */
tau_tensor **ltau_newslot(lua_State *L);
/* Checks the slot filled by the core: raises "fn: <core message>" when it is NULL, and tells
 * the collector about the new tensor memory. Leaves the tensor on the stack. */
void ltau_done(lua_State *L, tau_tensor **slot, const char *fn);
/* Called before an op that will allocate a result like t: when that is large, one collector
 * step first lets dead tensors' finalizers return their blocks, so the result reuses a block
 * still in cache instead of a third one. */
void ltau_make_room(lua_State *L, const tau_tensor *t);
/* Pushes t (taking its reference); raises fn's error when t is NULL. */
void ltau_push(lua_State *L, tau_tensor *t, const char *fn);
/* luaL_error with printf formats (lua_pushfstring knows no %lld or %g), at ltau_where's
 * position; never returns. */
int ltau_raisef(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Raises "fn: <the core's last message>"; never returns. */
int ltau_error(lua_State *L, const char *fn);

tau_tensor *ltau_test(lua_State *L, int idx);                 /* NULL if not a live tensor */
tau_tensor *ltau_check(lua_State *L, int idx, const char *fn);
/* A tensor, or a number turned into a 0-dim tensor (pushed to the stack to own it). */
tau_tensor *ltau_checkoperand(lua_State *L, int idx, const char *fn, tau_dtype like);
/* A 1-based Lua dimension (negative counts from the end) as a 0-based one. */
int ltau_checkdim(lua_State *L, int idx, int ndim, const char *fn);
int64_t ltau_checkint(lua_State *L, int idx, const char *fn, const char *what);
/* Class labels are 1..C in Lua and 0..C-1 in the core (core/tau.h); these are the crossings.
 * ltau_checklabels gives the core a 0-based copy of labels (an int32 tensor of n labels, each to
 * be in 1..k), pushed on the stack to own it; a label out of range raises "fn: <what> v out of
 * range 1..k at <unit> i" (i counted from 1). Labels of another dtype or shape are returned as
 * they are, for the op to reject with its own message. */
tau_tensor *ltau_checklabels(lua_State *L, tau_tensor *labels, int64_t n, int64_t k, const char *fn,
                             const char *what, const char *unit);
/* Pushes an int32 tensor (n) of the 1-based forms of the core's labels. */
void ltau_pushlabels(lua_State *L, const int32_t *labels, int64_t n, const char *fn);
static inline lua_Integer ltau_label_tolua(int32_t label) { return (lua_Integer)label + 1; }
/* Sizes given as integers from idx on, or as one table; returns the count. */
int ltau_checkshape(lua_State *L, int idx, int64_t *shape, const char *fn);
/* Option from a table at idx (or defaults when idx is none/nil). */
double ltau_optnumber(lua_State *L, int idx, const char *key, double def, const char *fn);
int ltau_optbool(lua_State *L, int idx, const char *key, int def, const char *fn);
const char *ltau_optstring(lua_State *L, int idx, const char *key, const char *def, const char *fn);
/* Options tables (options.c). A C function that takes options declares its spec, a static array
 * ended by {NULL}: each key with the types it accepts (LTAU_OPT_* bits, 0 for any) and, for a
 * string, its choices ("none|tanh"). ltau_checkopts refuses a non-table, an unknown key
 * ("fn: unknown option 'paddin' (did you mean 'padding'?)") and a value of the wrong type or
 * choice; the values are then read with ltau_opt*, which supply the defaults. Ranges are the
 * core's to check. ltau_declare_opts lists the spec in tau.options.specs (call it when opening). */
#define LTAU_OPT_NUMBER 1u
#define LTAU_OPT_INTEGER 2u
#define LTAU_OPT_BOOLEAN 4u
#define LTAU_OPT_STRING 8u
#define LTAU_OPT_TABLE 16u
#define LTAU_OPT_TENSOR 32u
#define LTAU_OPT_FUNCTION 64u
typedef struct {
    const char *key;
    unsigned types;
    const char *choices;
} ltau_opt;
void ltau_checkopts(lua_State *L, int idx, const char *fn, const ltau_opt *spec);
void ltau_declare_opts(lua_State *L, const char *fn, const ltau_opt *spec);
/* Pushes "file:line: " of the innermost caller that is neither C nor the Lua library
 * (scripts/tau/), or "": where every error of tau is reported. */
void ltau_where(lua_State *L);

/* Registers functions into the table at the top of the stack. */
void ltau_register(lua_State *L, const luaL_Reg *fns);

int ltau_open_tensor(lua_State *L);    /* tensor methods and creation functions into tau */
int ltau_open_autograd(lua_State *L);
int ltau_open_nn(lua_State *L);        /* tau.F */
int ltau_open_optim(lua_State *L);     /* fused optimiser kernels: tau._sgd_step, ... */
int ltau_open_data(lua_State *L);      /* tau._data, tau.image, safetensors */
int ltau_open_attack(lua_State *L);    /* tau._attack: fused attack kernels */
int ltau_open_corrupt(lua_State *L);
int ltau_open_options(lua_State *L);   /* tau.options, tau._raise */
int ltau_open_analysis(lua_State *L);   /* tau._analysis: t-SNE, separation measures */

#endif
