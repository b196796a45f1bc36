/* File and string helpers for the loaders: paths, whole-file reads, sorted name lists. */
#include "base/file.h"
#include "base/alloc.h"
#include "base/error.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tau__pathf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { tau_fail("out of memory"); return NULL; }
    char *s = malloc((size_t)n + 1);
    if (!s) { tau_fail("out of memory"); return NULL; }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *tau__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) { tau_fail("out of memory"); return NULL; }
    return memcpy(d, s, n);
}

int tau__is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tau__is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tau__read_file(const char *path, uint8_t **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tau_fail("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tau_fail("cannot read '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tau_fail("cannot read '%s': %s", path,
                        S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    uint8_t *p = malloc(size + 1);
    if (!p) { close(fd); return tau_fail("out of memory reading '%s' (%zu bytes)", path, size); }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(p);
            close(fd);
            return tau_fail("cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0) break;   /* shrank while we read: report what we got */
        got += (size_t)r;
    }
    close(fd);
    p[got] = 0;
    *buf = p;
    *len = got;
    return TAU_OK;
}

int tau__strlist_push(tau__strlist *l, char *s) {
    if (!s) return TAU_ERR;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) { free(s); return tau_fail("out of memory"); }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return TAU_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void tau__strlist_sort(tau__strlist *l) {
    if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

void tau__strlist_free(tau__strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int tau__text_lines(char *text, tau__strlist *out) {
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        line[n] = 0;
        if (!n) continue;
        if (tau__strlist_push(out, tau__strdup(line)) != TAU_OK) return TAU_ERR;
    }
    return TAU_OK;
}
