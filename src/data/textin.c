/* textin.c - plain or xz-compressed text as one byte stream. */
#include "textin.h"
#include <errno.h>
#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct textin {
    FILE *f;
    char path[1024];
    int xz, done;
    lzma_stream z;
    uint8_t in[1 << 16];
    size_t consumed;
};

textin *textin_open(const char *path, char *err, size_t errlen) {
    textin *t = calloc(1, sizeof *t);
    if (!t) { snprintf(err, errlen, "out of memory"); return NULL; }
    snprintf(t->path, sizeof t->path, "%s", path);
    t->f = fopen(path, "rb");
    if (!t->f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        free(t);
        return NULL;
    }
    static const uint8_t magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
    uint8_t head[6];
    size_t k = fread(head, 1, 6, t->f);
    t->xz = k == 6 && !memcmp(head, magic, 6);
    rewind(t->f);
    if (t->xz) {
        t->z = (lzma_stream)LZMA_STREAM_INIT;
        /* concatenated .xz streams decode as one, as `xz -dc` does */
        if (lzma_stream_decoder(&t->z, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
            snprintf(err, errlen, "%s: cannot start the xz decoder", path);
            fclose(t->f);
            free(t);
            return NULL;
        }
    }
    return t;
}

long textin_read(textin *t, char *buf, size_t n, char *err, size_t errlen) {
    if (!t->xz) {
        size_t k = fread(buf, 1, n, t->f);
        t->consumed += k;
        if (!k && ferror(t->f)) {
            snprintf(err, errlen, "%s: read error: %s", t->path, strerror(errno));
            return -1;
        }
        return (long)k;
    }
    if (t->done) return 0;
    t->z.next_out = (uint8_t *)buf;
    t->z.avail_out = n;
    while (t->z.avail_out == n) {
        lzma_action act = LZMA_RUN;
        if (!t->z.avail_in) {
            size_t k = fread(t->in, 1, sizeof t->in, t->f);
            if (!k && ferror(t->f)) {
                snprintf(err, errlen, "%s: read error: %s", t->path, strerror(errno));
                return -1;
            }
            t->consumed += k;
            t->z.next_in = t->in;
            t->z.avail_in = k;
            if (!k) act = LZMA_FINISH;
        }
        lzma_ret r = lzma_code(&t->z, act);
        if (r == LZMA_STREAM_END) { t->done = 1; break; }
        if (r != LZMA_OK) {
            snprintf(err, errlen, "%s: xz data is %s (lzma error %d)", t->path,
                     r == LZMA_DATA_ERROR || r == LZMA_FORMAT_ERROR ? "corrupt"
                     : r == LZMA_BUF_ERROR ? "truncated" : "not decodable", (int)r);
            return -1;
        }
    }
    return (long)(n - t->z.avail_out);
}

size_t textin_consumed(const textin *t) { return t->consumed; }
int textin_is_xz(const textin *t) { return t->xz; }

void textin_close(textin *t) {
    if (!t) return;
    if (t->xz) lzma_end(&t->z);
    fclose(t->f);
    free(t);
}
