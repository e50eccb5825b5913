/* check.h - minimal assertions for the C unit tests: each CHECK prints its
 * failure with file:line and counts; main returns non-zero if any failed. */
#ifndef WESAR_TEST_CHECK_H
#define WESAR_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_failures, check_count;
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        check_count++;                                                          \
        if (!(cond)) {                                                          \
            check_failures++;                                                   \
            printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
            printf(__VA_ARGS__);                                                \
            printf("\n");                                                       \
        }                                                                       \
    } while (0)
#define CHECK_ERR_HAS(err, needle) \
    CHECK(strstr((err), (needle)) != NULL, "error '%s' lacks '%s'", (err), (needle))
#endif
