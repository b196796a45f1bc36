/* The base floor: the block allocator (core/base/alloc.c) and atomic file writes (atomic.c). */
#include "tau.h"   /* first, so the top header is seen to stand on its own */
#include "check_helpers.h"
#include "base/alloc.h"
#include "base/atomic.h"
#include "tensor/tensor.h"   /* tensors, the allocator's largest client */
#include <stdint.h>

/* The block cache reuses freed blocks by size class and, when full, gives up the classes idle
 * longest rather than the block being freed. */
START_TEST(test_alloc_cache) {
    tau_alloc_trim();
    uint64_t h0 = tau_heap_allocs();
    void *a = tau_alloc(1000), *b = tau_alloc(1000);
    tau_free(a, 1000);
    void *c = tau_alloc(990); /* same class: the cached block comes back */
    ck_assert_ptr_eq(c, a);
    ck_assert_uint_eq(tau_heap_allocs() - h0, 2);
    tau_free(b, 1000);
    tau_free(c, 990);
    ck_assert_uint_eq(tau_cached_bytes(), 2 * 1024);
    /* fill the 1 GiB cache with an idle class, then cache a block of a busier one */
    size_t big = (size_t)384 << 20, other = (size_t)640 << 20; /* exact class sizes */
    void *p[3];
    for (int i = 0; i < 3; i++) p[i] = tau_alloc(big);
    for (int i = 0; i < 3; i++) tau_free(p[i], big); /* the small blocks go, the third does not fit */
    ck_assert_uint_eq(tau_cached_bytes(), 2 * big);
    void *q = tau_alloc(other);
    h0 = tau_heap_allocs();
    tau_free(q, other); /* evicts one idle 384 MB block, keeps q */
    void *r = tau_alloc(other);
    ck_assert_ptr_eq(r, q);
    ck_assert_uint_eq(tau_heap_allocs(), h0);
    tau_free(r, other);
    ck_assert_uint_le(tau_cached_bytes(), (size_t)1 << 30);
    tau_alloc_trim();
    ck_assert_uint_eq(tau_cached_bytes(), 0);
    /* tensor headers and storage records come from the cache too, so a training step that
     * creates the same tensors again makes no heap calls */
    int64_t four = 4;
    h0 = tau_heap_allocs();
    tau_tensor *t = tau_empty(TAU_F32, 1, &four);
    ck_assert_uint_eq(tau_heap_allocs() - h0, 3);
    tau_release(t);
    t = tau_empty(TAU_F32, 1, &four);
    ck_assert_uint_eq(tau_heap_allocs() - h0, 3);
    tau_release(t);
}
END_TEST

/* Blocks are 64-byte aligned; from 2 MiB on, 2 MiB aligned (so that huge pages can back
 * them), and usable to their last byte either way. */
START_TEST(test_alloc_alignment) {
    const size_t sizes[] = {1, 100, 4096, ((size_t)2 << 20) - 4, (size_t)2 << 20, (size_t)3 << 20, (size_t)9 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *b = tau_alloc(sizes[i]);
        ck_assert_ptr_nonnull(b);
        const uintptr_t align = sizes[i] >= ((size_t)2 << 20) ? (uintptr_t)2 << 20 : 64;
        ck_assert_uint_eq((uintptr_t)b % align, 0);
        memset(b, 0xa5, sizes[i]);
        ck_assert_uint_eq(b[sizes[i] - 1], 0xa5);
        tau_free(b, sizes[i]);
    }
    tau_alloc_trim();
}
END_TEST

START_TEST(atomic_write) {
    scratch_make();
    ck_assert_int_eq(tau_atomic_write(P("f.txt"), "hello", 5), TAU_OK);
    ck_assert_int_eq(tau_atomic_write(P("f.txt"), "bye", 3), TAU_OK);
    FILE *f = fopen(P("f.txt"), "rb");
    char b[16] = {0};
    ck_assert_uint_eq(fread(b, 1, sizeof b, f), 3);
    fclose(f);
    ck_assert_str_eq(b, "bye");
    struct stat st;
    stat(P("f.txt"), &st);
    mode_t um = umask(0);
    umask(um);
    ck_assert_int_eq(st.st_mode & 0777, 0666 & ~um);
    ck_assert_int_eq(tau_atomic_write(P("empty"), NULL, 0), TAU_OK);
    stat(P("empty"), &st);
    ck_assert_int_eq(st.st_size, 0);
    expect_error(tau_atomic_write(P("no/such/dir/x"), "a", 1), "no/such/dir/x");
    /* streaming, then aborting: the old file stays */
    tau_atomic_file af;
    ck_assert_int_eq(tau_atomic_open(&af, P("f.txt")), TAU_OK);
    ck_assert_int_eq(tau_atomic_put(&af, "partial", 7), TAU_OK);
    tau_atomic_abort(&af);
    f = fopen(P("f.txt"), "rb");
    memset(b, 0, sizeof b);
    ck_assert_uint_eq(fread(b, 1, sizeof b, f), 3);
    fclose(f);
    ck_assert_int_eq(count_entries(scratch_dir), 2);
    /* a directory in the way: rename fails, nothing is left behind */
    mkdirs(P("d/sub"));
    expect_error(tau_atomic_write(P("d/sub"), "x", 1), "rename");
    ck_assert_int_eq(count_entries(P("d")), 1);
    scratch_remove();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("base");
    TCase *tc = check_tcase("alloc", 0);
    tcase_add_test(tc, test_alloc_cache);
    tcase_add_test(tc, test_alloc_alignment);
    suite_add_tcase(s, tc);
    tc = check_tcase("files", 0);
    tcase_add_test(tc, atomic_write);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return check_main_scratch(suite(), "base"); }
