/* CIFAR-10 and CIFAR-100, as binary batches or (through the image-folder loader) class
 * folders. Kept apart from dataset.c so that the folder loader, which needs dataset.c's
 * plumbing, is not needed by it in turn. */
#include "data/dataset_internal.h"
#include "base/alloc.h"
#include "base/error.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- CIFAR binary --------------------------------------------------------------------------- */

#define CIFAR_PIXELS 3072

static const char *const cifar10_names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                              "dog", "frog", "horse", "ship", "truck"};

/* Names from a text file beside the data: used when present, must list exactly `count`. */
static int cifar_names(const char *first_path, const char *file, int count, tau_dataset *ds) {
    const char *slash = strrchr(first_path, '/');
    char *p = slash ? tau__pathf("%.*s/%s", (int)(slash - first_path), first_path, file)
                    : tau__strdup(file);
    if (!p) return TAU_ERR;
    if (!tau__is_file(p)) {
        free(p);
        ds->num_classes = count;
        return count == 10 ? tau__set_fixed_names(ds, cifar10_names, 10)
                           : tau__set_class_names(ds, NULL);
    }
    uint8_t *text;
    size_t len;
    tau__strlist names = {0};
    int r = tau__read_file(p, &text, &len);
    if (r == TAU_OK) {
        r = tau__text_lines((char *)text, &names);
        free(text);
    }
    if (r == TAU_OK && names.n != (size_t)count)
        r = tau_fail("'%s': expected %d class names, found %zu", p, count, names.n);
    if (r == TAU_OK) r = tau__set_class_names(ds, &names);
    tau__strlist_free(&names);
    free(p);
    return r;
}

int tau_dataset_load_cifar_files(const char *const *paths, int npaths, int variant,
                                 tau_dataset *out) {
    memset(out, 0, sizeof *out);
    if (variant < TAU_CIFAR10 || variant > TAU_CIFAR100_COARSE)
        return tau_fail("cifar: unknown variant %d", variant);
    if (npaths < 1) return tau_fail("cifar: no files given");
    const size_t rec = (variant == TAU_CIFAR10 ? 1 : 2) + CIFAR_PIXELS;
    const int nclass = variant == TAU_CIFAR10 ? 10 : variant == TAU_CIFAR100_FINE ? 100 : 20;
    const int label_at = variant == TAU_CIFAR100_FINE ? 1 : 0;
    /* Validate every file's size before allocating, so a bad last batch fails fast. */
    int64_t total = 0;
    for (int f = 0; f < npaths; f++) {
        struct stat st;
        if (stat(paths[f], &st) != 0)
            return tau_fail("cannot open '%s': %s", paths[f], strerror(errno));
        if (!S_ISREG(st.st_mode)) return tau_fail("cannot read '%s': not a regular file", paths[f]);
        if ((size_t)st.st_size % rec != 0)
            return tau_fail("'%s': size %lld is not a multiple of the %zu-byte CIFAR-%s record "
                            "(truncated or not a CIFAR-%s file?)", paths[f],
                            (long long)st.st_size, rec, nclass == 10 ? "10" : "100",
                            nclass == 10 ? "10" : "100");
        total += (int64_t)((size_t)st.st_size / rec);
    }
    tau_dataset ds = {0};
    ds.n = total;
    ds.c = 3;
    ds.h = ds.w = 32;
    ds.pixels = tau_alloc((size_t)total * CIFAR_PIXELS);
    ds.labels = tau_alloc((size_t)total * sizeof(int32_t));
    if (!ds.pixels || !ds.labels) {
        tau_dataset_free(&ds);
        return tau_fail("out of memory loading %lld CIFAR images", (long long)total);
    }
    int64_t at = 0;
    for (int f = 0; f < npaths; f++) {
        uint8_t *buf;
        size_t len;
        if (tau__read_file(paths[f], &buf, &len) != TAU_OK) goto fail;
        size_t nrec = len / rec;
        if (len % rec != 0 || at + (int64_t)nrec > total) {
            free(buf);
            tau_fail("'%s' changed size while being read", paths[f]);
            goto fail;
        }
        for (size_t i = 0; i < nrec; i++) {
            const uint8_t *r = buf + i * rec;
            int label = r[label_at];
            if (label >= nclass) {
                free(buf);
                tau_fail("'%s': record %zu has %slabel %d, expected 0..%d", paths[f], i,
                         variant == TAU_CIFAR100_FINE ? "fine " :
                         variant == TAU_CIFAR100_COARSE ? "coarse " : "", label, nclass - 1);
                goto fail;
            }
            ds.labels[at] = label;
            memcpy(ds.pixels + (size_t)at * CIFAR_PIXELS, r + rec - CIFAR_PIXELS, CIFAR_PIXELS);
            at++;
        }
        free(buf);
    }
    if (at != total) {
        tau_fail("'%s' changed size while being read", paths[npaths - 1]);
        goto fail;
    }
    const char *names_file = variant == TAU_CIFAR10 ? "batches.meta.txt"
                           : variant == TAU_CIFAR100_FINE ? "fine_label_names.txt"
                                                          : "coarse_label_names.txt";
    if (cifar_names(paths[0], names_file, nclass, &ds) != TAU_OK) goto fail;
    *out = ds;
    return TAU_OK;
fail:
    tau_dataset_free(&ds);
    return TAU_ERR;
}

/* Tries the binary files of a split in dir; returns 1 (and the result in *r) if found. */
static int try_cifar_bin(const char *dir, const char *const *names, int count, int variant,
                         tau_dataset *out, int *r) {
    char *paths[5] = {0};
    int found = 0;
    for (int i = 0; i < count; i++)
        if (!(paths[i] = tau__pathf("%s/%s", dir, names[i]))) { *r = TAU_ERR; found = 1; goto done; }
    if (tau__is_file(paths[0])) {
        found = 1;
        *r = tau_dataset_load_cifar_files((const char *const *)paths, count, variant, out);
    }
done:
    for (int i = 0; i < count; i++) free(paths[i]);
    return found;
}

static int try_folder(const char *dir, tau_dataset *out, int *r) {
    if (!tau__is_dir(dir)) return 0;
    *r = tau_dataset_load_image_folder(dir, 3, out);
    return 1;
}

static int load_cifar(const char *root, const char *split, int variant, const char *what,
                      const char *bin_sub, const char *const *train_files, int ntrain,
                      const char *test_file, const char *folder_sub, tau_dataset *out) {
    memset(out, 0, sizeof *out);
    if (!root || !*root) return tau_fail("%s: root folder not given", what);
    if (tau__check_split(split, what) != TAU_OK) return TAU_ERR;
    int train = strcmp(split, "train") == 0;
    const char *const *files = train ? train_files : &test_file;
    int nfiles = train ? ntrain : 1;
    int r = TAU_ERR;
    char *dirs[4] = {
        tau__strdup(root), tau__pathf("%s/%s", root, bin_sub),
        tau__pathf("%s/%s", root, split), tau__pathf("%s/%s/%s", root, folder_sub, split)};
    int ok = dirs[0] && dirs[1] && dirs[2] && dirs[3];
    if (ok && !try_cifar_bin(dirs[0], files, nfiles, variant, out, &r) &&
        !try_cifar_bin(dirs[1], files, nfiles, variant, out, &r) &&
        !try_folder(dirs[2], out, &r) && !try_folder(dirs[3], out, &r))
        r = tau_fail("%s: no data under '%s': looked for %s in it and in %s/, and for class "
                     "folders in %s/ and %s/%s/", what, root, files[0], bin_sub, split,
                     folder_sub, split);
    for (int i = 0; i < 4; i++) free(dirs[i]);
    return r;
}

int tau_dataset_load_cifar10(const char *root, const char *split, tau_dataset *out) {
    static const char *const train[5] = {"data_batch_1.bin", "data_batch_2.bin",
                                         "data_batch_3.bin", "data_batch_4.bin",
                                         "data_batch_5.bin"};
    return load_cifar(root, split, TAU_CIFAR10, "cifar10", "cifar-10-batches-bin", train, 5,
                      "test_batch.bin", "cifar10", out);
}

int tau_dataset_load_cifar100(const char *root, const char *split, int coarse,
                              tau_dataset *out) {
    static const char *const train[1] = {"train.bin"};
    return load_cifar(root, split, coarse ? TAU_CIFAR100_COARSE : TAU_CIFAR100_FINE,
                      "cifar100", "cifar-100-binary", train, 1, "test.bin", "cifar100", out);
}
