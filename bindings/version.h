/* The one version number of tau: the library reports it as tau.version and tau._VERSION,
 * `bin/tau -v` prints it, result files record it. */
#ifndef TAU_VERSION_H
#define TAU_VERSION_H
#define TAU_VERSION "0.1.0"
#endif
