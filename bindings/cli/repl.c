/* The REPL: reads chunks with line editing and history (libedit) when stdin is a terminal,
 * continues unfinished chunks on the next line, evaluates a lone expression and prints its
 * values, and keeps the session through errors and Ctrl-C. */
#include <lua.h>
#include <lauxlib.h>
#include <editline/readline.h>

#include <ctype.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define PROMPT1 "tau> "
#define PROMPT2 "...> "
#define HISTORY_NAME ".tau_history"
#define HISTORY_MAX 1000

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
    cli_complete_init();
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

/* A plain array of numbers, such as x:size(), is shown as {3, 4}: the form the docs use,
 * where print would only give its address. Any other table prints as print shows it. */
static void format_number_array(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TTABLE)
        return;
    if (lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        return;
    }
    lua_Unsigned n = lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        count++;
        if (!lua_isinteger(L, -2) || lua_type(L, -1) != LUA_TNUMBER ||
            (lua_Unsigned)lua_tointeger(L, -2) - 1 >= n) {
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 1);
    }
    if (count != n)
        return;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    for (lua_Unsigned i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addstring(&b, ", ");
        lua_rawgeti(L, idx, (lua_Integer)i);
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, '}');
    luaL_pushresult(&b);
    lua_replace(L, idx);
}

static void print_results(lua_State *L, int base) {
    int n = lua_gettop(L) - base;
    if (n <= 0)
        return;
    if (!lua_checkstack(L, 8)) {
        lua_settop(L, base);
        cli_message(cli_progname, "too many results to print");
        return;
    }
    for (int i = base + 1; i <= base + n; i++)
        format_number_array(L, i);
    lua_getglobal(L, "print");
    lua_insert(L, base + 1);
    if (cli_docall(L, n, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        cli_message(cli_progname,
                    lua_pushfstring(L, "error calling 'print' (%s)", msg ? msg : "?"));
        lua_pop(L, 2);
    }
}

void cli_repl(lua_State *L) {
    const char *saved_progname = cli_progname;
    cli_progname = NULL;
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
        int status = r == CHUNK_OK ? cli_docall(L, 0, LUA_MULTRET) : LUA_ERRSYNTAX;
        if (status == LUA_OK)
            print_results(L, base);
        else
            cli_report(L, status);
        lua_settop(L, base);
    }
    sigaction(SIGINT, &old, NULL);
    lua_settop(L, 0);
    fputc('\n', stdout);
    fflush(stdout);
    cli_progname = saved_progname;
}

