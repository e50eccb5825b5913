/* fuzz_common.h - helpers for the libFuzzer targets: the parsers under test
 * read files, so each input is written to a private temporary file first. */
#ifndef WESAR_FUZZ_COMMON_H
#define WESAR_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The input as a file; returns its path (static storage). */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/wesar_fuzz_%d%s", dir, (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

/* Writes n bytes to path (a part of an input that a reader takes as a file). */
static inline void fuzz_put(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* A private directory for inputs that are several files, made once per
 * process: TMPDIR/wesar_fuzz_NAME_PID (static storage). */
static inline const char *fuzz_dir(const char *name) {
    static char dir[256];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, sizeof dir, "%s/wesar_fuzz_%s_%d", tmp, name, (int)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

/* Splits an input at \x01 bytes into at most k parts (the last one keeps
 * any further \x01); returns how many parts there are.  Parts past those
 * are empty. */
static inline int fuzz_split(const uint8_t *data, size_t size, int k, const uint8_t **part, size_t *len) {
    int n = 1;
    part[0] = data;
    len[0] = size;
    while (n < k) {
        const uint8_t *sep = memchr(part[n - 1], 1, len[n - 1]);
        if (!sep) break;
        part[n] = sep + 1;
        len[n] = (size_t)(part[n - 1] + len[n - 1] - part[n]);
        len[n - 1] = (size_t)(sep - part[n - 1]);
        n++;
    }
    for (int i = n; i < k; i++) {
        part[i] = data + size;
        len[i] = 0;
    }
    return n;
}

/* The input as a NUL-terminated string (free() it). */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* An error message must be one printable line that names something. */
static inline void fuzz_check_error(const char *err) {
    if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "bad error message: '%s'\n", err);
        abort();
    }
}
#endif
