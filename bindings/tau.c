/* luaopen_tau: the tau table, its global settings, and lazy loading of the Lua library
 * (tau.nn, tau.optim, ... from scripts/tau/). */
#include "ltau.h"
#include "../core/alloc.h"
#include "../core/parallel.h"
#include <signal.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#define TAU_VERSION "0.1.0"

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

/* tau.nn etc. load on first use, so `require "tau"` stays cheap and the C part works alone. */
static int lazy_index(lua_State *L) {
    const char *k = luaL_checkstring(L, 2);
    static const char *mods[] = {"nn", "optim", "data", "models", "train", "attack", "corrupt",
                                 "robust", "plot", "util", "repl", "gradcheck", "analysis", NULL};
    if (!strcmp(k, "save") || !strcmp(k, "load")) { /* written in Lua, in tau.io */
        lua_getglobal(L, "require");
        lua_pushstring(L, "tau.io");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, k);
        return 1;
    }
    for (int i = 0; mods[i]; i++) {
        if (strcmp(k, mods[i])) continue;
        lua_getglobal(L, "require");
        lua_pushfstring(L, "tau.%s", k);
        lua_call(L, 1, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, 1, k);
        return 1;
    }
    return 0;
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

int luaopen_tau(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    lua_pushstring(L, TAU_VERSION);
    lua_setfield(L, -2, "version");
    ltau_open_tensor(L);
    ltau_open_autograd(L);
    ltau_open_nn(L);
    ltau_open_optim(L);
    ltau_open_data(L);
    ltau_open_attack(L);
    ltau_open_corrupt(L);
    ltau_open_analysis(L);
    tau_set_oom_handler(oom_collect, L);
    tau_get_num_threads(); /* sets OpenBLAS to the default thread count now */
    lua_newtable(L);
    lua_pushcfunction(L, lazy_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    return 1;
}
