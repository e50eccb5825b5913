/* fuzz_spm.c - the sentencepiece model proto and its encoder: one input split
 * at the first \x01 into a tokenizer.model and a text.  A model is accepted
 * or refused with one clear line; an accepted one must encode any text into
 * ids below its vocabulary size, each of which decodes. */
#include "../src/data/tokenizer.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[2];
    size_t len[2];
    fuzz_split(data, size, 2, part, len); /* no \x01: an empty text */
    char path[300];
    snprintf(path, sizeof path, "%s/tokenizer.model", fuzz_dir("spm"));
    fuzz_put(path, part[0], len[0]);
    char err[1400] = "";
    tokenizer *tk = tokenizer_open("sentencepiece", path, err, sizeof err);
    if (!tk) {
        fuzz_check_error(err);
        return 0;
    }
    tok_buf ids = {0};
    for (int cont = 0; cont < 2; cont++) {
        ids.n = 0;
        if (tk->encode(tk, (const char *)part[1], len[1], cont, &ids)) abort();
        char piece[4096];
        int at_start = 1;
        for (size_t i = 0; i < ids.n; i++)
            if (ids.ids[i] >= (uint32_t)tk->vocab_size ||
                tokenizer_decode(tk, ids.ids[i], &at_start, piece, sizeof piece) < 0)
                abort();
    }
    tok_buf_free(&ids);
    tokenizer_free(tk);
    return 0;
}
