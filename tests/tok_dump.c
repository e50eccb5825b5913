/* tok_dump.c - encodes a file with a tokenizer and prints the ids, one line,
 * space-separated (for tests/ref/check_gpt2.py and check_spm.py);
 * exits 1 if decoding the ids does not give back the file's bytes.
 * usage: tok_dump NAME TOKENIZER_PATH FILE [--quiet]   (--quiet: round trip only) */
#include "data/tokenizer.h"
#include "util/fileio.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: tok_dump NAME PATH FILE [--quiet]\n"); return 2; }
    char err[1024];
    tokenizer *tk = tokenizer_open(argv[1], argv[2], err, sizeof err);
    if (!tk) { fprintf(stderr, "%s\n", err); return 2; }
    size_t n;
    char *text = read_file(argv[3], (size_t)1 << 31, &n, err, sizeof err), *back = malloc(3 * n + 64); /* U+FFFD for a bad byte: 3 bytes back */
    if (!text || !back) { fprintf(stderr, "%s\n", text ? "out of memory" : err); return 2; }
    tok_buf ids = {0};
    if (tk->encode(tk, text, n, 0, &ids)) { fprintf(stderr, "encode failed\n"); return 2; }
    int quiet = argc > 4 && !strcmp(argv[4], "--quiet");
    size_t m = 0;
    int at_start = 1;
    for (size_t i = 0; i < ids.n; i++) {
        if (!quiet) printf("%s%u", i ? " " : "", ids.ids[i]);
        char piece[256];
        int k = tokenizer_decode(tk, ids.ids[i], &at_start, piece, sizeof piece);
        if (k < 0 || m + (size_t)k > 3 * n + 63) { fprintf(stderr, "decode failed at id %u\n", ids.ids[i]); return 1; }
        memcpy(back + m, piece, (size_t)k);
        m += (size_t)k;
    }
    if (!quiet) printf("\n");
    int same = m == n && !memcmp(back, text, n);
    if (!same) fprintf(stderr, "%s: decode(encode(x)) != x (%zu bytes back of %zu)\n", argv[3], m, n);
    else if (quiet) printf("%s: %zu bytes, %zu tokens, round trip exact\n", argv[3], n, ids.n);
    tok_buf_free(&ids);
    tokenizer_free(tk);
    free(text);
    free(back);
    return same ? 0 : 1;
}
