/* shard.c - reading, validating and writing llm.c token shards. */
#define _GNU_SOURCE
#include "shard.h"
#include "../util/fileio.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int shard_open(shard *s, const char *path, int vocab_size, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    size_t hb = SHARD_HEADER_INTS * sizeof(int32_t);
    if ((size_t)st.st_size < hb) {
        close(fd);
        snprintf(err, errlen, "%s: truncated header: %lld bytes, expected at least %zu", path,
                 (long long)st.st_size, hb);
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) { snprintf(err, errlen, "%s: mmap failed: %s", path, strerror(errno)); return -1; }
    s->map = map;
    s->map_len = (size_t)st.st_size;
    const int32_t *h = map;
    if (h[0] != SHARD_MAGIC) {
        snprintf(err, errlen, "%s: header magic is %d, expected %d (an llm.c token shard)", path,
                 h[0], SHARD_MAGIC);
        goto fail;
    }
    if (h[1] != 1 && h[1] != 2) {
        snprintf(err, errlen, "%s: header version is %d, expected 1 (uint16 tokens) or 2 (uint32)",
                 path, h[1]);
        goto fail;
    }
    s->version = h[1];
    if (h[2] < 0) { snprintf(err, errlen, "%s: header token count is %d, expected >= 0", path, h[2]); goto fail; }
    s->n_tokens = (size_t)(uint32_t)h[2];
    size_t width = s->version == 1 ? 2 : 4, want = hb + s->n_tokens * width;
    if (s->map_len != want) {
        snprintf(err, errlen, "%s: file is %zu bytes, but the header's %zu tokens of %zu bytes need %zu",
                 path, s->map_len, s->n_tokens, width, want);
        goto fail;
    }
    s->tokens = (const char *)map + hb;
    if (vocab_size > 0) {
        size_t bad = (size_t)-1;
#pragma omp parallel for reduction(min : bad)
        for (size_t i = 0; i < s->n_tokens; i++)
            if (shard_token(s, i) >= (uint32_t)vocab_size && i < bad) bad = i;
        if (bad != (size_t)-1) {
            snprintf(err, errlen, "%s: token %zu has id %u, expected < vocab_size %d (wrong tokenizer?)",
                     path, bad, shard_token(s, bad), vocab_size);
            goto fail;
        }
    }
    return 0;
fail:
    munmap(map, s->map_len);
    s->map = NULL;
    return -1;
}

void shard_close(shard *s) {
    if (s->map) munmap(s->map, s->map_len);
    s->map = NULL;
}

/* the ids come from tok, or from src (uint32, read in chunks) when tok is NULL */
static int write_shard(const char *path, const uint32_t *tok, FILE *src, size_t n, uint32_t max_token,
                       char *err, size_t errlen) {
    if (n > INT32_MAX) { snprintf(err, errlen, "%s: %zu tokens do not fit one shard (max %d)", path, n, INT32_MAX); return -1; }
    int32_t h[SHARD_HEADER_INTS] = {0};
    h[0] = SHARD_MAGIC;
    h[1] = max_token <= UINT16_MAX ? 1 : 2;
    h[2] = (int32_t)n;
    atomic_file f;
    if (atomic_open(&f, path, err, errlen)) return -1;
    int rc = atomic_write(&f, h, sizeof h);
    enum { CHUNK = 1 << 14 };
    uint32_t in[CHUNK];
    uint16_t narrow[CHUNK];
    for (size_t i = 0; i < n && !rc; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        const uint32_t *t = tok ? tok + i : in;
        if (!tok && fread(in, sizeof *in, k, src) != k) {
            snprintf(err, errlen, "%s: cannot read back the tokenized text: %s", path,
                     ferror(src) ? strerror(errno) : "short file");
            atomic_commit(&f, -1, NULL, 0);
            return -1;
        }
        if (h[1] == 1) {
            for (size_t j = 0; j < k; j++) narrow[j] = (uint16_t)t[j];
            rc = atomic_write(&f, narrow, k * sizeof *narrow);
        } else {
            rc = atomic_write(&f, t, k * sizeof *t);
        }
    }
    return atomic_commit(&f, rc, err, errlen);
}

int shard_write(const char *path, const uint32_t *tok, size_t n, uint32_t max_token,
                char *err, size_t errlen) {
    return write_shard(path, tok, NULL, n, max_token, err, errlen);
}

int shard_write_from(const char *path, FILE *src, size_t n, uint32_t max_token, char *err, size_t errlen) {
    return write_shard(path, NULL, src, n, max_token, err, errlen);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dataset_open(dataset *d, const char *pattern, const char *split, int vocab_size,
                 char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    char **names = NULL;
    size_t n = 0;
    struct stat st;
    if (!stat(pattern, &st) && S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(pattern);
        if (!dir) { snprintf(err, errlen, "%s: cannot open directory: %s", pattern, strerror(errno)); return -1; }
        struct dirent *e;
        while ((e = readdir(dir))) {
            size_t L = strlen(e->d_name);
            if (L < 4 || strcmp(e->d_name + L - 4, ".bin") || !strstr(e->d_name, split)) continue;
            char **nn = realloc(names, (n + 1) * sizeof *names);
            if (!nn) break;
            names = nn;
            if (asprintf(&names[n], "%s/%s", pattern, e->d_name) < 0) break;
            n++;
        }
        closedir(dir);
        if (!n) {
            snprintf(err, errlen, "%s: no %s shards (*%s*.bin) in this directory (run `wesar prepare` first)",
                     pattern, split, split);
            free(names);
            return -1;
        }
    } else {
        glob_t g;
        int gr = glob(pattern, 0, NULL, &g);
        if (gr || !g.gl_pathc) {
            snprintf(err, errlen, "%s: no such shard file or directory", pattern);
            globfree(&g);
            return -1;
        }
        names = calloc(g.gl_pathc, sizeof *names);
        for (size_t i = 0; names && i < g.gl_pathc; i++) names[n++] = strdup(g.gl_pathv[i]);
        globfree(&g);
    }
    qsort(names, n, sizeof *names, cmp_str);
    d->shards = calloc(n, sizeof *d->shards);
    int rc = d->shards ? 0 : -1;
    if (rc) snprintf(err, errlen, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        rc = shard_open(&d->shards[i], names[i], vocab_size, err, errlen);
        if (!rc) { d->n_shards++; d->n_tokens += d->shards[i].n_tokens; }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc) dataset_close(d);
    return rc;
}

void dataset_close(dataset *d) {
    for (int i = 0; i < d->n_shards; i++) shard_close(&d->shards[i]);
    free(d->shards);
    memset(d, 0, sizeof *d);
}

static void fill_window(const shard *s, size_t pos, int T, int32_t *inp, int32_t *tgt) {
    for (int t = 0; t < T; t++) {
        inp[t] = (int32_t)shard_token(s, pos + t);
        tgt[t] = (int32_t)shard_token(s, pos + t + 1);
    }
}

int dataset_sample(const dataset *d, rng_t *r, int B, int T, int32_t *inp, int32_t *tgt) {
    return dataset_sample_part(d, r, B, 0, B, T, inp, tgt);
}

int dataset_sample_part(const dataset *d, rng_t *r, int n, int first, int count, int T, int32_t *inp,
                        int32_t *tgt) {
    size_t usable = 0;
    for (int i = 0; i < d->n_shards; i++)
        if (d->shards[i].n_tokens > (size_t)T) usable += d->shards[i].n_tokens - T;
    if (!usable) return -1;
    for (int b = 0; b < n; b++) {
        size_t u = rng_below(r, usable); /* drawn for every window, so r moves the same on all ranks */
        if (b < first || b >= first + count) continue;
        size_t o = (size_t)(b - first) * T;
        for (int i = 0; i < d->n_shards; i++) {
            size_t k = d->shards[i].n_tokens > (size_t)T ? d->shards[i].n_tokens - T : 0;
            if (u < k) { fill_window(&d->shards[i], u, T, inp + o, tgt + o); break; }
            u -= k;
        }
    }
    return 0;
}

size_t dataset_num_sequential(const dataset *d, int B, int T) {
    size_t w = 0;
    for (int i = 0; i < d->n_shards; i++)
        if (d->shards[i].n_tokens > 0) w += (d->shards[i].n_tokens - 1) / T;
    return w / B;
}

int dataset_sequential(const dataset *d, size_t idx, int B, int T, int32_t *inp, int32_t *tgt) {
    if (idx >= dataset_num_sequential(d, B, T)) return 0;
    size_t want = idx * B;
    int b = 0;
    for (int i = 0; i < d->n_shards && b < B; i++) {
        size_t w = d->shards[i].n_tokens > 0 ? (d->shards[i].n_tokens - 1) / T : 0;
        for (size_t j = 0; j < w && b < B; j++) {
            if (want) { want--; continue; }
            fill_window(&d->shards[i], j * T, T, inp + (size_t)b * T, tgt + (size_t)b * T);
            b++;
        }
    }
    return b == B;
}
