/* Data-set plumbing shared by all loaders, plus the IDX format (MNIST, Fashion-MNIST). */
#include "data/dataset_internal.h"
#include "base/alloc.h"
#include "base/error.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

int tau__set_class_names(tau_dataset *ds, tau__strlist *names) {
    if (names) {
        ds->class_names = names->v;
        ds->num_classes = (int32_t)names->n;
        names->v = NULL;
        names->n = names->cap = 0;
        return TAU_OK;
    }
    ds->class_names = calloc(ds->num_classes ? (size_t)ds->num_classes : 1, sizeof(char *));
    if (!ds->class_names) return tau_fail("out of memory");
    for (int32_t i = 0; i < ds->num_classes; i++)
        if (!(ds->class_names[i] = tau__pathf("%d", (int)i))) return TAU_ERR;
    return TAU_OK;
}

int tau__set_fixed_names(tau_dataset *ds, const char *const *names, int count) {
    ds->num_classes = count;
    ds->class_names = calloc((size_t)count, sizeof(char *));
    if (!ds->class_names) return tau_fail("out of memory");
    for (int i = 0; i < count; i++)
        if (!(ds->class_names[i] = tau__strdup(names[i]))) return TAU_ERR;
    return TAU_OK;
}

void tau_dataset_free(tau_dataset *ds) {
    if (!ds) return;
    tau_free(ds->pixels, (size_t)(ds->n * ds->c * ds->h * ds->w));
    tau_free(ds->labels, (size_t)ds->n * sizeof(int32_t));
    if (ds->class_names)
        for (int32_t i = 0; i < ds->num_classes; i++) free(ds->class_names[i]);
    free(ds->class_names);
    memset(ds, 0, sizeof *ds);
}

int tau__check_split(const char *split, const char *what) {
    if (split && (!strcmp(split, "train") || !strcmp(split, "test"))) return TAU_OK;
    return tau_fail("%s: split must be \"train\" or \"test\", got \"%s\"", what,
                    split ? split : "(null)");
}

/* ---- IDX -------------------------------------------------------------------------------- */

/* Reads exactly n bytes or reports how many there were, so truncation is named precisely. */
static int gz_read_all(gzFile g, uint8_t *dst, uint64_t n, uint64_t *got, const char **zerr) {
    *got = 0;
    *zerr = NULL;
    while (*got < n) {
        uint64_t want = n - *got;
        if (want > (1u << 30)) want = 1u << 30;
        int r = gzread(g, dst + *got, (unsigned)want);
        if (r < 0) {
            int code;
            *zerr = gzerror(g, &code);
            return TAU_ERR;
        }
        if (r == 0) {
            int code;
            const char *m = gzerror(g, &code);
            if (code != Z_OK && code != Z_STREAM_END) *zerr = m;
            return TAU_ERR;
        }
        *got += (uint64_t)r;
    }
    return TAU_OK;
}

/* Opens an IDX file and checks its header; dims[0..ndim) are returned. */
static int idx_open(const char *path, int want_ndim, const char *kind, gzFile *out,
                    uint64_t *dims) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tau_fail("cannot open '%s': %s", path, strerror(errno));
    gzFile g = gzdopen(fd, "rb");
    if (!g) { close(fd); return tau_fail("cannot open '%s': out of memory", path); }
    gzbuffer(g, 1 << 17);
    uint8_t hdr[4 + 4 * 3];
    uint64_t got;
    const char *zerr;
    size_t hlen = 4 + 4 * (size_t)want_ndim;
    if (gz_read_all(g, hdr, 4, &got, &zerr) != TAU_OK) {
        /* zlib's message lives in g: format it before closing */
        int rc = tau_fail("'%s' is not an IDX %s file: only %llu bytes%s%s", path, kind,
                          (unsigned long long)got, zerr ? ", " : "", zerr ? zerr : "");
        gzclose(g);
        return rc;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        gzclose(g);
        return tau_fail("'%s' is not an IDX file: bad magic 0x%02x%02x%02x%02x", path, hdr[0],
                        hdr[1], hdr[2], hdr[3]);
    }
    if (hdr[2] != 0x08) {
        gzclose(g);
        return tau_fail("'%s': IDX element type 0x%02x is not unsigned byte (0x08)", path,
                        hdr[2]);
    }
    if (hdr[3] != want_ndim) {
        gzclose(g);
        return tau_fail("'%s': IDX %s file must have %d dimension%s, this one has %d", path,
                        kind, want_ndim, want_ndim == 1 ? "" : "s", hdr[3]);
    }
    if (gz_read_all(g, hdr + 4, hlen - 4, &got, &zerr) != TAU_OK) {
        gzclose(g);
        return tau_fail("'%s': truncated IDX header (%llu of %zu bytes)", path,
                        (unsigned long long)(4 + got), hlen);
    }
    for (int i = 0; i < want_ndim; i++) {
        const uint8_t *b = hdr + 4 + 4 * i;
        dims[i] = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
    }
    *out = g;
    return TAU_OK;
}

/* Reads the body of an IDX file: exactly n bytes, nothing after. */
static int idx_body(gzFile g, const char *path, const char *what, uint8_t *dst, uint64_t n) {
    uint64_t got;
    const char *zerr;
    if (gz_read_all(g, dst, n, &got, &zerr) != TAU_OK)
        return tau_fail("'%s' is truncated: expected %llu %s bytes, got %llu%s%s", path,
                        (unsigned long long)n, what, (unsigned long long)got,
                        zerr ? " (" : "", zerr ? zerr : "");
    uint8_t extra;
    int r = gzread(g, &extra, 1);
    if (r > 0)
        return tau_fail("'%s' has data after the expected %llu %s bytes (wrong dimensions in "
                        "the header?)", path, (unsigned long long)n, what);
    if (r < 0) {
        int code;
        return tau_fail("'%s': %s", path, gzerror(g, &code));
    }
    return TAU_OK;
}

/* For an uncompressed file the size is known up front, so a truncated file is reported
 * before allocating what its header promises. */
static int idx_precheck(gzFile g, const char *path, const char *what, uint64_t header_len,
                        uint64_t n) {
    if (!gzdirect(g)) return TAU_OK;
    struct stat st;
    if (stat(path, &st) != 0) return TAU_OK;
    uint64_t have = (uint64_t)st.st_size > header_len ? (uint64_t)st.st_size - header_len : 0;
    if (have < n)
        return tau_fail("'%s' is truncated: expected %llu %s bytes, got %llu", path,
                        (unsigned long long)n, what, (unsigned long long)have);
    return TAU_OK;
}

int tau_dataset_load_idx(const char *images_path, const char *labels_path, tau_dataset *out) {
    memset(out, 0, sizeof *out);
    tau_dataset ds = {0};
    gzFile gi = NULL, gl = NULL;
    uint8_t *lab = NULL;
    uint64_t idim[3], ldim[1];
    if (idx_open(images_path, 3, "image", &gi, idim) != TAU_OK) goto fail;
    if (idx_open(labels_path, 1, "label", &gl, ldim) != TAU_OK) goto fail;
    if (idim[0] != ldim[0]) {
        tau_fail("'%s' has %llu images but '%s' has %llu labels", images_path,
                 (unsigned long long)idim[0], labels_path, (unsigned long long)ldim[0]);
        goto fail;
    }
    if (idim[1] == 0 || idim[2] == 0 || idim[1] > 65536 || idim[2] > 65536 ||
        idim[0] * idim[1] * idim[2] > ((uint64_t)1 << 38)) {
        tau_fail("'%s': implausible IDX image dimensions %llu x %llu x %llu", images_path,
                 (unsigned long long)idim[0], (unsigned long long)idim[1],
                 (unsigned long long)idim[2]);
        goto fail;
    }
    uint64_t npix = idim[0] * idim[1] * idim[2];
    if (idx_precheck(gi, images_path, "pixel", 16, npix) != TAU_OK) goto fail;
    if (idx_precheck(gl, labels_path, "label", 8, ldim[0]) != TAU_OK) goto fail;
    ds.n = (int64_t)idim[0];
    ds.c = 1;
    ds.h = (int64_t)idim[1];
    ds.w = (int64_t)idim[2];
    ds.pixels = tau_alloc(npix);
    ds.labels = tau_alloc((size_t)ds.n * sizeof(int32_t));
    lab = malloc(ds.n ? (size_t)ds.n : 1);
    if (!ds.pixels || !ds.labels || !lab) {
        tau_fail("out of memory loading '%s' (%llu bytes)", images_path,
                 (unsigned long long)npix);
        goto fail;
    }
    if (idx_body(gi, images_path, "pixel", ds.pixels, npix) != TAU_OK) goto fail;
    if (idx_body(gl, labels_path, "label", lab, ldim[0]) != TAU_OK) goto fail;
    int32_t maxl = -1;
    for (int64_t i = 0; i < ds.n; i++) {
        ds.labels[i] = lab[i];
        if (lab[i] > maxl) maxl = lab[i];
    }
    ds.num_classes = maxl + 1 > 0 ? maxl + 1 : 1;
    if (tau__set_class_names(&ds, NULL) != TAU_OK) goto fail;
    free(lab);
    gzclose(gi);
    gzclose(gl);
    *out = ds;
    return TAU_OK;
fail:
    free(lab);
    if (gi) gzclose(gi);
    if (gl) gzclose(gl);
    tau_dataset_free(&ds);
    return TAU_ERR;
}

/* The file pair of an MNIST-style directory: the compressed name if present, else the raw. */
static char *idx_file(const char *root, const char *prefix, const char *kind) {
    char *gz = tau__pathf("%s/%s-%s-ubyte.gz", root, prefix, kind);
    if (!gz || tau__is_file(gz)) return gz;
    char *raw = tau__pathf("%s/%s-%s-ubyte", root, prefix, kind);
    if (raw && tau__is_file(raw)) { free(gz); return raw; }
    free(raw);
    return gz;   /* neither exists: opening it gives an error naming the expected file */
}

static int load_mnist_like(const char *root, const char *split, const char *what,
                           const char *const *names, tau_dataset *out) {
    memset(out, 0, sizeof *out);
    if (tau__check_split(split, what) != TAU_OK) return TAU_ERR;
    const char *prefix = strcmp(split, "train") == 0 ? "train" : "t10k";
    char *im = idx_file(root, prefix, "images-idx3");
    char *lb = im ? idx_file(root, prefix, "labels-idx1") : NULL;
    int r = TAU_ERR;
    if (im && lb && tau_dataset_load_idx(im, lb, out) == TAU_OK) {
        r = TAU_OK;
        for (int64_t i = 0; i < out->n; i++)
            if (out->labels[i] >= 10) {
                r = tau_fail("'%s': label %d of image %lld is out of range 0..9", lb,
                             (int)out->labels[i], (long long)i);
                break;
            }
        if (r == TAU_OK) {
            for (int32_t i = 0; i < out->num_classes; i++) free(out->class_names[i]);
            free(out->class_names);
            out->class_names = NULL;
            r = tau__set_fixed_names(out, names, 10);
        }
        if (r != TAU_OK) tau_dataset_free(out);
    }
    free(im);
    free(lb);
    return r;
}

int tau_dataset_load_mnist(const char *root, const char *split, tau_dataset *out) {
    static const char *const names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    if (!root) { memset(out, 0, sizeof *out); return tau_fail("mnist: root folder not given"); }
    return load_mnist_like(root, split, "mnist", names, out);
}

int tau_dataset_load_fashion_mnist(const char *root, const char *split, tau_dataset *out) {
    static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                          "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                          "Ankle boot"};
    return load_mnist_like(root && *root ? root : TAU_FASHION_MNIST_DIR, split,
                           "fashion_mnist", names, out);
}
