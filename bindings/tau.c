/* luaopen_tau: the tau table, its global settings, and lazy loading of the Lua library
 * (tau.nn, tau.optim, ... from scripts/tau/). */
#include "ltau.h"
#include "version.h"
#include "base/alloc.h"
#include "base/parallel.h"
#include <ctype.h>
#include <signal.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

static int f_manual_seed(lua_State *L) {
    lua_Integer s = luaL_checkinteger(L, 1);
    tau_manual_seed((uint64_t)s);
    return 0;
}

static int f_get_rng_state(lua_State *L) {
    uint64_t st[4];
    tau_rng_get_state(st);
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++) { lua_pushinteger(L, (lua_Integer)st[i]); lua_rawseti(L, -2, i + 1); }
    return 1;
}

static int f_set_rng_state(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    uint64_t st[4];
    for (int i = 0; i < 4; i++) {
        lua_geti(L, 1, i + 1);
        if (!lua_isinteger(L, -1)) return ltau_raisef(L, "tau.set_rng_state: expected a table of 4 integers");
        st[i] = (uint64_t)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    if (!(st[0] | st[1] | st[2] | st[3])) return ltau_raisef(L, "tau.set_rng_state: the all-zero state is invalid");
    tau_rng_set_state(st);
    return 0;
}

static int f_set_num_threads(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1) return ltau_raisef(L, "tau.set_num_threads: thread count must be at least 1, got %lld", (long long)n);
    tau_set_num_threads((int)(n > 64 ? 64 : n));
    return 0;
}

static int f_get_num_threads(lua_State *L) { lua_pushinteger(L, tau_get_num_threads()); return 1; }

static int f_memory(lua_State *L) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)tau_live_bytes()); lua_setfield(L, -2, "live");
    lua_pushinteger(L, (lua_Integer)tau_cached_bytes()); lua_setfield(L, -2, "cached");
    lua_pushinteger(L, (lua_Integer)tau_heap_allocs()); lua_setfield(L, -2, "heap_allocs");
    return 1;
}

static int f_is_tensor(lua_State *L) { lua_pushboolean(L, ltau_test(L, 1) != NULL); return 1; }

/* Whether require(name) would find a Lua module: loaded already, preloaded, or a file on
 * package.path. The C searchers are left out: tau's submodules are Lua, and probing for a
 * library would load it (even all of ./tau.so again) just to answer a field lookup. */
static int module_exists(lua_State *L, const char *name) {
    int top = lua_gettop(L);
    int found = lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE &&
                lua_getfield(L, -1, name) != LUA_TNIL;
    lua_settop(L, top);
    if (!found)
        found = lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE) == LUA_TTABLE &&
                lua_getfield(L, -1, name) != LUA_TNIL;
    lua_settop(L, top);
    if (!found && lua_getglobal(L, "package") == LUA_TTABLE &&
        lua_getfield(L, -1, "searchpath") == LUA_TFUNCTION) {
        lua_pushstring(L, name);
        if (lua_getfield(L, -3, "path") == LUA_TSTRING) {
            lua_call(L, 2, 1);
            found = !lua_isnil(L, -1);
        }
    }
    lua_settop(L, top);
    return found;
}

static int is_identifier(const char *s, size_t len) {
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

/* tau.<name> is the Lua module tau.<name> (scripts/tau/<name>.lua or <name>/init.lua),
 * loaded on first use, so that `require "tau"` stays cheap and the C part works alone. A
 * name no module answers to is nil, as any missing field; a module that fails to load
 * raises its error. */
static int lazy_index(lua_State *L) {
    size_t len;
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
    if (k == NULL || !is_identifier(k, len))
        return 0;
    if (!strcmp(k, "save") || !strcmp(k, "load")) { /* written in Lua, in tau.io */
        lua_getglobal(L, "require");
        lua_pushstring(L, "tau.io");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, k);
        return 1;
    }
    const char *name = lua_pushfstring(L, "tau.%s", k);
    if (!module_exists(L, name))
        return 0;
    lua_getglobal(L, "require");
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* Monotonic seconds, for rates and ETAs. */
static int f_time(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
    return 1;
}

static int f_isatty(lua_State *L) {
    lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1)));
    return 1;
}

/* A training loop wants Ctrl-C to stop it at a step boundary, not in the middle of a step: while
 * the trap is set, SIGINT only raises a flag that the loop polls. */
static volatile sig_atomic_t stop_requested;
static struct sigaction saved_int;
static int trap_set;

static void on_sigint(int sig) { (void)sig; stop_requested = 1; }

static int f_trap_interrupt(lua_State *L) {
    int on = lua_toboolean(L, 1);
    if (on && !trap_set) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &saved_int);
        trap_set = 1;
        stop_requested = 0;
    } else if (!on && trap_set) {
        sigaction(SIGINT, &saved_int, NULL);
        trap_set = 0;
    }
    return 0;
}

/* Returns whether Ctrl-C was pressed since the last call, and clears it. */
static int f_stop_requested(lua_State *L) {
    lua_pushboolean(L, stop_requested);
    stop_requested = 0;
    return 1;
}

static void oom_collect(void *ud) { lua_gc((lua_State *)ud, LUA_GCCOLLECT); }

static const luaL_Reg functions[] = {
    {"manual_seed", f_manual_seed}, {"get_rng_state", f_get_rng_state}, {"set_rng_state", f_set_rng_state},
    {"set_num_threads", f_set_num_threads}, {"get_num_threads", f_get_num_threads},
    {"memory", f_memory}, {"is_tensor", f_is_tensor}, {"isatty", f_isatty}, {"time", f_time},
    {"_trap_interrupt", f_trap_interrupt}, {"_stop_requested", f_stop_requested}, {NULL, NULL}};

TAU_API int luaopen_tau(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    lua_pushstring(L, TAU_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, TAU_VERSION); /* the name Lua's own libraries use */
    lua_setfield(L, -2, "_VERSION");
    ltau_open_tensor(L);
    ltau_open_autograd(L);
    ltau_open_nn(L);
    ltau_open_optim(L);
    ltau_open_data(L);
    ltau_open_attack(L);
    ltau_open_corrupt(L);
    ltau_open_options(L);
    ltau_open_analysis(L);
    tau_set_oom_handler(oom_collect, L);
    tau_get_num_threads(); /* sets OpenBLAS to the default thread count now */
    lua_newtable(L);
    lua_pushcfunction(L, lazy_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    return 1;
}
