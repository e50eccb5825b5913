/* gpt2.c - GPT-2's byte-level BPE (Radford et al. 2019), as OpenAI's
 * encoder.py, tiktoken's "gpt2" and Hugging Face's GPT2Tokenizer encode:
 *   1. "<|endoftext|>" in the text is the special token 50256 (HF's
 *      behaviour; tiktoken's with allowed_special="all");
 *   2. the rest is split by GPT-2's pre-tokenizer regex (PCRE2, Unicode
 *      properties) into chunks;
 *   3. each chunk's bytes start as single-byte tokens and the lowest-ranked
 *      adjacent pair of vocab.bpe is merged, leftmost first, until none is left.
 * encoder.json keys spell bytes through GPT-2's bytes_to_unicode table.
 * Bytes that are not valid UTF-8 (which the reference implementations, taking
 * Unicode strings, never see) form chunks of their own, so every byte string
 * round-trips.  Files are read with cJSON and checked; errors name the file. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GPT2_EOT "<|endoftext|>"
static const char *PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct { uint64_t key; uint32_t rank, merged; } pair_slot; /* key 0 = empty */
typedef struct { uint32_t off, len, id; } str_slot;                  /* len 0 = empty */

typedef struct {
    int n_vocab;
    char *bytes;          /* every token's bytes, back to back */
    uint32_t *off, *len;  /* per id */
    str_slot *strs;       /* bytes -> id */
    size_t strs_cap;
    pair_slot *pairs;     /* (left id, right id) -> merge rank and result */
    size_t pairs_cap;
    uint32_t (*merges)[2]; /* rank -> (left id, right id), for piece/merge spelling */
    uint32_t n_merges;
    uint32_t byte_id[256];
    uint32_t eot;
    int have_eot;
    pcre2_code *re;
    pcre2_match_data *md;
    uint32_t *work;       /* a chunk's ids during BPE (grown as needed) */
    size_t work_cap;
} gpt2;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static long find_str(const gpt2 *g, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & (g->strs_cap - 1);; i = (i + 1) & (g->strs_cap - 1)) {
        const str_slot *e = &g->strs[i];
        if (!e->len) return -1;
        if (e->len == n && !memcmp(g->bytes + e->off, s, n)) return e->id;
    }
}

static const pair_slot *find_pair(const gpt2 *g, uint32_t a, uint32_t b) {
    uint64_t key = ((uint64_t)a << 32 | b) + 1;
    for (size_t i = mix(key) & (g->pairs_cap - 1);; i = (i + 1) & (g->pairs_cap - 1)) {
        if (!g->pairs[i].key) return NULL;
        if (g->pairs[i].key == key) return &g->pairs[i];
    }
}

/* GPT-2's bytes_to_unicode, inverted: code point -> byte, or -1 */
/* GPT-2's byte alphabet: printable bytes stand for themselves, the others
 * for 256, 257, ... in byte order */
static int to_byte[324], to_code[256];
static void alphabet(void) {
    static int ready;
    if (ready) return;
    for (int i = 0; i < 324; i++) to_byte[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        to_code[b] = printable ? b : 256 + n++;
        to_byte[to_code[b]] = b;
    }
    ready = 1;
}

static int unicode_to_byte(uint32_t cp) {
    alphabet();
    return cp < 324 ? to_byte[cp] : -1;
}

/* decodes one UTF-8 code point; returns its length, 0 if invalid */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    if (!n) return 0;
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    int len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    *cp = c;
    return len;
}

static void gpt2_free(tokenizer *tk) {
    gpt2 *g = tk->impl;
    if (g) {
        free(g->bytes);
        free(g->off);
        free(g->len);
        free(g->strs);
        free(g->pairs);
        free(g->merges);
        free(g->work);
        pcre2_match_data_free(g->md);
        pcre2_code_free(g->re);
        free(g);
    }
    free(tk);
}

/* A token spelt in GPT-2's byte alphabet (encoder.json keys, vocab.bpe
 * halves) into its bytes; their count, or -1 for a character outside the
 * alphabet or more than cap bytes. */
static long spell(const char *s, size_t n, char *out, size_t cap) {
    size_t q = 0, k = 0;
    while (q < n) {
        uint32_t cp;
        int len = utf8_next((const unsigned char *)s + q, n - q, &cp);
        int b = len ? unicode_to_byte(cp) : -1;
        if (b < 0 || k == cap) return -1;
        out[k++] = (char)b;
        q += (size_t)len;
    }
    return (long)k;
}

/* reads one of the tokenizer's files; a missing one says what the directory needs */
static char *read_tokenizer_file(const char *path, size_t *n, char *err, size_t errlen) {
    char *text = read_file(path, (size_t)1 << 30, n, err, errlen);
    if (!text) {
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, " (the gpt2 tokenizer needs encoder.json and vocab.bpe in --tokenizer-path)");
    }
    return text;
}

/* encoder.json: {"token": id, ...}, ids 0..n-1 each once */
static int load_encoder(gpt2 *g, const char *path, char *err, size_t errlen) {
    size_t n;
    char *text = read_tokenizer_file(path, &n, err, errlen);
    if (!text) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    int rc = -1, count = cJSON_GetArraySize(j);
    if (!cJSON_IsObject(j) || count < 256 || count > (1 << 24)) {
        snprintf(err, errlen, "%s: expected a JSON object of 256 to 2^24 token -> id entries", path);
        goto out;
    }
    g->n_vocab = count;
    g->off = calloc((size_t)count, sizeof *g->off);
    g->len = calloc((size_t)count, sizeof *g->len);
    g->bytes = malloc(n);  /* the tokens' bytes are shorter than their JSON spelling */
    for (g->strs_cap = 1; g->strs_cap < 2 * (size_t)count; g->strs_cap *= 2) {}
    g->strs = calloc(g->strs_cap, sizeof *g->strs);
    if (!g->off || !g->len || !g->bytes || !g->strs) { snprintf(err, errlen, "out of memory"); goto out; }
    for (int i = 0; i < count; i++) g->len[i] = UINT32_MAX;
    uint32_t used = 0;
    for (const cJSON *e = j->child; e; e = e->next) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || !(v >= 0 && v < count) || v != (double)(int)v) {
            snprintf(err, errlen, "%s: token \"%.40s\": expected an id in 0..%d", path, e->string, count - 1);
            goto out;
        }
        int id = (int)v;
        if (g->len[id] != UINT32_MAX) {
            snprintf(err, errlen, "%s: id %d appears twice", path, id);
            goto out;
        }
        size_t sl = strlen(e->string);
        int special = !strcmp(e->string, GPT2_EOT);
        long bl = special ? (long)sl : spell(e->string, sl, g->bytes + used, n - used);
        if (bl < 0) {
            snprintf(err, errlen, "%s: token \"%.40s\": character outside GPT-2's byte alphabet", path,
                     e->string);
            goto out;
        }
        if (special) memcpy(g->bytes + used, e->string, sl); /* kept as its text */
        g->off[id] = used;
        g->len[id] = (uint32_t)bl;
        used += (uint32_t)bl;
        if (special) { g->eot = (uint32_t)id; g->have_eot = 1; continue; }
        if (!g->len[id] || find_str(g, g->bytes + g->off[id], g->len[id]) >= 0) {
            snprintf(err, errlen, "%s: token \"%.40s\": empty or a duplicate", path, e->string);
            goto out;
        }
        size_t i = hash_bytes(g->bytes + g->off[id], g->len[id]) & (g->strs_cap - 1);
        while (g->strs[i].len) i = (i + 1) & (g->strs_cap - 1);
        g->strs[i] = (str_slot){g->off[id], g->len[id], (uint32_t)id};
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        long id = find_str(g, &c, 1);
        if (id < 0) { snprintf(err, errlen, "%s: no token for byte 0x%02x (not a byte-level BPE vocabulary)", path, b); goto out; }
        g->byte_id[b] = (uint32_t)id;
    }
    if (!g->have_eot) { snprintf(err, errlen, "%s: no \"%s\" token", path, GPT2_EOT); goto out; }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

/* vocab.bpe: "#version" line, then one merge "A B" per line, best first */
static int load_merges(gpt2 *g, const char *path, char *err, size_t errlen) {
    size_t n;
    char *text = read_tokenizer_file(path, &n, err, errlen);
    if (!text) return -1;
    for (g->pairs_cap = 1; g->pairs_cap < 2 * (size_t)g->n_vocab; g->pairs_cap *= 2) {}
    g->pairs = calloc(g->pairs_cap, sizeof *g->pairs);
    g->merges = calloc(g->pairs_cap / 2, sizeof *g->merges);
    int rc = g->pairs && g->merges ? 0 : -1;
    if (rc) snprintf(err, errlen, "out of memory");
    char *line = text, tok[2][256];
    uint32_t rank = 0;
    for (long no = 1; !rc && line < text + n; no++) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        if (*line && !(no == 1 && !strncmp(line, "#version", 8))) {
            char *sp = strchr(line, ' ');
            size_t l0 = sp ? (size_t)(sp - line) : 0;
            int parts = sp && l0 && strlen(sp + 1) && !strchr(sp + 1, ' ');
            uint32_t ids[2];
            char merged[512];
            size_t ml = 0;
            for (int k = 0; parts && k < 2; k++) { /* spelling -> bytes -> id */
                long bl = k ? spell(sp + 1, strlen(sp + 1), tok[k], sizeof tok[k])
                            : spell(line, l0, tok[k], sizeof tok[k]);
                long id = bl > 0 ? find_str(g, tok[k], (size_t)bl) : -1;
                if (id < 0) { parts = 0; break; }
                ids[k] = (uint32_t)id;
                memcpy(merged + ml, tok[k], (size_t)bl); /* two halves of at most 256 bytes each */
                ml += (size_t)bl;
            }
            long mid = parts ? find_str(g, merged, ml) : -1;
            if (mid < 0) {
                snprintf(err, errlen, "%s:%ld: expected \"A B\" with A, B and AB in encoder.json", path, no);
                rc = -1;
            } else if (!find_pair(g, ids[0], ids[1])) { /* a repeated merge keeps its first rank */
                uint64_t key = ((uint64_t)ids[0] << 32 | ids[1]) + 1;
                size_t i = mix(key) & (g->pairs_cap - 1);
                while (g->pairs[i].key) i = (i + 1) & (g->pairs_cap - 1);
                g->merges[rank][0] = ids[0], g->merges[rank][1] = ids[1];
                g->pairs[i] = (pair_slot){key, rank++, (uint32_t)mid};
                if (rank >= g->pairs_cap / 2) { snprintf(err, errlen, "%s: more merges than tokens", path); rc = -1; }
            }
        }
        if (!end) break;
        line = end + 1;
    }
    free(text);
    g->n_merges = rank;
    return rc;
}

/* BPE over one chunk: lowest rank first, leftmost among equals */
static int bpe(gpt2 *g, const unsigned char *s, size_t n, tok_buf *out) {
    if (n > g->work_cap) {
        uint32_t *w = realloc(g->work, n * sizeof *w);
        if (!w) return -1;
        g->work = w;
        g->work_cap = n;
    }
    uint32_t *w = g->work;
    for (size_t i = 0; i < n; i++) w[i] = g->byte_id[s[i]];
    while (n > 1) {
        size_t best = 0;
        uint32_t best_rank = UINT32_MAX, merged = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            const pair_slot *p = find_pair(g, w[i], w[i + 1]);
            if (p && p->rank < best_rank) { best_rank = p->rank; best = i; merged = p->merged; }
        }
        if (best_rank == UINT32_MAX) break;
        w[best] = merged;
        memmove(w + best + 1, w + best + 2, (n - best - 2) * sizeof *w);
        n--;
    }
    for (size_t i = 0; i < n; i++)
        if (tok_buf_push(out, w[i])) return -1;
    return 0;
}

/* regex chunks of a text without special tokens; bytes no match covers
 * (invalid UTF-8) are chunks of their own */
static int encode_ordinary(gpt2 *g, const unsigned char *s, size_t n, tok_buf *out) {
    size_t pos = 0;
    while (pos < n) {
        int rc = pcre2_match(g->re, s, n, pos, 0, g->md, NULL);
        size_t a = n, b = n;
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(g->md);
            a = ov[0];
            b = ov[1];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            return -1;
        }
        if (a > pos && bpe(g, s + pos, a - pos, out)) return -1;
        if (b > a && bpe(g, s + a, b - a, out)) return -1;
        if (b == a && a < n) b = a + 1; /* never loop on an empty match */
        pos = b > pos ? b : pos + 1;
    }
    return 0;
}

/* the first "<|endoftext|>" in [p, end), or NULL */
static const char *find_eot(const char *p, const char *end) {
    size_t el = strlen(GPT2_EOT);
    for (; (size_t)(end - p) >= el; p++) {
        p = memchr(p, '<', (size_t)(end - p) - el + 1);
        if (!p) return NULL;
        if (!memcmp(p, GPT2_EOT, el)) return p;
    }
    return NULL;
}

static int gpt2_encode(const tokenizer *tk, const char *text, size_t n, int cont, tok_buf *out) {
    (void)cont; /* byte-level BPE has no per-document prefix */
    gpt2 *g = tk->impl;
    const char *p = text, *end = text + n;
    size_t el = strlen(GPT2_EOT);
    while (p < end) {
        const char *hit = find_eot(p, end);
        const char *stop = hit ? hit : end;
        if (encode_ordinary(g, (const unsigned char *)p, (size_t)(stop - p), out)) return -1;
        if (!hit) break;
        if (tok_buf_push(out, g->eot)) return -1;
        p = hit + el;
    }
    return 0;
}

static int gpt2_decode(const tokenizer *tk, uint32_t id, char *buf, size_t len) {
    const gpt2 *g = tk->impl;
    if (id >= (uint32_t)g->n_vocab || g->len[id] > len) return -1;
    memcpy(buf, g->bytes + g->off[id], g->len[id]);
    return (int)g->len[id];
}

/* bytes -> GPT-2's byte alphabet (the inverse of unicode_to_byte), as UTF-8 */
static long unspell(const char *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
    alphabet();
    for (size_t i = 0; i < n; i++) {
        int cp = to_code[(unsigned char)s[i]];
        if (k + 2 > cap) return -1;
        if (cp < 0x80) out[k++] = (char)cp;
        else out[k++] = (char)(0xC0 | cp >> 6), out[k++] = (char)(0x80 | (cp & 0x3F));
    }
    return (long)k;
}

static int gpt2_piece(const tokenizer *tk, uint32_t id, char *buf, size_t len, float *score, int *type) {
    const gpt2 *g = tk->impl;
    if (id >= (uint32_t)g->n_vocab) return -1;
    *score = 0;
    *type = id == g->eot ? 3 : 1; /* <|endoftext|> is a control token, kept as its text */
    if (id == g->eot) {
        if (g->len[id] > len) return -1;
        memcpy(buf, g->bytes + g->off[id], g->len[id]);
        return (int)g->len[id];
    }
    return (int)unspell(g->bytes + g->off[id], g->len[id], buf, len);
}

static int gpt2_merge(const tokenizer *tk, uint32_t rank, char *buf, size_t len) {
    const gpt2 *g = tk->impl;
    if (rank >= g->n_merges) return -1;
    float s;
    int t, a = gpt2_piece(tk, g->merges[rank][0], buf, len, &s, &t);
    int b = a < 0 || (size_t)a + 1 >= len ? -1 : gpt2_piece(tk, g->merges[rank][1], buf + a + 1, len - (size_t)a - 1, &s, &t);
    if (b < 0) return -1;
    buf[a] = ' ';
    return a + 1 + b;
}

tokenizer *gpt2_open(const char *dir, char *err, size_t errlen) {
    tokenizer *tk = calloc(1, sizeof *tk);
    gpt2 *g = calloc(1, sizeof *g);
    if (!tk || !g) { free(tk); free(g); snprintf(err, errlen, "out of memory"); return NULL; }
    *tk = (tokenizer){"gpt2", 0, 0, 0, gpt2_encode, gpt2_decode, gpt2_free, g, 0, gpt2_piece, gpt2_merge};
    char path[1200];
    if (!dir || !*dir) {
        snprintf(err, errlen, "--tokenizer gpt2 needs --tokenizer-path DIR with encoder.json and vocab.bpe");
        goto fail;
    }
    /* GPT-2's names for its two files, else Hugging Face's (an export's) */
    const char *enc = "encoder.json", *merges = "vocab.bpe";
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    if (!access(path, F_OK)) {
        snprintf(path, sizeof path, "%s/encoder.json", dir);
        if (access(path, F_OK)) enc = "vocab.json", merges = "merges.txt";
    }
    snprintf(path, sizeof path, "%s/%s", dir, enc);
    if (load_encoder(g, path, err, errlen)) goto fail;
    snprintf(path, sizeof path, "%s/%s", dir, merges);
    if (load_merges(g, path, err, errlen)) goto fail;
    int code;
    PCRE2_SIZE at;
    g->re = pcre2_compile((PCRE2_SPTR)PATTERN, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at, NULL);
    if (!g->re || !(g->md = pcre2_match_data_create_from_pattern(g->re, NULL))) {
        snprintf(err, errlen, "gpt2: the pre-tokenizer regex does not compile (PCRE2 error %d)", code);
        goto fail;
    }
    pcre2_jit_compile(g->re, PCRE2_JIT_COMPLETE); /* a speed-up where the JIT exists */
    tk->vocab_size = g->n_vocab;
    tk->eot = tk->eos = g->eot;
    return tk;
fail:
    err_printable(err);
    gpt2_free(tk);
    return NULL;
}
