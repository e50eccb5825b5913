/* prepare.c - tokenize a text file into llm.c shards, split train/val. */
#include "prepare.h"
#include "../util/fileio.h"
#include "shard.h"
#include "tokenizer.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The last offset p in text[0..n) where encoding may stop and restart with
 * the same ids as encoding the whole: a space between a printable ASCII
 * character and an ASCII letter or digit ("word| Next").  GPT-2's regex ends
 * a chunk at the printable character (no alternative takes a space after
 * it) and starts " Next" at the space either way; for bytes any cut works.
 * 0 if there is none. */
static size_t cut_point(const char *text, size_t n) {
    for (size_t p = n < 3 ? 0 : n - 2; p >= 1; p--) {
        unsigned char a = (unsigned char)text[p - 1], c = (unsigned char)text[p + 1];
        int alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (text[p] == ' ' && a > 0x20 && a < 0x7f && alnum) return p;
    }
    return 0;
}

int prepare_text(const char *in_path, const char *out_dir, const prepare_opts *o,
                 char *err, size_t errlen) {
    if (!(o->val_fraction > 0 && o->val_fraction < 1)) {
        snprintf(err, errlen, "--val-fraction: expected a number in (0, 1), got %g", o->val_fraction);
        return -1;
    }
    tokenizer *tk = tokenizer_open(o->tokenizer, o->tokenizer_path, err, errlen);
    if (!tk) return -1;
    FILE *f = fopen(in_path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", in_path, strerror(errno));
        tokenizer_free(tk);
        return -1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tok_buf toks = {0};
    int rc = tok_buf_push(&toks, tk->eot); /* every document starts with end-of-text, as llm.c */
    /* The file is read in blocks, and each block is encoded up to its last
     * safe cut (cut_point); the rest is carried into the next block, so the
     * ids equal those of encoding the whole text at once. */
    enum { BLOCK = 1 << 16 };
    char *buf = malloc(2 * BLOCK);
    size_t n, total = 0, have = 0;
    if (!buf) rc = -1;
    while (!rc && (n = fread(buf + have, 1, 2 * BLOCK - have, f)) > 0) {
        have += n;
        total += n;
        size_t cut = feof(f) ? have : cut_point(buf, have);
        if (!cut && have == 2 * BLOCK) cut = have; /* no cut in 128 kB: an extra chunk boundary */
        rc = tk->encode(tk, buf, cut, &toks);
        memmove(buf, buf + cut, have - cut);
        have -= cut;
    }
    if (!rc && have) rc = tk->encode(tk, buf, have, &toks);
    free(buf);
    if (ferror(f)) { snprintf(err, errlen, "%s: read error", in_path); rc = -1; }
    else if (rc) snprintf(err, errlen, "%s: out of memory while tokenizing", in_path);
    fclose(f);
    if (!rc && total == 0) { snprintf(err, errlen, "%s: empty file, nothing to prepare", in_path); rc = -1; }
    size_t n_val = (size_t)(toks.n * o->val_fraction);
    if (!rc && (n_val < 2 || toks.n - n_val < 2)) {
        snprintf(err, errlen, "%s: %zu tokens are too few to split with --val-fraction %g", in_path,
                 toks.n, o->val_fraction);
        rc = -1;
    }
    char path[1100];
    if (!rc) rc = make_dir(out_dir, err, errlen);
    if (!rc) {
        snprintf(path, sizeof path, "%s/train_000000.bin", out_dir);
        rc = shard_write(path, toks.ids, toks.n - n_val, (uint32_t)tk->vocab_size - 1, err, errlen);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/val_000000.bin", out_dir);
        rc = shard_write(path, toks.ids + toks.n - n_val, n_val, (uint32_t)tk->vocab_size - 1, err, errlen);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/meta.json", out_dir);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "tokenizer", tk->name);
        cJSON_AddNumberToObject(j, "vocab_size", tk->vocab_size);
        cJSON_AddNumberToObject(j, "eot", tk->eot);
        cJSON_AddStringToObject(j, "source", in_path);
        cJSON_AddNumberToObject(j, "train_tokens", (double)(toks.n - n_val));
        cJSON_AddNumberToObject(j, "val_tokens", (double)n_val);
        char *meta = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        size_t len = meta ? strlen(meta) : 0;
        atomic_file af;
        rc = atomic_open(&af, path, err, errlen);
        if (!rc) rc = atomic_commit(&af, meta ? atomic_write(&af, meta, len) : -1, err, errlen);
        free(meta);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    if (!rc && !o->quiet)
        printf("prepared %s: %zu bytes -> %zu train + %zu val tokens (%s, vocab %d) in %s "
               "[%.1f MB/s]\n",
               in_path, total, toks.n - n_val, n_val, tk->name, tk->vocab_size, out_dir,
               total / 1e6 / (sec > 1e-9 ? sec : 1e-9));
    tok_buf_free(&toks);
    tokenizer_free(tk);
    return rc;
}
