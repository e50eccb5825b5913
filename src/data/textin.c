/* textin.c - plain, xz, gzip or zstd text as one byte stream: a table of
 * codecs, each recognised by its magic bytes and decoded as it streams. */
#include "textin.h"
#include <errno.h>
#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

struct textin {
    FILE *f;
    char path[1024];
    const struct codec *codec;
    int done;
    union { lzma_stream xz; z_stream gz; } z;
    ZSTD_DStream *zs;
    size_t zs_owed;          /* zstd: 0 when the last frame ended, else the input it still wants */
    uint8_t in[1 << 16];
    const uint8_t *next;     /* compressed input not yet decoded: next[0 .. avail) */
    size_t avail;
    size_t consumed;         /* bytes read from the file */
    int eof;
};

/* compressed input: more of it into t->in when all is decoded; 0 at the end, -1 on an error */
static int refill(textin *t, char *err, size_t errlen) {
    if (t->avail || t->eof) return 0;
    size_t k = fread(t->in, 1, sizeof t->in, t->f);
    if (!k && ferror(t->f)) {
        snprintf(err, errlen, "%s: read error: %s", t->path, strerror(errno));
        return -1;
    }
    t->consumed += k;
    t->next = t->in;
    t->avail = k;
    t->eof = !k;
    return 0;
}

/* where decoding stands in the compressed file, for error messages */
static size_t offset(const textin *t) { return t->consumed - t->avail; }

static int bad(textin *t, const char *codec, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: %s data is %s at byte %zu of the file", t->path, codec, what, offset(t));
    return -1;
}

/* --- xz (liblzma): concatenated streams decode as one, as `xz -dc` does --- */
static int xz_start(textin *t) {
    t->z.xz = (lzma_stream)LZMA_STREAM_INIT;
    return lzma_stream_decoder(&t->z.xz, UINT64_MAX, LZMA_CONCATENATED) == LZMA_OK ? 0 : -1;
}

static long xz_read(textin *t, char *buf, size_t n, char *err, size_t errlen) {
    lzma_stream *z = &t->z.xz;
    z->next_out = (uint8_t *)buf;
    z->avail_out = n;
    while (z->avail_out == n && !t->done) {
        if (refill(t, err, errlen)) return -1;
        z->next_in = t->next;
        z->avail_in = t->avail;
        lzma_ret r = lzma_code(z, t->eof ? LZMA_FINISH : LZMA_RUN);
        t->next = z->next_in;
        t->avail = z->avail_in;
        if (r == LZMA_STREAM_END) t->done = 1;
        else if (r != LZMA_OK)
            return bad(t, "xz", r == LZMA_DATA_ERROR || r == LZMA_FORMAT_ERROR ? "corrupt"
                                : r == LZMA_BUF_ERROR ? "truncated" : "not decodable", err, errlen);
    }
    return (long)(n - z->avail_out);
}

static void xz_end(textin *t) { lzma_end(&t->z.xz); }

/* --- gzip (zlib): concatenated members decode as one, as `gzip -dc` does --- */
static int gz_start(textin *t) {
    memset(&t->z.gz, 0, sizeof t->z.gz);
    return inflateInit2(&t->z.gz, 16 + MAX_WBITS) == Z_OK ? 0 : -1; /* 16: a gzip header */
}

static long gz_read(textin *t, char *buf, size_t n, char *err, size_t errlen) {
    z_stream *z = &t->z.gz;
    z->next_out = (Bytef *)buf;
    z->avail_out = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    uInt want = z->avail_out;
    while (z->avail_out == want && !t->done) {
        if (refill(t, err, errlen)) return -1;
        if (t->eof) return bad(t, "gzip", "truncated", err, errlen); /* EOF inside a member */
        z->next_in = (Bytef *)t->next;
        z->avail_in = (uInt)t->avail;
        int r = inflate(z, Z_NO_FLUSH);
        t->next = z->next_in;
        t->avail = z->avail_in;
        if (r == Z_STREAM_END) { /* another member follows, or the end */
            if (refill(t, err, errlen)) return -1;
            if (t->eof) t->done = 1;
            else if (inflateReset(z) != Z_OK) return bad(t, "gzip", "not decodable", err, errlen);
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
            return bad(t, "gzip", r == Z_DATA_ERROR ? "corrupt" : "not decodable", err, errlen);
        }
    }
    return (long)(want - z->avail_out);
}

static void gz_end(textin *t) { inflateEnd(&t->z.gz); }

/* --- zstd (libzstd): frames follow each other as `zstd -dc` reads them --- */
static int zs_start(textin *t) {
    t->zs = ZSTD_createDStream();
    return t->zs && !ZSTD_isError(ZSTD_initDStream(t->zs)) ? 0 : -1;
}

static long zs_read(textin *t, char *buf, size_t n, char *err, size_t errlen) {
    ZSTD_outBuffer out = {buf, n, 0};
    while (!out.pos && !t->done) {
        if (refill(t, err, errlen)) return -1;
        if (t->eof) {
            if (t->zs_owed) return bad(t, "zstd", "truncated", err, errlen);
            t->done = 1;
            break;
        }
        ZSTD_inBuffer in = {t->next, t->avail, 0};
        size_t hint = ZSTD_decompressStream(t->zs, &out, &in);
        t->next += in.pos;
        t->avail -= in.pos;
        t->zs_owed = hint;
        if (ZSTD_isError(hint)) {
            snprintf(err, errlen, "%s: zstd data is corrupt at byte %zu of the file (%s)", t->path, offset(t),
                     ZSTD_getErrorName(hint));
            return -1;
        }
    }
    return (long)out.pos;
}

static void zs_end(textin *t) { ZSTD_freeDStream(t->zs); }

typedef struct codec {
    const char *name;
    uint8_t magic[6];
    size_t magic_len;
    int (*start)(textin *t);
    long (*read)(textin *t, char *buf, size_t n, char *err, size_t errlen);
    void (*end)(textin *t);
} codec;

static const codec CODECS[] = {
    {"xz", {0xfd, '7', 'z', 'X', 'Z', 0}, 6, xz_start, xz_read, xz_end},
    {"gzip", {0x1f, 0x8b}, 2, gz_start, gz_read, gz_end},
    {"zstd", {0x28, 0xb5, 0x2f, 0xfd}, 4, zs_start, zs_read, zs_end},
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
    uint8_t head[6];
    size_t k = fread(head, 1, sizeof head, t->f);
    rewind(t->f);
    for (size_t i = 0; i < sizeof CODECS / sizeof *CODECS && !t->codec; i++)
        if (k >= CODECS[i].magic_len && !memcmp(head, CODECS[i].magic, CODECS[i].magic_len)) t->codec = &CODECS[i];
    if (t->codec && t->codec->start(t)) {
        snprintf(err, errlen, "%s: cannot start the %s decoder (out of memory?)", path, t->codec->name);
        fclose(t->f);
        free(t);
        return NULL;
    }
    return t;
}

long textin_read(textin *t, char *buf, size_t n, char *err, size_t errlen) {
    if (t->codec) return t->done ? 0 : t->codec->read(t, buf, n, err, errlen);
    size_t k = fread(buf, 1, n, t->f);
    t->consumed += k;
    if (!k && ferror(t->f)) {
        snprintf(err, errlen, "%s: read error: %s", t->path, strerror(errno));
        return -1;
    }
    return (long)k;
}

size_t textin_consumed(const textin *t) { return t->consumed; }
const char *textin_codec(const textin *t) { return t->codec ? t->codec->name : "plain"; }

void textin_close(textin *t) {
    if (!t) return;
    if (t->codec) t->codec->end(t);
    fclose(t->f);
    free(t);
}
