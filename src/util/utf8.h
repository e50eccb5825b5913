/* utf8.h - strict UTF-8 validation (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), as PCRE2 and Python's decoder apply. */
#ifndef WESAR_UTF8_H
#define WESAR_UTF8_H
#include <stddef.h>

/* The offset of the first byte that does not start a valid sequence, or n
 * when all of s[0..n) is valid UTF-8. */
size_t utf8_invalid_at(const char *s, size_t n);
#endif
