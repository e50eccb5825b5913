/* prepare.h - text -> train/val token shards in llm.c's format (wesar prepare).
 *
 * Inputs are text files, folders of them (walked in sorted order, hidden
 * entries skipped) and JSON lines files (*.jsonl: one document per line, its
 * "text" field), each optionally xz-compressed (*.xz, decoded as it streams).
 * A text file is one document, or several where doc_boundary matches (a
 * WikiExtractor-style dump's separator); every document is preceded by the
 * tokenizer's delimiter (tokenizer.h).  Memory stays bounded: the ids spill to a
 * temporary file in OUTDIR, and the last val_fraction of them becomes val. */
#ifndef WESAR_PREPARE_H
#define WESAR_PREPARE_H
#include "shard.h"
#include <stddef.h>

typedef struct {
    const char *tokenizer;   /* "bytes", "gpt2", "sentencepiece" */
    const char *tokenizer_path;
    double val_fraction;     /* the last fraction of the tokens becomes val */
    size_t shard_tokens;     /* train tokens per shard file (llm.c: 1e8) */
    int quiet;               /* no progress bar, no summary */
    const char *doc_boundary;/* a PCRE2 pattern (multiline): text files split into documents
                                where it matches, the match dropped; NULL: a file is one */
} prepare_opts;

/* Writes OUTDIR/train_NNNNNN.bin, OUTDIR/val_000000.bin and OUTDIR/meta.json. */
int prepare_text(const char *const *inputs, int n_inputs, const char *out_dir, const prepare_opts *o,
                 char *err, size_t errlen);

/* The meta.json that prepare wrote beside the shards of `data` (a directory,
 * or a shard file or glob inside one), parsed (cJSON_Delete it); NULL if
 * there is none.  meta_path gets where it was looked for. */
struct cJSON;
struct cJSON *prepare_read_meta(const char *data, char *meta_path, size_t len);

/* What the meta.json beside a data set says, for train to check the run
 * against (the one place that does): tokenizer, vocabulary, token counts. */
typedef struct {
    int found;                /* 0: no meta.json (llm.c shards made elsewhere): nothing to check */
    char path[1100];          /* where it is, or was looked for */
    char tokenizer[32], tokenizer_path[1024];
    int vocab_size;
    double train_tokens, val_tokens, train_shards;
} data_meta;

/* Reads the meta.json of `data` into m and checks that a model of
 * model_vocab tokens fits its tokenizer (tokenizer_vocab_fits).  With d, the
 * shards of `split` that dataset_open found in it: when `data` is the
 * directory itself they must be the ones meta.json counts (not shards left
 * over from an earlier prepare).  0 if all agree (or there is no meta.json). */
int prepare_check_meta(const char *data, const char *split, int model_vocab, const dataset *d, data_meta *m,
                       char *err, size_t errlen);
#endif
