/* Tab completion of Lua names for the REPL's line editor.
 *
 * The word under the cursor (libedit splits on the break characters below, which leave out
 * '.' and ':') is a chain like "tau.F.li" or "x:mat". The chain is resolved without running
 * Lua code: raw fields first, then __index tables along the metatables; a C __index
 * function (as a userdata binding uses) is called in protected mode, a Lua one never, since
 * a slow or looping one would freeze the line editor. */
#include <lua.h>
#include <lauxlib.h>
#include <editline/readline.h>

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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

/* Adds the submodules that one template of package.path ("dir/?.lua", "dir/?/init.lua")
 * would find for the module modpath ("tau", with '/' for '.'): the names n for which the
 * template with ? = modpath/n names a readable file. */
static void add_template_submodules(lua_State *L, const struct collector *c, const char *tmpl,
                                    size_t tlen, const char *modpath) {
    const char *q = memchr(tmpl, '?', tlen);
    if (q == NULL || memchr(q + 1, '?', tlen - (size_t)(q + 1 - tmpl)) != NULL)
        return; /* every '?' takes the name: a template with two is left alone */
    const char *rest = q + 1, *end = tmpl + tlen;
    const char *slash = memchr(rest, '/', (size_t)(end - rest));
    const char *tail = slash != NULL ? slash : end; /* "/init.lua" or "" */
    size_t head_len = (size_t)(tail - rest);        /* ".lua" or "" */
    char dir[PATH_MAX], file[PATH_MAX], name[256];
    if (snprintf(dir, sizeof dir, "%.*s%s/", (int)(q - tmpl), tmpl, modpath) >= (int)sizeof dir)
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= head_len || len - head_len >= sizeof name ||
            memcmp(e->d_name + len - head_len, rest, head_len) != 0)
            continue;
        memcpy(name, e->d_name, len - head_len);
        name[len - head_len] = '\0';
        if (strncmp(name, c->partial, c->partial_len) != 0 || !is_identifier(name, strlen(name)) ||
            is_keyword(name))
            continue;
        if (snprintf(file, sizeof file, "%s%s%.*s", dir, e->d_name, (int)(end - tail), tail) <
                (int)sizeof file &&
            access(file, R_OK) == 0)
            add_candidate(L, c, name);
    }
    closedir(d);
}

/* A module whose __index is a function may load its submodules on first use, as tau does
 * (bindings/tau.c): adds those that require would find on package.path, so that tau.ut<Tab>
 * offers tau.util before anything loaded it. Nothing is loaded here. */
static void add_submodules(lua_State *L, const struct collector *c, int idx) {
    idx = lua_absindex(L, idx);
    int top = lua_gettop(L);
    const char *modname = NULL;
    if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, idx)) {
                modname = lua_tostring(L, -2); /* the key stays on the stack */
                break;
            }
            lua_pop(L, 1);
        }
    }
    char modpath[256];
    if (modname == NULL || strlen(modname) >= sizeof modpath ||
        lua_getglobal(L, "package") != LUA_TTABLE || lua_getfield(L, -1, "path") != LUA_TSTRING) {
        lua_settop(L, top);
        return;
    }
    for (size_t i = 0, n = strlen(modname); i <= n; i++)
        modpath[i] = modname[i] == '.' ? '/' : modname[i];
    const char *path = lua_tostring(L, -1);
    while (*path != '\0') {
        size_t len = strcspn(path, ";");
        add_template_submodules(L, c, path, len, modpath);
        path += len + (path[len] == ';');
    }
    lua_settop(L, top);
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
            if (!c->methods_only)
                add_submodules(L, c, -3);
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
    lua_State *L = cli_state;
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


void cli_complete_init(void) {
    rl_attempted_completion_function = complete_word;
    rl_completion_entry_function = no_completion;
    rl_completion_append_character = '\0';
    static char breaks[] = " \t\n\"'`@$><=;|&{(,)[]+-*/%^#~";
    rl_basic_word_break_characters = breaks;
    rl_completer_word_break_characters = breaks;
}
