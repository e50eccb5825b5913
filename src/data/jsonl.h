/* jsonl.h - JSON lines whose objects carry a "text" string (prepare's
 * documents, LAMBADA's examples), read line by line as they stream. */
#ifndef WESAR_JSONL_H
#define WESAR_JSONL_H
#include "textin.h"
#include <stddef.h>

/* 0: go on; 1: stop here (not an error); -1: an error, written to err */
typedef int (*jsonl_fn)(void *ctx, const char *text, size_t lineno, char *err, size_t errlen);

/* Calls fn with the "text" of every line that is not blank.  A line that is
 * not an object with a string "text" is an error naming PATH:LINE; so is a
 * line over 256 MB.  0 at the end (or when fn stops), -1 on an error. */
int jsonl_texts(textin *in, const char *path, jsonl_fn fn, void *ctx, char *err, size_t errlen);
#endif
