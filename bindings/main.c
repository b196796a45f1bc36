/* bin/tau: a Lua 5.4 interpreter with the tau core preloaded, an interactive REPL (line
 * editing, history, completion of fields and methods) and Ctrl-C that stops both Lua loops
 * and long C kernels without killing the session.
 *
 * This file stays out of tau.so (the Makefile links it only into the executable), which is
 * why the REPL lives here too: tau.so must not depend on libedit. */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <editline/readline.h>

#include <ctype.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

int luaopen_tau(lua_State *L);

#ifndef TAU_VERSION
#define TAU_VERSION "0.1.0"
#endif

#define PROMPT1 "tau> "
#define PROMPT2 "...> "
#define HISTORY_NAME ".tau_history"
#define HISTORY_MAX 1000

/* Errors carry this prefix, except inside the REPL where it would only be noise. */
static const char *progname = "tau";

/* The state the signal handler and the completion callback work on; neither gets a
 * lua_State passed in. */
static lua_State *globalL = NULL;

/* ---------------------------------------------------------------------------------------
 * Messages */

static void message(const char *pname, const char *msg) {
    if (pname != NULL)
        fprintf(stderr, "%s: ", pname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

/* Prints the error on top of the stack (if status says there is one) and pops it. */
static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL)
            msg = "(error object is not a string)";
        message(progname, msg);
        lua_pop(L, 1);
    }
    return status;
}

static void print_version(lua_State *L) {
    const char *v = TAU_VERSION;
    int top = lua_gettop(L);
    /* Prefer the version the library reports about itself, if it does. */
    if (lua_getglobal(L, "tau") == LUA_TTABLE) {
        if (lua_getfield(L, -1, "_VERSION") == LUA_TSTRING)
            v = lua_tostring(L, -1);
        else if (lua_getfield(L, -2, "version") == LUA_TSTRING)
            v = lua_tostring(L, -1);
    }
    printf("tau %s -- %s\n", v, LUA_COPYRIGHT);
    fflush(stdout);
    lua_settop(L, top);
}

static void print_usage(const char *badoption) {
    if (badoption[1] == 'e' || badoption[1] == 'l')
        fprintf(stderr, "%s: '%s' needs argument\n", progname, badoption);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
    fprintf(stderr,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat   execute string 'stat'\n"
            "  -i        enter interactive mode after executing 'script'\n"
            "  -l mod    require library 'mod' into global 'mod'\n"
            "  -l g=mod  require library 'mod' into global 'g'\n"
            "  -v        show version information\n"
            "  -E        ignore environment variables\n"
            "  -W        turn warnings on\n"
            "  --        stop handling options\n"
            "  -         stop handling options and execute stdin\n",
            progname);
    fflush(stderr);
}

/* ---------------------------------------------------------------------------------------
 * Interrupts
 *
 * While a chunk runs, SIGINT both raises the core's flag (polled by long C kernels) and
 * arms a hook that throws at the next Lua instruction (for pure Lua loops). The handler is
 * one-shot until the hook has run, so a second Ctrl-C while a kernel ignores the flag falls
 * back to the default action and kills the process, as with the stock interpreter. */

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
    if (globalL != NULL)
        lua_sethook(globalL, interrupt_hook, INTERRUPT_MASK, 1);
}

/* At the prompt Ctrl-C only has to discard the line being edited: the handler records it
 * and the interrupted read() makes readline() return. */
static volatile sig_atomic_t prompt_interrupted = 0;

static void on_prompt_sigint(int sig) {
    (void)sig;
    prompt_interrupted = 1;
}

static void set_prompt_sigint(struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, old);
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

/* Calls the function below narg arguments with a traceback handler and the interrupt
 * machinery in place; leaves nres results (or the error message) on the stack. */
static int docall(lua_State *L, int narg, int nres) {
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

/* ---------------------------------------------------------------------------------------
 * Running chunks from the command line */

static int dochunk(lua_State *L, int status) {
    if (status == LUA_OK)
        status = docall(L, 0, 0);
    return report(L, status);
}

static int dostring(lua_State *L, const char *s, const char *name) {
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* "-l mod" puts require("mod") in global mod; "-l g=mod" puts it in global g. */
static int dolibrary(lua_State *L, const char *spec) {
    const char *eq = strchr(spec, '=');
    const char *mod = eq != NULL ? eq + 1 : spec;
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    int status = docall(L, 1, 1);
    if (status == LUA_OK) {
        if (eq != NULL)
            lua_pushlstring(L, spec, (size_t)(eq - spec));
        else
            lua_pushstring(L, spec);
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return report(L, status);
}

static int handle_luainit(lua_State *L) {
    const char *name = "=LUA_INIT_5_4";
    const char *init = getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (init == NULL)
        return LUA_OK;
    if (init[0] == '@')
        return dochunk(L, luaL_loadfile(L, init + 1));
    return dostring(L, init, name);
}

/* Script arguments go to the main chunk as '...' as well as in the global 'arg'. */
static int push_script_args(lua_State *L) {
    if (lua_getglobal(L, "arg") != LUA_TTABLE)
        luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++)
        lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    return n;
}

static int handle_script(lua_State *L, char **argv) {
    const char *fname = argv[0];
    /* A lone "-" means stdin, unless it came right after "--". */
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
        fname = NULL;
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = push_script_args(L);
        status = docall(L, n, LUA_MULTRET);
    }
    return report(L, status);
}

/* Global 'arg': the script at index 0, its arguments at 1.., the interpreter and its options
 * at negative indices. Without a script, index 0 is the interpreter. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
    int narg = argc - (script + 1);
    lua_createtable(L, narg > 0 ? narg : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* Makes require "tau.nn" find scripts/tau/nn.lua next to the executable's bin/ folder, so
 * the build tree works without installing anything. */
static void add_script_path(lua_State *L) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    char raw[PATH_MAX + 4], root[PATH_MAX];
    snprintf(raw, sizeof raw, "%s/..", exe);
    const char *dir = realpath(raw, root) != NULL ? root : raw;

    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "path");
    const char *old = lua_tostring(L, -1);
    lua_pushfstring(L, "%s/scripts/?.lua;%s/scripts/?/init.lua;%s", dir, dir,
                    old != NULL ? old : "");
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

/* ---------------------------------------------------------------------------------------
 * Tab completion
 *
 * The word under the cursor (libedit splits on the break characters below, which leave out
 * '.' and ':') is a chain like "tau.F.li" or "x:mat". The chain is resolved without running
 * Lua code: raw fields first, then __index tables along the metatables; a C __index
 * function (as a userdata binding uses) is called in protected mode, a Lua one never, since
 * a slow or looping one would freeze the line editor. */

static const char *const lua_keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    NULL};

#define CHAIN_DEPTH 32

static int is_identifier(const char *s, size_t len) {
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

static int is_keyword(const char *s) {
    for (int i = 0; lua_keywords[i] != NULL; i++)
        if (strcmp(s, lua_keywords[i]) == 0)
            return 1;
    return 0;
}

static int call_index_function(lua_State *L) {
    lua_call(L, 2, 1);
    return 1;
}

/* Pushes obj[key] (obj at index idx) as described above; nil when it cannot be known. */
static void safe_index(lua_State *L, int idx, const char *key) {
    lua_pushvalue(L, idx);
    for (int depth = 0; depth < CHAIN_DEPTH; depth++) {
        if (lua_istable(L, -1)) {
            lua_pushstring(L, key);
            if (lua_rawget(L, -2) != LUA_TNIL) {
                lua_remove(L, -2);
                return;
            }
            lua_pop(L, 1);
        }
        int t = luaL_getmetafield(L, -1, "__index");
        if (t == LUA_TTABLE) {
            lua_remove(L, -2);
            continue;
        }
        if (t == LUA_TFUNCTION && lua_iscfunction(L, -1)) {
            lua_pushcfunction(L, call_index_function);
            lua_insert(L, -2);
            lua_pushvalue(L, -3);
            lua_pushstring(L, key);
            if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
                lua_pop(L, 1);
                lua_pushnil(L);
            }
            lua_remove(L, -2);
            return;
        }
        if (t != LUA_TNIL)
            lua_pop(L, 1);
        break;
    }
    lua_pop(L, 1);
    lua_pushnil(L);
}

static int is_callable(lua_State *L, int idx) {
    if (lua_isfunction(L, idx))
        return 1;
    if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
        lua_pop(L, 1);
        return 1;
    }
    return 0;
}

/* Candidate collection state, kept on the Lua stack of collect_completions:
 * 1 = text, 2 = seen-set, 3 = result array. */
struct collector {
    const char *prefix;  /* the chain up to and including the separator */
    size_t prefix_len;
    const char *partial; /* what the user typed of the last name */
    size_t partial_len;
    int methods_only;    /* after ':' only callables make sense */
    int skip_metamethods;
};

static void add_candidate(lua_State *L, const struct collector *c, const char *name) {
    lua_pushlstring(L, c->prefix, c->prefix_len);
    lua_pushstring(L, name);
    lua_concat(L, 2);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, 2) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 1);
        lua_rawset(L, 2);
        lua_rawseti(L, 3, (lua_Integer)lua_rawlen(L, 3) + 1);
    } else {
        lua_pop(L, 2);
    }
}

/* Adds the matching string keys of the table at idx. */
static void add_table_keys(lua_State *L, const struct collector *c, int idx) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t len;
            const char *k = lua_tolstring(L, -2, &len);
            if (len >= c->partial_len && strncmp(k, c->partial, c->partial_len) == 0 &&
                is_identifier(k, len) && !is_keyword(k) &&
                !(c->skip_metamethods && k[0] == '_' && k[1] == '_') &&
                (!c->methods_only || is_callable(L, -1)))
                add_candidate(L, c, k);
        }
        lua_pop(L, 1);
    }
}

/* Adds the table-valued fields of the metatable at idx whose names mention methods (a
 * binding whose __index function also serves properties keeps its methods in, say,
 * __methods). */
static void add_method_tables(lua_State *L, const struct collector *c, int idx) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1) && !lua_rawequal(L, -1, idx)) {
            char name[32];
            size_t len;
            const char *k = lua_tolstring(L, -2, &len);
            if (len < sizeof name) {
                for (size_t i = 0; i <= len; i++)
                    name[i] = (char)tolower((unsigned char)k[i]);
                if (strstr(name, "method") != NULL)
                    add_table_keys(L, c, -1);
            }
        }
        lua_pop(L, 1);
    }
}

/* Adds the fields reachable from the value at idx: its own keys if a table, then those of
 * the __index chain. When __index is a function, the best guesses at the methods are the
 * metatable itself, its method tables, and any tables the function closes over. */
static void add_fields(lua_State *L, struct collector *c, int idx) {
    lua_pushvalue(L, idx);
    for (int depth = 0; depth < CHAIN_DEPTH; depth++) {
        if (lua_istable(L, -1))
            add_table_keys(L, c, -1);
        if (!lua_getmetatable(L, -1))
            break;
        lua_pushliteral(L, "__index");
        lua_rawget(L, -2);
        if (lua_istable(L, -1)) {
            lua_remove(L, -2);
            lua_remove(L, -2);
            continue;
        }
        if (lua_isfunction(L, -1)) {
            int saved = c->skip_metamethods;
            c->skip_metamethods = 1;
            add_table_keys(L, c, -2);
            add_method_tables(L, c, -2);
            lua_pushglobaltable(L);
            for (int i = 1;; i++) {
                const char *up = lua_getupvalue(L, -2, i);
                if (up == NULL)
                    break;
                if (lua_istable(L, -1) && strcmp(up, "_ENV") != 0 && !lua_rawequal(L, -1, -2) &&
                    !lua_rawequal(L, -1, -4))
                    add_table_keys(L, c, -1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
            c->skip_metamethods = saved;
        }
        lua_pop(L, 2);
        break;
    }
    lua_pop(L, 1);
}

/* Protected: returns the array of completions of the word at index 1. */
static int collect_completions(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    lua_newtable(L); /* 2: seen */
    lua_newtable(L); /* 3: results */

    const char *sep = NULL;
    for (const char *p = text; *p; p++)
        if (*p == '.' || *p == ':')
            sep = p;

    struct collector c;
    memset(&c, 0, sizeof c);
    if (sep == NULL) {
        c.prefix = "";
        c.partial = text;
        c.partial_len = len;
        for (int i = 0; lua_keywords[i] != NULL; i++)
            if (strncmp(lua_keywords[i], text, len) == 0)
                add_candidate(L, &c, lua_keywords[i]);
        lua_pushglobaltable(L);
        add_fields(L, &c, -1);
        lua_pop(L, 1);
        return 1;
    }

    c.prefix = text;
    c.prefix_len = (size_t)(sep - text) + 1;
    c.partial = sep + 1;
    c.partial_len = len - c.prefix_len;
    c.methods_only = *sep == ':';

    /* Walk the dotted chain before the separator; only plain names are followed. */
    lua_pushglobaltable(L);
    const char *start = text;
    while (start < sep) {
        const char *end = start;
        while (end < sep && *end != '.' && *end != ':')
            end++;
        if (*end == ':' && end != sep)
            return 1;
        if (!is_identifier(start, (size_t)(end - start)))
            return 1;
        lua_pushlstring(L, start, (size_t)(end - start));
        safe_index(L, -2, lua_tostring(L, -1));
        lua_remove(L, -2);
        lua_remove(L, -2);
        if (lua_isnil(L, -1))
            return 1;
        start = end + 1;
    }
    if (start != sep + 1)
        return 1; /* empty chain, e.g. ":up" after a closing parenthesis */
    add_fields(L, &c, -1);
    lua_pop(L, 1);
    return 1;
}

static char **completion_list = NULL;
static size_t completion_count = 0, completion_next = 0;

static char *completion_generator(const char *text, int state) {
    (void)text;
    if (state == 0)
        completion_next = 0;
    if (completion_next < completion_count) {
        char *s = completion_list[completion_next];
        completion_list[completion_next++] = NULL;
        return s;
    }
    return NULL;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **complete_word(const char *text, int start, int end) {
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    lua_State *L = globalL;
    if (L == NULL || !lua_checkstack(L, 8))
        return NULL;
    int top = lua_gettop(L);
    lua_pushcfunction(L, collect_completions);
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_settop(L, top);
        return NULL;
    }
    size_t n = (size_t)lua_rawlen(L, -1);
    char **list = n > 0 ? calloc(n, sizeof *list) : NULL;
    size_t count = 0;
    for (size_t i = 1; list != NULL && i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        const char *s = lua_tostring(L, -1);
        if (s != NULL && (list[count] = strdup(s)) != NULL)
            count++;
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    if (count == 0) {
        free(list);
        return NULL;
    }
    qsort(list, count, sizeof *list, compare_strings);
    completion_list = list;
    completion_count = count;
    char **matches = rl_completion_matches(text, completion_generator);
    for (size_t i = 0; i < count; i++)
        free(list[i]); /* whatever the generator did not hand over */
    free(list);
    completion_list = NULL;
    completion_count = 0;
    return matches;
}

static char *no_completion(const char *text, int state) {
    (void)text;
    (void)state;
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * The REPL */

static char history_path[PATH_MAX];

static void history_init(void) {
    const char *env = getenv("TAU_HISTORY");
    history_path[0] = '\0';
    if (env != NULL) {
        if (env[0] != '\0' && strlen(env) < sizeof history_path)
            strcpy(history_path, env);
    } else {
        const char *home = getenv("HOME");
        if (home != NULL && home[0] != '\0')
            snprintf(history_path, sizeof history_path, "%s/%s", home, HISTORY_NAME);
    }
    using_history();
    stifle_history(HISTORY_MAX);
    if (history_path[0] != '\0' && access(history_path, R_OK) == 0)
        read_history(history_path);
}

static void history_save(const char *entry) {
    add_history(entry);
    /* Saved after every entry so that a session killed by a second Ctrl-C keeps its lines;
     * an unwritable file is simply not written. */
    if (history_path[0] != '\0')
        (void)write_history(history_path);
}

static int use_line_editor = 0;

static void line_editor_init(void) {
    /* libedit decodes multibyte input according to the locale. Only the character type is
     * taken from the environment: number formatting stays "C", which Lua relies on. */
    setlocale(LC_CTYPE, "");
    rl_readline_name = "tau";
    rl_attempted_completion_function = complete_word;
    rl_completion_entry_function = no_completion;
    rl_completion_append_character = '\0';
    static char breaks[] = " \t\n\"'`@$><=;|&{(,)[]+-*/%^#~";
    rl_basic_word_break_characters = breaks;
    rl_completer_word_break_characters = breaks;
    rl_initialize();
    history_init();
}

enum { LINE_OK, LINE_EOF, LINE_INTERRUPTED };

/* Reads one line (without its newline) and pushes it. */
static int read_line(lua_State *L, const char *prompt) {
    if (use_line_editor) {
        prompt_interrupted = 0;
        char *line = readline(prompt);
        if (line == NULL || prompt_interrupted) {
            free(line);
            if (prompt_interrupted) {
                prompt_interrupted = 0;
                fputc('\n', stdout);
                fflush(stdout);
                return LINE_INTERRUPTED;
            }
            return LINE_EOF;
        }
        lua_pushstring(L, line);
        free(line);
        return LINE_OK;
    }
    fputs(prompt, stdout);
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return LINE_EOF;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    lua_pushlstring(L, line, (size_t)n);
    free(line);
    return LINE_OK;
}

/* Pushes the prompt's Lua value (so the string stays alive while reading) and returns the
 * text to show: _PROMPT / _PROMPT2 when they are strings, as in lua. */
static const char *get_prompt(lua_State *L, int first) {
    if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TSTRING)
        return lua_tostring(L, -1);
    return first ? PROMPT1 : PROMPT2;
}

/* A syntax error at the end of the text means the chunk is unfinished: keep reading. */
static int is_incomplete(lua_State *L, int status) {
    if (status != LUA_ERRSYNTAX)
        return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    static const char mark[] = "<eof>";
    size_t ml = sizeof mark - 1;
    if (msg == NULL)
        return 0;
    if (len >= ml && strcmp(msg + len - ml, mark) == 0)
        return 1;
    return len >= ml + 2 && strncmp(msg + len - ml - 1, mark, ml) == 0 && msg[len - 1] == '\'';
}

/* Compiles the source on top of the stack, first as an expression whose values get printed,
 * then as a statement. The source is replaced by the function or by the error message.
 * *incomplete tells whether either form only lacked more input. */
static int compile_chunk(lua_State *L, int *incomplete) {
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    lua_pushliteral(L, "return ");
    lua_pushvalue(L, -2);
    lua_concat(L, 2);
    size_t retlen;
    const char *ret = lua_tolstring(L, -1, &retlen);
    int status = luaL_loadbuffer(L, ret, retlen, "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, -2);
        lua_remove(L, -2);
        *incomplete = 0;
        return LUA_OK;
    }
    int ret_incomplete = is_incomplete(L, status);
    lua_pop(L, 2);
    status = luaL_loadbuffer(L, src, len, "=stdin");
    *incomplete = status != LUA_OK && (ret_incomplete || is_incomplete(L, status));
    lua_remove(L, -2);
    return status;
}

enum { CHUNK_OK, CHUNK_ERROR, CHUNK_EOF, CHUNK_DISCARDED };

/* Reads lines until they form a chunk; pushes the function (CHUNK_OK) or the syntax error
 * message (CHUNK_ERROR), nothing otherwise. */
static int read_chunk(lua_State *L) {
    int r;
    for (;;) {
        r = read_line(L, get_prompt(L, 1));
        if (r != LINE_OK) {
            lua_pop(L, 1);
            return r == LINE_EOF ? CHUNK_EOF : CHUNK_DISCARDED;
        }
        lua_remove(L, -2);
        const char *line = lua_tostring(L, -1);
        while (isspace((unsigned char)*line))
            line++;
        if (*line != '\0')
            break;
        lua_pop(L, 1); /* blank lines just show the prompt again */
    }
    for (;;) {
        lua_pushvalue(L, -1); /* keep the source for history and for appending lines */
        int incomplete;
        int status = compile_chunk(L, &incomplete);
        if (status == LUA_OK || !incomplete) {
            if (use_line_editor)
                history_save(lua_tostring(L, -2));
            lua_remove(L, -2);
            return status == LUA_OK ? CHUNK_OK : CHUNK_ERROR;
        }
        lua_pop(L, 1); /* the "<eof>" message */
        r = read_line(L, get_prompt(L, 0));
        lua_remove(L, r == LINE_OK ? -2 : -1); /* the prompt */
        if (r == LINE_INTERRUPTED) {
            if (use_line_editor)
                history_save(lua_tostring(L, -1));
            lua_pop(L, 1);
            return CHUNK_DISCARDED;
        }
        if (r == LINE_EOF) {
            /* Report the unfinished chunk the way the compiler sees it. */
            int status2 = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
            if (use_line_editor)
                history_save(lua_tostring(L, -2));
            lua_remove(L, -2);
            return status2 == LUA_OK ? CHUNK_OK : CHUNK_ERROR;
        }
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
}

static void print_results(lua_State *L, int base) {
    int n = lua_gettop(L) - base;
    if (n <= 0)
        return;
    if (!lua_checkstack(L, 4)) {
        lua_settop(L, base);
        message(progname, "too many results to print");
        return;
    }
    lua_getglobal(L, "print");
    lua_insert(L, base + 1);
    if (docall(L, n, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        message(progname, lua_pushfstring(L, "error calling 'print' (%s)", msg ? msg : "?"));
        lua_pop(L, 2);
    }
}

static void do_repl(lua_State *L) {
    const char *saved_progname = progname;
    progname = NULL;
    use_line_editor = isatty(STDIN_FILENO);
    if (use_line_editor)
        line_editor_init();
    struct sigaction old;
    set_prompt_sigint(&old);
    int r;
    while ((r = read_chunk(L)) != CHUNK_EOF) {
        if (r == CHUNK_DISCARDED)
            continue;
        int base = lua_gettop(L) - 1;
        int status = r == CHUNK_OK ? docall(L, 0, LUA_MULTRET) : LUA_ERRSYNTAX;
        if (status == LUA_OK)
            print_results(L, base);
        else
            report(L, status);
        lua_settop(L, base);
    }
    sigaction(SIGINT, &old, NULL);
    lua_settop(L, 0);
    fputc('\n', stdout);
    fflush(stdout);
    progname = saved_progname;
}

/* ---------------------------------------------------------------------------------------
 * Command line */

enum { HAS_ERROR = 1, HAS_I = 2, HAS_V = 4, HAS_E = 8, HAS_BIG_E = 16 };

/* Scans the options; *script gets the index of the script (0 if none). */
static int collect_args(char **argv, int argc, int *script) {
    int flags = 0;
    *script = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            *script = i;
            return flags;
        }
        switch (a[1]) {
        case '-':
            if (a[2] != '\0')
                return HAS_ERROR | (i << 8);
            if (i + 1 < argc)
                *script = i + 1;
            return flags;
        case '\0':
            *script = i;
            return flags;
        case 'E':
            if (a[2] != '\0')
                return HAS_ERROR | (i << 8);
            flags |= HAS_BIG_E;
            break;
        case 'W':
            if (a[2] != '\0')
                return HAS_ERROR | (i << 8);
            break;
        case 'i':
            if (a[2] != '\0')
                return HAS_ERROR | (i << 8);
            flags |= HAS_I | HAS_V; /* like lua, -i shows the banner */
            break;
        case 'v':
            if (a[2] != '\0')
                return HAS_ERROR | (i << 8);
            flags |= HAS_V;
            break;
        case 'e':
            flags |= HAS_E;
            /* fall through */
        case 'l':
            if (a[2] == '\0') {
                i++;
                if (i >= argc || argv[i] == NULL || argv[i][0] == '-')
                    return HAS_ERROR | ((i - 1) << 8);
            }
            break;
        default:
            return HAS_ERROR | (i << 8);
        }
    }
    return flags;
}

/* Runs -e, -l and -W in command-line order; stops at the first failure. */
static int run_args(lua_State *L, char **argv, int limit) {
    for (int i = 1; i < limit; i++) {
        char opt = argv[i][1];
        if (opt == 'W') {
            lua_warning(L, "@on", 0);
        } else if (opt == 'e' || opt == 'l') {
            const char *extra = argv[i] + 2;
            if (*extra == '\0')
                extra = argv[++i];
            int status = opt == 'e' ? dostring(L, extra, "=(command line)") : dolibrary(L, extra);
            if (status != LUA_OK)
                return 0;
        }
    }
    return 1;
}

static int protected_main(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int script;
    int flags = collect_args(argv, argc, &script);
    luaL_checkversion(L);
    if (flags & HAS_ERROR) {
        print_usage(argv[flags >> 8]);
        return 0;
    }
    if (flags & HAS_BIG_E) {
        /* Tells the package library to ignore LUA_PATH and LUA_CPATH. */
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    luaL_openlibs(L);
    add_script_path(L);
    luaL_requiref(L, "tau", luaopen_tau, 1);
    lua_pop(L, 1);
    create_arg_table(L, argv, argc, script);
    lua_settop(L, 0);

    if (flags & HAS_V)
        print_version(L);
    if (!(flags & HAS_BIG_E) && handle_luainit(L) != LUA_OK)
        return 0;
    if (!run_args(L, argv, script > 0 ? script : argc))
        return 0;
    if (script > 0 && handle_script(L, argv + script) != LUA_OK)
        return 0;
    if (flags & HAS_I) {
        do_repl(L);
    } else if (script == 0 && !(flags & (HAS_E | HAS_V))) {
        if (isatty(STDIN_FILENO)) {
            print_version(L);
            do_repl(L);
        } else if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK) {
            return 0;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv) {
    static char *no_args[] = {"tau", NULL};
    if (argc < 1 || argv[0] == NULL) {
        argc = 1;
        argv = no_args;
    }
    if (argv[0][0] != '\0')
        progname = argv[0];
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        message(progname, "cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    globalL = L;
    lua_pushcfunction(L, protected_main);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int ok = status == LUA_OK && lua_toboolean(L, -1);
    report(L, status);
    globalL = NULL;
    lua_close(L);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
