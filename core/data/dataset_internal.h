/* Helpers shared by the data-set loaders; not part of the public API. */
#ifndef TAU_DATASET_INTERNAL_H
#define TAU_DATASET_INTERNAL_H
#include "data/dataset.h"
#include "base/file.h"
#include <stddef.h>
#include <stdint.h>

/* Entry names (not paths) of dir, sorted; dirs != 0 keeps sub-folders, else regular files
 * with an image extension. Hidden entries are skipped. */
int tau__list_dir(const char *dir, int dirs, tau__strlist *out);
int tau__has_image_ext(const char *name);

/* Decodes paths[0..n) into a new out->pixels, setting out->n, c, h, w (channels as in
 * tau_dataset_load_image_folder). Labels and names are left to the caller. */
int tau__decode_images(char *const *paths, int64_t n, int channels, tau_dataset *out);

/* Installs names (taking ownership of the list) or, with names NULL, "0", "1", ... */
int tau__set_class_names(tau_dataset *ds, tau__strlist *names);
/* Installs copies of the count given names. */
int tau__set_fixed_names(tau_dataset *ds, const char *const *names, int count);
/* TAU_OK when split is "train" or "test", else an error naming what. */
int tau__check_split(const char *split, const char *what);

#endif
