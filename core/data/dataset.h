/* Labelled image data sets, held once in memory as bytes (N, C, H, W) with int32 labels.
 *
 * Labels are 0-based here: 0 .. num_classes-1 (the Lua layer presents them as 1..C).
 * Pixels and labels are tau_alloc'ed; class names are malloc'ed strings. Every loader fills
 * *out only on success (on failure *out is zeroed and holds nothing to free); release a loaded
 * set with tau_dataset_free. Errors name the offending file and say what was wrong with it.
 * Loaders that decode images do so in parallel with tau_parallel_for. */
#ifndef TAU_DATASET_H
#define TAU_DATASET_H
#include "base/api.h"
#include <stddef.h>
#include <stdint.h>

typedef struct tau_dataset {
    int64_t n, c, h, w;
    uint8_t *pixels;        /* n*c*h*w bytes, (N, C, H, W) row-major */
    int32_t *labels;        /* n labels in [0, num_classes) */
    int32_t num_classes;
    char **class_names;     /* num_classes names, always present ("0", "1", ... if unknown) */
} tau_dataset;

TAU_API void tau_dataset_free(tau_dataset *ds);        /* idempotent; leaves *ds zeroed */

static inline size_t tau_dataset_image_bytes(const tau_dataset *ds) {
    return (size_t)(ds->c * ds->h * ds->w);
}

/* ---- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------
 * A pair of IDX files, gzip-compressed or raw (detected from the content): unsigned-byte images
 * (magic 0x00000803, dims N x H x W) and labels (0x00000801, dims N). Gives C = 1.
 * num_classes is max(label)+1 (at least 1); class names are "0", "1", ... */
TAU_API int tau_dataset_load_idx(const char *images_path, const char *labels_path, tau_dataset *out);

/* root/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; split is "train" or "test".
 * The MNIST variant names classes "0".."9" and requires labels < 10; the Fashion-MNIST variant
 * uses the ten Fashion-MNIST names and root NULL means TAU_FASHION_MNIST_DIR. */
#define TAU_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
TAU_API int tau_dataset_load_mnist(const char *root, const char *split, tau_dataset *out);
TAU_API int tau_dataset_load_fashion_mnist(const char *root, const char *split, tau_dataset *out);

/* ---- CIFAR binary ---------------------------------------------------------------------------
 * CIFAR-10 records: 1 label byte + 3072 pixel bytes (3 x 32 x 32, already channel-major).
 * CIFAR-100 records: coarse label byte, fine label byte, 3072 pixel bytes. */
enum { TAU_CIFAR10 = 0, TAU_CIFAR100_FINE = 1, TAU_CIFAR100_COARSE = 2 };

/* Concatenates the records of the given files in order. Class names come from the file beside
 * the first path (batches.meta.txt, fine_label_names.txt or coarse_label_names.txt) when it
 * exists, else the standard CIFAR-10 names / "0", "1", ... for CIFAR-100. */
TAU_API int tau_dataset_load_cifar_files(const char *const *paths, int npaths, int variant,
                                         tau_dataset *out);

/* CIFAR-10 from root, in whichever standard form is found there, tried in this order:
 *   binary batches in root or root/cifar-10-batches-bin (data_batch_1..5.bin, test_batch.bin);
 *   class folders root/<split>/<class>/ or root/cifar10/<split>/<class>/ (the JPEG release).
 * split is "train" or "test". */
TAU_API int tau_dataset_load_cifar10(const char *root, const char *split, tau_dataset *out);
/* CIFAR-100 binary (train.bin / test.bin in root or root/cifar-100-binary), or class folders as
 * above (where `coarse` is ignored). coarse != 0 selects the 20 superclass labels. */
TAU_API int tau_dataset_load_cifar100(const char *root, const char *split, int coarse, tau_dataset *out);

/* ---- Image folders --------------------------------------------------------------------------
 * root/<class>/<file>.{png,jpg,jpeg,bmp} (extension in any case; other files and hidden entries
 * are skipped). Classes are the sub-folders sorted by name (strcmp); files within a class are
 * sorted by name too (byte order, not "natural" order). All images must have the same size.
 * channels: 1 or 3 converts every image (grey <-> RGB, alpha dropped); 0 takes 1 if the first
 * image is grey (with or without alpha) and 3 otherwise. */
TAU_API int tau_dataset_load_image_folder(const char *root, int channels, tau_dataset *out);

/* Tiny-ImageNet-200 standard layout: root/wnids.txt gives the class order;
 * split "train": root/train/<wnid>/images/<*.JPEG> (sorted by name);
 * split "val": root/val/images/<file> labelled by root/val/val_annotations.txt
 * (tab-separated: file, wnid, box), in the order of that file. Always 3 channels.
 * Class names are the wnids. */
TAU_API int tau_dataset_load_tiny_imagenet(const char *root, const char *split, tau_dataset *out);

#endif
