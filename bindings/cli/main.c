/* bin/tau: a Lua 5.4 interpreter with the tau core preloaded, driven like the stock `lua`
 * command (script and arguments, -e, -l, -i, -v, -E, -W, -, --); without a script on a
 * terminal it starts the REPL (repl.c). */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../version.h"
#include "cli.h"

int luaopen_tau(lua_State *L);

const char *cli_progname = "tau";
lua_State *cli_state = NULL;

/* ---------------------------------------------------------------------------------------
 * Messages */

void cli_message(const char *pname, const char *msg) {
    if (pname != NULL)
        fprintf(stderr, "%s: ", pname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

int cli_report(lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL)
            msg = "(error object is not a string)";
        cli_message(cli_progname, msg);
        lua_pop(L, 1);
    }
    return status;
}

/* The version compiled in, the same that the library reports as tau._VERSION. */
static void print_version(void) {
    printf("tau %s -- %s\n", TAU_VERSION, LUA_COPYRIGHT);
    fflush(stdout);
}

static void print_usage(const char *badoption) {
    if (badoption[1] == 'e' || badoption[1] == 'l')
        fprintf(stderr, "%s: '%s' needs argument\n", cli_progname, badoption);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", cli_progname, badoption);
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
            cli_progname);
    fflush(stderr);
}

/* ---------------------------------------------------------------------------------------
 * Running chunks from the command line */

static int dochunk(lua_State *L, int status) {
    if (status == LUA_OK)
        status = cli_docall(L, 0, 0);
    return cli_report(L, status);
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
    int status = cli_docall(L, 1, 1);
    if (status == LUA_OK) {
        if (eq != NULL)
            lua_pushlstring(L, spec, (size_t)(eq - spec));
        else
            lua_pushstring(L, spec);
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return cli_report(L, status);
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
        status = cli_docall(L, n, LUA_MULTRET);
    }
    return cli_report(L, status);
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
        print_version();
    if (!(flags & HAS_BIG_E) && handle_luainit(L) != LUA_OK)
        return 0;
    if (!run_args(L, argv, script > 0 ? script : argc))
        return 0;
    if (script > 0 && handle_script(L, argv + script) != LUA_OK)
        return 0;
    if (flags & HAS_I) {
        cli_repl(L);
    } else if (script == 0 && !(flags & (HAS_E | HAS_V))) {
        if (isatty(STDIN_FILENO)) {
            print_version();
            cli_repl(L);
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
        cli_progname = argv[0];
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        cli_message(cli_progname, "cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    cli_state = L;
    lua_pushcfunction(L, protected_main);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int ok = status == LUA_OK && lua_toboolean(L, -1);
    cli_report(L, status);
    cli_state = NULL;
    lua_close(L);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
