/* parse.h - numbers from text, strictly: the whole string is the number, it
 * did not overflow, and it lies in [lo, hi].  The callers word the errors
 * (they know the key or flag as the user typed it). */
#ifndef WESAR_PARSE_H
#define WESAR_PARSE_H

int parse_integer(const char *s, long long lo, long long hi, long long *out); /* 0, or -1 */
int parse_real(const char *s, double lo, double hi, double *out);             /* 0, or -1 */
#endif
