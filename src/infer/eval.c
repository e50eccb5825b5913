/* eval.c - WikiText-2 perplexity and LAMBADA, lm-evaluation-harness style. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "eval.h"
#include "../util/utf8.h"
#include "../data/jsonl.h"
#include "../util/fileio.h"
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- scoring ---------------------------------------------------------- */

/* One forward over inp[0..L); adds log p(tgt[i] | inp[..i]) of the last n
 * rows to *ll (and each one to each[], when given) and clears *greedy unless
 * each target is the argmax.  The logits are taken SCORE_ROWS rows at a time. */
#define SCORE_ROWS 32
static int score(infer_model *im, const int32_t *inp, const int32_t *tgt, int L, int n, double *ll, int *greedy,
                 double *each) {
    if (model_forward(im->m, inp, NULL, 1, L, NULL)) return -1;
    int V = model_cfg(im->m)->vocab_size;
    real *logits = malloc((size_t)SCORE_ROWS * V * sizeof(real));
    if (!logits) return -1;
    double lp[SCORE_ROWS];
    int arg[SCORE_ROWS];
    for (int i0 = L - n; i0 < L; i0 += SCORE_ROWS) {
        int rows = L - i0 < SCORE_ROWS ? L - i0 : SCORE_ROWS;
        model_logits(im->m, i0, rows, logits);
        /* rows in parallel (the float64 exp over V is most of the time); each row's sum is one
         * thread's, in order, and the rows are added in order after: the same bits at any threads */
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            const real *row = logits + (size_t)r * V;
            int a = 0;
            for (int v = 1; v < V; v++)
                if (row[v] > row[a]) a = v;
            double sum = 0;
            for (int v = 0; v < V; v++) sum += exp((double)row[v] - row[a]);
            lp[r] = (double)row[tgt[i0 + r]] - row[a] - log(sum);
            arg[r] = a;
        }
        for (int r = 0; r < rows; r++) {
            *ll += lp[r];
            if (each) each[i0 + r - (L - n)] = lp[r];
            if (arg[r] != tgt[i0 + r]) *greedy = 0;
        }
    }
    free(logits);
    return 0;
}

/* --- WikiText -------------------------------------------------------- */

/* Python's str.isspace() code points (what \s matches in re on str) */
static int py_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

static uint32_t utf8_at(const unsigned char *s, size_t n, size_t *len) {
    uint32_t c = s[0];
    int k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if ((size_t)k > n) k = 1;
    if (k > 1) c &= 0xff >> (k + 1);
    for (int i = 1; i < k; i++) c = c << 6 | (s[i] & 0x3f);
    *len = (size_t)k;
    return c;
}

/* len(re.split(r"\s+", page)): one more than the number of whitespace runs */
static size_t count_words(const char *s, size_t n) {
    size_t words = 1, len;
    int in_space = 0;
    for (size_t i = 0; i < n; i += len) {
        int sp = py_space(utf8_at((const unsigned char *)s + i, n - i, &len));
        if (sp && !in_space) words++;
        in_space = sp;
    }
    return words;
}

typedef struct { char *s; size_t n; } str;

static int replace_all(str *t, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), hits = 0;
    for (const char *p = t->s; (p = strstr(p, from)); p += fl) hits++;
    if (!hits) return 0;
    char *out = malloc(t->n + hits * (tl > fl ? tl - fl : 0) + 1), *o = out;
    if (!out) return -1;
    const char *p = t->s, *q;
    while ((q = strstr(p, from))) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    size_t rest = strlen(p);
    memcpy(o, p, rest + 1);
    free(t->s);
    t->s = out;
    t->n = (size_t)(o - out) + rest;
    return 0;
}

static int regex_sub(str *t, const char *pattern, const char *repl) {
    int e;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &e, &eo, NULL);
    if (!re) return -1;
    PCRE2_SIZE cap = t->n * 2 + 64;
    char *out = malloc(cap);
    int rc = out ? pcre2_substitute(re, (PCRE2_SPTR)t->s, t->n, 0, PCRE2_SUBSTITUTE_GLOBAL, NULL, NULL,
                                    (PCRE2_SPTR)repl, PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)out, &cap) : -1;
    pcre2_code_free(re);
    if (rc < 0) { free(out); return -1; }
    free(t->s);
    t->s = out;
    t->n = cap;
    return 0;
}

/* lm-evaluation-harness's wikitext_detokenizer, step for step */
static int detokenize(str *t) {
    static const char *const before[][2] = {{"s '", "s'"}};
    static const char *const seps[][2] = {{" @-@ ", "-"}, {" @,@ ", ","}, {" @.@ ", "."}, {" : ", ": "},
                                          {" ; ", "; "}, {" . ", ". "}, {" ! ", "! "}, {" ? ", "? "},
                                          {" , ", ", "}};
    static const char *const subs[][2] = {{"\\(\\s*([^\\)]*?)\\s*\\)", "($1)"}, {"\\[\\s*([^\\]]*?)\\s*\\]", "[$1]"},
                                          {"{\\s*([^}]*?)\\s*}", "{$1}"}, {"\"\\s*([^\"]*?)\\s*\"", "\"$1\""},
                                          {"'\\s*([^']*?)\\s*'", "'$1'"}};
    static const char *const misc[][2] = {{"= = = =", "===="}, {"= = =", "==="}, {"= =", "=="},
                                          {" \xc2\xb0 ", "\xc2\xb0"}, {" \n", "\n"}, {"\n ", "\n"},
                                          {" N ", " 1 "}, {" 's", "'s"}};
    int rc = replace_all(t, before[0][0], before[0][1]);
    if (!rc) rc = regex_sub(t, "/' [0-9]/", "/'[0-9]/"); /* sic: the harness replaces with this literal */
    for (size_t i = 0; !rc && i < sizeof seps / sizeof *seps; i++) rc = replace_all(t, seps[i][0], seps[i][1]);
    for (size_t i = 0; !rc && i < sizeof subs / sizeof *subs; i++) rc = regex_sub(t, subs[i][0], subs[i][1]);
    for (size_t i = 0; !rc && i < sizeof misc / sizeof *misc; i++) rc = replace_all(t, misc[i][0], misc[i][1]);
    return rc;
}

/* rolling windows over one document's ids (the delimiter first) */
static int score_doc(infer_model *im, const tok_buf *ids, int stride, double *ll) {
    int T = im->T, greedy = 1;
    size_t N = ids->n - 1; /* ids->ids[0] is the delimiter */
    const int32_t *full = (const int32_t *)ids->ids;
    for (size_t s = 0, e; s < N; s = e) {
        e = s == 0 ? (N < (size_t)T ? N : (size_t)T) : (N - s < (size_t)stride ? N : s + stride);
        size_t start = e > (size_t)T ? e - T : 0;
        if (score(im, full + start, full + start + 1, (int)(e - start), (int)(e - s), ll, &greedy, NULL)) return -1;
    }
    return 0;
}

static int is_title(const char *line, size_t n) {
    /* line.replace("= = =", "===").replace("= =", "==").strip() starts with "= " and ends with " =" */
    str t = {malloc(n + 1), n};
    if (!t.s) return 0;
    memcpy(t.s, line, n);
    t.s[n] = 0;
    replace_all(&t, "= = =", "===");
    replace_all(&t, "= =", "==");
    size_t a = 0, b = t.n;
    while (a < b && strchr(" \t\n\r\v\f", t.s[a])) a++;
    while (b > a && strchr(" \t\n\r\v\f", t.s[b - 1])) b--;
    int yes = b - a >= 2 && !strncmp(t.s + a, "= ", 2) && !strncmp(t.s + b - 2, " =", 2);
    free(t.s);
    return yes;
}

static int blank(const char *s, size_t n) {
    size_t len;
    for (size_t i = 0; i < n; i += len)
        if (!py_space(utf8_at((const unsigned char *)s + i, n - i, &len))) return 0;
    return 1;
}

static int wikitext_doc(infer_model *im, const eval_opts *o, const char *page, size_t n, wikitext_result *r) {
    str t = {malloc(n + 1), n};
    if (!t.s) return -1;
    memcpy(t.s, page, n);
    t.s[n] = 0;
    tok_buf ids = {0};
    int rc = detokenize(&t);
    if (!rc) rc = tok_buf_push(&ids, im->tk->eot);
    if (!rc) rc = im->tk->encode(im->tk, t.s, t.n, 0, &ids);
    double ll = 0;
    if (!rc && ids.n > 1) rc = score_doc(im, &ids, o->stride ? o->stride : im->T, &ll);
    if (!rc) {
        r->docs++;
        r->nll -= ll;
        r->tokens += ids.n - 1;
        r->words += count_words(page, n);
        r->bytes += n;
        if (o->progress)
            fprintf(stderr, "\rwikitext: %d documents, %zu tokens, token perplexity %.3f ", r->docs, r->tokens,
                    exp(r->nll / (r->tokens ? r->tokens : 1)));
    }
    tok_buf_free(&ids);
    free(t.s);
    return rc;
}

int eval_wikitext(infer_model *im, const char *path, const eval_opts *o, wikitext_result *r, char *err,
                  size_t errlen) {
    memset(r, 0, sizeof *r);
    size_t n;
    char *text = read_file(path, (size_t)1 << 31, &n, err, errlen);
    if (!text) return -1;
    size_t bad = utf8_invalid_at(text, n); /* lm-eval reads the text as UTF-8, strictly */
    if (bad < n) {
        snprintf(err, errlen, "%s: byte %zu (0x%02x) is not valid UTF-8: expected UTF-8 text, as WikiText is", path,
                 bad, (unsigned char)text[bad]);
        free(text);
        return -1;
    }
    /* documents: text.split("\n"), a new one at each title line once the current one is not blank */
    size_t doc = 0, line = 0;
    int rc = 0;
    for (;;) {
        char *nl = memchr(text + line, '\n', n - line);
        size_t end = nl ? (size_t)(nl - text) : n;
        if (is_title(text + line, end - line)) {
            if (line > doc && !blank(text + doc, line - 1 - doc)) {
                rc = wikitext_doc(im, o, text + doc, line - 1 - doc, r);
                if (rc || (o->limit && r->docs >= o->limit)) break;
            }
            doc = line;
        }
        if (!nl) {
            rc = wikitext_doc(im, o, text + doc, n - doc, r); /* the last page, even if blank */
            break;
        }
        line = end + 1;
    }
    if (o->progress) fprintf(stderr, "\n");
    free(text);
    if (rc) snprintf(err, errlen, "%s: evaluation failed (out of memory?)", path);
    else if (!r->tokens) {
        snprintf(err, errlen, "%s: no text to score", path);
        rc = -1;
    }
    return rc;
}

/* --- LAMBADA --------------------------------------------------------- */

static int lambada_one(infer_model *im, const char *text, lambada_result *r) {
    size_t n = strlen(text);
    const char *sp = strrchr(text, ' ');
    size_t ctx_len = sp ? (size_t)(sp - text) : 0;
    /* the harness's _encode_pair: trailing spaces of the context move to the target */
    while (ctx_len && text[ctx_len - 1] == ' ') ctx_len--;
    tok_buf whole = {0}, ctx = {0};
    int rc = im->tk->encode(im->tk, text, n, 0, &whole);
    if (!rc && ctx_len) rc = im->tk->encode(im->tk, text, ctx_len, 0, &ctx);
    if (!rc && !ctx_len) rc = tok_buf_push(&ctx, im->tk->eot); /* an empty context: the delimiter */
    size_t n_ctx = ctx_len ? ctx.n : 0;
    /* all = context ids + target ids; keep the last T + 1 */
    tok_buf all = {0};
    for (size_t i = 0; !rc && i < ctx.n; i++) rc = tok_buf_push(&all, ctx.ids[i]);
    for (size_t i = n_ctx; !rc && i < whole.n; i++) rc = tok_buf_push(&all, whole.ids[i]);
    int n_tgt = (int)(whole.n - n_ctx);
    if (!rc && n_tgt >= 1) {
        size_t keep = all.n < (size_t)im->T + 1 ? all.n : (size_t)im->T + 1;
        const int32_t *w = (const int32_t *)all.ids + (all.n - keep);
        double ll = 0;
        int greedy = 1;
        if (n_tgt > (int)keep - 1) n_tgt = (int)keep - 1;
        rc = score(im, w, w + 1, (int)keep - 1, n_tgt, &ll, &greedy, NULL);
        r->n++;
        r->correct += greedy;
        r->nll -= ll;
    }
    tok_buf_free(&whole);
    tok_buf_free(&ctx);
    tok_buf_free(&all);
    return rc;
}

typedef struct { infer_model *im; const eval_opts *o; lambada_result *r; const char *path; } lambada_ctx;

static int lambada_line(void *ctx, const char *text, size_t lineno, char *err, size_t errlen) {
    lambada_ctx *c = ctx;
    if (!strchr(text, ' ')) {
        snprintf(err, errlen, "%s:%zu: expected a JSON object with a string field \"text\" of two or more words",
                 c->path, lineno);
        return -1;
    }
    if (lambada_one(c->im, text, c->r)) {
        snprintf(err, errlen, "%s:%zu: evaluation failed (out of memory?)", c->path, lineno);
        return -1;
    }
    if (c->o->progress && c->r->n % 50 == 0)
        fprintf(stderr, "\rlambada: %d examples, accuracy %.4f ", c->r->n, (double)c->r->correct / c->r->n);
    return c->o->limit && c->r->n >= c->o->limit; /* 1: enough */
}

int eval_lambada(infer_model *im, const char *path, const eval_opts *o, lambada_result *r, char *err,
                 size_t errlen) {
    memset(r, 0, sizeof *r);
    textin *in = textin_open(path, err, errlen);
    if (!in) return -1;
    lambada_ctx c = {im, o, r, path};
    int rc = jsonl_texts(in, path, lambada_line, &c, err, errlen);
    textin_close(in);
    if (o->progress) fprintf(stderr, "\n");
    if (!rc && !r->n) {
        snprintf(err, errlen, "%s: no examples", path);
        rc = -1;
    }
    return rc;
}

/* --- one text, token by token ---------------------------------------- */

int eval_logprobs(infer_model *im, const char *path, tok_buf *ids, double **logprobs, char *err, size_t errlen) {
    memset(ids, 0, sizeof *ids);
    *logprobs = NULL;
    size_t n;
    char *text = read_file(path, (size_t)1 << 26, &n, err, errlen);
    if (!text) return -1;
    int rc = tok_buf_push(ids, im->tk->eot) || im->tk->encode(im->tk, text, n, 0, ids);
    free(text);
    if (rc) snprintf(err, errlen, "%s: tokenizing failed (out of memory?)", path);
    else if (ids->n < 2 || ids->n > (size_t)im->T) {
        snprintf(err, errlen, "%s: --logprobs: expected 1 to %d tokens (the context after the delimiter), got %zu "
                 "(a shorter text, or --seq-len)", path, im->T - 1, ids->n - 1);
        rc = -1;
    }
    int L = (int)ids->n, greedy = 1;
    double ll = 0;
    if (!rc && !(*logprobs = malloc((size_t)(L - 1) * sizeof **logprobs))) rc = -1;
    if (!rc && score(im, (const int32_t *)ids->ids, (const int32_t *)ids->ids + 1, L - 1, L - 1, &ll, &greedy, *logprobs)) {
        snprintf(err, errlen, "%s: evaluation failed (out of memory?)", path);
        rc = -1;
    }
    if (rc) {
        tok_buf_free(ids);
        free(*logprobs);
        *logprobs = NULL;
    }
    return rc;
}
