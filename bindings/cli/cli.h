/* bin/tau, the program around the library: the lua.c-like driver (main.c), running a chunk
 * with Ctrl-C in place (interrupt.c), the REPL (repl.c) and its tab completion (complete.c).
 * None of it goes into tau.so, which must work in any host Lua and not depend on libedit. */
#ifndef TAU_CLI_H
#define TAU_CLI_H
#include <lua.h>

/* The prefix of error messages; NULL inside the REPL, where it would only be noise. */
extern const char *cli_progname;
/* The one state of the program: the signal handlers and the completion callback get no
 * lua_State passed in. */
extern lua_State *cli_state;

/* Prints "progname: msg" (just msg when pname is NULL) on stderr. */
void cli_message(const char *pname, const char *msg);
/* Prints the error on top of the stack (if status says there is one) and pops it. */
int cli_report(lua_State *L, int status);
/* Calls the function below narg arguments with a traceback handler and Ctrl-C turned into a
 * Lua error; leaves nres results (or the error message) on the stack. */
int cli_docall(lua_State *L, int narg, int nres);

/* Reads, evaluates and prints chunks from stdin until end of input. */
void cli_repl(lua_State *L);
/* Makes the line editor complete Lua names; called before it is initialised. */
void cli_complete_init(void);

#endif
