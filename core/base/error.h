/* Error reporting for the core: a function that fails returns TAU_ERR (-1) after recording a
 * message with tau_fail(); the caller (a binding) reads it with tau_errmsg(). The core never
 * exits or aborts on user input. */
#ifndef TAU_ERROR_H
#define TAU_ERROR_H
#include "base/api.h"
#include <signal.h>

#define TAU_OK 0
#define TAU_ERR (-1)

/* Records a printf-style message (thread-local) and returns TAU_ERR. */
TAU_API int tau_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
TAU_API const char *tau_errmsg(void);

/* Set asynchronously (SIGINT in the interpreter); long kernels poll it at check points and
 * fail with "interrupted". The binding clears it before each call. */
extern TAU_API volatile sig_atomic_t tau_interrupted;
#define TAU_CHECK_INTERRUPT() \
    do { if (tau_interrupted) return tau_fail("interrupted"); } while (0)

#endif
