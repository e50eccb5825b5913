/* prepare.h - text file -> train/val token shards (wesar prepare). */
#ifndef WESAR_PREPARE_H
#define WESAR_PREPARE_H
#include <stddef.h>

typedef struct {
    const char *tokenizer;   /* "bytes" */
    const char *tokenizer_path;
    double val_fraction;     /* the last fraction of the tokens becomes val */
    int quiet;
} prepare_opts;

/* Writes OUTDIR/train_000000.bin, OUTDIR/val_000000.bin, OUTDIR/meta.json. */
int prepare_text(const char *in_path, const char *out_dir, const prepare_opts *o,
                 char *err, size_t errlen);
#endif
