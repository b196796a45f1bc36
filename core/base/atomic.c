#include "base/atomic.h"
#include "base/error.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkstemp creates files with mode 0600; a saved checkpoint or figure should get the mode an
 * ordinary fopen would give. umask() can only be read by changing it, which races with other
 * threads, so read it from /proc instead (Linux >= 4.7) and fall back to the common 022. */
static mode_t current_umask(void) {
    mode_t m = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return m;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Umask:", 6) == 0) {
            m = (mode_t)strtoul(line + 6, NULL, 8);
            break;
        }
    }
    fclose(f);
    return m;
}

static void release(tau_atomic_file *af, int remove_tmp) {
    if (af->f) fclose(af->f);
    if (remove_tmp && af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    af->f = NULL;
    af->tmp = af->path = NULL;
}

int tau_atomic_open(tau_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (!path || !*path) return tau_fail("atomic write: empty file name");
    size_t n = strlen(path);
    af->path = malloc(n + 1);
    af->tmp = malloc(n + 12);
    if (!af->path || !af->tmp) {
        release(af, 0);
        return tau_fail("out of memory");
    }
    memcpy(af->path, path, n + 1);
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp.XXXXXX", 12);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int e = errno;
        free(af->tmp);
        af->tmp = NULL;
        release(af, 0);
        return tau_fail("cannot write '%s': cannot create a temporary file beside it: %s", path,
                        strerror(e));
    }
    if (fchmod(fd, 0666 & ~current_umask()) != 0) { /* not fatal: the file stays 0600 */ }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        release(af, 1);
        return tau_fail("cannot write '%s': %s", path, strerror(e));
    }
    return TAU_OK;
}

int tau_atomic_put(tau_atomic_file *af, const void *data, size_t n) {
    if (!af->f) return tau_fail("atomic write: file is not open");
    if (n && fwrite(data, 1, n, af->f) != n)
        return tau_fail("cannot write '%s': %s", af->path, strerror(errno ? errno : EIO));
    return TAU_OK;
}

int tau_atomic_commit(tau_atomic_file *af) {
    if (!af->f) {
        release(af, 1);
        return tau_fail("atomic write: file is not open");
    }
    const char *step = "write";
    int e = 0;
    if (fflush(af->f) != 0) e = errno;
    else if (fsync(fileno(af->f)) != 0) { e = errno; step = "fsync"; }
    FILE *f = af->f;
    af->f = NULL;
    if (fclose(f) != 0 && !e) e = errno;
    if (!e && rename(af->tmp, af->path) != 0) { e = errno; step = "rename"; }
    if (e) {
        int r = tau_fail("cannot write '%s': %s failed: %s", af->path, step, strerror(e));
        release(af, 1);
        return r;
    }
    /* Make the rename itself durable; a failure here leaves a complete file either way. */
    char *slash = strrchr(af->path, '/');
    const char *dir = ".";
    if (slash) {
        if (slash == af->path) dir = "/";
        else { *slash = '\0'; dir = af->path; }
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    release(af, 0);
    return TAU_OK;
}

void tau_atomic_abort(tau_atomic_file *af) { release(af, 1); }

int tau_atomic_write(const char *path, const void *data, size_t n) {
    tau_atomic_file af;
    if (tau_atomic_open(&af, path) != TAU_OK) return TAU_ERR;
    if (tau_atomic_put(&af, data, n) != TAU_OK) {
        tau_atomic_abort(&af);
        return TAU_ERR;
    }
    return tau_atomic_commit(&af);
}
