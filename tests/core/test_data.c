/* Data layer: IDX, CIFAR binary, image folders, Tiny-ImageNet, image I/O,
 * batching and augmentation, permutations; plus the real data sets when present. */
#include "check_helpers.h"
#include "base/alloc.h"
#include "base/atomic.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "base/error.h"
#include "data/image.h"
#include "base/parallel.h"
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stb/stb_image_write.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- fixture helpers ------------------------------------------------------------------------ */

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A deterministic test pattern, different for every (image, channel, row, column). */
static uint8_t pattern(int64_t i, int64_t ch, int64_t y, int64_t x) {
    return (uint8_t)((i * 37 + ch * 101 + y * 13 + x * 7) & 255);
}

/* ---- IDX ---------------------------------------------------------------------------------- */

enum { IDX_N = 5, IDX_H = 3, IDX_W = 4 };

static size_t idx_images(uint8_t *buf, int n, int h, int w) {
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, (uint8_t)h, 0, 0, 0, (uint8_t)w};
    memcpy(buf, hdr, 16);
    size_t k = 16;
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) buf[k++] = pattern(i, 0, y, x);
    return k;
}

static size_t idx_labels(uint8_t *buf, int n) {
    uint8_t hdr[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n};
    memcpy(buf, hdr, 8);
    for (int i = 0; i < n; i++) buf[8 + i] = (uint8_t)(i % 3);
    return 8 + (size_t)n;
}

static void check_idx_set(const tau_dataset *ds) {
    ck_assert_int_eq(ds->n, IDX_N);
    ck_assert_int_eq(ds->c, 1);
    ck_assert_int_eq(ds->h, IDX_H);
    ck_assert_int_eq(ds->w, IDX_W);
    for (int i = 0; i < IDX_N; i++) {
        ck_assert_int_eq(ds->labels[i], i % 3);
        for (int y = 0; y < IDX_H; y++)
            for (int x = 0; x < IDX_W; x++)
                ck_assert_uint_eq(ds->pixels[(i * IDX_H + y) * IDX_W + x], pattern(i, 0, y, x));
    }
    ck_assert_int_eq(ds->num_classes, 3);
    ck_assert_str_eq(ds->class_names[2], "2");
}

START_TEST(idx_raw_and_gzip) {
    scratch_make();
    uint8_t im[16 + IDX_N * IDX_H * IDX_W], lb[8 + IDX_N];
    size_t ni = idx_images(im, IDX_N, IDX_H, IDX_W), nl = idx_labels(lb, IDX_N);
    write_bytes(P("im"), im, ni);
    write_bytes(P("lb"), lb, nl);
    write_gz(P("im.gz"), im, ni);
    write_gz(P("lb.gz"), lb, nl);
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_idx(P("im"), P("lb"), &ds), TAU_OK);
    check_idx_set(&ds);
    tau_dataset_free(&ds);
    ck_assert_ptr_null(ds.pixels);
    tau_dataset_free(&ds);   /* idempotent */
    ck_assert_int_eq(tau_dataset_load_idx(P("im.gz"), P("lb.gz"), &ds), TAU_OK);
    check_idx_set(&ds);
    tau_dataset_free(&ds);
    scratch_remove();
}
END_TEST

START_TEST(idx_errors) {
    scratch_make();
    uint8_t im[16 + IDX_N * IDX_H * IDX_W], lb[8 + IDX_N];
    size_t ni = idx_images(im, IDX_N, IDX_H, IDX_W), nl = idx_labels(lb, IDX_N);
    write_bytes(P("lb"), lb, nl);
    tau_dataset ds;
    /* truncated, raw and compressed: the message names the file and the byte counts */
    write_bytes(P("short"), im, ni - 10);
    expect_error(tau_dataset_load_idx(P("short"), P("lb"), &ds), "expected 60 pixel bytes, got 50");
    expect_error(tau_dataset_load_idx(P("short"), P("lb"), &ds), P("short"));
    ck_assert_ptr_null(ds.pixels);
    write_gz(P("short.gz"), im, ni - 10);
    expect_error(tau_dataset_load_idx(P("short.gz"), P("lb"), &ds), "expected 60 pixel bytes, got 50");
    /* a gzip stream cut in the middle */
    write_gz(P("full.gz"), im, ni);
    struct stat st;
    stat(P("full.gz"), &st);
    truncate(P("full.gz"), st.st_size - 12);
    expect_error(tau_dataset_load_idx(P("full.gz"), P("lb"), &ds), "is truncated");
    /* extra data */
    uint8_t big[sizeof im + 3] = {0};
    memcpy(big, im, ni);
    write_bytes(P("long"), big, ni + 3);
    expect_error(tau_dataset_load_idx(P("long"), P("lb"), &ds), "data after");
    /* bad magic, wrong type, wrong rank */
    uint8_t bad[sizeof im];
    memcpy(bad, im, ni);
    bad[0] = 0x12;
    write_bytes(P("magic"), bad, ni);
    expect_error(tau_dataset_load_idx(P("magic"), P("lb"), &ds), "not an IDX file");
    memcpy(bad, im, ni);
    bad[2] = 0x0d;
    write_bytes(P("type"), bad, ni);
    expect_error(tau_dataset_load_idx(P("type"), P("lb"), &ds), "not unsigned byte");
    write_bytes(P("im"), im, ni);
    expect_error(tau_dataset_load_idx(P("lb"), P("lb"), &ds), "must have 3 dimensions");
    expect_error(tau_dataset_load_idx(P("im"), P("im"), &ds), "must have 1 dimension");
    /* count mismatch */
    uint8_t lb4[8 + 4];
    write_bytes(P("lb4"), lb4, idx_labels(lb4, 4));
    expect_error(tau_dataset_load_idx(P("im"), P("lb4"), &ds), "has 5 images but");
    /* missing and tiny files */
    expect_error(tau_dataset_load_idx(P("nope"), P("lb"), &ds), "cannot open");
    expect_error(tau_dataset_load_idx(P("nope"), P("lb"), &ds), P("nope"));
    write_bytes(P("tiny"), im, 2);
    expect_error(tau_dataset_load_idx(P("tiny"), P("lb"), &ds), "only 2 bytes");
    scratch_remove();
}
END_TEST

START_TEST(mnist_folder) {
    scratch_make();
    uint8_t im[16 + IDX_N * IDX_H * IDX_W], lb[8 + IDX_N];
    size_t ni = idx_images(im, IDX_N, IDX_H, IDX_W), nl = idx_labels(lb, IDX_N);
    write_gz(P("t10k-images-idx3-ubyte.gz"), im, ni);
    write_gz(P("t10k-labels-idx1-ubyte.gz"), lb, nl);
    write_bytes(P("train-images-idx3-ubyte"), im, ni);   /* raw names work too */
    write_bytes(P("train-labels-idx1-ubyte"), lb, nl);
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_fashion_mnist(scratch_dir, "test", &ds), TAU_OK);
    ck_assert_int_eq(ds.n, IDX_N);
    ck_assert_int_eq(ds.num_classes, 10);
    ck_assert_str_eq(ds.class_names[0], "T-shirt/top");
    ck_assert_str_eq(ds.class_names[9], "Ankle boot");
    tau_dataset_free(&ds);
    ck_assert_int_eq(tau_dataset_load_mnist(scratch_dir, "train", &ds), TAU_OK);
    ck_assert_int_eq(ds.num_classes, 10);
    ck_assert_str_eq(ds.class_names[7], "7");
    check_idx_set(&(tau_dataset){.n = ds.n, .c = ds.c, .h = ds.h, .w = ds.w, .pixels = ds.pixels,
                                 .labels = ds.labels, .num_classes = 3,
                                 .class_names = (char *[]){"0", "1", "2"}});
    tau_dataset_free(&ds);
    expect_error(tau_dataset_load_mnist(scratch_dir, "validation", &ds), "split must be");
    lb[8 + 2] = 10;
    write_gz(P("t10k-labels-idx1-ubyte.gz"), lb, nl);
    expect_error(tau_dataset_load_fashion_mnist(scratch_dir, "test", &ds), "out of range 0..9");
    expect_error(tau_dataset_load_fashion_mnist(P("absent"), "test", &ds),
                 "absent/t10k-images-idx3-ubyte.gz");
    scratch_remove();
}
END_TEST

/* ---- CIFAR binary ------------------------------------------------------------------------- */

static int cifar_counter;   /* global image number across files, for the pattern */

static void write_cifar(const char *path, int nrec, int label_bytes, int (*label)(int, int)) {
    size_t rec = (size_t)label_bytes + 3072;
    uint8_t *buf = malloc(rec * (size_t)nrec);
    for (int r = 0; r < nrec; r++) {
        uint8_t *p = buf + rec * (size_t)r;
        int i = cifar_counter++;
        for (int k = 0; k < label_bytes; k++) p[k] = (uint8_t)label(i, k);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    p[label_bytes + ch * 1024 + y * 32 + x] = pattern(i, ch, y, x);
    }
    write_bytes(path, buf, rec * (size_t)nrec);
    free(buf);
}

static int label10(int i, int k) { (void)k; return i % 10; }
static int label100(int i, int k) { return k == 0 ? i % 20 : (i * 7) % 100; }

static void check_cifar_pixels(const tau_dataset *ds, int first) {
    ck_assert_int_eq(ds->c, 3);
    ck_assert_int_eq(ds->h, 32);
    ck_assert_int_eq(ds->w, 32);
    for (int64_t i = 0; i < ds->n; i++)
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y += 5)
                for (int x = 0; x < 32; x += 3)
                    ck_assert_uint_eq(ds->pixels[((i * 3 + ch) * 32 + y) * 32 + x],
                                      pattern(first + i, ch, y, x));
}

START_TEST(cifar10_binary) {
    scratch_make();
    const int counts[5] = {3, 2, 1, 2, 2};
    cifar_counter = 0;
    mkdirs(P("c10/cifar-10-batches-bin"));
    for (int b = 0; b < 5; b++)
        write_cifar(P("c10/cifar-10-batches-bin/data_batch_%d.bin", b + 1), counts[b], 1, label10);
    write_cifar(P("c10/cifar-10-batches-bin/test_batch.bin"), 4, 1, label10);
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_cifar10(P("c10"), "train", &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 10);
    check_cifar_pixels(&ds, 0);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(ds.labels[i], i % 10);
    ck_assert_int_eq(ds.num_classes, 10);
    ck_assert_str_eq(ds.class_names[0], "airplane");
    ck_assert_str_eq(ds.class_names[9], "truck");
    tau_dataset_free(&ds);
    /* names from batches.meta.txt, test split, root pointing at the batches themselves */
    write_text(P("c10/cifar-10-batches-bin/batches.meta.txt"),
               "a0\nb1\nc2\nd3\ne4\nf5\ng6\nh7\ni8\nj9\n\n");
    ck_assert_int_eq(tau_dataset_load_cifar10(P("c10/cifar-10-batches-bin"), "test", &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 4);
    check_cifar_pixels(&ds, 10);
    ck_assert_int_eq(ds.labels[3], 13 % 10);
    ck_assert_str_eq(ds.class_names[4], "e4");
    tau_dataset_free(&ds);
    write_text(P("c10/cifar-10-batches-bin/batches.meta.txt"), "a\nb\n");
    expect_error(tau_dataset_load_cifar10(P("c10"), "test", &ds), "expected 10 class names, found 2");
    unlink(P("c10/cifar-10-batches-bin/batches.meta.txt"));
    /* wrong size names the file */
    truncate(P("c10/cifar-10-batches-bin/data_batch_4.bin"), 3073 * 2 - 100);
    expect_error(tau_dataset_load_cifar10(P("c10"), "train", &ds), "data_batch_4.bin");
    expect_error(tau_dataset_load_cifar10(P("c10"), "train", &ds), "not a multiple of the 3073-byte");
    /* missing batch */
    unlink(P("c10/cifar-10-batches-bin/data_batch_4.bin"));
    expect_error(tau_dataset_load_cifar10(P("c10"), "train", &ds), "data_batch_4.bin");
    /* label out of range */
    uint8_t rec[3073] = {10};
    write_bytes(P("bad.bin"), rec, sizeof rec);
    const char *paths[1] = {P("bad.bin")};
    expect_error(tau_dataset_load_cifar_files(paths, 1, TAU_CIFAR10, &ds), "label 10, expected 0..9");
    expect_error(tau_dataset_load_cifar10(P("nothing"), "train", &ds), "no data under");
    expect_error(tau_dataset_load_cifar10(P("c10"), "val", &ds), "split must be");
    scratch_remove();
}
END_TEST

START_TEST(cifar100_binary) {
    scratch_make();
    cifar_counter = 0;
    write_cifar(P("train.bin"), 7, 2, label100);
    write_cifar(P("test.bin"), 3, 2, label100);
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_cifar100(scratch_dir, "train", 0, &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 7);
    ck_assert_int_eq(ds.num_classes, 100);
    check_cifar_pixels(&ds, 0);
    for (int i = 0; i < 7; i++) ck_assert_int_eq(ds.labels[i], (i * 7) % 100);
    ck_assert_str_eq(ds.class_names[42], "42");
    tau_dataset_free(&ds);
    char names[20 * 8] = "";
    for (int k = 0; k < 20; k++) sprintf(names + strlen(names), "sc%d\n", k);
    write_text(P("coarse_label_names.txt"), names);
    ck_assert_int_eq(tau_dataset_load_cifar100(scratch_dir, "test", 1, &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 3);
    ck_assert_int_eq(ds.num_classes, 20);
    check_cifar_pixels(&ds, 7);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(ds.labels[i], (7 + i) % 20);
    ck_assert_str_eq(ds.class_names[19], "sc19");
    tau_dataset_free(&ds);
    uint8_t rec[3074] = {3, 100};
    write_bytes(P("test.bin"), rec, sizeof rec);
    expect_error(tau_dataset_load_cifar100(scratch_dir, "test", 0, &ds), "fine label 100, expected 0..99");
    rec[0] = 20;
    write_bytes(P("test.bin"), rec, sizeof rec);
    expect_error(tau_dataset_load_cifar100(scratch_dir, "test", 1, &ds), "coarse label 20, expected 0..19");
    write_bytes(P("test.bin"), rec, 3073);
    expect_error(tau_dataset_load_cifar100(scratch_dir, "test", 1, &ds), "not a multiple of the 3074-byte");
    scratch_remove();
}
END_TEST

/* ---- image folders ------------------------------------------------------------------------ */

static void write_png(const char *path, int i, int c, int h, int w) {
    uint8_t *hwc = malloc((size_t)c * h * w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) hwc[(y * w + x) * c + ch] = pattern(i, ch, y, x);
    ck_assert(stbi_write_png(path, w, h, c, hwc, w * c));
    free(hwc);
}

/* Smooth content so JPEG reproduces it closely. */
static uint8_t smooth(int i, int ch, int y, int x) {
    return (uint8_t)(40 + 20 * (i % 5) + 30 * ch + 3 * y + 2 * x);
}

static void write_jpg(const char *path, int i, int c, int h, int w) {
    uint8_t *hwc = malloc((size_t)c * h * w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) hwc[(y * w + x) * c + ch] = smooth(i, ch, y, x);
    ck_assert(stbi_write_jpg(path, w, h, c, hwc, 95));
    free(hwc);
}

START_TEST(image_folder_png_exact) {
    scratch_make();
    mkdirs(P("f/dog"));
    mkdirs(P("f/cat"));
    mkdirs(P("f/.hidden"));
    write_png(P("f/dog/b.png"), 0, 3, 6, 5);
    write_png(P("f/dog/a.PNG"), 1, 3, 6, 5);
    write_png(P("f/cat/x.png"), 2, 3, 6, 5);
    write_png(P("f/cat/10.png"), 3, 3, 6, 5);
    write_text(P("f/cat/notes.txt"), "not an image");
    write_png(P("f/cat/.skip.png"), 9, 3, 9, 9);
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_image_folder(P("f"), 0, &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 4);
    ck_assert_int_eq(ds.c, 3);
    ck_assert_int_eq(ds.h, 6);
    ck_assert_int_eq(ds.w, 5);
    ck_assert_int_eq(ds.num_classes, 2);
    ck_assert_str_eq(ds.class_names[0], "cat");
    ck_assert_str_eq(ds.class_names[1], "dog");
    /* order: cat/10.png, cat/x.png, dog/a.PNG, dog/b.png */
    const int pat[4] = {3, 2, 1, 0}, lab[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ds.labels[i], lab[i]);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 6; y++)
                for (int x = 0; x < 5; x++)
                    ck_assert_uint_eq(ds.pixels[((i * 3 + ch) * 6 + y) * 5 + x],
                                      pattern(pat[i], ch, y, x));
    }
    tau_dataset_free(&ds);
    /* forced grey */
    ck_assert_int_eq(tau_dataset_load_image_folder(P("f"), 1, &ds), TAU_OK);
    ck_assert_int_eq(ds.c, 1);
    tau_dataset_free(&ds);
    scratch_remove();
}
END_TEST

START_TEST(image_folder_grey_and_jpeg) {
    scratch_make();
    mkdirs(P("g/a"));
    mkdirs(P("g/b"));
    write_png(P("g/a/0.png"), 0, 1, 8, 8);     /* grey first: detected as 1 channel */
    write_jpg(P("g/a/1.jpg"), 1, 3, 8, 8);
    write_jpg(P("g/b/2.jpeg"), 2, 1, 8, 8);
    write_png(P("g/b/3.bmp"), 3, 1, 8, 8);      /* PNG bytes named .bmp: decoded by content */
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_image_folder(P("g"), 0, &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 4);
    ck_assert_int_eq(ds.c, 1);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) ck_assert_uint_eq(ds.pixels[y * 8 + x], pattern(0, 0, y, x));
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            ck_assert_int_le(abs(ds.pixels[2 * 64 + y * 8 + x] - smooth(2, 0, y, x)), 6);
    tau_dataset_free(&ds);
    /* 3 channels: a grey PNG is replicated, a colour JPEG is close to its source */
    ck_assert_int_eq(tau_dataset_load_image_folder(P("g"), 3, &ds), TAU_OK);
    ck_assert_int_eq(ds.c, 3);
    for (int ch = 0; ch < 3; ch++)
        ck_assert_uint_eq(ds.pixels[ch * 64 + 9], pattern(0, 0, 1, 1));
    int maxdiff = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < 64; p++) {
            int d = abs(ds.pixels[192 + ch * 64 + p] - smooth(1, ch, p / 8, p % 8));
            if (d > maxdiff) maxdiff = d;
        }
    ck_assert_int_le(maxdiff, 12);
    tau_dataset_free(&ds);
    scratch_remove();
}
END_TEST

START_TEST(image_folder_errors) {
    scratch_make();
    tau_dataset ds;
    mkdirs(P("s/a"));
    mkdirs(P("s/b"));
    write_png(P("s/a/0.png"), 0, 3, 8, 8);
    write_png(P("s/b/1.png"), 1, 3, 8, 7);
    expect_error(tau_dataset_load_image_folder(P("s"), 0, &ds), "s/b/1.png");
    expect_error(tau_dataset_load_image_folder(P("s"), 0, &ds), "is 7x8 (width x height)");
    ck_assert_ptr_null(ds.pixels);
    write_png(P("s/b/1.png"), 1, 3, 8, 8);
    write_text(P("s/b/2.jpg"), "this is not a JPEG at all");
    expect_error(tau_dataset_load_image_folder(P("s"), 0, &ds), "cannot decode image");
    expect_error(tau_dataset_load_image_folder(P("s"), 0, &ds), "s/b/2.jpg");
    unlink(P("s/b/2.jpg"));
    /* a PNG cut short: stb's reason is part of the message */
    write_png(P("s/b/3.png"), 1, 3, 8, 8);
    truncate(P("s/b/3.png"), 40);
    expect_error(tau_dataset_load_image_folder(P("s"), 0, &ds), "s/b/3.png'");
    unlink(P("s/b/3.png"));
    mkdirs(P("s/c"));
    expect_error(tau_dataset_load_image_folder(P("s"), 0, &ds), "contains no images");
    mkdirs(P("empty"));
    expect_error(tau_dataset_load_image_folder(P("empty"), 0, &ds), "no class sub-folders");
    expect_error(tau_dataset_load_image_folder(P("absent"), 0, &ds), "cannot open folder");
    expect_error(tau_dataset_load_image_folder(P("s"), 2, &ds), "channels must be");
    scratch_remove();
}
END_TEST

START_TEST(cifar10_class_folders) {
    scratch_make();
    const char *cls[3] = {"airplane", "automobile", "bird"};
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 2; j++) {
            mkdirs(P("r/cifar10/test/%s", cls[k]));
            write_png(P("r/cifar10/test/%s/%04d.jpg", cls[k], j), k * 2 + j, 3, 32, 32);
        }
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_cifar10(P("r"), "test", &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 6);
    ck_assert_int_eq(ds.num_classes, 3);
    ck_assert_str_eq(ds.class_names[1], "automobile");
    ck_assert_int_eq(ds.labels[5], 2);
    check_cifar_pixels(&ds, 0);
    tau_dataset_free(&ds);
    ck_assert_int_eq(tau_dataset_load_cifar10(P("r/cifar10"), "test", &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 6);
    tau_dataset_free(&ds);
    scratch_remove();
}
END_TEST

/* ---- Tiny-ImageNet ------------------------------------------------------------------------ */

static void make_tiny(void) {
    const char *w[3] = {"n0300", "n0100", "n0200"};   /* wnids.txt order, not sorted */
    mkdirs(P("tiny/val/images"));
    write_text(P("tiny/wnids.txt"), "n0300\nn0100\r\nn0200\n");
    write_text(P("tiny/words.txt"), "n0100\tthing\n");
    for (int k = 0; k < 3; k++) {
        mkdirs(P("tiny/train/%s/images", w[k]));
        write_text(P("tiny/train/%s/%s_boxes.txt", w[k], w[k]), "");
        for (int j = 0; j < 2; j++)
            write_png(P("tiny/train/%s/images/%s_%d.JPEG", w[k], w[k], j), k * 2 + j, 3, 16, 16);
    }
    write_jpg(P("tiny/train/n0200/images/n0200_2.JPEG"), 7, 1, 16, 16);   /* grey JPEG */
    char ann[512] = "";
    for (int i = 0; i < 4; i++) {
        write_png(P("tiny/val/images/val_%d.JPEG", i), 10 + i, 3, 16, 16);
        sprintf(ann + strlen(ann), "val_%d.JPEG\t%s\t0\t1\t15\t14\n", i, w[(i + 1) % 3]);
    }
    write_text(P("tiny/val/val_annotations.txt"), ann);
}

START_TEST(tiny_imagenet_layout) {
    scratch_make();
    make_tiny();
    tau_dataset ds;
    ck_assert_int_eq(tau_dataset_load_tiny_imagenet(P("tiny"), "train", &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 7);
    ck_assert_int_eq(ds.c, 3);
    ck_assert_int_eq(ds.h, 16);
    ck_assert_int_eq(ds.w, 16);
    ck_assert_int_eq(ds.num_classes, 3);
    ck_assert_str_eq(ds.class_names[0], "n0300");
    ck_assert_str_eq(ds.class_names[1], "n0100");
    const int lab[7] = {0, 0, 1, 1, 2, 2, 2};
    for (int i = 0; i < 7; i++) ck_assert_int_eq(ds.labels[i], lab[i]);
    ck_assert_uint_eq(ds.pixels[(3 * 3 + 1) * 256 + 5 * 16 + 4], pattern(3, 1, 5, 4));
    /* the grey JPEG became three equal planes */
    const uint8_t *g = ds.pixels + 6 * 768;
    ck_assert_uint_eq(g[0], g[256]);
    ck_assert_uint_eq(g[100], g[512 + 100]);
    tau_dataset_free(&ds);
    ck_assert_int_eq(tau_dataset_load_tiny_imagenet(P("tiny"), "val", &ds), TAU_OK);
    ck_assert_int_eq(ds.n, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ds.labels[i], (i + 1) % 3);
        ck_assert_uint_eq(ds.pixels[(i * 3 + 2) * 256 + 17], pattern(10 + i, 2, 1, 1));
    }
    tau_dataset_free(&ds);
    scratch_remove();
}
END_TEST

START_TEST(tiny_imagenet_errors) {
    scratch_make();
    make_tiny();
    tau_dataset ds;
    write_text(P("tiny/val/val_annotations.txt"), "val_0.JPEG\tn0100\t0\t0\t1\t1\n"
                                                  "val_1.JPEG\tn9999\t0\t0\t1\t1\n");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "val", &ds), "unknown wnid 'n9999'");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "val", &ds), "val_annotations.txt' line 2");
    write_text(P("tiny/val/val_annotations.txt"), "val_0.JPEG\tn0100\t0\t0\t1\t1\n"
                                                  "val_7.JPEG\tn0100\t0\t0\t1\t1\n");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "val", &ds), "val/images/val_7.JPEG");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "val", &ds), "No such file");
    write_text(P("tiny/val/val_annotations.txt"), "val_0.JPEG\n");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "val", &ds), "expected <file> <wnid>");
    write_text(P("tiny/wnids.txt"), "n0300\nn0100\nn0200\nn0400\n");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "train", &ds), "train/n0400/images");
    write_text(P("tiny/wnids.txt"), "n0300\nn0100\nn0300\n");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "train", &ds), "listed twice");
    expect_error(tau_dataset_load_tiny_imagenet(P("tiny"), "test", &ds), "split must be");
    expect_error(tau_dataset_load_tiny_imagenet(P("none"), "train", &ds), "none/wnids.txt");
    scratch_remove();
}
END_TEST

/* ---- image files -------------------------------------------------------------------------- */

START_TEST(image_save_load) {
    scratch_make();
    enum { C = 3, H = 5, W = 7 };
    float x[C * H * W];
    for (int i = 0; i < C * H * W; i++) x[i] = (float)((i * 29) % 256) / 255.0f;
    ck_assert_int_eq(tau_image_save(P("a.png"), x, C, H, W, 0), TAU_OK);
    int c, h, w;
    float *y;
    ck_assert_int_eq(tau_image_load(P("a.png"), &c, &h, &w, &y), TAU_OK);
    ck_assert_int_eq(c, C);
    ck_assert_int_eq(h, H);
    ck_assert_int_eq(w, W);
    for (int i = 0; i < C * H * W; i++) ck_assert_float_eq(y[i], x[i]);
    tau_free(y, tau_image_bytes(c, h, w));
    /* rounding and clamping */
    float r[6] = {-3.0f, 0.4f / 255, 0.6f / 255, 254.5f / 255, 1.5f, INFINITY};
    ck_assert_int_eq(tau_image_save(P("r.PNG"), r, 1, 1, 6, 0), TAU_OK);
    ck_assert_int_eq(tau_image_load(P("r.PNG"), &c, &h, &w, &y), TAU_OK);
    ck_assert_int_eq(c, 1);
    const int want[6] = {0, 0, 1, 255, 255, 255};
    for (int i = 0; i < 6; i++) ck_assert_float_eq(y[i] * 255.0f, (float)want[i]);
    tau_free(y, tau_image_bytes(c, h, w));
    /* JPEG, both spellings; smooth content survives closely */
    float s[3 * 16 * 16];
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < 256; p++) s[ch * 256 + p] = smooth(0, ch, p / 16, p % 16) / 255.0f;
    ck_assert_int_eq(tau_image_save(P("b.jpg"), s, 3, 16, 16, 95), TAU_OK);
    ck_assert_int_eq(tau_image_save(P("b.jpeg"), s, 3, 16, 16, 0), TAU_OK);
    ck_assert_int_eq(tau_image_load(P("b.jpg"), &c, &h, &w, &y), TAU_OK);
    ck_assert_int_eq(c, 3);
    for (int i = 0; i < 3 * 256; i++) ck_assert_float_le(fabsf(y[i] - s[i]), 10.0f / 255);
    tau_free(y, tau_image_bytes(c, h, w));
    ck_assert_int_eq(tau_image_load_channels(P("a.png"), 1, &c, &h, &w, &y), TAU_OK);
    ck_assert_int_eq(c, 1);
    tau_free(y, tau_image_bytes(c, h, w));
    ck_assert_int_eq(tau_image_save(P("d.bmp"), x, C, H, W, 0), TAU_OK);
    /* no temporary files left behind */
    ck_assert_int_eq(count_entries(scratch_dir), 5);
    /* errors */
    x[17] = NAN;
    expect_error(tau_image_save(P("n.png"), x, C, H, W, 0), "NaN");
    expect_error(tau_image_save(P("n.png"), x, C, H, W, 0), "channel 1, row 3, column 4");
    expect_error(tau_image_save(P("n.gif"), s, 3, 16, 16, 0), "unknown extension");
    expect_error(tau_image_save(P("noext"), s, 3, 16, 16, 0), "unknown extension");
    expect_error(tau_image_save(P("q.jpg"), s, 3, 16, 16, 101), "quality");
    expect_error(tau_image_save(P("c.png"), s, 5, 4, 4, 0), "1 to 4 channels");
    expect_error(tau_image_save(P("missing/dir/a.png"), s, 3, 16, 16, 0), "cannot write");
    ck_assert_int_eq(count_entries(scratch_dir), 5);
    expect_error(tau_image_load(P("nothing.png"), &c, &h, &w, &y), "cannot open");
    write_text(P("junk.png"), "junk");
    expect_error(tau_image_load(P("junk.png"), &c, &h, &w, &y), "cannot decode image");
    ck_assert_ptr_null(y);
    /* in-memory round trip */
    uint8_t *buf;
    size_t n;
    ck_assert_int_eq(tau_image_encode("png", s, 3, 16, 16, 0, &buf, &n), TAU_OK);
    ck_assert_int_eq(tau_image_decode(buf, n, 0, "mem", &c, &h, &w, &y), TAU_OK);
    for (int i = 0; i < 3 * 256; i++) ck_assert_float_eq(y[i], s[i]);
    tau_free(y, tau_image_bytes(c, h, w));
    free(buf);
    scratch_remove();
}
END_TEST

/* ---- batches ------------------------------------------------------------------------------ */

/* A 2-channel 4x5 image whose bytes are all distinct and non-zero. */
static tau_dataset tiny_set(int n) {
    tau_dataset ds = {.n = n, .c = 2, .h = 4, .w = 5, .num_classes = 3};
    ds.pixels = tau_alloc((size_t)n * 40);
    ds.labels = tau_alloc((size_t)n * 4);
    ds.class_names = calloc(3, sizeof(char *));
    for (int k = 0; k < 3; k++) ds.class_names[k] = strdup("x");
    for (int i = 0; i < n; i++) {
        ds.labels[i] = i % 3;
        for (int p = 0; p < 40; p++) ds.pixels[i * 40 + p] = (uint8_t)(1 + (i * 41 + p) % 250);
    }
    return ds;
}

/* Reference: pad explicitly, cut the window at (top, left), then mirror. */
static void reference_crop(const uint8_t *img, int C, int H, int W, int pad, int top, int left,
                           int flip, float *out) {
    int PH = H + 2 * pad, PW = W + 2 * pad;
    float *padded = calloc((size_t)C * PH * PW, sizeof(float));
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                padded[(c * PH + y + pad) * PW + x + pad] = img[(c * H + y) * W + x] / 255.0f;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sx = flip ? W - 1 - x : x;
                out[(c * H + y) * W + x] = padded[(c * PH + y + top) * PW + sx + left];
            }
    free(padded);
}

START_TEST(batch_plain_and_normalised) {
    tau_dataset ds = tiny_set(6);
    int64_t idx[3] = {5, 0, 5};
    float x[3 * 40];
    int32_t y[3];
    ck_assert_int_eq(tau_batch_make(&ds, idx, 3, NULL, x, y), TAU_OK);
    for (int b = 0; b < 3; b++) {
        ck_assert_int_eq(y[b], (int)(idx[b] % 3));
        for (int p = 0; p < 40; p++)
            ck_assert_float_eq(x[b * 40 + p], ds.pixels[idx[b] * 40 + p] / 255.0f);
    }
    float mean[2] = {0.5f, 0.25f}, std[2] = {0.5f, 2.0f};
    tau_batch_opts o = {.mean = mean, .std = std};
    ck_assert_int_eq(tau_batch_make(&ds, idx, 3, &o, x, NULL), TAU_OK);
    for (int b = 0; b < 3; b++)
        for (int p = 0; p < 40; p++) {
            float v = ds.pixels[idx[b] * 40 + p] / 255.0f;
            ck_assert_float_eq_tol(x[b * 40 + p], (v - mean[p / 20]) / std[p / 20], 1e-6);
        }
    int64_t badidx[2] = {1, 6};
    expect_error(tau_batch_make(&ds, badidx, 2, NULL, x, y), "index 6 at position 1 is out of range [0, 6)");
    std[1] = 0;
    expect_error(tau_batch_make(&ds, idx, 3, &o, x, y), "std[2] must be finite and > 0");
    o = (tau_batch_opts){.pad = -1};
    expect_error(tau_batch_make(&ds, idx, 3, &o, x, y), "padding");
    ck_assert_int_eq(tau_batch_make(&ds, idx, 0, NULL, NULL, NULL), TAU_OK);
    tau_dataset_free(&ds);
}
END_TEST

START_TEST(batch_crop_flip_exact) {
    tau_dataset ds = tiny_set(1);
    const int pad = 2;
    int seen[5][5][2] = {{{0}}};
    float x[40], ref[40];
    int64_t idx = 0;
    int flips = 0, trials = 2000;
    for (int s = 0; s < trials; s++) {
        tau_batch_opts o = {.pad = pad, .flip = 1, .seed = (uint64_t)s * 7919u};
        ck_assert_int_eq(tau_batch_make(&ds, &idx, 1, &o, x, NULL), TAU_OK);
        int found = 0;
        for (int top = 0; top <= 2 * pad && !found; top++)
            for (int left = 0; left <= 2 * pad && !found; left++)
                for (int f = 0; f < 2 && !found; f++) {
                    reference_crop(ds.pixels, 2, 4, 5, pad, top, left, f, ref);
                    if (!memcmp(ref, x, sizeof x)) {
                        found = 1;
                        seen[top][left][f]++;
                        flips += f;
                    }
                }
        ck_assert_msg(found, "seed %d gave a batch that is no padded crop of the image", s);
    }
    /* Every one of the 50 outcomes occurs (expected 40 each) and flips are about half. */
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            for (int f = 0; f < 2; f++) ck_assert_int_ge(seen[a][b][f], 10);
    ck_assert_int_ge(flips, trials / 2 - 150);
    ck_assert_int_le(flips, trials / 2 + 150);
    /* flip alone: the original or its mirror */
    tau_batch_opts o = {.flip = 1, .seed = 3};
    ck_assert_int_eq(tau_batch_make(&ds, &idx, 1, &o, x, NULL), TAU_OK);
    reference_crop(ds.pixels, 2, 4, 5, 0, 0, 0, 0, ref);
    int same = !memcmp(ref, x, sizeof x);
    reference_crop(ds.pixels, 2, 4, 5, 0, 0, 0, 1, ref);
    ck_assert(same || !memcmp(ref, x, sizeof x));
    /* padding shows as (0 - mean) / std once normalised */
    float mean[2] = {0.5f, 0.5f}, std[2] = {0.25f, 0.25f};
    int saw_pad = 0;
    for (int s = 0; s < 50 && !saw_pad; s++) {
        tau_batch_opts on = {.pad = 3, .mean = mean, .std = std, .seed = (uint64_t)s};
        ck_assert_int_eq(tau_batch_make(&ds, &idx, 1, &on, x, NULL), TAU_OK);
        for (int p = 0; p < 40; p++)
            if (x[p] == -2.0f) saw_pad = 1;
    }
    ck_assert(saw_pad);
    tau_dataset_free(&ds);
}
END_TEST

/* Known outputs: augmentations (and so experiments) must not change between versions. */
START_TEST(batch_known_values) {
    tau_dataset ds = {.n = 1, .c = 1, .h = 5, .w = 5, .num_classes = 1};
    ds.pixels = tau_alloc(25);
    ds.labels = tau_calloc(4);
    for (int i = 0; i < 25; i++) ds.pixels[i] = (uint8_t)(i + 1);
    int64_t idx[4] = {0, 0, 0, 0};
    float x[100];
    tau_batch_opts o = {.pad = 2, .flip = 1, .seed = 1};
    ck_assert_int_eq(tau_batch_make(&ds, idx, 4, &o, x, NULL), TAU_OK);
    static const uint8_t want[4][25] = {
        {8, 9, 10, 0, 0, 13, 14, 15, 0, 0, 18, 19, 20, 0, 0, 23, 24, 25, 0, 0, 0, 0, 0, 0, 0},
        {6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0, 0, 5, 4, 3, 0, 0, 10, 9, 8, 0, 0, 15, 14, 13, 0, 0, 20, 19, 18},
        {8, 9, 10, 0, 0, 13, 14, 15, 0, 0, 18, 19, 20, 0, 0, 23, 24, 25, 0, 0, 0, 0, 0, 0, 0}};
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < 25; i++) ck_assert_float_eq(x[b * 25 + i], want[b][i] / 255.0f);
    ds.class_names = calloc(1, sizeof(char *));
    tau_dataset_free(&ds);
}
END_TEST

START_TEST(batch_deterministic_across_threads) {
    /* 32x32x3 images so the batch is split over the pool */
    enum { N = 300, B = 256 };
    tau_dataset ds = {.n = N, .c = 3, .h = 32, .w = 32, .num_classes = 1};
    ds.pixels = tau_alloc((size_t)N * 3072);
    ds.labels = tau_calloc((size_t)N * 4);
    ds.class_names = calloc(1, sizeof(char *));
    ds.class_names[0] = strdup("only");
    for (size_t i = 0; i < (size_t)N * 3072; i++) ds.pixels[i] = (uint8_t)(i * 2654435761u >> 24);
    int64_t *idx = malloc(N * sizeof *idx);
    ck_assert_int_eq(tau_permutation(N, 11, idx), TAU_OK);   /* first B of a permutation */
    float *a = malloc((size_t)B * 3072 * 4), *b = malloc((size_t)B * 3072 * 4);
    tau_batch_opts o = {.pad = 4, .flip = 1, .seed = 42};
    int saved = tau_get_num_threads();
    tau_set_num_threads(1);
    ck_assert_int_eq(tau_batch_make(&ds, idx, B, &o, a, NULL), TAU_OK);
    tau_set_num_threads(4);
    ck_assert_int_eq(tau_batch_make(&ds, idx, B, &o, b, NULL), TAU_OK);
    ck_assert(!memcmp(a, b, (size_t)B * 3072 * 4));
    o.seed = 43;
    ck_assert_int_eq(tau_batch_make(&ds, idx, B, &o, b, NULL), TAU_OK);
    ck_assert(memcmp(a, b, (size_t)B * 3072 * 4) != 0);
    tau_set_num_threads(saved);
    ck_assert_uint_ne(tau_seed_mix(1, 0), tau_seed_mix(1, 1));
    ck_assert_uint_ne(tau_seed_mix(1, 0), tau_seed_mix(2, 0));
    free(a);
    free(b);
    free(idx);
    tau_dataset_free(&ds);
}
END_TEST

START_TEST(permutation) {
    int64_t p[1000], q[1000];
    ck_assert_int_eq(tau_permutation(1000, 5, p), TAU_OK);
    ck_assert_int_eq(tau_permutation(1000, 5, q), TAU_OK);
    ck_assert(!memcmp(p, q, sizeof p));
    char seen[1000] = {0};
    int fixed = 0;
    for (int i = 0; i < 1000; i++) {
        ck_assert(p[i] >= 0 && p[i] < 1000 && !seen[p[i]]);
        seen[p[i]] = 1;
        fixed += p[i] == i;
    }
    ck_assert_int_lt(fixed, 10);
    ck_assert_int_eq(tau_permutation(1000, 6, q), TAU_OK);
    ck_assert(memcmp(p, q, sizeof p) != 0);
    /* A known value: shuffles (and so experiments) must not change between versions. */
    ck_assert_int_eq(tau_permutation(10, 0, q), TAU_OK);
    const int64_t known[10] = {7, 8, 3, 1, 5, 4, 2, 0, 9, 6};
    for (int i = 0; i < 10; i++) ck_assert_int_eq(q[i], known[i]);
    /* Uniformity over the 6 permutations of 3 elements. */
    int counts[6] = {0};
    for (uint64_t s = 0; s < 6000; s++) {
        int64_t r[3];
        tau_permutation(3, s, r);
        counts[r[0] * 2 + (r[1] > r[2])]++;
    }
    for (int k = 0; k < 6; k++) {
        ck_assert_int_gt(counts[k], 850);
        ck_assert_int_lt(counts[k], 1150);
    }
    ck_assert_int_eq(tau_permutation(0, 1, NULL), TAU_OK);
    ck_assert_int_eq(tau_permutation(1, 1, q), TAU_OK);
    ck_assert_int_eq(q[0], 0);
    expect_error(tau_permutation(-1, 1, q), "negative length");
}
END_TEST

/* ---- real data sets ----------------------------------------------------------------------- */

static void skip(const char *why) {
    printf("skipped: %s\n", why);
    fflush(stdout);
}

static void check_labels(const tau_dataset *ds, int64_t per_class) {
    int64_t *count = calloc((size_t)ds->num_classes, sizeof *count);
    for (int64_t i = 0; i < ds->n; i++) {
        ck_assert(ds->labels[i] >= 0 && ds->labels[i] < ds->num_classes);
        count[ds->labels[i]]++;
    }
    if (per_class)
        for (int32_t k = 0; k < ds->num_classes; k++) ck_assert_int_eq(count[k], per_class);
    free(count);
}

START_TEST(real_fashion_mnist) {
    if (access(TAU_FASHION_MNIST_DIR, R_OK) != 0) {
        skip("Fashion-MNIST is not installed at " TAU_FASHION_MNIST_DIR);
        return;
    }
    tau_dataset tr, te;
    double t0 = now();
    ck_assert_msg(tau_dataset_load_fashion_mnist(NULL, "train", &tr) == TAU_OK, "%s", tau_errmsg());
    double t1 = now();
    ck_assert_msg(tau_dataset_load_fashion_mnist(NULL, "test", &te) == TAU_OK, "%s", tau_errmsg());
    double t2 = now();
    printf("fashion-mnist: train 60000 in %.2f s, test 10000 in %.2f s\n", t1 - t0, t2 - t1);
    ck_assert_int_eq(tr.n, 60000);
    ck_assert_int_eq(te.n, 10000);
    ck_assert(tr.c == 1 && tr.h == 28 && tr.w == 28);
    ck_assert(te.c == 1 && te.h == 28 && te.w == 28);
    check_labels(&tr, 6000);
    check_labels(&te, 1000);
    const int trl[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, tel[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(tr.labels[i], trl[i]);
        ck_assert_int_eq(te.labels[i], tel[i]);
    }
    /* (image, row, column) -> value, read independently from the files */
    const struct { int64_t i; int y, x, tr, te; } px[] = {
        {0, 14, 14, 217, 110}, {0, 10, 20, 210, 157}, {1, 5, 10, 101, 47}, {123, 20, 7, 62, 227}};
    for (size_t k = 0; k < sizeof px / sizeof px[0]; k++) {
        ck_assert_int_eq(tr.pixels[px[k].i * 784 + px[k].y * 28 + px[k].x], px[k].tr);
        ck_assert_int_eq(te.pixels[px[k].i * 784 + px[k].y * 28 + px[k].x], px[k].te);
    }
    ck_assert_int_eq(tr.pixels[59999 * 784 + 14 * 28 + 14], 0);
    ck_assert_int_eq(te.pixels[9999 * 784 + 14 * 28 + 14], 132);
    uint64_t s1 = 0, s2 = 0;
    for (size_t i = 0; i < 60000 * 784; i++) s1 += tr.pixels[i];
    for (size_t i = 0; i < 10000 * 784; i++) s2 += te.pixels[i];
    ck_assert_uint_eq(s1, 3431114169u);
    ck_assert_uint_eq(s2, 573469082u);
    tau_dataset_free(&tr);
    tau_dataset_free(&te);
}
END_TEST

/* ../shared/data (or $TAU_SHARED_DATA) archive, unpacked into a temp dir unless the repo has
 * an unpacked copy under data/. Returns the root to load from, or NULL after a skip line. */
static const char *real_root(const char *archive, const char *unpacked, char *buf, size_t n) {
    struct stat st;
    if (stat(unpacked, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(buf, n, "data");
        return buf;
    }
    const char *shared = getenv("TAU_SHARED_DATA");
    char tgz[512];
    snprintf(tgz, sizeof tgz, "%s/%s", shared && *shared ? shared : "../shared/data", archive);
    if (access(tgz, R_OK) != 0) {
        char why[600];
        snprintf(why, sizeof why, "%s not found (set TAU_SHARED_DATA)", tgz);
        skip(why);
        return NULL;
    }
    scratch_make();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "tar -xzf '%s' -C '%s'", tgz, scratch_dir);
    double t0 = now();
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    printf("unpacked %s in %.2f s\n", archive, now() - t0);
    snprintf(buf, n, "%s", scratch_dir);
    return buf;
}

START_TEST(real_cifar10_jpg) {
    char root[512];
    if (!real_root("cifar10-jpg.tar.gz", "data/cifar10", root, sizeof root)) return;
    tau_dataset tr, te;
    double t0 = now();
    ck_assert_msg(tau_dataset_load_cifar10(root, "train", &tr) == TAU_OK, "%s", tau_errmsg());
    double t1 = now();
    ck_assert_msg(tau_dataset_load_cifar10(root, "test", &te) == TAU_OK, "%s", tau_errmsg());
    double t2 = now();
    printf("cifar10-jpg (%d threads): train 50000 in %.2f s, test 10000 in %.2f s\n",
           tau_get_num_threads(), t1 - t0, t2 - t1);
    ck_assert_int_eq(tr.n, 50000);
    ck_assert_int_eq(te.n, 10000);
    ck_assert(tr.c == 3 && tr.h == 32 && tr.w == 32);
    ck_assert(te.c == 3 && te.h == 32 && te.w == 32);
    ck_assert_int_eq(tr.num_classes, 10);
    ck_assert_str_eq(tr.class_names[0], "airplane");
    ck_assert_str_eq(tr.class_names[9], "truck");
    check_labels(&tr, 5000);
    check_labels(&te, 1000);
    double mean = 0;
    for (size_t i = 0; i < (size_t)te.n * 3072; i++) mean += te.pixels[i];
    mean /= (double)te.n * 3072 * 255;
    ck_assert(mean > 0.4 && mean < 0.55);   /* CIFAR-10's mean intensity is about 0.47 */
    tau_dataset_free(&tr);
    tau_dataset_free(&te);
    scratch_remove();
}
END_TEST

START_TEST(real_tiny_imagenet) {
    char root[512], dir[600];
    if (!real_root("tiny-imagenet-200-subset.tar.gz", "data/tiny-imagenet-200", root, sizeof root))
        return;
    snprintf(dir, sizeof dir, "%s/tiny-imagenet-200", root);
    tau_dataset tr, va;
    double t0 = now();
    ck_assert_msg(tau_dataset_load_tiny_imagenet(dir, "train", &tr) == TAU_OK, "%s", tau_errmsg());
    double t1 = now();
    ck_assert_msg(tau_dataset_load_tiny_imagenet(dir, "val", &va) == TAU_OK, "%s", tau_errmsg());
    double t2 = now();
    printf("tiny-imagenet subset: train 20000 in %.2f s, val 10000 in %.2f s\n", t1 - t0, t2 - t1);
    ck_assert_int_eq(tr.n, 20000);
    ck_assert_int_eq(va.n, 10000);
    ck_assert(tr.c == 3 && tr.h == 64 && tr.w == 64);
    ck_assert(va.c == 3 && va.h == 64 && va.w == 64);
    ck_assert_int_eq(tr.num_classes, 200);
    ck_assert_int_eq(va.num_classes, 200);
    ck_assert_str_eq(tr.class_names[0], "n02124075");   /* first line of wnids.txt */
    check_labels(&tr, 100);
    check_labels(&va, 50);
    ck_assert_str_eq(va.class_names[va.labels[0]], "n03444034");   /* val_0.JPEG's wnid */
    tau_dataset_free(&tr);
    tau_dataset_free(&va);
    scratch_remove();
}
END_TEST

Suite *data_suite(void) {
    Suite *s = suite_create("data");
    TCase *tc = check_tcase("formats", 0);
    tcase_add_test(tc, idx_raw_and_gzip);
    tcase_add_test(tc, idx_errors);
    tcase_add_test(tc, mnist_folder);
    tcase_add_test(tc, cifar10_binary);
    tcase_add_test(tc, cifar100_binary);
    tcase_add_test(tc, image_folder_png_exact);
    tcase_add_test(tc, image_folder_grey_and_jpeg);
    tcase_add_test(tc, image_folder_errors);
    tcase_add_test(tc, cifar10_class_folders);
    tcase_add_test(tc, tiny_imagenet_layout);
    tcase_add_test(tc, tiny_imagenet_errors);
    tcase_add_test(tc, image_save_load);
    suite_add_tcase(s, tc);
    TCase *tb = check_tcase("batch", 0);
    tcase_add_test(tb, batch_plain_and_normalised);
    tcase_add_test(tb, batch_crop_flip_exact);
    tcase_add_test(tb, batch_known_values);
    tcase_add_test(tb, batch_deterministic_across_threads);
    tcase_add_test(tb, permutation);
    suite_add_tcase(s, tb);
    TCase *tr = check_tcase("real", 300);
    tcase_add_test(tr, real_fashion_mnist);
    tcase_add_test(tr, real_cifar10_jpg);
    tcase_add_test(tr, real_tiny_imagenet);
    suite_add_tcase(s, tr);
    return s;
}

int main(void) { return check_main_scratch(data_suite(), "data"); }
