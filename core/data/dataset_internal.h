/* Helpers shared by the data-set loaders and image I/O; not part of the public API. */
#ifndef TAU_DATASET_INTERNAL_H
#define TAU_DATASET_INTERNAL_H
#include "data/dataset.h"
#include <stddef.h>
#include <stdint.h>

/* malloc'ed printf result; NULL (after tau_fail "out of memory") on failure. */
char *tau__pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *tau__strdup(const char *s);

/* Whole file into a malloc'ed buffer (one spare NUL byte after the end for text parsing). */
int tau__read_file(const char *path, uint8_t **buf, size_t *len);
int tau__is_dir(const char *path);
int tau__is_file(const char *path);

typedef struct { char **v; size_t n, cap; } tau__strlist;
int tau__strlist_push(tau__strlist *l, char *s);     /* takes ownership of s, even on failure */
void tau__strlist_sort(tau__strlist *l);
void tau__strlist_free(tau__strlist *l);

/* Entry names (not paths) of dir, sorted; dirs != 0 keeps sub-folders, else regular files
 * with an image extension. Hidden entries are skipped. */
int tau__list_dir(const char *dir, int dirs, tau__strlist *out);
int tau__has_image_ext(const char *name);

/* Decodes paths[0..n) into a new out->pixels, setting out->n, c, h, w (channels as in
 * tau_dataset_load_image_folder). Labels and names are left to the caller. */
int tau__decode_images(char *const *paths, int64_t n, int channels, tau_dataset *out);

/* Splits text into non-empty lines with trailing white space removed. Modifies text. */
int tau__text_lines(char *text, tau__strlist *out);

/* Installs names (taking ownership of the list) or, with names NULL, "0", "1", ... */
int tau__set_class_names(tau_dataset *ds, tau__strlist *names);

#endif
