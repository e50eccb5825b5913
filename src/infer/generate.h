/* generate.h - sampling from a model with a KV cache (wesar generate).
 * The prompt follows the document delimiter, as every training document
 * does; generation stops at max_new tokens, at the delimiter, or when the
 * context is full.  Tokens stream to `out` as they come. */
#ifndef WESAR_GENERATE_H
#define WESAR_GENERATE_H
#include "infer.h"
#include <stdint.h>
#include <stdio.h>

typedef struct {
    double temperature;    /* 0 = greedy (argmax) */
    int top_k;             /* 0 = off: keep the k most likely tokens */
    double top_p;          /* 1 = off: keep the smallest set holding p of the mass */
    uint64_t seed;
    int max_new;
} gen_opts;

typedef struct {
    int prompt_tokens, new_tokens;
    double prefill_s, decode_s;    /* wall time of the prompt pass and of the sampled tokens */
    int context_full;              /* stopped short of max_new: the context was full */
} gen_stats;

/* ids (optional): the prompt's and the new ids, delimiter first, up to ids_cap */
int generate(infer_model *im, const char *prompt, const gen_opts *o, FILE *out, int32_t *ids, int ids_cap,
             gen_stats *st, char *err, size_t errlen);
#endif
