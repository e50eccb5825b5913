/* tokenizer.h - text <-> token ids, behind one small table per tokenizer.
 * The core trainer ships the byte tokenizer (ids 0..255 = bytes, 256 = end of
 * text); adding one (gpt2, sentencepiece) means one file and one table row. */
#ifndef WESAR_TOKENIZER_H
#define WESAR_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t *ids;
    size_t n, cap;
} tok_buf;

int tok_buf_push(tok_buf *b, uint32_t id);
void tok_buf_free(tok_buf *b);

typedef struct tokenizer tokenizer;
struct tokenizer {
    const char *name;
    int vocab_size;
    uint32_t eot;     /* end-of-text id, written between documents */
    /* appends the ids of text[0..n) to out; 0 on success */
    int (*encode)(const tokenizer *tk, const char *text, size_t n, tok_buf *out);
    /* the bytes of one id into buf; returns their count, or -1 */
    int (*decode)(const tokenizer *tk, uint32_t id, char *buf, size_t len);
    void (*free)(tokenizer *tk);
    void *impl;
};

/* name: "bytes" or "gpt2".  path: the tokenizer's files, if it has any
 * (gpt2: a directory with encoder.json and vocab.bpe). */
tokenizer *tokenizer_open(const char *name, const char *path, char *err, size_t errlen);
void tokenizer_free(tokenizer *tk);

/* the table's constructors (one file each) */
tokenizer *gpt2_open(const char *dir, char *err, size_t errlen);
#endif
