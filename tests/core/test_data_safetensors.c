/* safetensors: round trips, interoperability with an independent writer/reader (Python's
 * standard library), and hostile input: every truncation, random corruption, and a catalogue
 * of malformed headers, each of which must give an error naming the problem, never a crash. */
#include "check_helpers.h"
#include "base/alloc.h"
#include "base/error.h"
#include "data/safetensors.h"
#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    ck_assert_uint_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* 8-byte length + header (not padded) + data */
static void craft(const char *path, const char *header, const void *data, size_t ndata) {
    size_t h = strlen(header);
    uint8_t *b = malloc(8 + h + ndata + 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (ndata) memcpy(b + 8 + h, data, ndata);
    write_bytes(path, b, 8 + h + ndata);
    free(b);
}

/* Reads a crafted file and expects failure with the given text (and the file's name). */
static void bad(const char *header, size_t ndata, const char *needle) {
    static uint8_t zeros[4096];
    ck_assert(ndata <= sizeof zeros);
    craft(P("bad.st"), header, zeros, ndata);
    tau_st_file f;
    int rc = tau_st_read(P("bad.st"), &f);
    ck_assert_msg(rc == TAU_ERR, "header %s was accepted", header);
    ck_assert_msg(strstr(tau_errmsg(), needle), "header %s: error '%s' lacks '%s'", header,
                  tau_errmsg(), needle);
    ck_assert_msg(strstr(tau_errmsg(), "bad.st"), "error '%s' does not name the file", tau_errmsg());
    ck_assert_int_eq(f.count, 0);
    ck_assert_ptr_null(f.tensors);
}

static void good(const char *header, size_t ndata, int count) {
    static uint8_t zeros[4096];
    craft(P("good.st"), header, zeros, ndata);
    tau_st_file f;
    int rc = tau_st_read(P("good.st"), &f);
    ck_assert_msg(rc == TAU_OK, "header %s: %s", header, tau_errmsg());
    ck_assert_int_eq(f.count, count);
    tau_st_free(&f);
}

/* ---- round trip --------------------------------------------------------------------------- */

START_TEST(round_trip) {
    scratch_make();
    float w[6] = {1.5f, -2.25f, 3e-8f, 1e30f, 0.0f, -0.0f};
    int32_t lab[4] = {1, -7, 2147483647, -2147483647 - 1};
    double d = 3.141592653589793;
    uint8_t u[5] = {0, 1, 128, 254, 255};
    int64_t big[2] = {-1, (int64_t)1 << 62};
    tau_st_tensor ts[6] = {
        {.name = "layer.weight", .dtype = TAU_ST_F32, .ndim = 2, .shape = {2, 3}, .data = w, .nbytes = 24},
        {.name = "labels", .dtype = TAU_ST_I32, .ndim = 1, .shape = {4}, .data = lab, .nbytes = 16},
        {.name = "scalar", .dtype = TAU_ST_F64, .ndim = 0, .data = &d, .nbytes = 8},
        {.name = "bytes \"quoted\" \\ é ✓", .dtype = TAU_ST_U8, .ndim = 1, .shape = {5}, .data = u, .nbytes = 5},
        {.name = "empty", .dtype = TAU_ST_F32, .ndim = 3, .shape = {2, 0, 3}, .data = NULL, .nbytes = 0},
        {.name = "i64", .dtype = TAU_ST_I64, .ndim = 1, .shape = {2}, .data = big, .nbytes = 16},
    };
    const char *meta[] = {"format", "pt", "note", "line\nbreak \"q\" \t\x01", "tau.checksum", "junk", NULL};
    ck_assert_msg(tau_st_write(P("m.safetensors"), ts, 6, meta) == TAU_OK, "%s", tau_errmsg());
    /* header padded to 8, data starting aligned */
    size_t n;
    uint8_t *raw = read_bytes(P("m.safetensors"), &n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)raw[i] << (8 * i);
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_uint_eq(n, 8 + hlen + 24 + 16 + 8 + 5 + 0 + 16);
    free(raw);

    tau_st_file f;
    ck_assert_msg(tau_st_read(P("m.safetensors"), &f) == TAU_OK, "%s", tau_errmsg());
    ck_assert_int_eq(f.count, 6);
    for (int i = 0; i < 6; i++) {
        const tau_st_tensor *t = tau_st_find(&f, ts[i].name);
        ck_assert_msg(t != NULL, "tensor %s missing", ts[i].name);
        ck_assert_int_eq(t->dtype, ts[i].dtype);
        ck_assert_int_eq(t->ndim, ts[i].ndim);
        for (int k = 0; k < t->ndim; k++) ck_assert_int_eq(t->shape[k], ts[i].shape[k]);
        ck_assert_uint_eq(t->nbytes, ts[i].nbytes);
        if (t->nbytes) ck_assert(!memcmp(t->data, ts[i].data, t->nbytes));
        ck_assert_uint_eq((uintptr_t)t->data % 64, 0);
    }
    /* largest elements first in the file */
    ck_assert_uint_eq(tau_st_dtype_size(f.tensors[0].dtype), 8);
    ck_assert_uint_eq(tau_st_dtype_size(f.tensors[f.count - 1].dtype), 1);
    ck_assert_str_eq(tau_st_meta(&f, "format"), "pt");
    ck_assert_str_eq(tau_st_meta(&f, "note"), "line\nbreak \"q\" \t\x01");
    ck_assert_ptr_nonnull(strstr(tau_st_meta(&f, "tau.checksum"), "crc32:"));
    ck_assert_int_eq(f.meta_count, 3);
    ck_assert_ptr_null(tau_st_find(&f, "nope"));
    tau_st_free(&f);
    tau_st_free(&f);
    ck_assert_int_eq(f.count, 0);

    /* no tensors, no metadata */
    ck_assert_int_eq(tau_st_write(P("e.safetensors"), NULL, 0, NULL), TAU_OK);
    ck_assert_int_eq(tau_st_read(P("e.safetensors"), &f), TAU_OK);
    ck_assert_int_eq(f.count, 0);
    tau_st_free(&f);

    /* a million floats */
    size_t N = 1 << 20;
    float *v = malloc(N * 4);
    for (size_t i = 0; i < N; i++) v[i] = (float)i * 0.5f;
    tau_st_tensor t = {.name = "v", .dtype = TAU_ST_F32, .ndim = 2, .shape = {1024, 1024}, .data = v, .nbytes = N * 4};
    ck_assert_int_eq(tau_st_write(P("big.safetensors"), &t, 1, NULL), TAU_OK);
    ck_assert_int_eq(tau_st_read(P("big.safetensors"), &f), TAU_OK);
    ck_assert(!memcmp(f.tensors[0].data, v, N * 4));
    tau_st_free(&f);
    free(v);
    scratch_remove();
}
END_TEST

START_TEST(write_errors) {
    scratch_make();
    float w[4] = {0};
    tau_st_tensor a = {.name = "a", .dtype = TAU_ST_F32, .ndim = 1, .shape = {4}, .data = w, .nbytes = 16};
    tau_st_tensor two[2] = {a, a};
    expect_error(tau_st_write(P("x"), two, 2, NULL), "'a' is used twice");
    tau_st_tensor t = a;
    t.nbytes = 12;
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "nbytes is 12");
    t = a;
    t.dtype = 99;
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "unknown dtype");
    t = a;
    t.ndim = 9;
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "9 dimensions");
    t = a;
    t.name = "__metadata__";
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "reserved");
    t = a;
    t.name = "";
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "has no name");
    t = a;
    t.name = "bad\xff";
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "not valid UTF-8");
    t = a;
    t.shape[0] = -4;
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "negative or overflowing");
    t = a;
    t.data = NULL;
    expect_error(tau_st_write(P("x"), &t, 1, NULL), "has no data");
    const char *m1[] = {"k", NULL, NULL};
    expect_error(tau_st_write(P("x"), &a, 1, m1), "has no value");
    const char *m2[] = {"k", "1", "k", "2", NULL};
    expect_error(tau_st_write(P("x"), &a, 1, m2), "given twice");
    expect_error(tau_st_write(P("missing/dir/x"), &a, 1, NULL), "cannot write");
    ck_assert_int_ne(access(P("x"), F_OK), 0);
    scratch_remove();
}
END_TEST

/* ---- malformed input ------------------------------------------------------------------------ */

START_TEST(malformed_catalogue) {
    scratch_make();
    tau_st_file f;
    /* framing */
    write_bytes(P("bad.st"), "\x05\x00\x00", 3);
    expect_error(tau_st_read(P("bad.st"), &f), "only 3 bytes");
    write_bytes(P("bad.st"), "\x00\x00\x00\x00\x00\x01\x00\x00{}", 10);
    expect_error(tau_st_read(P("bad.st"), &f), "is absurd");
    write_bytes(P("bad.st"), "\x40\x00\x00\x00\x00\x00\x00\x00{}", 10);
    expect_error(tau_st_read(P("bad.st"), &f), "exceeds the 2 bytes");
    write_bytes(P("bad.st"), "\x00\x00\x00\x00\x00\x00\x00\x00", 8);
    expect_error(tau_st_read(P("bad.st"), &f), "too small");
    expect_error(tau_st_read(P("absent.st"), &f), "cannot open");
    /* JSON syntax */
    bad("[1, 2]", 0, "not a JSON object");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "unexpected end");
    bad("{\"a\" {}}", 0, "expected ':'");
    bad("{} x", 0, "unexpected data after");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4, "expected a string");
    bad("{\"a\":{\"dtype\":\"F32\" \"shape\":[1]}}", 0, "expected ',' or '}'");
    bad("{\"a\\q\":{}}", 0, "invalid escape");
    bad("{\"a\\u12g4\":{}}", 0, "bad hex digit");
    bad("{\"a\\ud800\":{}}", 0, "unpaired high surrogate");
    bad("{\"a\\udc00\":{}}", 0, "unpaired low surrogate");
    bad("{\"a\\u0000b\":{}}", 0, "\\u0000");
    bad("{\"a\nb\":{}}", 0, "control character");
    bad("{\"abc", 0, "unterminated string");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "leading zero");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.],\"data_offsets\":[0,4]}}", 4, "digit after '.'");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":tru}}", 4, "invalid value");
    /* structure */
    bad("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype 'C64'");
    bad("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "has no shape");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "has no data_offsets");
    bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "has no dtype");
    bad("{\"a\":{}}", 0, "has no dtype");
    bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype given twice");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative integers");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "non-negative integers");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e2],\"data_offsets\":[0,4]}}", 4, "non-negative integers");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4, "non-negative integers");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "more than 8 entries");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "expected a number");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "[begin, end]");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "more than 2 entries");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4, "overflows");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8 bytes");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 4, "end before they begin");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "ends at byte 8");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,18446744073709551616]}}", 4, "non-negative integers");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "unused data bytes");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "unused data bytes");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9, "5 data bytes after the last tensor");
    bad("{}", 3, "3 data bytes after");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "appears twice");
    bad("{\"__metadata__\":{\"k\":1}}", 0, "is not a string");
    bad("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "given twice");
    bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ given twice");
    bad("{\"__metadata__\":[]}", 0, "expected '{'");
    bad("{\"__metadata__\":{\"tau.checksum\":\"md5:00\"}}", 0, "unrecognised tau.checksum");
    bad("{\"__metadata__\":{\"tau.checksum\":\"crc32:00000001\"}}", 0, "checksum mismatch");
    /* nesting far deeper than any header needs, in a field we would otherwise skip */
    char deep[600] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":";
    size_t k = strlen(deep);
    for (int i = 0; i < 200; i++) deep[k++] = '[';
    deep[k] = 0;
    bad(deep, 4, "nesting deeper than 64");
    /* accepted variations: unknown fields, null metadata, whitespace, escapes, zero-size tensors */
    good("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
         "\"extra\":{\"n\":[1,-2.5e3,true,false,null,\"s\"]}}}", 4, 1);
    good(" \n{ \"__metadata__\" : null , \"a\" : { \"data_offsets\" : [ 0 , 4 ] , \"shape\" : [ ] , "
         "\"dtype\" : \"I32\" } }    ", 4, 1);
    good("{\"z\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[0,0]},"
         "\"y\":{\"dtype\":\"BF16\",\"shape\":[0, 5],\"data_offsets\":[0,0]}}", 0, 2);
    good("{\"\\ud83d\\ude00\\u00e9\\/\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, 1);
    craft(P("e.st"), "{\"\\ud83d\\ude00\\u00e9\\/\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "x", 1);
    ck_assert_int_eq(tau_st_read(P("e.st"), &f), TAU_OK);
    ck_assert_str_eq(f.tensors[0].name, "\xf0\x9f\x98\x80\xc3\xa9/");
    tau_st_free(&f);
    scratch_remove();
}
END_TEST

START_TEST(checksum_detects_corruption) {
    scratch_make();
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    tau_st_tensor t = {.name = "w", .dtype = TAU_ST_F32, .ndim = 1, .shape = {8}, .data = w, .nbytes = 32};
    ck_assert_int_eq(tau_st_write(P("c.st"), &t, 1, NULL), TAU_OK);
    size_t n;
    uint8_t *b = read_bytes(P("c.st"), &n);
    b[n - 5] ^= 0x10;
    write_bytes(P("c.st"), b, n);
    tau_st_file f;
    expect_error(tau_st_read(P("c.st"), &f), "checksum mismatch");
    expect_error(tau_st_read(P("c.st"), &f), "c.st");
    free(b);
    scratch_remove();
}
END_TEST

/* ---- fuzzing ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x1234567;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void small_valid_file(const char *path) {
    float a[3] = {1, 2, 3};
    int32_t b[2] = {4, 5};
    uint8_t c[3] = {6, 7, 8};
    tau_st_tensor ts[3] = {
        {.name = "a", .dtype = TAU_ST_F32, .ndim = 2, .shape = {1, 3}, .data = a, .nbytes = 12},
        {.name = "b\\\"", .dtype = TAU_ST_I32, .ndim = 1, .shape = {2}, .data = b, .nbytes = 8},
        {.name = "c", .dtype = TAU_ST_U8, .ndim = 1, .shape = {3}, .data = c, .nbytes = 3},
    };
    const char *meta[] = {"k", "v\\u", NULL};
    ck_assert_int_eq(tau_st_write(path, ts, 3, meta), TAU_OK);
}

START_TEST(fuzz_truncation) {
    scratch_make();
    small_valid_file(P("v.st"));
    size_t n;
    uint8_t *b = read_bytes(P("v.st"), &n);
    tau_st_file f;
    ck_assert_int_eq(tau_st_read(P("v.st"), &f), TAU_OK);
    tau_st_free(&f);
    for (size_t len = 0; len < n; len++) {
        write_bytes(P("t.st"), b, len);
        int rc = tau_st_read(P("t.st"), &f);
        ck_assert_msg(rc == TAU_ERR, "truncation to %zu of %zu bytes was accepted", len, n);
        ck_assert_ptr_null(f.tensors);
        ck_assert_ptr_nonnull(strstr(tau_errmsg(), "t.st"));
    }
    free(b);
    scratch_remove();
}
END_TEST

START_TEST(fuzz_corruption) {
    scratch_make();
    small_valid_file(P("v.st"));
    size_t n;
    uint8_t *orig = read_bytes(P("v.st"), &n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)orig[i] << (8 * i);
    uint8_t *b = malloc(n);
    static const char tokens[] = "{}[]\",:\\0123456789-+.eEtfnu \t\nxFIU";
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 6000; iter++) {
        memcpy(b, orig, n);
        int flips = 1 + (int)(rnd() % 3);
        for (int k = 0; k < flips; k++) {
            /* mostly the header, sometimes anywhere (length field and data included) */
            size_t at = rnd() % 4 ? 8 + rnd() % hlen : rnd() % n;
            b[at] = rnd() % 2 ? tokens[rnd() % (sizeof tokens - 1)] : (uint8_t)rnd();
        }
        size_t len = rnd() % 8 ? n : rnd() % (n + 1);
        write_bytes(P("z.st"), b, len);
        tau_st_file f;
        if (tau_st_read(P("z.st"), &f) == TAU_OK) {
            accepted++;
            for (int i = 0; i < f.count; i++)
                ck_assert_uint_le(f.tensors[i].nbytes, n);
            tau_st_free(&f);
        } else {
            rejected++;
            ck_assert_ptr_null(f.tensors);
            ck_assert(strlen(tau_errmsg()) > 0);
        }
    }
    ck_assert_int_gt(rejected, 1000);
    printf("safetensors fuzz: %d corrupted files rejected, %d accepted (harmless edits)\n",
           rejected, accepted);
    free(b);
    free(orig);
    scratch_remove();
}
END_TEST

/* ---- interoperability ----------------------------------------------------------------------- */

static const char *py_script =
    "import json, struct, sys, zlib\n"
    "mode, path = sys.argv[1], sys.argv[2]\n"
    "if mode == 'write':\n"
    "    # deliberately: unsorted keys, unpadded header, data not in header order, no checksum\n"
    "    a = struct.pack('<6f', 0.5, -1.0, 2.0, 3.25, -4.5, 1e-3)\n"
    "    b = struct.pack('<3i', -3, 0, 2147483647)\n"
    "    c = struct.pack('<2d', 1.0/3.0, -2.0)\n"
    "    d = struct.pack('<2q', -5, 1 << 40)\n"
    "    e = bytes([9, 8, 7])\n"
    "    blob = c + d + a + b + e\n"
    "    hdr = {'weight': {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [32, 56]},\n"
    "           '__metadata__': {'format': 'pt', 'who': 'python \\u00e9'},\n"
    "           'ints': {'dtype': 'I32', 'shape': [3], 'data_offsets': [56, 68]},\n"
    "           'dbl': {'dtype': 'F64', 'shape': [2], 'data_offsets': [0, 16]},\n"
    "           'i64': {'dtype': 'I64', 'shape': [2], 'data_offsets': [16, 32]},\n"
    "           'u8': {'dtype': 'U8', 'shape': [3, 1], 'data_offsets': [68, 71]}}\n"
    "    h = json.dumps(hdr).encode('utf-8')\n"
    "    open(path, 'wb').write(struct.pack('<Q', len(h)) + h + blob)\n"
    "else:\n"
    "    raw = open(path, 'rb').read()\n"
    "    n = struct.unpack('<Q', raw[:8])[0]\n"
    "    assert n % 8 == 0, 'header not padded'\n"
    "    hdr = json.loads(raw[8:8 + n].decode('utf-8'))\n"
    "    data = raw[8 + n:]\n"
    "    meta = hdr.pop('__metadata__')\n"
    "    assert meta['format'] == 'pt' and meta['who'] == 'c \\u2713', meta\n"
    "    assert meta['tau.checksum'] == 'crc32:%08x' % zlib.crc32(data), 'checksum'\n"
    "    w = hdr['w']; b, e = w['data_offsets']\n"
    "    assert w['dtype'] == 'F32' and w['shape'] == [2, 2]\n"
    "    assert struct.unpack('<4f', data[b:e]) == (1.0, -2.0, 0.25, 8.0)\n"
    "    l = hdr['lab']; b, e = l['data_offsets']\n"
    "    assert l['dtype'] == 'I32' and l['shape'] == [3]\n"
    "    assert struct.unpack('<3i', data[b:e]) == (7, -1, 0)\n"
    "    ends = sorted(v['data_offsets'] for v in hdr.values())\n"
    "    assert ends[0][0] == 0 and ends[-1][1] == len(data)\n"
    "    print('python read OK')\n";

static int have_python(void) { return system("python3 -c 'import json, struct, zlib' >/dev/null 2>&1") == 0; }

START_TEST(python_interop) {
    if (!have_python()) {
        printf("skipped: python3 is not available for the interoperability test\n");
        return;
    }
    scratch_make();
    write_bytes(P("x.py"), py_script, strlen(py_script));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "python3 '%s' write '%s'", P("x.py"), P("py.safetensors"));
    ck_assert_int_eq(system(cmd), 0);
    tau_st_file f;
    ck_assert_msg(tau_st_read(P("py.safetensors"), &f) == TAU_OK, "%s", tau_errmsg());
    ck_assert_int_eq(f.count, 5);
    ck_assert_str_eq(tau_st_meta(&f, "who"), "python \xc3\xa9");
    ck_assert_ptr_null(tau_st_meta(&f, "tau.checksum"));
    const tau_st_tensor *w = tau_st_find(&f, "weight");
    ck_assert(w && w->dtype == TAU_ST_F32 && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 3);
    const float *wf = w->data;
    ck_assert_float_eq(wf[3], 3.25f);
    ck_assert_float_eq(wf[5], 1e-3f);
    const tau_st_tensor *ints = tau_st_find(&f, "ints");
    ck_assert(ints && ints->dtype == TAU_ST_I32);
    ck_assert_int_eq(((const int32_t *)ints->data)[0], -3);
    ck_assert_int_eq(((const int32_t *)ints->data)[2], 2147483647);
    const tau_st_tensor *dbl = tau_st_find(&f, "dbl");
    ck_assert(dbl && dbl->dtype == TAU_ST_F64);
    ck_assert_double_eq(((const double *)dbl->data)[0], 1.0 / 3.0);
    const tau_st_tensor *i64 = tau_st_find(&f, "i64");
    ck_assert(i64 && i64->dtype == TAU_ST_I64 && ((const int64_t *)i64->data)[1] == (int64_t)1 << 40);
    const tau_st_tensor *u8 = tau_st_find(&f, "u8");
    ck_assert(u8 && u8->ndim == 2 && ((const uint8_t *)u8->data)[2] == 7);
    tau_st_free(&f);

    float wv[4] = {1.0f, -2.0f, 0.25f, 8.0f};
    int32_t lv[3] = {7, -1, 0};
    tau_st_tensor ts[2] = {
        {.name = "lab", .dtype = TAU_ST_I32, .ndim = 1, .shape = {3}, .data = lv, .nbytes = 12},
        {.name = "w", .dtype = TAU_ST_F32, .ndim = 2, .shape = {2, 2}, .data = wv, .nbytes = 16},
    };
    const char *meta[] = {"format", "pt", "who", "c \xe2\x9c\x93", NULL};
    ck_assert_int_eq(tau_st_write(P("c.safetensors"), ts, 2, meta), TAU_OK);
    snprintf(cmd, sizeof cmd, "python3 '%s' read '%s'", P("x.py"), P("c.safetensors"));
    ck_assert_int_eq(system(cmd), 0);
    scratch_remove();
}
END_TEST

/* A hostile but well-formed header with very many entries must not take quadratic time. */
START_TEST(many_entries) {
    scratch_make();
    enum { N = 100000 };
    size_t cap = (size_t)N * 120, k = 0;
    char *h = malloc(cap);
    k += (size_t)sprintf(h + k, "{\"__metadata__\":{");
    for (int i = 0; i < N; i++) k += (size_t)sprintf(h + k, "%s\"key%d\":\"v\"", i ? "," : "", i);
    k += (size_t)sprintf(h + k, "}");
    for (int i = 0; i < N; i++)
        k += (size_t)sprintf(h + k, ",\"t%d\":{\"dtype\":\"F32\",\"shape\":[1],"
                             "\"data_offsets\":[%d,%d]}", i, 4 * i, 4 * i + 4);
    sprintf(h + k, "}");
    uint8_t *data = calloc(N, 4);
    craft(P("many.st"), h, data, (size_t)N * 4);
    tau_st_file f;
    ck_assert_msg(tau_st_read(P("many.st"), &f) == TAU_OK, "%s", tau_errmsg());
    ck_assert_int_eq(f.count, N);
    ck_assert_int_eq(f.meta_count, N);
    tau_st_free(&f);
    /* the same with one duplicate key at the end */
    h[strlen(h) - 1] = 0;
    strcat(h, ",\"t5\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
    craft(P("many.st"), h, data, (size_t)N * 4);
    expect_error(tau_st_read(P("many.st"), &f), "'t5' appears twice");
    free(data);
    free(h);
    scratch_remove();
}
END_TEST

START_TEST(dtype_table) {
    ck_assert_int_eq(tau_st_dtype_from_name("F32"), TAU_ST_F32);
    ck_assert_int_eq(tau_st_dtype_from_name("BF16"), TAU_ST_BF16);
    ck_assert_int_eq(tau_st_dtype_from_name("f32"), -1);
    ck_assert_str_eq(tau_st_dtype_name(TAU_ST_I32), "I32");
    ck_assert_ptr_null(tau_st_dtype_name(-1));
    ck_assert_uint_eq(tau_st_dtype_size(TAU_ST_U64), 8);
    ck_assert_uint_eq(tau_st_dtype_size(TAU_ST_NDTYPES), 0);
}
END_TEST

Suite *st_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = check_tcase("core", 0);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, write_errors);
    tcase_add_test(tc, malformed_catalogue);
    tcase_add_test(tc, checksum_detects_corruption);
    tcase_add_test(tc, fuzz_truncation);
    tcase_add_test(tc, fuzz_corruption);
    tcase_add_test(tc, python_interop);
    tcase_add_test(tc, many_entries);
    tcase_add_test(tc, dtype_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main_scratch(st_suite(), "st"); }
