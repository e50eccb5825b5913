/* parse.c - strict number parsing (parse.h). */
#include "parse.h"
#include <errno.h>
#include <stdlib.h>

int parse_integer(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int parse_real(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}
