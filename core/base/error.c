#include "base/error.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errbuf[1024];
volatile sig_atomic_t tau_interrupted = 0;

int tau_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return TAU_ERR;
}

const char *tau_errmsg(void) { return errbuf[0] ? errbuf : "unknown error"; }
