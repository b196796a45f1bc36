/* File and string helpers shared by the data loaders and image I/O; internal to the core.
 * Failures set the message (tau_fail) and return TAU_ERR or NULL. */
#ifndef TAU_FILE_H
#define TAU_FILE_H
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

/* Splits text into non-empty lines with trailing white space removed. Modifies text. */
int tau__text_lines(char *text, tau__strlist *out);

#endif
