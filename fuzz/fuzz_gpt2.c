/* fuzz_gpt2.c - the gpt2 tokenizer's files and its encoder: one input split
 * at \x01 bytes into encoder.json, vocab.bpe and a text.  A vocabulary is
 * accepted or refused with one clear line; an accepted one must encode any
 * text so that decoding gives back its exact bytes. */
#include "../src/data/tokenizer.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_dir("gpt2");
    const uint8_t *part[3];
    size_t len[3];
    fuzz_split(data, size, 3, part, len); /* missing parts are empty */
    char path[300];
    snprintf(path, sizeof path, "%s/encoder.json", dir);
    fuzz_put(path, part[0], len[0]);
    snprintf(path, sizeof path, "%s/vocab.bpe", dir);
    fuzz_put(path, part[1], len[1]);
    char err[1400] = "";
    tokenizer *tk = tokenizer_open("gpt2", dir, err, sizeof err);
    if (!tk) {
        fuzz_check_error(err);
        return 0;
    }
    tok_buf ids = {0};
    if (tk->encode(tk, (const char *)part[2], len[2], 0, &ids)) abort();
    char *back = malloc(len[2] + 1), piece[4096];
    size_t m = 0;
    for (size_t i = 0; i < ids.n; i++) {
        int k = tk->decode(tk, ids.ids[i], piece, sizeof piece);
        if (k < 0 || m + (size_t)k > len[2]) abort();
        memcpy(back + m, piece, (size_t)k);
        m += (size_t)k;
    }
    if (m != len[2] || (m && memcmp(back, part[2], m))) abort(); /* decode(encode(x)) == x */
    free(back);
    tok_buf_free(&ids);
    tokenizer_free(tk);
    return 0;
}
