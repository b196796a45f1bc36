/* TAU_API marks the public C API: tau.so is built with -fvisibility=hidden, so a function
 * leaves the library only when its declaration carries this mark (see core/tau.h). */
#ifndef TAU_API_H
#define TAU_API_H
#define TAU_API __attribute__((visibility("default")))
#endif
