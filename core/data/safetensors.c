#include "data/safetensors.h"
#include "base/alloc.h"
#include "base/atomic.h"
#include "base/error.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code copies it without byte swapping"
#endif

static const struct { const char *name; size_t size; } dtypes[TAU_ST_NDTYPES] = {
    [TAU_ST_F32] = {"F32", 4}, [TAU_ST_I32] = {"I32", 4},   [TAU_ST_F64] = {"F64", 8},
    [TAU_ST_I64] = {"I64", 8}, [TAU_ST_F16] = {"F16", 2},   [TAU_ST_BF16] = {"BF16", 2},
    [TAU_ST_I16] = {"I16", 2}, [TAU_ST_U16] = {"U16", 2},   [TAU_ST_I8] = {"I8", 1},
    [TAU_ST_U8] = {"U8", 1},   [TAU_ST_BOOL] = {"BOOL", 1}, [TAU_ST_U32] = {"U32", 4},
    [TAU_ST_U64] = {"U64", 8},
};

int tau_st_dtype_from_name(const char *name) {
    for (int i = 0; i < TAU_ST_NDTYPES; i++)
        if (!strcmp(dtypes[i].name, name)) return i;
    return -1;
}

const char *tau_st_dtype_name(int dtype) {
    return dtype >= 0 && dtype < TAU_ST_NDTYPES ? dtypes[dtype].name : NULL;
}

size_t tau_st_dtype_size(int dtype) {
    return dtype >= 0 && dtype < TAU_ST_NDTYPES ? dtypes[dtype].size : 0;
}

/* product(shape) * element size, or -1 if it does not fit in 64 bits. */
static int shape_bytes(int dtype, int ndim, const int64_t *shape, uint64_t *out) {
    uint64_t n = tau_st_dtype_size(dtype);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return -1;
    *out = n;
    return 0;
}

/* zlib treats a NULL buffer as "give me the initial value", which would silently restart the
 * checksum at an empty tensor with no data pointer. */
static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
    return n ? (uint32_t)crc32_z(crc, p, n) : crc;
}

/* ---- writing -------------------------------------------------------------------------------- */

typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"') sb_put(b, "\\\"", 2);
        else if (*c == '\\') sb_put(b, "\\\\", 2);
        else if (*c < 0x20) sb_printf(b, "\\u%04x", *c);
        else sb_put(b, (const char *)c, 1);
    }
    sb_put(b, "\"", 1);
}

/* Other readers decode the header as UTF-8 and reject anything else, so refuse to write it. */
static int valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra;
        uint32_t cp;
        if (*p < 0x80) { p++; continue; }
        else if ((*p & 0xe0) == 0xc0) { extra = 1; cp = *p & 0x1f; }
        else if ((*p & 0xf0) == 0xe0) { extra = 2; cp = *p & 0x0f; }
        else if ((*p & 0xf8) == 0xf0) { extra = 3; cp = *p & 0x07; }
        else return 0;
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (*p & 0x3f);
        }
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

typedef struct { const tau_st_tensor *t; int index; } order_item;

static int by_name(const void *a, const void *b) {
    return strcmp(((const order_item *)a)->t->name, ((const order_item *)b)->t->name);
}

/* Largest element first keeps every tensor aligned to its element size; ties keep the
 * caller's order so the layout is predictable. */
static int by_size_then_index(const void *a, const void *b) {
    const order_item *x = a, *y = b;
    size_t sx = tau_st_dtype_size(x->t->dtype), sy = tau_st_dtype_size(y->t->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int check_tensor(const char *path, const tau_st_tensor *t, int i) {
    if (!t->name || !*t->name)
        return tau_fail("cannot write '%s': tensor %d has no name", path, i + 1);
    if (!strcmp(t->name, "__metadata__"))
        return tau_fail("cannot write '%s': \"__metadata__\" is reserved and cannot name a "
                        "tensor", path);
    if (!valid_utf8(t->name))
        return tau_fail("cannot write '%s': tensor name '%s' is not valid UTF-8", path, t->name);
    if (!tau_st_dtype_name(t->dtype))
        return tau_fail("cannot write '%s': tensor '%s' has unknown dtype code %d", path,
                        t->name, t->dtype);
    if (t->ndim < 0 || t->ndim > TAU_ST_MAX_DIMS)
        return tau_fail("cannot write '%s': tensor '%s' has %d dimensions (at most %d)", path,
                        t->name, t->ndim, TAU_ST_MAX_DIMS);
    uint64_t need;
    if (shape_bytes(t->dtype, t->ndim, t->shape, &need) != 0)
        return tau_fail("cannot write '%s': tensor '%s' has a negative or overflowing shape",
                        path, t->name);
    if (need != t->nbytes)
        return tau_fail("cannot write '%s': tensor '%s' is %s with %llu bytes of shape, but "
                        "nbytes is %zu", path, t->name, tau_st_dtype_name(t->dtype),
                        (unsigned long long)need, t->nbytes);
    if (t->nbytes && !t->data)
        return tau_fail("cannot write '%s': tensor '%s' has no data", path, t->name);
    return TAU_OK;
}

int tau_st_write(const char *path, const tau_st_tensor *ts, int count,
                 const char *const *meta_kv) {
    if (!path) return tau_fail("safetensors: no file name");
    if (count < 0 || (count > 0 && !ts))
        return tau_fail("cannot write '%s': bad tensor count %d", path, count);
    int nmeta = 0;
    if (meta_kv)
        for (; meta_kv[2 * nmeta]; nmeta++) {
            const char *k = meta_kv[2 * nmeta], *v = meta_kv[2 * nmeta + 1];
            if (!v)
                return tau_fail("cannot write '%s': metadata key '%s' has no value (the list is "
                                "key, value, ..., NULL)", path, k);
            if (!valid_utf8(k) || !valid_utf8(v))
                return tau_fail("cannot write '%s': metadata '%s' is not valid UTF-8", path, k);
            for (int j = 0; j < nmeta; j++)
                if (!strcmp(meta_kv[2 * j], k))
                    return tau_fail("cannot write '%s': metadata key '%s' given twice", path, k);
        }
    for (int i = 0; i < count; i++)
        if (check_tensor(path, &ts[i], i) != TAU_OK) return TAU_ERR;

    order_item *ord = malloc((count ? (size_t)count : 1) * sizeof *ord);
    if (!ord) return tau_fail("out of memory");
    for (int i = 0; i < count; i++) ord[i] = (order_item){&ts[i], i};
    qsort(ord, (size_t)count, sizeof *ord, by_name);
    for (int i = 1; i < count; i++)
        if (!strcmp(ord[i].t->name, ord[i - 1].t->name)) {
            int r = tau_fail("cannot write '%s': tensor name '%s' is used twice", path,
                             ord[i].t->name);
            free(ord);
            return r;
        }
    qsort(ord, (size_t)count, sizeof *ord, by_size_then_index);

    uint32_t crc = crc_update(0, NULL, 0);
    for (int i = 0; i < count; i++) crc = crc_update(crc, ord[i].t->data, ord[i].t->nbytes);

    sbuf h = {0};
    sb_str(&h, "{\"__metadata__\":{");
    for (int j = 0; j < nmeta; j++) {
        if (!strcmp(meta_kv[2 * j], TAU_ST_CHECKSUM_KEY)) continue;   /* recomputed below */
        sb_json_string(&h, meta_kv[2 * j]);
        sb_str(&h, ":");
        sb_json_string(&h, meta_kv[2 * j + 1]);
        sb_str(&h, ",");
    }
    sb_printf(&h, "\"%s\":\"crc32:%08x\"}", TAU_ST_CHECKSUM_KEY, (unsigned)crc);
    uint64_t off = 0;
    for (int i = 0; i < count; i++) {
        const tau_st_tensor *t = ord[i].t;
        sb_str(&h, ",");
        sb_json_string(&h, t->name);
        sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", tau_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) sb_printf(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        sb_printf(&h, "],\"data_offsets\":[%llu,", (unsigned long long)off);
        off += t->nbytes;
        sb_printf(&h, "%llu]}", (unsigned long long)off);
    }
    sb_str(&h, "}");
    while (!h.oom && h.n % 8) sb_str(&h, " ");
    if (h.oom) {
        free(h.p);
        free(ord);
        return tau_fail("out of memory");
    }
    if (h.n > TAU_ST_MAX_HEADER) {
        free(h.p);
        free(ord);
        return tau_fail("cannot write '%s': header would be %zu bytes (limit %d)", path, h.n,
                        TAU_ST_MAX_HEADER);
    }

    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
    tau_atomic_file af;
    int r = tau_atomic_open(&af, path);
    if (r == TAU_OK) {
        r = tau_atomic_put(&af, len8, 8);
        if (r == TAU_OK) r = tau_atomic_put(&af, h.p, h.n);
        for (int i = 0; i < count && r == TAU_OK; i++)
            r = tau_atomic_put(&af, ord[i].t->data, ord[i].t->nbytes);
        if (r == TAU_OK) r = tau_atomic_commit(&af);
        else tau_atomic_abort(&af);
    }
    free(h.p);
    free(ord);
    return r;
}

/* ---- reading: a JSON parser for the header ---------------------------------------------- */

#define MAX_DEPTH 64

typedef struct {
    const char *s;
    size_t n, i;
    const char *path;
} jp;

static int jfail(jp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jfail(jp *p, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tau_fail("'%s': malformed safetensors header: %s at header byte %zu", p->path, what,
                    p->i);
}

static void ws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int peek(jp *p) { return p->i < p->n ? (unsigned char)p->s[p->i] : -1; }

static int expect(jp *p, char c) {
    ws(p);
    if (peek(p) != c) {
        if (p->i >= p->n) return jfail(p, "unexpected end, expected '%c'", c);
        return jfail(p, "expected '%c'", c);
    }
    p->i++;
    return TAU_OK;
}

static int hex4(jp *p, uint32_t *v) {
    if (p->n - p->i < 4) return jfail(p, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return jfail(p, "bad hex digit in \\u escape");
        *v = *v << 4 | (uint32_t)d;
    }
    return TAU_OK;
}

/* Decodes a JSON string into a malloc'ed C string (out NULL: validate and skip). */
static int jstring(jp *p, char **out) {
    if (out) *out = NULL;
    ws(p);
    if (peek(p) != '"') return jfail(p, p->i >= p->n ? "unexpected end, expected a string"
                                                     : "expected a string");
    p->i++;
    /* The decoded form is never longer than the source, so one bound suffices. */
    size_t start = p->i, cap = 0;
    while (start + cap < p->n && p->s[start + cap] != '"') cap += p->s[start + cap] == '\\' ? 2 : 1;
    char *d = NULL;
    if (out && !(d = malloc(cap + 1))) return tau_fail("out of memory");
    size_t k = 0;
    for (;;) {
        if (p->i >= p->n) { free(d); return jfail(p, "unterminated string"); }
        unsigned char c = (unsigned char)p->s[p->i++];
        if (c == '"') break;
        if (c < 0x20) { p->i--; free(d); return jfail(p, "control character in string"); }
        if (c != '\\') {
            if (d) d[k++] = (char)c;
            continue;
        }
        if (p->i >= p->n) { free(d); return jfail(p, "unterminated escape"); }
        char e = p->s[p->i++];
        char simple = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/' : e == 'b' ? '\b'
                    : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : 0;
        if (simple) {
            if (d) d[k++] = simple;
            continue;
        }
        if (e != 'u') { p->i--; free(d); return jfail(p, "invalid escape '\\%c'", e); }
        uint32_t cp;
        if (hex4(p, &cp) != TAU_OK) { free(d); return TAU_ERR; }
        if (cp >= 0xdc00 && cp <= 0xdfff) { free(d); return jfail(p, "unpaired low surrogate"); }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                free(d);
                return jfail(p, "unpaired high surrogate");
            }
            p->i += 2;
            if (hex4(p, &lo) != TAU_OK) { free(d); return TAU_ERR; }
            if (lo < 0xdc00 || lo > 0xdfff) { free(d); return jfail(p, "bad surrogate pair"); }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0) { free(d); return jfail(p, "\\u0000 in a string is not supported"); }
        /* 6 source bytes (12 for a pair) always cover the <= 4 UTF-8 bytes written. */
        if (d) {
            if (cp < 0x80) d[k++] = (char)cp;
            else if (cp < 0x800) {
                d[k++] = (char)(0xc0 | cp >> 6);
                d[k++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                d[k++] = (char)(0xe0 | cp >> 12);
                d[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            } else {
                d[k++] = (char)(0xf0 | cp >> 18);
                d[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                d[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            }
        }
    }
    if (d) {
        d[k] = 0;
        *out = d;
    }
    return TAU_OK;
}

/* Parses a JSON number; *is_uint says whether it is a non-negative integer fitting in int64. */
static int jnumber(jp *p, int64_t *val, int *is_uint) {
    ws(p);
    int neg = 0, frac = 0, overflow = 0;
    uint64_t v = 0;
    if (peek(p) == '-') { neg = 1; p->i++; }
    int c = peek(p);
    if (c < '0' || c > '9') return jfail(p, "expected a number");
    if (c == '0') {
        p->i++;
        c = peek(p);
        if (c >= '0' && c <= '9') return jfail(p, "leading zero in a number");
    } else {
        while ((c = peek(p)) >= '0' && c <= '9') {
            if (v > (uint64_t)INT64_MAX / 10 ||
                v * 10 + (uint64_t)(c - '0') > (uint64_t)INT64_MAX)
                overflow = 1;
            else v = v * 10 + (uint64_t)(c - '0');
            p->i++;
        }
    }
    if (peek(p) == '.') {
        frac = 1;
        p->i++;
        if ((c = peek(p)) < '0' || c > '9') return jfail(p, "expected a digit after '.'");
        while ((c = peek(p)) >= '0' && c <= '9') p->i++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        frac = 1;
        p->i++;
        if (peek(p) == '+' || peek(p) == '-') p->i++;
        if ((c = peek(p)) < '0' || c > '9') return jfail(p, "expected a digit in the exponent");
        while ((c = peek(p)) >= '0' && c <= '9') p->i++;
    }
    *is_uint = !neg && !frac && !overflow;
    *val = (int64_t)v;
    return TAU_OK;
}

static int jliteral(jp *p, const char *lit) {
    size_t n = strlen(lit);
    if (p->n - p->i < n || memcmp(p->s + p->i, lit, n) != 0) return jfail(p, "invalid value");
    p->i += n;
    return TAU_OK;
}

static int jskip(jp *p, int depth) {
    if (depth > MAX_DEPTH) return jfail(p, "nesting deeper than %d", MAX_DEPTH);
    ws(p);
    int c = peek(p);
    if (c == '"') return jstring(p, NULL);
    if (c == '-' || (c >= '0' && c <= '9')) {
        int64_t v;
        int u;
        return jnumber(p, &v, &u);
    }
    if (c == 't') return jliteral(p, "true");
    if (c == 'f') return jliteral(p, "false");
    if (c == 'n') return jliteral(p, "null");
    if (c == '[' || c == '{') {
        char close = c == '[' ? ']' : '}';
        p->i++;
        ws(p);
        if (peek(p) == close) { p->i++; return TAU_OK; }
        for (;;) {
            if (c == '{') {
                if (jstring(p, NULL) != TAU_OK || expect(p, ':') != TAU_OK) return TAU_ERR;
            }
            if (jskip(p, depth + 1) != TAU_OK) return TAU_ERR;
            ws(p);
            if (peek(p) == ',') { p->i++; continue; }
            if (peek(p) == close) { p->i++; return TAU_OK; }
            return jfail(p, p->i >= p->n ? "unexpected end, expected ',' or '%c'"
                                         : "expected ',' or '%c'", close);
        }
    }
    if (c < 0) return jfail(p, "unexpected end, expected a value");
    return jfail(p, "invalid value");
}

/* [n, n, ...] of non-negative integers, at most max of them. */
static int juint_array(jp *p, int64_t *vals, int max, int *count, const char *tname,
                       const char *field) {
    *count = 0;
    if (expect(p, '[') != TAU_OK) return TAU_ERR;
    ws(p);
    if (peek(p) == ']') { p->i++; return TAU_OK; }
    for (;;) {
        int64_t v;
        int u;
        if (jnumber(p, &v, &u) != TAU_OK) return TAU_ERR;
        if (!u)
            return jfail(p, "tensor '%s': %s must hold non-negative integers below 2^63",
                         tname, field);
        if (*count == max)
            return jfail(p, "tensor '%s': %s has more than %d entries", tname, field, max);
        vals[(*count)++] = v;
        ws(p);
        if (peek(p) == ',') { p->i++; continue; }
        if (peek(p) == ']') { p->i++; return TAU_OK; }
        return jfail(p, p->i >= p->n ? "unexpected end, expected ',' or ']'"
                                     : "expected ',' or ']'");
    }
}

typedef struct { tau_st_tensor t; uint64_t begin, end; } entry;

static int jtensor(jp *p, entry *e) {
    const char *name = e->t.name;
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if (expect(p, '{') != TAU_OK) return TAU_ERR;
    ws(p);
    if (peek(p) == '}') return jfail(p, "tensor '%s' has no dtype", name);
    for (;;) {
        char *key;
        if (jstring(p, &key) != TAU_OK) return TAU_ERR;
        if (expect(p, ':') != TAU_OK) { free(key); return TAU_ERR; }
        int r = TAU_OK;
        if (!strcmp(key, "dtype")) {
            char *dt;
            if (have_dtype++) r = jfail(p, "tensor '%s': dtype given twice", name);
            else if ((r = jstring(p, &dt)) == TAU_OK) {
                e->t.dtype = tau_st_dtype_from_name(dt);
                if (e->t.dtype < 0)
                    r = tau_fail("'%s': tensor '%s' has unsupported dtype '%.32s'", p->path,
                                 name, dt);
                free(dt);
            }
        } else if (!strcmp(key, "shape")) {
            if (have_shape++) r = jfail(p, "tensor '%s': shape given twice", name);
            else r = juint_array(p, e->t.shape, TAU_ST_MAX_DIMS, &e->t.ndim, name, "shape");
        } else if (!strcmp(key, "data_offsets")) {
            int64_t off[2];
            int n;
            if (have_off++) r = jfail(p, "tensor '%s': data_offsets given twice", name);
            else if ((r = juint_array(p, off, 2, &n, name, "data_offsets")) == TAU_OK) {
                if (n != 2) r = jfail(p, "tensor '%s': data_offsets must be [begin, end]", name);
                e->begin = (uint64_t)off[0];
                e->end = (uint64_t)off[1];
            }
        } else {
            r = jskip(p, 1);
        }
        free(key);
        if (r != TAU_OK) return TAU_ERR;
        ws(p);
        if (peek(p) == ',') { p->i++; continue; }
        if (peek(p) == '}') { p->i++; break; }
        return jfail(p, p->i >= p->n ? "unexpected end, expected ',' or '}'"
                                     : "expected ',' or '}'");
    }
    if (!have_dtype) return tau_fail("'%s': tensor '%s' has no dtype", p->path, name);
    if (!have_shape) return tau_fail("'%s': tensor '%s' has no shape", p->path, name);
    if (!have_off) return tau_fail("'%s': tensor '%s' has no data_offsets", p->path, name);
    return TAU_OK;
}

typedef struct {
    entry *e;
    int n, cap;
    char **mk, **mv;
    int mn, mcap;
    int have_meta;
} parsed;

static void parsed_free(parsed *ps) {
    for (int i = 0; i < ps->n; i++) {
        free(ps->e[i].t.name);
        tau_free(ps->e[i].t.data, ps->e[i].t.nbytes);
    }
    for (int i = 0; i < ps->mn; i++) { free(ps->mk[i]); free(ps->mv[i]); }
    free(ps->e);
    free(ps->mk);
    free(ps->mv);
    memset(ps, 0, sizeof *ps);
}

static int jmeta(jp *p, parsed *ps) {
    if (ps->have_meta++) return jfail(p, "__metadata__ given twice");
    ws(p);
    if (peek(p) == 'n') return jliteral(p, "null");
    if (expect(p, '{') != TAU_OK) return TAU_ERR;
    ws(p);
    if (peek(p) == '}') { p->i++; return TAU_OK; }
    for (;;) {
        char *k, *v;
        if (jstring(p, &k) != TAU_OK) return TAU_ERR;
        if (expect(p, ':') != TAU_OK) { free(k); return TAU_ERR; }
        ws(p);
        if (peek(p) != '"') {
            int r = jfail(p, "__metadata__ value of '%.64s' is not a string", k);
            free(k);
            return r;
        }
        if (jstring(p, &v) != TAU_OK) { free(k); return TAU_ERR; }
        if (ps->mn == ps->mcap) {
            int cap = ps->mcap ? ps->mcap * 2 : 8;
            char **a = realloc(ps->mk, (size_t)cap * sizeof *a);
            if (a) ps->mk = a;
            char **b = a ? realloc(ps->mv, (size_t)cap * sizeof *b) : NULL;
            if (b) ps->mv = b;
            if (!a || !b) { free(k); free(v); return tau_fail("out of memory"); }
            ps->mcap = cap;
        }
        ps->mk[ps->mn] = k;
        ps->mv[ps->mn++] = v;
        ws(p);
        if (peek(p) == ',') { p->i++; continue; }
        if (peek(p) == '}') { p->i++; return TAU_OK; }
        return jfail(p, p->i >= p->n ? "unexpected end, expected ',' or '}'"
                                     : "expected ',' or '}'");
    }
}

static int jheader(jp *p, parsed *ps) {
    ws(p);
    if (peek(p) != '{') return jfail(p, "the header is not a JSON object");
    p->i++;
    ws(p);
    if (peek(p) == '}') p->i++;
    else
        for (;;) {
            char *key;
            if (jstring(p, &key) != TAU_OK) return TAU_ERR;
            if (expect(p, ':') != TAU_OK) { free(key); return TAU_ERR; }
            if (!strcmp(key, "__metadata__")) {
                free(key);
                if (jmeta(p, ps) != TAU_OK) return TAU_ERR;
            } else {
                if (ps->n == ps->cap) {
                    int cap = ps->cap ? ps->cap * 2 : 16;
                    entry *e = realloc(ps->e, (size_t)cap * sizeof *e);
                    if (!e) { free(key); return tau_fail("out of memory"); }
                    ps->e = e;
                    ps->cap = cap;
                }
                entry *e = &ps->e[ps->n++];
                memset(e, 0, sizeof *e);
                e->t.name = key;
                if (jtensor(p, e) != TAU_OK) return TAU_ERR;
            }
            ws(p);
            if (peek(p) == ',') { p->i++; continue; }
            if (peek(p) == '}') { p->i++; break; }
            return jfail(p, p->i >= p->n ? "unexpected end, expected ',' or '}'"
                                         : "expected ',' or '}'");
        }
    ws(p);
    if (p->i < p->n) return jfail(p, "unexpected data after the header object");
    return TAU_OK;
}

static int by_entry_name(const void *a, const void *b) {
    return strcmp((*(entry *const *)a)->t.name, (*(entry *const *)b)->t.name);
}

static int by_offset(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorting keeps this linear-logarithmic: a hostile header may hold millions of keys. */
static int check_meta(const char *path, parsed *ps) {
    if (ps->mn < 2) return TAU_OK;
    char **keys = malloc((size_t)ps->mn * sizeof *keys);
    if (!keys) return tau_fail("out of memory");
    memcpy(keys, ps->mk, (size_t)ps->mn * sizeof *keys);
    qsort(keys, (size_t)ps->mn, sizeof *keys, by_string);
    int r = TAU_OK;
    for (int i = 1; i < ps->mn && r == TAU_OK; i++)
        if (!strcmp(keys[i], keys[i - 1]))
            r = tau_fail("'%s': __metadata__ key '%.64s' given twice", path, keys[i]);
    free(keys);
    return r;
}

/* Checks what the header promises against itself and the data region's real size. */
static int check_layout(const char *path, parsed *ps, uint64_t data_len) {
    if (check_meta(path, ps) != TAU_OK) return TAU_ERR;
    if (ps->n > 1) {
        entry **byname = malloc((size_t)ps->n * sizeof *byname);
        if (!byname) return tau_fail("out of memory");
        for (int i = 0; i < ps->n; i++) byname[i] = &ps->e[i];
        qsort(byname, (size_t)ps->n, sizeof *byname, by_entry_name);
        for (int i = 1; i < ps->n; i++)
            if (!strcmp(byname[i]->t.name, byname[i - 1]->t.name)) {
                int r = tau_fail("'%s': tensor '%s' appears twice in the header", path,
                                 byname[i]->t.name);
                free(byname);
                return r;
            }
        free(byname);
    }
    for (int i = 0; i < ps->n; i++) {
        entry *e = &ps->e[i];
        uint64_t need;
        if (shape_bytes(e->t.dtype, e->t.ndim, e->t.shape, &need) != 0)
            return tau_fail("'%s': tensor '%s': the shape's element count overflows", path,
                            e->t.name);
        if (e->end < e->begin)
            return tau_fail("'%s': tensor '%s' has data_offsets [%llu, %llu] that end before "
                            "they begin", path, e->t.name, (unsigned long long)e->begin,
                            (unsigned long long)e->end);
        if (e->end - e->begin != need)
            return tau_fail("'%s': tensor '%s' has data_offsets [%llu, %llu] (%llu bytes) but "
                            "%s of its shape needs %llu bytes", path, e->t.name,
                            (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin),
                            tau_st_dtype_name(e->t.dtype), (unsigned long long)need);
        if (e->end > data_len)
            return tau_fail("'%s': tensor '%s' ends at byte %llu of the data but the file holds "
                            "only %llu data bytes (truncated?)", path, e->t.name,
                            (unsigned long long)e->end, (unsigned long long)data_len);
        e->t.nbytes = (size_t)need;
    }
    if (ps->n > 1) qsort(ps->e, (size_t)ps->n, sizeof *ps->e, by_offset);
    uint64_t at = 0;
    for (int i = 0; i < ps->n; i++) {
        entry *e = &ps->e[i];
        if (e->begin < at)
            return tau_fail("'%s': tensor '%s' [%llu, %llu] overlaps tensor '%s' [%llu, %llu]",
                            path, e->t.name, (unsigned long long)e->begin,
                            (unsigned long long)e->end, ps->e[i - 1].t.name,
                            (unsigned long long)ps->e[i - 1].begin,
                            (unsigned long long)ps->e[i - 1].end);
        if (e->begin > at)
            return tau_fail("'%s': %llu unused data bytes before tensor '%s' (at %llu)", path,
                            (unsigned long long)(e->begin - at), e->t.name,
                            (unsigned long long)at);
        at = e->end;
    }
    if (at != data_len)
        return tau_fail("'%s': %llu data bytes after the last tensor (the header describes %llu "
                        "of %llu)", path, (unsigned long long)(data_len - at),
                        (unsigned long long)at, (unsigned long long)data_len);
    return TAU_OK;
}

static int parse_checksum(const char *s, uint32_t *out) {
    if (strncmp(s, "crc32:", 6) != 0 || strlen(s) != 14) return -1;
    uint32_t v = 0;
    for (int i = 6; i < 14; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

int tau_st_read(const char *path, tau_st_file *out) {
    memset(out, 0, sizeof *out);
    if (!path) return tau_fail("safetensors: no file name");
    FILE *f = fopen(path, "rb");
    if (!f) return tau_fail("cannot open '%s': %s", path, strerror(errno));
    parsed ps = {0};
    char *hdr = NULL;
    int r = TAU_ERR;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        tau_fail("cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        tau_fail("cannot read '%s': not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t len8[8];
    if (size < 8 || fread(len8, 1, 8, f) != 8) {
        tau_fail("'%s' is not a safetensors file: only %llu bytes", path,
                 (unsigned long long)size);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)len8[i] << (8 * i);
    if (hlen > TAU_ST_MAX_HEADER) {
        tau_fail("'%s' is not a valid safetensors file: header length %llu is absurd (limit %d)",
                 path, (unsigned long long)hlen, TAU_ST_MAX_HEADER);
        goto done;
    }
    if (hlen > size - 8) {
        tau_fail("'%s' is not a valid safetensors file (or is truncated): header length %llu "
                 "exceeds the %llu bytes after the length field", path,
                 (unsigned long long)hlen, (unsigned long long)(size - 8));
        goto done;
    }
    if (hlen < 2) {
        tau_fail("'%s' is not a valid safetensors file: header length %llu is too small", path,
                 (unsigned long long)hlen);
        goto done;
    }
    hdr = malloc((size_t)hlen);
    if (!hdr) {
        tau_fail("out of memory reading the header of '%s'", path);
        goto done;
    }
    if (fread(hdr, 1, (size_t)hlen, f) != (size_t)hlen) {
        tau_fail("cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "file shrank");
        goto done;
    }
    jp p = {hdr, (size_t)hlen, 0, path};
    if (jheader(&p, &ps) != TAU_OK) goto done;
    uint64_t data_len = size - 8 - hlen;
    if (check_layout(path, &ps, data_len) != TAU_OK) goto done;

    uint32_t crc = crc_update(0, NULL, 0);
    for (int i = 0; i < ps.n; i++) {
        tau_st_tensor *t = &ps.e[i].t;
        t->data = tau_alloc(t->nbytes);
        if (!t->data) {
            tau_fail("out of memory reading tensor '%s' (%zu bytes) from '%s'", t->name,
                     t->nbytes, path);
            goto done;
        }
        if (t->nbytes && fread(t->data, 1, t->nbytes, f) != t->nbytes) {
            tau_fail("cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "file shrank");
            goto done;
        }
        crc = crc_update(crc, t->data, t->nbytes);
    }
    for (int i = 0; i < ps.mn; i++)
        if (!strcmp(ps.mk[i], TAU_ST_CHECKSUM_KEY)) {
            uint32_t want;
            if (parse_checksum(ps.mv[i], &want) != 0) {
                tau_fail("'%s': unrecognised %s value '%.40s' (expected crc32:xxxxxxxx)", path,
                         TAU_ST_CHECKSUM_KEY, ps.mv[i]);
                goto done;
            }
            if (want != crc) {
                tau_fail("'%s': checksum mismatch: the header says crc32:%08x but the data gives "
                         "crc32:%08x (the file is corrupt)", path, (unsigned)want, (unsigned)crc);
                goto done;
            }
        }

    out->count = ps.n;
    out->meta_count = ps.mn;
    out->tensors = malloc((ps.n ? (size_t)ps.n : 1) * sizeof *out->tensors);
    if (!out->tensors) {
        tau_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < ps.n; i++) out->tensors[i] = ps.e[i].t;
    out->meta_keys = ps.mk;
    out->meta_values = ps.mv;
    free(ps.e);
    memset(&ps, 0, sizeof ps);
    r = TAU_OK;
done:
    if (r != TAU_OK) {
        parsed_free(&ps);
        memset(out, 0, sizeof *out);
    }
    free(hdr);
    fclose(f);
    return r;
}

void tau_st_free(tau_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->count; i++) {
        free(f->tensors[i].name);
        tau_free(f->tensors[i].data, f->tensors[i].nbytes);
    }
    for (int i = 0; i < f->meta_count; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    memset(f, 0, sizeof *f);
}

const tau_st_tensor *tau_st_find(const tau_st_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *tau_st_meta(const tau_st_file *f, const char *key) {
    for (int i = 0; i < f->meta_count; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}
