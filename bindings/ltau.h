/* Shared by the binding files: the tensor userdata and argument checking. */
#ifndef LTAU_H
#define LTAU_H
#include <lauxlib.h>
#include <lua.h>
#include "../core/ops.h"

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
/* luaL_error with printf formats (lua_pushfstring knows no %lld or %g); never returns. */
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
/* Sizes given as integers from idx on, or as one table; returns the count. */
int ltau_checkshape(lua_State *L, int idx, int64_t *shape, const char *fn);
/* Option from a table at idx (or defaults when idx is none/nil). */
double ltau_optnumber(lua_State *L, int idx, const char *key, double def, const char *fn);
int ltau_optbool(lua_State *L, int idx, const char *key, int def, const char *fn);
const char *ltau_optstring(lua_State *L, int idx, const char *key, const char *def, const char *fn);
/* Registers functions into the table at the top of the stack. */
void ltau_register(lua_State *L, const luaL_Reg *fns);

int ltau_open_tensor(lua_State *L);    /* tensor methods and creation functions into tau */
int ltau_open_autograd(lua_State *L);
int ltau_open_nn(lua_State *L);        /* tau.F */
int ltau_open_optim(lua_State *L);     /* fused optimiser kernels: tau._sgd_step, ... */
int ltau_open_data(lua_State *L);      /* tau._data, tau.image, safetensors */
int ltau_open_attack(lua_State *L);    /* tau._attack: fused attack kernels */
int ltau_open_corrupt(lua_State *L);
int ltau_open_analysis(lua_State *L);   /* tau._analysis: t-SNE, separation measures */

#endif
