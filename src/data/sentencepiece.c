/* sentencepiece.c - SentencePiece BPE models (Kudo & Richardson 2018), such
 * as LLaMA-2's tokenizer.model, read straight from the model proto and
 * encoded as libsentencepiece 0.1.x's BPE model and processor do:
 *   1. normalize: no character map (the "identity" rule; others are
 *      rejected), invalid UTF-8 bytes become U+FFFD, a dummy "▁" prefix starts
 *      a document, spaces become "▁" (U+2581);
 *   2. every character is a symbol (user-defined pieces are matched first and
 *      never merge); the adjacent pair whose concatenation is a piece with the
 *      highest score merges, leftmost first, until none is left;
 *   3. a symbol that is not a piece becomes its bytes' <0xXX> pieces (byte
 *      fallback) or <unk>.
 * Decoding maps "▁" back to a space and <0xXX> to its byte, and drops the
 * dummy prefix's space at the start of a document. */
#include "tokenizer.h"
#include "../util/fileio.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { P_NORMAL = 1, P_UNKNOWN = 2, P_CONTROL = 3, P_USER = 4, P_UNUSED = 5, P_BYTE = 6 };
#define WS "\xe2\x96\x81" /* U+2581, SentencePiece's visible space */

typedef struct { uint32_t off, len, id; } str_slot; /* len 0 = empty */

typedef struct {
    int n;
    char *bytes;                 /* every piece back to back */
    uint32_t *off, *len;
    float *score;
    uint8_t *type;
    str_slot *strs;              /* NORMAL, USER_DEFINED and UNUSED pieces -> id */
    size_t strs_cap;
    int32_t byte_id[256];        /* <0xXX> -> id, -1 if absent */
    uint32_t *user;              /* ids of user-defined pieces */
    int n_user;
    int unk, byte_fallback, dummy_prefix, remove_ws, escape_ws;
    const char *file;
} spm;

/* --- the model proto: just enough of protobuf's wire format ------------ */

typedef struct { const uint8_t *p, *end; } pb;

static int pb_varint(pb *b, uint64_t *v) {
    *v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (b->p >= b->end) return -1;
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 127) << s;
        if (c < 128) return 0;
    }
    return -1;
}

/* the next field: number, wire type, and either an integer or a byte range */
static int pb_field(pb *b, int *field, int *wire, uint64_t *v, pb *sub) {
    uint64_t key;
    if (pb_varint(b, &key)) return -1;
    *field = (int)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(b, v);
    case 1: if (b->end - b->p < 8) return -1; b->p += 8; return 0;
    case 5:
        if (b->end - b->p < 4) return -1;
        memcpy(v, b->p, 4); /* little-endian: the low 4 bytes */
        *v &= 0xffffffffu;
        b->p += 4;
        return 0;
    case 2:
        if (pb_varint(b, v) || *v > (uint64_t)(b->end - b->p)) return -1;
        sub->p = b->p;
        sub->end = b->p + *v;
        b->p += *v;
        return 0;
    default: return -1;
    }
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static long find_piece(const spm *m, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & (m->strs_cap - 1);; i = (i + 1) & (m->strs_cap - 1)) {
        const str_slot *e = &m->strs[i];
        if (!e->len) return -1;
        if (e->len == n && !memcmp(m->bytes + e->off, s, n)) return e->id;
    }
}

static void spm_free(tokenizer *tk) {
    if (!tk) return;
    spm *m = tk->impl;
    if (m) {
        free(m->bytes); free(m->off); free(m->len); free(m->score); free(m->type);
        free(m->strs); free(m->user); free(m);
    }
    free(tk);
}

static int bad(const char *file, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: not a SentencePiece model: %s", file, what);
    return -1;
}

/* one SentencePiece message: piece (1), score (2), type (3) */
static int read_piece(spm *m, pb *b, size_t *used, size_t cap, char *err, size_t errlen) {
    int f, w, id = m->n;
    uint64_t v;
    pb sub;
    m->type[id] = P_NORMAL;
    m->score[id] = 0;
    m->len[id] = 0;
    m->off[id] = (uint32_t)*used;
    while (b->p < b->end) {
        if (pb_field(b, &f, &w, &v, &sub)) return bad(m->file, "a damaged piece entry", err, errlen);
        if (f == 1 && w == 2) {
            if (v == 0 || v > 256 || *used + v > cap)
                return bad(m->file, "a piece string is empty or longer than 256 bytes", err, errlen);
            memcpy(m->bytes + *used, sub.p, v);
            m->len[id] = (uint32_t)v;
            *used += v;
        } else if (f == 2 && w == 5) {
            uint32_t u = (uint32_t)v;
            memcpy(&m->score[id], &u, 4);
        } else if (f == 3 && w == 0) {
            if (v < 1 || v > 6) return bad(m->file, "a piece type outside 1..6", err, errlen);
            m->type[id] = (uint8_t)v;
        }
    }
    if (!m->len[id]) return bad(m->file, "a piece without its string", err, errlen);
    m->n++;
    return 0;
}

/* Two passes over the proto (count, then read), each field checked where it is read: long because
 * every rejected feature of a model (unigram, a character map, ...) gets its own line here. */
static int parse_model(spm *m, const uint8_t *data, size_t size, char *err, size_t errlen) {
    int f, w, model_type = 1, have_norm = 0;
    uint64_t v;
    pb b = {data, data + size}, sub;
    size_t n_pieces = 0;
    if (!size) return bad(m->file, "empty file", err, errlen); /* else its proto2 defaults name a unigram model */
    /* first pass: count the pieces, read the specs */
    while (b.p < b.end) {
        if (pb_field(&b, &f, &w, &v, &sub)) return bad(m->file, "damaged protobuf data", err, errlen);
        if (f == 1 && w == 2) n_pieces++;
        if (f == 2 && w == 2) { /* TrainerSpec */
            int g, x;
            uint64_t u;
            pb s2;
            while (sub.p < sub.end) {
                if (pb_field(&sub, &g, &x, &u, &s2)) return bad(m->file, "a damaged trainer_spec", err, errlen);
                if (g == 3 && x == 0) model_type = (int)u;
                if (g == 35 && x == 0) m->byte_fallback = u != 0;
                if (g == 24 && x == 0 && u)
                    return bad(m->file, "treat_whitespace_as_suffix is not supported", err, errlen);
            }
        }
        if (f == 3 && w == 2) { /* NormalizerSpec */
            int g, x;
            uint64_t u;
            pb s2;
            have_norm = 1;
            while (sub.p < sub.end) {
                if (pb_field(&sub, &g, &x, &u, &s2)) return bad(m->file, "a damaged normalizer_spec", err, errlen);
                if (g == 2 && x == 2 && u > 0) {
                    snprintf(err, errlen, "%s: normalizer_spec has a character map (an NFKC-style rule); "
                             "only the identity normalizer (LLaMA's) is supported", m->file);
                    return -1;
                }
                if (g == 3 && x == 0) m->dummy_prefix = u != 0;
                if (g == 4 && x == 0) m->remove_ws = u != 0;
                if (g == 5 && x == 0) m->escape_ws = u != 0;
            }
        }
    }
    if (model_type != 2) {
        snprintf(err, errlen, "%s: trainer_spec.model_type is %d; only BPE models (2) are supported "
                 "(unigram models such as T5's are not)", m->file, model_type);
        return -1;
    }
    if (!have_norm) return bad(m->file, "no normalizer_spec", err, errlen);
    if (n_pieces < 4 || n_pieces > (1u << 24)) return bad(m->file, "expected 4..16M pieces", err, errlen);
    m->bytes = malloc(size);
    m->off = malloc(n_pieces * sizeof *m->off);
    m->len = malloc(n_pieces * sizeof *m->len);
    m->score = malloc(n_pieces * sizeof *m->score);
    m->type = malloc(n_pieces);
    m->user = malloc(n_pieces * sizeof *m->user);
    for (m->strs_cap = 1; m->strs_cap < 2 * n_pieces; m->strs_cap <<= 1) {}
    m->strs = calloc(m->strs_cap, sizeof *m->strs);
    if (!m->bytes || !m->off || !m->len || !m->score || !m->type || !m->user || !m->strs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* second pass: the pieces */
    size_t used = 0;
    b = (pb){data, data + size};
    while (b.p < b.end) {
        pb_field(&b, &f, &w, &v, &sub);
        if (f == 1 && w == 2 && read_piece(m, &sub, &used, size, err, errlen)) return -1;
    }
    m->unk = -1;
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
    for (int id = 0; id < m->n; id++) {
        const char *s = m->bytes + m->off[id];
        uint32_t len = m->len[id];
        int t = m->type[id];
        if (t == P_UNKNOWN) {
            if (m->unk >= 0) return bad(m->file, "two <unk> pieces", err, errlen);
            m->unk = id;
        } else if (t == P_BYTE) {
            unsigned x;
            char tail;
            if (len != 6 || sscanf(s, "<0x%2X%c", &x, &tail) != 2 || tail != '>')
                return bad(m->file, "a byte piece not spelled <0xXX>", err, errlen);
            m->byte_id[x] = id;
        } else if (t == P_NORMAL || t == P_USER || t == P_UNUSED) {
            if (find_piece(m, s, len) >= 0) {
                snprintf(err, errlen, "%s: piece %d (%.*s) appears twice", m->file, id, (int)len, s);
                err_printable(err);
                return -1;
            }
            size_t i = hash_bytes(s, len) & (m->strs_cap - 1);
            while (m->strs[i].len) i = (i + 1) & (m->strs_cap - 1);
            m->strs[i] = (str_slot){m->off[id], len, (uint32_t)id};
            if (t == P_USER) m->user[m->n_user++] = (uint32_t)id;
        }
    }
    if (m->unk < 0) return bad(m->file, "no <unk> piece", err, errlen);
    if (m->byte_fallback)
        for (int i = 0; i < 256; i++)
            if (m->byte_id[i] < 0) return bad(m->file, "byte_fallback is on but a <0xXX> piece is missing", err, errlen);
    return 0;
}

/* --- encoding --------------------------------------------------------- */

/* length of the valid UTF-8 character at s, or 0 if the bytes are not one */
static int utf8_len(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    int len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
              : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (!len || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && s[0] == 0xe0 && s[1] < 0xa0) return 0;          /* overlong */
    if (len == 3 && s[0] == 0xed && s[1] >= 0xa0) return 0;         /* surrogate */
    if (len == 4 && s[0] == 0xf0 && s[1] < 0x90) return 0;          /* overlong */
    if (len == 4 && s[0] == 0xf4 && s[1] >= 0x90) return 0;         /* > U+10FFFF */
    return len;
}

/* A symbol is a run of the normalized text; merges link them in a list and
 * record, in a tree of nodes, which two symbols made each one, so an UNUSED
 * piece can be taken apart again as libsentencepiece's resegmentation does. */
typedef struct { uint32_t off, len; int32_t prev, next, node; uint8_t frozen; } symbol;
typedef struct { uint32_t off, len; int32_t left, right; } node;
typedef struct { float score; int32_t left, right; uint32_t len; } cand;

typedef struct {
    char *norm; size_t norm_cap;
    symbol *sym; size_t sym_cap;
    node *nodes; size_t nodes_cap;
    cand *heap; size_t heap_n, heap_cap;
} workspace;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int cand_before(const cand *a, const cand *b) { /* higher score, then leftmost */
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(workspace *w, cand c) {
    if (grow((void **)&w->heap, &w->heap_cap, w->heap_n + 1, sizeof c)) return -1;
    size_t i = w->heap_n++;
    while (i && cand_before(&c, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
    return 0;
}

static cand heap_pop(workspace *w) {
    cand top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->heap_n) break;
        if (c + 1 < w->heap_n && cand_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!cand_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->heap_n) w->heap[i] = last;
    return top;
}

static int maybe_pair(const spm *m, workspace *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || w->sym[l].frozen || w->sym[r].frozen) return 0;
    uint32_t len = w->sym[l].len + w->sym[r].len;
    long id = find_piece(m, w->norm + w->sym[l].off, len);
    if (id < 0) return 0;
    return heap_push(w, (cand){m->score[id], l, r, len});
}

static int emit_bytes(const spm *m, const char *s, size_t n, tok_buf *out, int *prev_unk) {
    if (!m->byte_fallback) { /* runs of unknown symbols are one <unk>, as libsentencepiece */
        if (*prev_unk) return 0;
        *prev_unk = 1;
        return tok_buf_push(out, (uint32_t)m->unk);
    }
    for (size_t i = 0; i < n; i++)
        if (tok_buf_push(out, (uint32_t)m->byte_id[(unsigned char)s[i]])) return -1;
    return 0;
}

static int emit(const spm *m, workspace *w, int32_t nd, tok_buf *out, int *prev_unk) {
    const node *x = &w->nodes[nd];
    long id = find_piece(m, w->norm + x->off, x->len);
    if (id >= 0 && m->type[id] == P_UNUSED && x->left >= 0) {
        int32_t r = x->right; /* x may move if nodes grows: keep the index */
        return emit(m, w, x->left, out, prev_unk) || emit(m, w, r, out, prev_unk);
    }
    if (id < 0 || m->type[id] == P_UNUSED) return emit_bytes(m, w->norm + x->off, x->len, out, prev_unk);
    *prev_unk = 0;
    return tok_buf_push(out, (uint32_t)id);
}

/* the normalized text in w->norm; returns its length, or -1 */
static long normalize(const spm *m, workspace *w, const unsigned char *s, size_t n, int cont) {
    if (grow((void **)&w->norm, &w->norm_cap, 3 * n + 4, 1)) return -1;
    size_t i = 0, k = 0;
    if (m->remove_ws && !cont)
        while (i < n && s[i] == ' ') i++;
    if (i == n && !cont) return 0;
    if (m->dummy_prefix && !cont) {
        memcpy(w->norm, m->escape_ws ? WS : " ", m->escape_ws ? 3 : 1);
        k = m->escape_ws ? 3 : 1;
    }
    int prev_space = m->dummy_prefix && !cont;
    while (i < n) {
        if (s[i] == ' ') {
            if (!(m->remove_ws && prev_space)) {
                memcpy(w->norm + k, m->escape_ws ? WS : " ", m->escape_ws ? 3 : 1);
                k += m->escape_ws ? 3 : 1;
            }
            prev_space = 1;
            i++;
            continue;
        }
        prev_space = 0;
        int len = utf8_len(s + i, n - i);
        if (len) {
            memcpy(w->norm + k, s + i, (size_t)len);
            k += (size_t)len;
            i += (size_t)len;
        } else { /* one malformed byte -> U+FFFD, as libsentencepiece */
            memcpy(w->norm + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        }
    }
    if (m->remove_ws) { /* trailing ones go, the dummy prefix too and a "▁" in the text as
                         * libsentencepiece does; a prepare block never ends in one (cut_point) */
        size_t sl = m->escape_ws ? 3 : 1;
        while (k >= sl && !memcmp(w->norm + k - sl, m->escape_ws ? WS : " ", sl)) k -= sl;
    }
    return (long)k;
}

static int spm_encode(const tokenizer *tk, const char *text, size_t n, int cont, tok_buf *out) {
    const spm *m = tk->impl;
    workspace w = {0};
    int rc = -1, prev_unk = 0;
    long nn = normalize(m, &w, (const unsigned char *)text, n, cont);
    if (nn < 0) goto done;
    size_t ns = 0;
    if (grow((void **)&w.sym, &w.sym_cap, (size_t)nn + 1, sizeof *w.sym) ||
        grow((void **)&w.nodes, &w.nodes_cap, 2 * (size_t)nn + 1, sizeof *w.nodes))
        goto done;
    for (size_t i = 0; i < (size_t)nn;) {
        uint32_t len = 0;
        uint8_t frozen = 0;
        for (int u = 0; u < m->n_user; u++) { /* longest user-defined piece here */
            uint32_t id = m->user[u], l = m->len[id];
            if (l > len && i + l <= (size_t)nn && !memcmp(w.norm + i, m->bytes + m->off[id], l)) {
                len = l;
                frozen = 1;
            }
        }
        if (!len) {
            int l = utf8_len((const unsigned char *)w.norm + i, (size_t)nn - i);
            len = l ? (uint32_t)l : 1;
        }
        w.nodes[ns] = (node){(uint32_t)i, len, -1, -1};
        w.sym[ns] = (symbol){(uint32_t)i, len, (int32_t)ns - 1, -1, (int32_t)ns, frozen};
        if (ns) w.sym[ns - 1].next = (int32_t)ns;
        ns++;
        i += len;
    }
    size_t n_nodes = ns;
    for (size_t i = 1; i < ns; i++)
        if (maybe_pair(m, &w, (int32_t)i - 1, (int32_t)i)) goto done;
    while (w.heap_n) {
        cand c = heap_pop(&w);
        symbol *l = &w.sym[c.left], *r = &w.sym[c.right];
        if (!l->len || !r->len || l->len + r->len != c.len || l->next != c.right) continue; /* stale */
        w.nodes[n_nodes] = (node){l->off, c.len, l->node, r->node};
        l->node = (int32_t)n_nodes++;
        l->len = c.len;
        l->next = r->next;
        if (r->next >= 0) w.sym[r->next].prev = c.left;
        r->len = 0;
        if (maybe_pair(m, &w, l->prev, c.left) || maybe_pair(m, &w, c.left, l->next)) goto done;
    }
    rc = 0;
    for (int32_t i = ns ? 0 : -1; i >= 0 && !rc; i = w.sym[i].next)
        rc = emit(m, &w, w.sym[i].node, out, &prev_unk);
done:
    free(w.norm); free(w.sym); free(w.nodes); free(w.heap);
    return rc;
}

static int spm_decode(const tokenizer *tk, uint32_t id, char *buf, size_t len) {
    const spm *m = tk->impl;
    if (id >= (uint32_t)m->n) return -1;
    int t = m->type[id];
    if (t == P_CONTROL) return 0;
    if (t == P_BYTE) {
        if (len < 1) return -1;
        buf[0] = (char)(unsigned)strtoul(m->bytes + m->off[id] + 3, NULL, 16);
        return 1;
    }
    if (t == P_UNKNOWN) { /* libsentencepiece's unk_surface */
        if (len < 5) return -1;
        memcpy(buf, " \xe2\x81\x87 ", 5);
        return 5;
    }
    const char *s = m->bytes + m->off[id];
    size_t k = 0;
    for (uint32_t i = 0; i < m->len[id];) {
        if (k + 3 > len) return -1;
        if (m->len[id] - i >= 3 && !memcmp(s + i, WS, 3)) {
            buf[k++] = ' ';
            i += 3;
        } else {
            buf[k++] = s[i++];
        }
    }
    return (int)k;
}

static int spm_piece(const tokenizer *tk, uint32_t id, char *buf, size_t len, float *score, int *type) {
    const spm *m = tk->impl;
    if (id >= (uint32_t)m->n || m->len[id] > len) return -1;
    memcpy(buf, m->bytes + m->off[id], m->len[id]);
    *score = m->score[id];
    *type = m->type[id];
    return (int)m->len[id];
}

tokenizer *sentencepiece_open(const char *path, char *err, size_t errlen) {
    if (!path || !*path) {
        snprintf(err, errlen, "--tokenizer sentencepiece needs --tokenizer-path FILE "
                 "(a tokenizer.model, e.g. LLaMA-2's)");
        return NULL;
    }
    char file[1100];
    snprintf(file, sizeof file, "%s", path);
    struct stat st;
    if (!stat(path, &st) && S_ISDIR(st.st_mode)) /* a directory holding tokenizer.model */
        snprintf(file, sizeof file, "%s/tokenizer.model", path);
    size_t size;
    char *data = read_file(file, 64u << 20, &size, err, errlen);
    if (!data) return NULL;
    tokenizer *tk = calloc(1, sizeof *tk);
    spm *m = calloc(1, sizeof *m);
    if (!tk || !m) {
        free(tk); free(m); free(data);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* proto2 defaults */
    m->dummy_prefix = m->escape_ws = m->remove_ws = 1;
    m->file = file;
    tk->impl = m;
    tk->free = spm_free;
    int rc = parse_model(m, (const uint8_t *)data, size, err, errlen);
    free(data);
    m->file = NULL;
    if (rc) {
        spm_free(tk);
        return NULL;
    }
    /* LLaMA starts every sequence with <s>: it is our document delimiter */
    long bos = -1;
    for (int id = 0; id < m->n && bos < 0; id++)
        if (m->type[id] == P_CONTROL && m->len[id] == 3 && !memcmp(m->bytes + m->off[id], "<s>", 3)) bos = id;
    if (bos < 0) {
        snprintf(err, errlen, "%s: no <s> control piece to separate documents with", file);
        spm_free(tk);
        return NULL;
    }
    tk->name = "sentencepiece";
    tk->vocab_size = m->n;
    tk->eot = tk->eos = (uint32_t)bos;
    for (int id = 0; id < m->n; id++) /* </s>, for exports; <s> where a model has none */
        if (m->type[id] == P_CONTROL && m->len[id] == 4 && !memcmp(m->bytes + m->off[id], "</s>", 4)) tk->eos = (uint32_t)id;
    tk->dummy_prefix = m->dummy_prefix;
    tk->encode = spm_encode;
    tk->decode = spm_decode;
    tk->piece = spm_piece;
    return tk;
}
