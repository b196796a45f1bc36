/* Running a chunk so that Ctrl-C stops it with a Lua error (which a script may catch)
 * instead of killing the program.
 *
 * While a chunk runs, SIGINT both raises the core's flag (polled by long C kernels) and
 * arms a hook that throws at the next Lua instruction (for pure Lua loops). The handler is
 * one-shot until the hook has run, so a second Ctrl-C while a kernel ignores the flag falls
 * back to the default action and kills the process, as with the stock interpreter. */
#include <lua.h>
#include <lauxlib.h>

#include <signal.h>
#include <string.h>

#include "base/error.h"
#include "cli.h"

#define INTERRUPT_MASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT)

static void on_chunk_sigint(int sig);

static void arm_chunk_sigint(struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chunk_sigint;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a script blocked in io.read should wake up and see the interrupt. */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, old);
}

/* When a kernel stops on the flag, the binding turns the core's "interrupted" into a Lua
 * error (which a script may catch with pcall) and clears the flag. The hook must then not
 * raise a second error in the code that handles the first. Either trace is taken as proof:
 * the cleared flag, or the core's last message. */
static int interrupt_already_reported(void) {
    if (!tau_interrupted)
        return 1;
    const char *m = tau_errmsg();
    return m != NULL && strstr(m, "interrupted") != NULL;
}

static void clear_core_error(void) { (void)tau_fail("%s", ""); }

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
    /* Wait for Lua code: raising on entry to a C function would, for instance, hit the
     * message handler of the very error a kernel just raised for this interrupt. */
    if (ar->event == LUA_HOOKCALL || ar->event == LUA_HOOKTAILCALL || ar->event == LUA_HOOKRET) {
        if (lua_getinfo(L, "S", ar) && ar->what != NULL && ar->what[0] == 'C')
            return;
    }
    lua_sethook(L, NULL, 0, 0);
    arm_chunk_sigint(NULL);
    int reported = interrupt_already_reported();
    clear_core_error();
    tau_interrupted = 0;
    if (!reported)
        luaL_error(L, "interrupted!");
}

static void on_chunk_sigint(int sig) {
    (void)sig;
    tau_interrupted = 1;
    if (cli_state != NULL)
        lua_sethook(cli_state, interrupt_hook, INTERRUPT_MASK, 1);
}

static int message_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int cli_docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    tau_interrupted = 0;
    clear_core_error();
    struct sigaction old;
    arm_chunk_sigint(&old);
    int status = lua_pcall(L, narg, nres, base);
    /* Handler first, hook second: a late signal then lands in the restored handler instead
     * of leaving a hook behind for the next chunk. */
    sigaction(SIGINT, &old, NULL);
    lua_sethook(L, NULL, 0, 0);
    tau_interrupted = 0;
    lua_remove(L, base);
    return status;
}

