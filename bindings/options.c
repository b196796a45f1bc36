/* Option tables and error positions, one mechanism for the whole library.
 *
 * Every public function that takes an options table declares a spec (each key: the types it
 * accepts, and for Lua specs a range, choices and a default); the checker here refuses unknown
 * keys, naming the function and the key and suggesting the nearest valid one, and values of the
 * wrong type or out of range, naming the key. C bindings call ltau_checkopts with a static spec;
 * the Lua library calls tau.options.check / tau.options.spec, which run the same code.
 *
 * Every error of the library points at the caller's line: ltau_where skips C frames and the
 * frames of the Lua library itself (scripts/tau/), so `nn.Conv2d(1, 1, "x")` is reported at the
 * user's line, not inside the class system that ran Conv2d:init. */
#include "ltau.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- error positions */

/* Whether a chunk belongs to the Lua library: its name starts with "@/.../scripts/tau/", the
 * folder where require finds tau.util (cached in the registry once found). */
static int in_library(lua_State *L, const char *source) {
    static const char KEY[] = "tau.library_prefix";
    int top = lua_gettop(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, KEY) != LUA_TSTRING) {
        if (lua_getglobal(L, "package") == LUA_TTABLE && lua_getfield(L, -1, "searchpath") == LUA_TFUNCTION) {
            lua_pushliteral(L, "tau.util");
            lua_getfield(L, -3, "path");
            if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
                const char *path = lua_tostring(L, -1);
                const char *slash = strrchr(path, '/');
                if (slash) {
                    lua_pushliteral(L, "@");
                    lua_pushlstring(L, path, (size_t)(slash - path + 1));
                    lua_concat(L, 2);
                    lua_setfield(L, LUA_REGISTRYINDEX, KEY);
                }
            }
        }
        lua_settop(L, top);
        lua_getfield(L, LUA_REGISTRYINDEX, KEY);
    }
    size_t n = 0;
    const char *p = lua_tolstring(L, -1, &n);
    int r = p && n > 0 && !strncmp(source, p, n);
    lua_settop(L, top);
    return r;
}

void ltau_where(lua_State *L) {
    luaL_checkstack(L, 8, NULL);
    int top = lua_gettop(L);
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline <= 0 || in_library(L, ar.source)) continue;
        lua_settop(L, top);
        lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
        return;
    }
    lua_settop(L, top);
    lua_pushliteral(L, "");
}

/* tau._raise(msg): raises msg at the caller's position as ltau_where finds it; the Lua library
 * raises all its errors this way (through tau.util.fail). */
static int f_raise(lua_State *L) {
    const char *msg = luaL_checkstring(L, 1);
    ltau_where(L);
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    return lua_error(L);
}

/* ---------------------------------------------------------------- suggestions */

/* Edit distance with transpositions (optimal string alignment), case-insensitive, capped. */
static int distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int ca = a[i - 1] | 0x20, cb = b[j - 1] | 0x20;
            int cost = ca != cb;
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == (b[j - 2] | 0x20) && (a[i - 2] | 0x20) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[n][m];
}

/* Raises "fn: unknown <what>option 'k' (did you mean 'x'?)", or with the valid keys listed when
 * none is close. The key is at kidx, the valid names in the Lua array at nidx. */
static int unknown_key(lua_State *L, const char *fn, const char *what, int kidx, int nidx) {
    luaL_checkstack(L, 8, NULL);
    kidx = lua_absindex(L, kidx);
    nidx = lua_absindex(L, nidx);
    const char *k = luaL_tolstring(L, kidx, NULL);
    size_t klen = strlen(k);
    int limit = klen <= 3 ? 1 : klen <= 6 ? 2 : 3;
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, nidx);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    int count = (int)lua_rawlen(L, nidx);
    const char *best = NULL;
    int bestd = limit + 1;
    luaL_Buffer all;
    luaL_buffinit(L, &all);
    for (int i = 1; i <= count; i++) {
        lua_rawgeti(L, nidx, i);
        const char *c = lua_tostring(L, -1); /* the names table keeps it alive */
        int d = distance(k, c);
        if (d < bestd) { bestd = d; best = c; }
        if (i > 1) luaL_addstring(&all, ", ");
        luaL_addvalue(&all);
    }
    luaL_pushresult(&all);
    const char *valid = lua_tostring(L, -1);
    if (best) return ltau_raisef(L, "%s: unknown %soption '%s' (did you mean '%s'?)", fn, what, k, best);
    if (count == 0) return ltau_raisef(L, "%s: unknown %soption '%s' (it takes no options)", fn, what, k);
    return ltau_raisef(L, "%s: unknown %soption '%s' (valid: %s)", fn, what, k, valid);
}

/* ---------------------------------------------------------------- value rules */

typedef struct {
    unsigned types;                 /* LTAU_OPT_* bits; 0 accepts anything */
    int has_min, has_max, open_min, open_max, finite;
    double min, max;
    const char *desc;               /* overrides the description built from the rest */
} rule;

/* The LTAU_OPT_* bits in order: their names in specs and in messages. */
static const char *const type_names[] = {"number", "integer", "boolean", "string", "table", "tensor", "function"};
static const char *const type_nouns[] = {"a number", "an integer", "a boolean", "a string", "a table", "a tensor",
                                         "a function"};

static int is_callable(lua_State *L, int idx) {
    if (lua_type(L, idx) == LUA_TFUNCTION) return 1;
    if (!lua_getmetatable(L, idx)) return 0;
    int r = lua_getfield(L, -1, "__call") != LUA_TNIL;
    lua_pop(L, 2);
    return r;
}

static int type_matches(lua_State *L, int idx, unsigned types) {
    if (!types) return 1;
    int t = lua_type(L, idx);
    if ((types & LTAU_OPT_NUMBER) && t == LUA_TNUMBER) return 1;
    if ((types & LTAU_OPT_INTEGER) && t == LUA_TNUMBER) return 1; /* integrality is checked with the range */
    if ((types & LTAU_OPT_BOOLEAN) && t == LUA_TBOOLEAN) return 1;
    if ((types & LTAU_OPT_STRING) && t == LUA_TSTRING) return 1;
    if ((types & LTAU_OPT_TENSOR) && ltau_test(L, idx)) return 1;
    if ((types & LTAU_OPT_TABLE) && t == LUA_TTABLE) return 1;
    if ((types & LTAU_OPT_FUNCTION) && is_callable(L, idx)) return 1;
    return 0;
}

static void push_number(lua_State *L, double v) {
    if (v == floor(v) && fabs(v) < 1e15) lua_pushfstring(L, "%I", (lua_Integer)v);
    else {
        char b[40];
        snprintf(b, sizeof b, "%g", v);
        lua_pushstring(L, b);
    }
}

/* Pushes "a non-negative number", "an integer in [1, 8]", "'a', 'b' or 'c'", ... */
static void push_desc(lua_State *L, const rule *r, const char *choices) {
    if (r->desc) { lua_pushstring(L, r->desc); return; }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (choices) {
        /* "a|b|c" as 'a', 'b' or 'c' */
        const char *p = choices;
        int n = 1;
        for (const char *q = p; *q; q++) n += *q == '|';
        for (int i = 0; i < n; i++) {
            const char *e = strchr(p, '|');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (i > 0) luaL_addstring(&b, i == n - 1 ? " or " : ", ");
            luaL_addchar(&b, '\'');
            luaL_addlstring(&b, p, len);
            luaL_addchar(&b, '\'');
            p = e ? e + 1 : p + len;
        }
        luaL_pushresult(&b);
        return;
    }
    unsigned num = r->types & (LTAU_OPT_NUMBER | LTAU_OPT_INTEGER);
    int ranged = r->has_min || r->has_max;
    const char *noun = (r->types & LTAU_OPT_INTEGER) ? "integer" : "number";
    if (num && ranged && !r->has_max && r->min == 0) {
        luaL_addstring(&b, r->open_min ? "a positive " : "a non-negative ");
        luaL_addstring(&b, noun);
    } else if ((r->types & LTAU_OPT_INTEGER) && ranged && !r->has_max && r->min == 1 && !r->open_min) {
        luaL_addstring(&b, "a positive integer");
    } else {
        int first = 1;
        for (int i = 0; i < 7; i++) {
            if (!(r->types & (1u << i))) continue;
            if ((1u << i) == LTAU_OPT_NUMBER && (r->types & LTAU_OPT_INTEGER)) continue;
            if (!first) luaL_addstring(&b, " or ");
            luaL_addstring(&b, type_nouns[i]);
            first = 0;
        }
        if (first) luaL_addstring(&b, "a value");
        if (num && ranged) {
            if (r->has_min && r->has_max) {
                luaL_addstring(&b, r->open_min ? " in (" : " in [");
                push_number(L, r->min); luaL_addvalue(&b);
                luaL_addstring(&b, ", ");
                push_number(L, r->max); luaL_addvalue(&b);
                luaL_addstring(&b, r->open_max ? ")" : "]");
            } else if (r->has_min) {
                luaL_addstring(&b, r->open_min ? " > " : " >= ");
                push_number(L, r->min); luaL_addvalue(&b);
            } else {
                luaL_addstring(&b, r->open_max ? " < " : " <= ");
                push_number(L, r->max); luaL_addvalue(&b);
            }
        }
    }
    luaL_pushresult(&b);
}

/* What the user gave, as it reads in a message: numbers and strings by value, the rest by type. */
static const char *shown(lua_State *L, int idx) {
    int t = lua_type(L, idx);
    if (t == LUA_TNUMBER || t == LUA_TSTRING) return luaL_tolstring(L, idx, NULL);
    if (ltau_test(L, idx)) return "a tensor";
    return luaL_typename(L, idx);
}

static int bad_value(lua_State *L, const char *fn, const char *name, int vidx, const rule *r, const char *choices) {
    vidx = lua_absindex(L, vidx);
    push_desc(L, r, choices);
    const char *d = lua_tostring(L, -1);
    return ltau_raisef(L, "%s: %s must be %s, got %s", fn, name, d, shown(L, vidx));
}

static int in_choices(const char *s, const char *choices) {
    size_t n = strlen(s);
    for (const char *p = choices; p;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, s, n)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Checks the value at vidx against r; `name` is how the message names it ("momentum",
 * "augment.crop"). */
static void check_value(lua_State *L, const char *fn, const char *name, int vidx, const rule *r, const char *choices) {
    if (!type_matches(L, vidx, r->types)) bad_value(L, fn, name, vidx, r, choices);
    int t = lua_type(L, vidx);
    if (t == LUA_TNUMBER && (r->types & (LTAU_OPT_NUMBER | LTAU_OPT_INTEGER))) {
        double v = lua_tonumber(L, vidx);
        int ok = v == v;
        if ((r->types & LTAU_OPT_INTEGER) && !(r->types & LTAU_OPT_NUMBER) && !lua_isinteger(L, vidx))
            ok = ok && v == floor(v) && fabs(v) < 9.2e18;
        if (r->finite && !isfinite(v)) ok = 0;
        if (r->has_min && (r->open_min ? !(v > r->min) : !(v >= r->min))) ok = 0;
        if (r->has_max && (r->open_max ? !(v < r->max) : !(v <= r->max))) ok = 0;
        if (!ok) bad_value(L, fn, name, vidx, r, choices);
    }
    if (t == LUA_TSTRING && choices && !in_choices(lua_tostring(L, vidx), choices))
        bad_value(L, fn, name, vidx, r, choices);
}

/* ---------------------------------------------------------------- the C interface */

static int c_unknown_key(lua_State *L, const char *fn, int kidx, const ltau_opt *spec) {
    kidx = lua_absindex(L, kidx);
    lua_newtable(L);
    for (int i = 0; spec[i].key; i++) { lua_pushstring(L, spec[i].key); lua_rawseti(L, -2, i + 1); }
    return unknown_key(L, fn, "", kidx, -1);
}

void ltau_checkopts(lua_State *L, int idx, const char *fn, const ltau_opt *spec) {
    if (lua_isnoneornil(L, idx)) return;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) ltau_raisef(L, "%s: options must be a table, got %s", fn, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const ltau_opt *o = NULL;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            for (int i = 0; spec[i].key && !o; i++) if (!strcmp(spec[i].key, k)) o = &spec[i];
        }
        if (!o) c_unknown_key(L, fn, -2, spec);
        rule r = {.types = o->types};
        check_value(L, fn, o->key, -1, &r, o->choices);
        lua_pop(L, 1);
    }
}

/* The spec as a Lua table {key = "number|table", ...}, for tau.options.specs (the list of
 * functions that take options, which the tests walk). */
void ltau_declare_opts(lua_State *L, const char *fn, const ltau_opt *spec) {
    lua_getfield(L, LUA_REGISTRYINDEX, "tau.option_specs");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "tau.option_specs");
    }
    lua_newtable(L);
    for (int i = 0; spec[i].key; i++) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        int first = 1;
        for (int t = 0; t < 7; t++) {
            if (!(spec[i].types & (1u << t))) continue;
            if (!first) luaL_addchar(&b, '|');
            luaL_addstring(&b, type_names[t]);
            first = 0;
        }
        if (first) luaL_addstring(&b, "any");
        luaL_pushresult(&b);
        lua_setfield(L, -2, spec[i].key);
    }
    lua_setfield(L, -2, fn);
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- the Lua interface */

/* A Lua spec: {key = descriptor}, a descriptor being a type string ("number", "integer",
 * "boolean", "string", "table", "tensor", "function", "any", or several joined by "|"), or a
 * table {type, default = v, required = true, min = a, max = b, above = a, below = b,
 * finite = true, choices = {...}, fields = {nested spec}, desc = "text for messages"}. */

static unsigned parse_types(lua_State *L, const char *s, const char *fn) {
    unsigned t = 0;
    while (*s) {
        const char *e = strchr(s, '|');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        int found = len == 3 && !strncmp(s, "any", 3);
        for (int i = 0; i < 7 && !found; i++)
            if (strlen(type_names[i]) == len && !strncmp(s, type_names[i], len)) { t |= 1u << i; found = 1; }
        if (!found) luaL_error(L, "tau.options: spec of %s: unknown type '%s'", fn, s);
        s = e ? e + 1 : s + len;
    }
    return t;
}

static double num_field(lua_State *L, int d, const char *k, int *has) {
    int ty = lua_getfield(L, d, k);
    double v = lua_tonumber(L, -1);
    *has = ty == LUA_TNUMBER;
    lua_pop(L, 1);
    return v;
}

/* Reads the descriptor at d into r; pushes the choices string ("a|b") or nil. */
static void parse_rule(lua_State *L, int d, rule *r, const char *fn) {
    memset(r, 0, sizeof *r);
    d = lua_absindex(L, d);
    if (lua_type(L, d) == LUA_TSTRING) { r->types = parse_types(L, lua_tostring(L, d), fn); lua_pushnil(L); return; }
    if (!lua_istable(L, d)) luaL_error(L, "tau.options: spec of %s: a descriptor must be a type name or a table", fn);
    int ty = lua_geti(L, d, 1);
    if (ty == LUA_TNIL) { lua_pop(L, 1); ty = lua_getfield(L, d, "type"); }
    if (ty == LUA_TSTRING) r->types = parse_types(L, lua_tostring(L, -1), fn);
    lua_pop(L, 1);
    int has;
    r->min = num_field(L, d, "min", &r->has_min);
    double a = num_field(L, d, "above", &has);
    if (has) { r->min = a; r->has_min = r->open_min = 1; }
    r->max = num_field(L, d, "max", &r->has_max);
    a = num_field(L, d, "below", &has);
    if (has) { r->max = a; r->has_max = r->open_max = 1; }
    lua_getfield(L, d, "finite");
    r->finite = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, d, "desc") == LUA_TSTRING) r->desc = lua_tostring(L, -1); /* the spec keeps it */
    lua_pop(L, 1);
    if (lua_getfield(L, d, "choices") == LUA_TTABLE) {
        luaL_Buffer b;
        int t = lua_gettop(L);
        luaL_buffinit(L, &b);
        for (int i = 1; lua_geti(L, t, i) != LUA_TNIL; i++) {
            if (i > 1) luaL_addchar(&b, '|');
            luaL_addvalue(&b);
        }
        lua_pop(L, 1);
        luaL_pushresult(&b);
        lua_remove(L, t);
    } else {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

static int lua_unknown_key(lua_State *L, const char *fn, const char *what, int kidx, int s) {
    kidx = lua_absindex(L, kidx);
    s = lua_absindex(L, s);
    lua_newtable(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, s)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, ++n);
    }
    return unknown_key(L, fn, what, kidx, -1);
}

static void copy_table(lua_State *L, int src) {
    src = lua_absindex(L, src);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, src)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -4);
    }
}

/* Checks the options at o against the spec at s; pushes the checked copy with defaults. `what`
 * is the prefix of nested tables ("augment." for augment = {...}). */
static void check_lua(lua_State *L, const char *fn, int o, int s, const char *what) {
    luaL_checkstack(L, 24, "tau.options: nested too deeply");
    o = lua_absindex(L, o);
    s = lua_absindex(L, s);
    char label[128];
    snprintf(label, sizeof label, "%.*s%s", what[0] ? (int)strlen(what) - 1 : 0, what, what[0] ? " " : "");
    lua_newtable(L);
    int out = lua_gettop(L);
    if (!lua_isnil(L, o)) {
        lua_pushnil(L);
        while (lua_next(L, o)) {
            lua_pushvalue(L, -2);
            if (lua_type(L, -1) != LUA_TSTRING || lua_rawget(L, s) == LUA_TNIL) lua_unknown_key(L, fn, label, -3, s);
            lua_pop(L, 2);
        }
    }
    lua_pushnil(L);
    while (lua_next(L, s)) {
        int d = lua_gettop(L), k = d - 1;
        if (lua_type(L, k) != LUA_TSTRING) luaL_error(L, "tau.options: spec of %s: keys must be strings", fn);
        const char *key = lua_tostring(L, k);
        char name[160];
        snprintf(name, sizeof name, "%s%s", what, key);
        rule r;
        parse_rule(L, d, &r, fn);
        const char *choices = lua_tostring(L, -1); /* nil gives NULL */
        int v = lua_isnil(L, o) ? (lua_pushnil(L), lua_gettop(L)) : (lua_pushvalue(L, k), lua_gettable(L, o), lua_gettop(L));
        if (lua_isnil(L, v)) {
            if (lua_istable(L, d)) {
                lua_getfield(L, d, "required");
                int req = lua_toboolean(L, -1);
                lua_pop(L, 1);
                if (req) ltau_raisef(L, "%s: option '%s' is required", fn, name);
                if (lua_getfield(L, d, "default") == LUA_TTABLE) {
                    copy_table(L, -1);
                    lua_remove(L, -2);
                }
                lua_pushvalue(L, k);
                lua_insert(L, -2);
                lua_settable(L, out);
            }
        } else {
            check_value(L, fn, name, v, &r, choices);
            if (lua_istable(L, d) && lua_istable(L, v) && lua_getfield(L, d, "fields") == LUA_TTABLE) {
                char sub[200];
                snprintf(sub, sizeof sub, "%s.", name);
                check_lua(L, fn, v, -1, sub);
                lua_remove(L, -2);
            } else {
                if (lua_istable(L, d) && lua_istable(L, v)) lua_pop(L, 1);
                lua_pushvalue(L, v);
            }
            lua_pushvalue(L, k);
            lua_insert(L, -2);
            lua_settable(L, out);
        }
        lua_settop(L, k);
    }
}

static const char *fn_arg(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TSTRING) luaL_error(L, "tau.options: the function name must be a string");
    return lua_tostring(L, idx);
}

/* tau.options.check(fn, opts, spec) -> a checked copy of opts with the defaults filled in */
static int f_check(lua_State *L) {
    const char *fn = fn_arg(L, 1);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2) && !lua_istable(L, 2)) ltau_raisef(L, "%s: options must be a table, got %s", fn, luaL_typename(L, 2));
    lua_settop(L, 3);
    check_lua(L, fn, 2, 3, "");
    return 1;
}

static int spec_checker(lua_State *L) {
    /* upvalues: fn, spec; arguments: opts [, name that replaces fn in messages] */
    const char *fn = lua_isstring(L, 2) ? lua_tostring(L, 2) : lua_tostring(L, lua_upvalueindex(1));
    if (!lua_isnoneornil(L, 1) && !lua_istable(L, 1)) ltau_raisef(L, "%s: options must be a table, got %s", fn, luaL_typename(L, 1));
    lua_settop(L, 1);
    check_lua(L, fn, 1, lua_upvalueindex(2), "");
    return 1;
}

/* tau.options.spec(fn, spec) -> check(opts [, fn]): declares fn's options (listed in
 * tau.options.specs) and returns their checker. */
static int f_spec(lua_State *L) {
    const char *fn = fn_arg(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, LUA_REGISTRYINDEX, "tau.option_specs");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, fn);
    lua_pop(L, 1);
    lua_settop(L, 2);
    lua_pushcclosure(L, spec_checker, 2);
    return 1;
}

static const luaL_Reg option_fns[] = {{"check", f_check}, {"spec", f_spec}, {NULL, NULL}};

int ltau_open_options(lua_State *L) {
    lua_newtable(L);
    luaL_setfuncs(L, option_fns, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, "tau.option_specs");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "tau.option_specs");
    }
    lua_setfield(L, -2, "specs");
    lua_setfield(L, -2, "options");
    lua_pushcfunction(L, f_raise);
    lua_setfield(L, -2, "_raise");
    return 0;
}
