/* eval.h - perplexity and LAMBADA as lm-evaluation-harness defines them.
 *
 * wikitext: WikiText-2 raw split into articles at " = Title = " lines (as
 *   EleutherAI/wikitext_document_level), each detokenized with the harness's
 *   wikitext_detokenizer and scored by rolling windows of the context: the
 *   first predicts min(T, n) tokens after the delimiter token, each next one
 *   `stride` more with the T tokens before them as input (stride = T: the
 *   harness's disjoint windows).  Word perplexity divides the summed NLL by
 *   the words of the ORIGINAL article (len(re.split(r"\s+", page))), byte
 *   perplexity by its UTF-8 bytes, token perplexity by the tokens scored.
 * lambada (OpenAI jsonl, or the same .xz): context = text up to its last space, target = " " +
 *   the last word; ids of the target = encode(context + target) minus
 *   encode(context); accuracy = every target token is the argmax, perplexity
 *   = exp(-mean over examples of the target's summed log-likelihood). */
#ifndef WESAR_EVAL_H
#define WESAR_EVAL_H
#include "infer.h"

typedef struct {
    int stride;            /* 0 = T */
    long limit;            /* score only the first N documents / examples (0 = all) */
    int progress;          /* a progress line on stderr */
} eval_opts;

typedef struct {
    int docs;
    double nll;            /* summed negative log-likelihood, nats */
    size_t tokens, words, bytes;
} wikitext_result;

typedef struct {
    int n, correct;
    double nll;            /* summed over examples */
} lambada_result;

int eval_wikitext(infer_model *im, const char *path, const eval_opts *o, wikitext_result *r, char *err,
                  size_t errlen);
int eval_lambada(infer_model *im, const char *path, const eval_opts *o, lambada_result *r, char *err,
                 size_t errlen);
/* One text file scored as one document (--logprobs): ids = the delimiter,
 * then the text's tokens (at most the context in all); logprobs[i] = log
 * p(ids[i+1] | ids[0..i]), ids->n - 1 of them (malloc'd). */
int eval_logprobs(infer_model *im, const char *path, tok_buf *ids, double **logprobs, char *err, size_t errlen);
#endif
