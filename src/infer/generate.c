/* generate.c - temperature / top-k / top-p sampling over a KV cache. */
#include "generate.h"
#include "../util/rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct { double p; int id; } cand;

static int by_p_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    return x->p < y->p ? 1 : x->p > y->p ? -1 : x->id - y->id;
}

/* the next id from logits over the first V ids (the tokenizer's) */
static int sample(const real *logits, int V, const gen_opts *o, cand *c, rng_t *r) {
    int arg = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[arg]) arg = v;
    if (o->temperature <= 0) return arg;
    double sum = 0;
    for (int v = 0; v < V; v++) {
        c[v] = (cand){exp(((double)logits[v] - logits[arg]) / o->temperature), v};
        sum += c[v].p;
    }
    int n = V;
    if (o->top_k > 0 || o->top_p < 1) {
        qsort(c, (size_t)V, sizeof *c, by_p_desc);
        if (o->top_k > 0 && o->top_k < n) n = o->top_k;
        if (o->top_p < 1) {
            double kept = 0, total = 0;
            for (int i = 0; i < n; i++) total += c[i].p;
            for (int i = 0; i < n; i++) {
                kept += c[i].p;
                if (kept >= o->top_p * total) { n = i + 1; break; }
            }
        }
        sum = 0;
        for (int i = 0; i < n; i++) sum += c[i].p;
    }
    double u = rng_uniform(r) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += c[i].p;
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id;
}

int generate(infer_model *im, const char *prompt, const gen_opts *o, FILE *out, int32_t *ids, int ids_cap,
             gen_stats *st, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    const model_config *c = model_cfg(im->m);
    tokenizer *tk = im->tk;
    int T = im->T, V = tk->vocab_size, rc = -1;
    tok_buf p = {0};
    kv_cache *kv = kv_cache_create(im->m, T);
    real *logits = malloc((size_t)c->vocab_size * sizeof *logits);
    cand *cands = malloc((size_t)V * sizeof *cands);
    int32_t *seq = malloc((size_t)T * sizeof *seq);
    if (!kv || !logits || !cands || !seq || tok_buf_push(&p, tk->eot) ||
        tk->encode(tk, prompt, strlen(prompt), 0, &p)) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (p.n >= (size_t)T) {
        snprintf(err, errlen, "--prompt: %zu tokens fill the model's context of %d", p.n, T);
        goto done;
    }
    for (size_t i = 0; i < p.n; i++) seq[i] = (int32_t)p.ids[i];
    int n = (int)p.n;
    st->prompt_tokens = n - 1;
    fputs(prompt, out);
    fflush(out);
    double t0 = now();
    if (model_decode(im->m, kv, seq, n, logits)) { snprintf(err, errlen, "decode failed"); goto done; }
    st->prefill_s = now() - t0;
    rng_t r;
    rng_seed(&r, o->seed, 0x67656e);
    int at_start = n == 1; /* nothing printed yet: drop a dummy-prefix space */
    t0 = now();
    while (st->new_tokens < o->max_new && n < T) {
        int id = sample(logits, V, o, cands, &r);
        seq[n++] = id;
        st->new_tokens++;
        if ((uint32_t)id == tk->eot) break;
        char piece[512];
        int k = tokenizer_decode(tk, (uint32_t)id, &at_start, piece, sizeof piece);
        if (k > 0) {
            fwrite(piece, 1, (size_t)k, out);
            fflush(out);
        }
        if (st->new_tokens < o->max_new && n < T && model_decode(im->m, kv, &seq[n - 1], 1, logits)) {
            snprintf(err, errlen, "decode failed");
            goto done;
        }
    }
    st->decode_s = now() - t0;
    st->context_full = n >= T && st->new_tokens < o->max_new && (uint32_t)seq[n - 1] != tk->eot;
    if (ids)
        for (int i = 0; i < n && i < ids_cap; i++) ids[i] = seq[i];
    rc = 0;
done:
    tok_buf_free(&p);
    kv_cache_free(kv);
    free(logits);
    free(cands);
    free(seq);
    return rc;
}
