/* blas_limit.h - OpenBLAS under a virtual memory limit (ulimit -v).
 *
 * OpenBLAS reserves a 129 MiB buffer per thread in its start-up code, which
 * runs before main(); where the limit cannot hold them it retries forever at
 * 100 % CPU.  blas_limit_preinit runs earlier still (the executable's
 * .preinit_array, ahead of every library's initializer): it sets the thread
 * count to what fits, or, where not even one thread fits, ends the process
 * with a message.  kernels_set_threads never goes above blas_limit_threads. */
#ifndef WESAR_BLAS_LIMIT_H
#define WESAR_BLAS_LIMIT_H

/* For main.c's .preinit_array entry. */
void blas_limit_preinit(int argc, char **argv, char **envp);
/* The most threads that fit the limit; 0 when there is no limit. */
int blas_limit_threads(void);
#endif
