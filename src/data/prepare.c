/* prepare.c - tokenize text files, folders and JSON lines into llm.c shards. */
#define _GNU_SOURCE
#include "prepare.h"
#include "../util/fileio.h"
#include "jsonl.h"
#include "shard.h"
#include "textin.h"
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "tokenizer.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { BLOCK = 1 << 17, SPILL_AT = 1 << 20 };

typedef struct {
    tokenizer *tk;
    const prepare_opts *o;
    tok_buf toks;                /* ids not yet spilled */
    FILE *spill;                 /* every id so far, uint32 */
    char spill_path[1100];
    size_t n_tokens, n_docs, text_bytes;
    size_t raw_done, raw_total;  /* input bytes on disk: done with / in all */
    double t0, last_shown;
    int tty;
    struct stat out;             /* OUTDIR, once it exists: walks skip it */
    pcre2_code *boundary;        /* --doc-boundary, or NULL */
    pcre2_match_data *bmatch;
    int have_out;
    char *err;
    size_t errlen;
} prep;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void progress(prep *p, const textin *in, int final) {
    if (p->o->quiet) return;
    double t = now();
    if (!final && t - p->last_shown < (p->tty ? 0.25 : 10.0)) return;
    p->last_shown = t;
    size_t done = p->raw_done + (in ? textin_consumed(in) : 0);
    double frac = p->raw_total ? (double)done / p->raw_total : 1, sec = t - p->t0;
    char bar[31];
    int fill = (int)(frac * 30 + 0.5);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "%sprepare [%s] %5.1f%%  %.1f MB text  %zu docs  %.2fM tokens  %.1f MB/s%s",
            p->tty ? "\r" : "", bar, 100 * (frac > 1 ? 1 : frac), p->text_bytes / 1e6, p->n_docs,
            (p->n_tokens + p->toks.n) / 1e6, p->text_bytes / 1e6 / (sec > 1e-9 ? sec : 1e-9),
            p->tty && !final ? "" : "\n");
    fflush(stderr);
}

static int spill(prep *p) {
    if (p->toks.n && fwrite(p->toks.ids, sizeof *p->toks.ids, p->toks.n, p->spill) != p->toks.n) {
        snprintf(p->err, p->errlen, "%s: write failed: %s", p->spill_path, strerror(errno));
        return -1;
    }
    p->n_tokens += p->toks.n;
    p->toks.n = 0;
    return 0;
}

static int encode(prep *p, const char *path, const char *text, size_t n, int cont) {
    if (p->tk->encode(p->tk, text, n, cont, &p->toks)) {
        snprintf(p->err, p->errlen, "%s: out of memory while tokenizing", path);
        return -1;
    }
    p->text_bytes += n;
    return p->toks.n >= SPILL_AT ? spill(p) : 0;
}

static int start_doc(prep *p) {
    p->n_docs++;
    if (!tok_buf_push(&p->toks, p->tk->eot)) return 0; /* every document starts with it, as in llm.c */
    snprintf(p->err, p->errlen, "out of memory");
    return -1;
}

/* The last offset p in text[0..n) where encoding may stop and restart with
 * the same ids as encoding the whole: a space between a printable ASCII
 * character and an ASCII letter or digit ("word| Next").  GPT-2's regex ends
 * a chunk at the printable character (no alternative takes a space after
 * it) and starts " Next" at the space either way; no SentencePiece piece
 * spans "d▁" (pieces start at a space), and the continuation gets no dummy
 * prefix; for bytes any cut works.  0 if there is none. */
static size_t cut_point(const char *text, size_t n) {
    for (size_t p = n < 3 ? 0 : n - 2; p >= 1; p--) {
        unsigned char a = (unsigned char)text[p - 1], c = (unsigned char)text[p + 1];
        int alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (text[p] == ' ' && a > 0x20 && a < 0x7f && alnum) return p;
    }
    return 0;
}

/* the first --doc-boundary match in text[0..n) that ends by `limit`: 1 with
 * its span in *ms, *me; 0 if none */
static int find_boundary(prep *p, const char *text, size_t n, size_t limit, size_t *ms, size_t *me) {
    if (!p->boundary) return 0;
    int r = pcre2_match(p->boundary, (PCRE2_SPTR)text, n, 0, 0, p->bmatch, NULL);
    if (r < 0) return 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->bmatch);
    if (ov[1] > limit || ov[1] == ov[0]) return 0; /* it may go on past what is read; an empty match is none */
    *ms = ov[0], *me = ov[1];
    return 1;
}

/* Part of a document: it starts with the delimiter when it is the first part. */
static int doc_text(prep *p, const char *path, const char *text, size_t n, size_t *total) {
    if (!n) return 0;
    int rc = *total ? 0 : start_doc(p);
    if (!rc) rc = encode(p, path, text, n, *total > 0);
    *total += n;
    return rc;
}

/* A stream as documents: one, or split where --doc-boundary matches (the
 * match itself dropped); each encoded in blocks cut at cut_point so the ids
 * equal those of encoding each document at once.  A boundary must match
 * within MARGIN of text, lookahead included: nothing is cut or encoded
 * closer than that to the end of what is read. */
enum { MARGIN = 1 << 16 };
static int text_doc(prep *p, textin *in, const char *path, char *buf) {
    size_t have = 0, total = 0, ms, me;
    long n = 0;
    int rc = 0, eof = 0;
    while (!rc && !eof) {
        n = textin_read(in, buf + have, 2 * BLOCK - have, p->err, p->errlen);
        if (n < 0) return -1;
        eof = n == 0;
        have += (size_t)n;
        size_t limit = eof ? have : have > MARGIN ? have - MARGIN : 0;
        while (!rc && find_boundary(p, buf, have, limit, &ms, &me)) { /* whole documents in the buffer */
            rc = doc_text(p, path, buf, ms, &total);
            total = 0;
            memmove(buf, buf + me, have - me);
            have -= me;
            limit -= limit > me ? me : limit;
        }
        size_t cut = eof ? have : cut_point(buf, p->boundary ? limit : have);
        if (!cut && have == 2 * BLOCK) cut = p->boundary ? limit : have; /* no cut in 256 kB: an extra chunk boundary */
        if (!rc && cut) {
            rc = doc_text(p, path, buf, cut, &total);
            memmove(buf, buf + cut, have - cut);
            have -= cut;
        }
        progress(p, in, 0);
    }
    return rc;
}

/* JSON lines: each "text" is a document */
typedef struct { prep *p; textin *in; const char *path; } jsonl_ctx;

static int jsonl_doc(void *ctx, const char *text, size_t lineno, char *err, size_t errlen) {
    (void)lineno; (void)err; (void)errlen; /* encode and start_doc write p->err, which is err */
    jsonl_ctx *c = ctx;
    int rc = start_doc(c->p);
    if (!rc) rc = encode(c->p, c->path, text, strlen(text), 0);
    progress(c->p, c->in, 0);
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* *.jsonl, compressed or not, and compressed *.json (C4's .json.gz): one document per line */
static int is_jsonl(const char *path) {
    static const char *const names[] = {".jsonl", ".jsonl.xz", ".jsonl.gz", ".jsonl.zst", ".json.xz", ".json.gz", ".json.zst"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (ends_with(path, names[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* calls fn on each file under path (itself if a file), in sorted order */
static int walk(prep *p, const char *path, int (*fn)(prep *, const char *, void *), void *arg) {
    struct stat st;
    if (stat(path, &st)) {
        snprintf(p->err, p->errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return fn(p, path, arg);
    if (p->have_out && st.st_dev == p->out.st_dev && st.st_ino == p->out.st_ino) return 0; /* our own shards */
    DIR *d = opendir(path);
    if (!d) {
        snprintf(p->err, p->errlen, "%s: cannot open directory: %s", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **q = realloc(names, cap * sizeof *q);
            if (!q) { rc = -1; break; }
            names = q;
        }
        if (asprintf(&names[n], "%s/%s", path, e->d_name) < 0) { rc = -1; break; }
        n++;
    }
    closedir(d);
    if (rc) snprintf(p->err, p->errlen, "%s: out of memory listing the directory", path);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !rc; i++) rc = walk(p, names[i], fn, arg);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int add_size(prep *p, const char *path, void *arg) {
    (void)arg;
    struct stat st;
    if (!stat(path, &st)) p->raw_total += (size_t)st.st_size;
    return 0;
}

static int add_file(prep *p, const char *path, void *buf) {
    textin *in = textin_open(path, p->err, p->errlen);
    if (!in) return -1;
    jsonl_ctx c = {p, in, path};
    int rc = is_jsonl(path) ? jsonl_texts(in, path, jsonl_doc, &c, p->err, p->errlen) : text_doc(p, in, path, buf);
    p->raw_done += textin_consumed(in);
    textin_close(in);
    progress(p, NULL, 0);
    return rc;
}

static int write_meta(prep *p, const char *out_dir, const char *const *inputs, int n_inputs,
                      size_t n_train, size_t n_val, int n_shards) {
    char path[1100];
    snprintf(path, sizeof path, "%s/meta.json", out_dir);
    cJSON *j = cJSON_CreateObject(), *src = cJSON_AddArrayToObject(j, "sources");
    cJSON_AddStringToObject(j, "tokenizer", p->tk->name);
    if (p->o->tokenizer_path) { /* absolute, so eval and generate find it from any directory */
        char *abs = realpath(p->o->tokenizer_path, NULL);
        cJSON_AddStringToObject(j, "tokenizer_path", abs ? abs : p->o->tokenizer_path);
        free(abs);
    }
    cJSON_AddNumberToObject(j, "vocab_size", p->tk->vocab_size);
    cJSON_AddNumberToObject(j, "eot", p->tk->eot);
    for (int i = 0; i < n_inputs; i++) cJSON_AddItemToArray(src, cJSON_CreateString(inputs[i]));
    cJSON_AddNumberToObject(j, "documents", (double)p->n_docs);
    cJSON_AddNumberToObject(j, "text_bytes", (double)p->text_bytes);
    cJSON_AddNumberToObject(j, "train_tokens", (double)n_train);
    cJSON_AddNumberToObject(j, "val_tokens", (double)n_val);
    cJSON_AddNumberToObject(j, "train_shards", n_shards);
    char *meta = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    atomic_file af;
    int rc = atomic_open(&af, path, p->err, p->errlen);
    if (!rc) rc = atomic_commit(&af, meta ? atomic_write(&af, meta, strlen(meta)) : -1, p->err, p->errlen);
    free(meta);
    return rc;
}

/* The shards of an earlier prepare into out_dir that this one did not
 * write again (it made fewer train shards): left, they would join the data. */
static void remove_stale_shards(const char *out_dir, int n_shards) {
    DIR *d = opendir(out_dir);
    if (!d) return;
    struct dirent *e;
    char path[1400];
    while ((e = readdir(d))) {
        int k = -1, len = 0;
        if (sscanf(e->d_name, "train_%6d.bin%n", &k, &len) == 1 && len == 16 && !e->d_name[len] && k >= n_shards) {
            snprintf(path, sizeof path, "%s/%s", out_dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

/* Ctrl-C or kill: the spilled ids (tens of MB) go with the process; a
 * SIGKILLed one's are removed by the next prepare into the same directory. */
static char spill_to_remove[1100];
static void on_signal(int sig) {
    if (spill_to_remove[0]) unlink(spill_to_remove);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* the spilled ids -> train shards of at most shard_tokens, then one val shard */
static int write_shards(prep *p, const char *out_dir, size_t n_train, size_t n_val, int *n_shards) {
    char path[1100];
    uint32_t max_id = (uint32_t)p->tk->vocab_size - 1;
    int rc = fflush(p->spill) || fseek(p->spill, 0, SEEK_SET) ? -1 : 0;
    if (rc) snprintf(p->err, p->errlen, "%s: cannot read back: %s", p->spill_path, strerror(errno));
    *n_shards = 0;
    for (size_t i = 0; i < n_train && !rc; i += p->o->shard_tokens) {
        size_t k = n_train - i < p->o->shard_tokens ? n_train - i : p->o->shard_tokens;
        snprintf(path, sizeof path, "%s/train_%06d.bin", out_dir, (*n_shards)++);
        rc = shard_write_from(path, p->spill, k, max_id, p->err, p->errlen);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/val_000000.bin", out_dir);
        rc = shard_write_from(path, p->spill, n_val, max_id, p->err, p->errlen);
    }
    return rc;
}

/* Long by design: the options checked, the boundary compiled, every input streamed into documents and
 * tokens, the spill split into shards, and each failure cleaned up in one place (the one prep state). */
int prepare_text(const char *const *inputs, int n_inputs, const char *out_dir, const prepare_opts *o,
                 char *err, size_t errlen) {
    if (!(o->val_fraction > 0 && o->val_fraction < 1)) {
        snprintf(err, errlen, "--val-fraction: expected a number in (0, 1), got %g", o->val_fraction);
        return -1;
    }
    if (o->shard_tokens < 1024 || o->shard_tokens > INT32_MAX) {
        snprintf(err, errlen, "--shard-tokens: expected 1024..%d, got %zu", INT32_MAX, o->shard_tokens);
        return -1;
    }
    if (n_inputs < 1) {
        snprintf(err, errlen, "prepare: expected one or more inputs");
        return -1;
    }
    prep p = {.o = o, .err = err, .errlen = errlen, .tty = isatty(2)};
    p.t0 = p.last_shown = now();
    if (o->doc_boundary) {
        int code;
        PCRE2_SIZE at;
        p.boundary = pcre2_compile((PCRE2_SPTR)o->doc_boundary, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE, &code, &at, NULL);
        if (!p.boundary) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            snprintf(err, errlen, "--doc-boundary: not a regular expression (at offset %zu: %s)", (size_t)at, (char *)msg);
            err_printable(err);
            return -1;
        }
        p.bmatch = pcre2_match_data_create_from_pattern(p.boundary, NULL);
    }
    p.tk = tokenizer_open(o->tokenizer, o->tokenizer_path, err, errlen);
    char *buf = p.tk ? malloc(2 * BLOCK) : NULL;
    int rc = buf ? 0 : -1;
    if (!p.tk) goto out;
    if (rc) snprintf(err, errlen, "out of memory");
    p.have_out = !stat(out_dir, &p.out) && S_ISDIR(p.out.st_mode);
    for (int i = 0; i < n_inputs && !rc; i++) {
        struct stat st;
        if (p.have_out && !stat(inputs[i], &st) && st.st_dev == p.out.st_dev && st.st_ino == p.out.st_ino) {
            snprintf(err, errlen, "%s: is the output directory too: write the shards elsewhere", inputs[i]);
            rc = -1;
        }
    }
    for (int i = 0; i < n_inputs && !rc; i++) rc = walk(&p, inputs[i], add_size, NULL);
    if (!rc) rc = make_dir(out_dir, err, errlen);
    if (!rc) {
        p.have_out = !stat(out_dir, &p.out);
        int stale = atomic_cleanup(out_dir);
        if (stale && !o->quiet)
            fprintf(stderr, "note: removed %d unfinished temporary file(s) of a killed prepare in %s\n", stale, out_dir);
        snprintf(p.spill_path, sizeof p.spill_path, "%s/.prepare.ids.tmp.%d", out_dir, (int)getpid());
        snprintf(spill_to_remove, sizeof spill_to_remove, "%s", p.spill_path);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        p.spill = fopen(p.spill_path, "w+b");
        if (!p.spill) {
            snprintf(err, errlen, "%s: cannot create: %s", p.spill_path, strerror(errno));
            rc = -1;
        }
    }
    for (int i = 0; i < n_inputs && !rc; i++) rc = walk(&p, inputs[i], add_file, buf);
    if (!rc) rc = spill(&p);
    free(buf);
    if (!rc && p.text_bytes == 0) {
        snprintf(err, errlen, "%s: no text, nothing to prepare", inputs[0]);
        rc = -1;
    }
    size_t n_val = (size_t)(p.n_tokens * o->val_fraction), n_train = p.n_tokens - n_val;
    if (!rc && (n_val < 2 || n_train < 2)) {
        snprintf(err, errlen, "%s: %zu tokens are too few to split with --val-fraction %g", inputs[0],
                 p.n_tokens, o->val_fraction);
        rc = -1;
    }
    int n_shards = 0;
    if (!rc) progress(&p, NULL, 1);
    if (!rc) rc = write_shards(&p, out_dir, n_train, n_val, &n_shards);
    if (!rc) remove_stale_shards(out_dir, n_shards);
    if (!rc) rc = write_meta(&p, out_dir, inputs, n_inputs, n_train, n_val, n_shards);
    if (p.spill) {
        fclose(p.spill);
        unlink(p.spill_path);
    }
    spill_to_remove[0] = 0;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    double sec = now() - p.t0;
    if (!rc && !o->quiet)
        printf("prepared %zu document%s, %zu bytes of text -> %zu train tokens (%d shard%s) + %zu val "
               "tokens (%s, vocab %d) in %s [%.1f MB/s]\n",
               p.n_docs, p.n_docs == 1 ? "" : "s", p.text_bytes, n_train, n_shards, n_shards == 1 ? "" : "s",
               n_val, p.tk->name, p.tk->vocab_size, out_dir, p.text_bytes / 1e6 / (sec > 1e-9 ? sec : 1e-9));
    tok_buf_free(&p.toks);
out:
    tokenizer_free(p.tk);
    pcre2_match_data_free(p.bmatch);
    pcre2_code_free(p.boundary);
    return rc;
}

cJSON *prepare_read_meta(const char *data, char *meta_path, size_t len) {
    char dir[1100], why[1400];
    struct stat st;
    snprintf(dir, sizeof dir, "%s", data);
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    snprintf(meta_path, len, "%s/meta.json", dir);
    char *text = read_file(meta_path, 1 << 16, NULL, why, sizeof why);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static double meta_num(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void meta_str(const cJSON *j, const char *key, char *out, size_t len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    snprintf(out, len, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int prepare_check_meta(const char *data, const char *split, int model_vocab, const dataset *d, data_meta *m,
                       char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    cJSON *j = prepare_read_meta(data, m->path, sizeof m->path);
    if (!j) return 0;
    m->found = 1;
    meta_str(j, "tokenizer", m->tokenizer, sizeof m->tokenizer);
    meta_str(j, "tokenizer_path", m->tokenizer_path, sizeof m->tokenizer_path);
    double v = meta_num(j, "vocab_size");
    m->vocab_size = v >= 2 && v <= 1 << 24 ? (int)v : 0;
    m->train_tokens = meta_num(j, "train_tokens");
    m->val_tokens = meta_num(j, "val_tokens");
    m->train_shards = meta_num(j, "train_shards");
    cJSON_Delete(j);
    int rc = 0;
    struct stat st;
    int train = !strcmp(split, "train");
    if (m->vocab_size && !tokenizer_vocab_fits(model_vocab, m->vocab_size)) {
        snprintf(err, errlen, "%s: the model's vocab_size %d does not fit: %s says the %s tokenizer, vocab_size "
                 "%d: train with --vocab-size %d", data, model_vocab, m->path,
                 m->tokenizer[0] ? m->tokenizer : "?", m->vocab_size, m->vocab_size);
        rc = -1;
    } else if (d && !stat(data, &st) && S_ISDIR(st.st_mode) &&
               ((train && (m->train_shards != d->n_shards || m->train_tokens != (double)d->n_tokens)) ||
                (!train && m->val_tokens != (double)d->n_tokens))) {
        snprintf(err, errlen, "%s: %d %s shard(s) of %zu tokens, but %s counts %.0f of %.0f tokens: shards left "
                 "over from an earlier prepare? (prepare again into this directory, or into an empty one)",
                 data, d->n_shards, split, d->n_tokens, m->path, train ? m->train_shards : 1,
                 train ? m->train_tokens : m->val_tokens);
        rc = -1;
    }
    if (rc) err_printable(err);
    return rc;
}
