/* tokenizer.h - text <-> token ids, behind one small table per tokenizer:
 * bytes (ids 0..255 = bytes, 256 = end of text), gpt2 (gpt2.c) and
 * sentencepiece (sentencepiece.c); adding one means one file and one row. */
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
    /* the document delimiter, written before every document and used as the
     * context of a text's first token: bytes 256, gpt2 <|endoftext|>,
     * sentencepiece <s> (LLaMA starts every sequence with it) */
    uint32_t eot;
    /* 1 if encode starts a document with a space (sentencepiece's dummy
     * prefix), which decoding a document drops again (tokenizer_decode) */
    int dummy_prefix;
    /* appends the ids of text[0..n) to out; cont = 1: the text continues the
     * previous call's document (no dummy prefix); 0 on success */
    int (*encode)(const tokenizer *tk, const char *text, size_t n, int cont, tok_buf *out);
    /* the bytes of one id into buf; returns their count, or -1 */
    int (*decode)(const tokenizer *tk, uint32_t id, char *buf, size_t len);
    void (*free)(tokenizer *tk);
    void *impl;
    uint32_t eos;  /* end of a sequence, for exports: sentencepiece </s>, else eot */
    /* The vocabulary as the tokenizer's own file spells it, for formats that
     * embed it (GGUF): id's piece into buf (sentencepiece: with its "▁";
     * gpt2: in GPT-2's byte-to-unicode alphabet, as vocab.json), its score
     * (0 where there is none) and type (SentencePiece's, which GGUF shares:
     * 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte);
     * returns the piece's length, or -1.  NULL: no such spelling (bytes). */
    int (*piece)(const tokenizer *tk, uint32_t id, char *buf, size_t len, float *score, int *type);
    /* The merge of rank r, best first, as "A B" in the same spelling (its
     * length), -1 past the last.  NULL for tokenizers without merges. */
    int (*merge)(const tokenizer *tk, uint32_t rank, char *buf, size_t len);
};

/* name: "bytes", "gpt2" or "sentencepiece".  path: the tokenizer's files
 * (gpt2: a directory with encoder.json and vocab.bpe, or Hugging Face's
 * names for them, vocab.json and merges.txt, as `wesar export` writes;
 * sentencepiece: a tokenizer.model, or a directory holding one). */
tokenizer *tokenizer_open(const char *name, const char *path, char *err, size_t errlen);
/* 1 if name is one of TOKENIZER_NAMES */
#define TOKENIZER_NAMES "bytes, gpt2 or sentencepiece"
int tokenizer_known(const char *name);
/* A model's vocabulary fits a tokenizer's when it is the same size or padded
 * up to the next multiple of 128 (as nanoGPT pads GPT-2's 50257 to 50304);
 * anything else means data, model or tokenizer do not belong together. */
int tokenizer_vocab_fits(int model_vocab, int tokenizer_vocab);
void tokenizer_free(tokenizer *tk);

/* Streams a document's text back: the bytes of id into buf (their count, or
 * -1), dropping the dummy prefix's space when *at_start; a delimiter starts
 * a new document.  Set *at_start = 1 before a document's first id. */
int tokenizer_decode(const tokenizer *tk, uint32_t id, int *at_start, char *buf, size_t len);

/* the table's constructors (one file each) */
tokenizer *gpt2_open(const char *dir, char *err, size_t errlen);
tokenizer *sentencepiece_open(const char *path, char *err, size_t errlen);
#endif
