/* What every Check suite of the core needs: error assertions, test cases with a generous
 * timeout, a scratch folder for file fixtures, and the run in main().
 *
 * Timeouts: Check's own 4-second default is far too tight for a shared 2-core machine or a
 * sanitizer build, so every case gets at least CHECK_TIMEOUT seconds. Check multiplies every
 * timeout by CK_TIMEOUT_MULTIPLIER (set by `make asan`); tests/run.sh also raises
 * CK_DEFAULT_TIMEOUT for anything built without this header.
 *
 * Scratch folder: check_main_scratch() makes one folder per run (on tmpfs when it can) and
 * removes it at the end, so fixtures of a failed test, whose forked process exits without
 * cleaning up, do not linger; each test makes its own sub-folder inside with scratch_make(). */
#ifndef TAU_CHECK_HELPERS_H
#define TAU_CHECK_HELPERS_H
#include "base/error.h"
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_TIMEOUT 120

/* A test case whose timeout is `seconds`, or CHECK_TIMEOUT when that is smaller. */
static inline TCase *check_tcase(const char *name, double seconds) {
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, seconds > CHECK_TIMEOUT ? seconds : CHECK_TIMEOUT);
    return tc;
}

/* rc is TAU_ERR and the core's message contains text. */
static inline void expect_error(int rc, const char *text) {
    ck_assert_int_eq(rc, TAU_ERR);
    ck_assert_msg(strstr(tau_errmsg(), text) != NULL, "message \"%s\" lacks \"%s\"", tau_errmsg(), text);
}

/* ---- scratch folders ---------------------------------------------------------------------- */

static char check_scratch_root[256]; /* one per run, made by check_main_scratch */
static char scratch_dir[512];        /* the current test's folder, made by scratch_make */

static inline int check_rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

/* Unpacking thousands of files is several times faster on tmpfs than on a busy disk. */
static inline const char *check_scratch_base(void) {
    const char *env = getenv("TAU_TEST_TMP");
    if (env && *env) return env;
    if (access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
    env = getenv("TMPDIR");
    return env && *env ? env : "/tmp";
}

static inline void scratch_make(void) {
    snprintf(scratch_dir, sizeof scratch_dir, "%s/tXXXXXX", check_scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(scratch_dir));
}

static inline void scratch_remove(void) {
    if (scratch_dir[0]) nftw(scratch_dir, check_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    scratch_dir[0] = 0;
}

/* A path under the current test's folder, printf-style, in one of a few rotating buffers. */
__attribute__((format(printf, 1, 2))) static inline const char *P(const char *fmt, ...) {
    static char bufs[8][1024];
    static int k;
    char rel[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    char *b = bufs[k++ % 8];
    snprintf(b, 1024, "%s/%s", scratch_dir, rel);
    return b;
}

static inline void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static inline void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

/* mkdir -p */
static inline void mkdirs(const char *path) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') { *s = 0; mkdir(tmp, 0755); *s = '/'; }
    mkdir(tmp, 0755);
}

/* Entries of dir, hidden ones aside. */
static inline int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- main ------------------------------------------------------------------------------------ */

/* Runs the suite; the exit status of the test program. */
static inline int check_main(Suite *s) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_main with a scratch folder named after the suite, removed at the end. */
static inline int check_main_scratch(Suite *s, const char *name) {
    snprintf(check_scratch_root, sizeof check_scratch_root, "%s/tau-%s-XXXXXX", check_scratch_base(), name);
    if (!mkdtemp(check_scratch_root)) {
        perror(check_scratch_root);
        return EXIT_FAILURE;
    }
    int rc = check_main(s);
    nftw(check_scratch_root, check_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

#endif
