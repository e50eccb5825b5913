/* clock.h - monotonic seconds, for progress lines, ETAs and timeouts. */
#ifndef WESAR_CLOCK_H
#define WESAR_CLOCK_H
#include <time.h>

static inline double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
#endif
