/* mvec.h - glibc's libmvec has vector erff/expf (within 2 ulp); declaring them
 * SIMD lets the compiler call the vector versions from `omp simd` loops.
 * Include after <math.h>, in every file of the CPU backend that loops over
 * them, so that the same loop gives the same bits wherever it is. */
#ifndef WESAR_MVEC_H
#define WESAR_MVEC_H
#include <math.h>
#if !defined(WESAR_FP64) && defined(__GLIBC__) && defined(__x86_64__) && !defined(__clang__)
extern float erff(float) __attribute__((simd("notinbranch")));
extern float expf(float) __attribute__((simd("notinbranch")));
#endif
#endif
