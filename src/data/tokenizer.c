/* tokenizer.c - the tokenizer table and the byte tokenizer. */
#include "tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tok_buf_push(tok_buf *b, uint32_t id) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        uint32_t *p = realloc(b->ids, cap * sizeof *p);
        if (!p) return -1;
        b->ids = p;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return 0;
}

void tok_buf_free(tok_buf *b) {
    free(b->ids);
    memset(b, 0, sizeof *b);
}

static int bytes_encode(const tokenizer *tk, const char *text, size_t n, int cont, tok_buf *out) {
    (void)tk;
    (void)cont;
    for (size_t i = 0; i < n; i++)
        if (tok_buf_push(out, (unsigned char)text[i])) return -1;
    return 0;
}

static int bytes_decode(const tokenizer *tk, uint32_t id, char *buf, size_t len) {
    (void)tk;
    if (id > 256 || len < 1) return -1;
    if (id == 256) return 0; /* end of text has no bytes */
    buf[0] = (char)id;
    return 1;
}

static void plain_free(tokenizer *tk) { free(tk); }

tokenizer *tokenizer_open(const char *name, const char *path, char *err, size_t errlen) {
    if (!strcmp(name, "gpt2")) return gpt2_open(path, err, errlen);
    if (!strcmp(name, "bytes")) {
        tokenizer *tk = calloc(1, sizeof *tk);
        if (!tk) { snprintf(err, errlen, "out of memory"); return NULL; }
        *tk = (tokenizer){"bytes", 257, 256, 0, bytes_encode, bytes_decode, plain_free, NULL, 256, NULL, NULL};
        return tk;
    }
    if (!strcmp(name, "sentencepiece")) return sentencepiece_open(path, err, errlen);
    snprintf(err, errlen, "--tokenizer: unknown tokenizer '%s' (expected " TOKENIZER_NAMES ")", name);
    return NULL;
}

int tokenizer_known(const char *name) {
    return !strcmp(name, "bytes") || !strcmp(name, "gpt2") || !strcmp(name, "sentencepiece");
}

int tokenizer_vocab_fits(int model_vocab, int tokenizer_vocab) {
    return model_vocab >= tokenizer_vocab && model_vocab <= (tokenizer_vocab + 127) / 128 * 128;
}

void tokenizer_free(tokenizer *tk) {
    if (tk) tk->free(tk);
}

int tokenizer_decode(const tokenizer *tk, uint32_t id, int *at_start, char *buf, size_t len) {
    if (id == tk->eot) {
        *at_start = 1;
        return tk->decode(tk, id, buf, len);
    }
    int k = tk->decode(tk, id, buf, len);
    if (k > 0 && *at_start) {
        *at_start = 0;
        if (tk->dummy_prefix && buf[0] == ' ') memmove(buf, buf + 1, (size_t)--k);
    }
    return k;
}
