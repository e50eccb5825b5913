/* jsonl.c - the "text" fields of a JSON lines stream. */
#include "jsonl.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 1 << 17, MAX_LINE = 1 << 28 };

/* one line: skipped if blank (JSON whitespace), else its "text" to fn */
static int one_line(const char *line, size_t len, const char *path, size_t lineno, jsonl_fn fn, void *ctx,
                    char *err, size_t errlen) {
    size_t s = 0;
    while (s < len && (line[s] == ' ' || line[s] == '\t' || line[s] == '\r')) s++;
    if (s == len) return 0;
    cJSON *j = cJSON_ParseWithLength(line, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
    int rc;
    if (!cJSON_IsString(t)) {
        snprintf(err, errlen, "%s:%zu: expected a JSON object with a string field \"text\"%s", path, lineno,
                 j ? "" : " (the line is not valid JSON)");
        rc = -1;
    } else {
        rc = fn(ctx, t->valuestring, lineno, err, errlen);
    }
    cJSON_Delete(j);
    return rc;
}

int jsonl_texts(textin *in, const char *path, jsonl_fn fn, void *ctx, char *err, size_t errlen) {
    char *buf = malloc(CHUNK), *line = NULL;
    size_t len = 0, cap = 0, have = 0, pos = 0, lineno = 0;
    int rc = buf ? 0 : -1, eof = 0;
    if (!buf) snprintf(err, errlen, "out of memory");
    while (!rc) {
        char *nl = memchr(buf + pos, '\n', have - pos);
        size_t take = nl ? (size_t)(nl - (buf + pos)) : have - pos;
        if (len + take + 1 > cap) { /* the line so far, as one piece */
            cap = 2 * (len + take + 1);
            char *q = len + take + 1 > MAX_LINE ? NULL : realloc(line, cap);
            if (!q) {
                snprintf(err, errlen, "%s:%zu: line longer than %d MB", path, lineno + 1, MAX_LINE >> 20);
                rc = -1;
                break;
            }
            line = q;
        }
        memcpy(line + len, buf + pos, take);
        len += take;
        pos += take + (nl != NULL);
        if (!nl && !eof) { /* refill */
            long n = textin_read(in, buf, CHUNK, err, errlen);
            if (n < 0) { rc = -1; break; }
            have = (size_t)n;
            pos = 0;
            eof = n == 0;
            continue;
        }
        rc = one_line(line, len, path, ++lineno, fn, ctx, err, errlen);
        len = 0;
        if (!nl && eof) break;
    }
    free(buf);
    free(line);
    return rc < 0 ? -1 : 0;
}
