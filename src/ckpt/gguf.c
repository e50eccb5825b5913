/* gguf.c - llama.cpp's GGUF v3 (export.h).
 *
 * The file: "GGUF", version 3, the tensor and key counts, the metadata
 * (key, type, value), the tensor infos (name, dims innermost first, type,
 * offset into the data), then the data, every tensor aligned to 32 bytes.
 * Everything is little-endian, strings are a uint64 length and the bytes.
 *
 * The weights are the merged ones of the HF export (gates, norms and the
 * embedding scale folded in).  W_q and W_k are permuted as llama.cpp's own
 * convert_hf_to_gguf.py does: our RoPE rotates the two halves of a head
 * (rotate_half), llama.cpp's rotates adjacent pairs, so row (head, half s,
 * i) moves to (head, 2i + s). */
#include "export.h"
#include "../util/fileio.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9 }; /* GGUF value types */
enum { G_F32 = 0, G_F16 = 1, G_BF16 = 30 };                                  /* ggml tensor types */
#define ALIGN 32

const export_dtype EXPORT_DTYPES[] = {
    {"f32", G_F32, 0, 4}, {"f16", G_F16, 1, 2}, {"bf16", G_BF16, 32, 2}, {NULL, 0, 0, 0}};

/* --- a growing byte buffer for the header ------------------------------ */

typedef struct { char *p; size_t n, cap; int oom; uint64_t kvs; } gbuf;

static void put(gbuf *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u32(gbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(gbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(gbuf *b, const char *s, size_t n) { put_u64(b, n); put(b, s, n); }
static void key(gbuf *b, const char *k, uint32_t type) { b->kvs++; put_str(b, k, strlen(k)); put_u32(b, type); }
static void kv_u32(gbuf *b, const char *k, uint32_t v) { key(b, k, T_U32); put_u32(b, v); }
static void kv_f32(gbuf *b, const char *k, float v) { key(b, k, T_F32); put(b, &v, 4); }
static void kv_bool(gbuf *b, const char *k, int v) { uint8_t x = (uint8_t)!!v; key(b, k, T_BOOL); put(b, &x, 1); }
static void kv_str(gbuf *b, const char *k, const char *v) { key(b, k, T_STR); put_str(b, v, strlen(v)); }
static void kv_arr(gbuf *b, const char *k, uint32_t type, uint64_t n) { key(b, k, T_ARR); put_u32(b, type); put_u64(b, n); }

/* --- numbers ------------------------------------------------------------ */

/* IEEE binary16, round to nearest even (subnormals kept, overflow to inf) */
static uint16_t to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = x >> 16 & 0x8000, man = x & 0x7FFFFF;
    int ex = (int)(x >> 23 & 0xFF);
    if (ex == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));
    int e = ex - 127 + 15, shift = 13;
    uint32_t m = man;
    if (e <= 0) { /* subnormal: value = m * 2^-24 */
        if (e < -10) return (uint16_t)sign;
        m |= 0x800000, shift = 14 - e;
    }
    uint32_t h = (e > 0 ? (uint32_t)e << 10 : 0) | m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++; /* a carry may reach the exponent, as it should */
    if (e >= 31 || h >= 0x7C00) return (uint16_t)(sign | 0x7C00);
    return (uint16_t)(sign | h);
}

static uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)(x >> 16 | 0x40); /* NaN stays NaN */
    return (uint16_t)((x + 0x7FFF + (x >> 16 & 1)) >> 16);
}

/* --- the model ---------------------------------------------------------- */

static const char *gguf_name(const model *m, int i, char *buf, size_t len) {
    const tensor_info *t = model_tensor(m, i);
    static const char *leaf[K_COUNT] = {
        [K_ATTN_NORM] = "attn_norm", [K_WQ] = "attn_q", [K_WK] = "attn_k", [K_WV] = "attn_v",
        [K_WO] = "attn_output", [K_MLP_NORM] = "ffn_norm", [K_WGATE] = "ffn_gate", [K_WU] = "ffn_up",
        [K_WD] = "ffn_down"};
    switch (t->kind) {
    case K_EMBED: snprintf(buf, len, "token_embd.weight"); return buf;
    case K_FINAL_NORM: snprintf(buf, len, "output_norm.weight"); return buf;
    case K_WP: snprintf(buf, len, "output.weight"); return buf;
    case K_GATE: case K_BUFFER: case K_COUNT: return NULL;
    default: snprintf(buf, len, "blk.%d.%s.weight", t->layer, leaf[t->kind]); return buf;
    }
}

/* the type a tensor is stored in: matrices in the chosen one, norms in F32 (as llama.cpp's converter) */
static const export_dtype *stored(const tensor_info *t, const export_dtype *dt) {
    return t->is_matrix ? dt : &EXPORT_DTYPES[0];
}

static void hparams(gbuf *b, const model_config *c, const export_dtype *dt, const char *name) {
    kv_str(b, "general.architecture", "llama");
    kv_str(b, "general.name", name);
    kv_u32(b, "general.file_type", (uint32_t)dt->file_type);
    kv_u32(b, "general.alignment", ALIGN);
    kv_u32(b, "llama.vocab_size", (uint32_t)c->vocab_size);
    kv_u32(b, "llama.context_length", (uint32_t)c->seq_len);
    kv_u32(b, "llama.embedding_length", (uint32_t)c->d_model);
    kv_u32(b, "llama.block_count", (uint32_t)c->n_layers);
    kv_u32(b, "llama.feed_forward_length", (uint32_t)c->ffn_dim);
    kv_u32(b, "llama.attention.head_count", (uint32_t)c->n_heads);
    kv_u32(b, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    kv_u32(b, "llama.rope.dimension_count", (uint32_t)(c->d_model / c->n_heads));
    kv_f32(b, "llama.rope.freq_base", (float)c->rope_theta);
    kv_f32(b, "llama.attention.layer_norm_rms_epsilon", (float)c->norm_eps);
}

/* tokens, scores and types, from one spelling of each id; ids past the
 * tokenizer's (a padded vocabulary) are [PADn], unused (type 5) */
static int vocab(gbuf *b, const tokenizer *tk, int V, char *err, size_t errlen) {
    char piece[1024];
    float *score = malloc((size_t)V * sizeof *score);
    int32_t *type = malloc((size_t)V * sizeof *type);
    int unk = -1, rc = score && type ? 0 : -1;
    if (rc) snprintf(err, errlen, "gguf: out of memory for %d tokens", V);
    kv_arr(b, "tokenizer.ggml.tokens", T_STR, (uint64_t)V);
    for (int id = 0; id < V && !rc; id++) {
        int t = 5, n;
        score[id] = 0;
        n = id < tk->vocab_size ? tk->piece(tk, (uint32_t)id, piece, sizeof piece, &score[id], &t)
                                : snprintf(piece, sizeof piece, "[PAD%d]", id);
        if (n < 0) rc = -1, snprintf(err, errlen, "gguf: token %d has no spelling", id);
        else put_str(b, piece, (size_t)n);
        type[id] = t;
        if (t == 2 && unk < 0) unk = id;
    }
    if (!rc) {
        kv_arr(b, "tokenizer.ggml.scores", T_F32, (uint64_t)V);
        put(b, score, (size_t)V * 4);
        kv_arr(b, "tokenizer.ggml.token_type", T_I32, (uint64_t)V);
        put(b, type, (size_t)V * 4);
        if (unk >= 0) kv_u32(b, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
    }
    free(score);
    free(type);
    return rc;
}

static int tokenizer_meta(gbuf *b, const tokenizer *tk, int V, char *err, size_t errlen) {
    int spm = !tk->merge;
    kv_str(b, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
    kv_str(b, "tokenizer.ggml.pre", spm ? "default" : "gpt-2"); /* llama.cpp's name for GPT-2's regex */
    if (vocab(b, tk, V, err, errlen)) return -1;
    if (!spm) {
        uint32_t n = 0;
        char line[2100];
        while (tk->merge(tk, n, line, sizeof line) >= 0) n++;
        kv_arr(b, "tokenizer.ggml.merges", T_STR, n);
        for (uint32_t r = 0; r < n; r++) put_str(b, line, (size_t)tk->merge(tk, r, line, sizeof line));
    }
    /* wesar puts its delimiter before every document: llama.cpp's BOS */
    kv_u32(b, "tokenizer.ggml.bos_token_id", tk->eot);
    kv_u32(b, "tokenizer.ggml.eos_token_id", tk->eos);
    kv_bool(b, "tokenizer.ggml.add_bos_token", 1);
    kv_bool(b, "tokenizer.ggml.add_eos_token", 0);
    if (spm) kv_bool(b, "tokenizer.ggml.add_space_prefix", tk->dummy_prefix);
    return 0;
}

static void tensor_infos(gbuf *b, const model *m, const export_dtype *dt, int *count) {
    char name[96];
    uint64_t off = 0;
    *count = 0;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const tensor_info *t = model_tensor(m, i);
        if (!gguf_name(m, i, name, sizeof name)) continue;
        put_str(b, name, strlen(name));
        put_u32(b, t->is_matrix ? 2 : 1);
        put_u64(b, (uint64_t)t->cols); /* innermost first: [in, out] */
        if (t->is_matrix) put_u64(b, (uint64_t)t->rows);
        put_u32(b, (uint32_t)stored(t, dt)->ggml_type);
        put_u64(b, off);
        off += ((uint64_t)t->numel * (uint64_t)stored(t, dt)->bytes + ALIGN - 1) / ALIGN * ALIGN;
        (*count)++;
    }
}

/* W_q / W_k rows from rotate_half's layout to llama.cpp's interleaved one */
static void permute_rows(const real *in, real *out, int rows, int cols, int heads) {
    int hd = rows / heads, half = hd / 2;
    for (int h = 0; h < heads; h++)
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < half; i++)
                memcpy(out + (size_t)(h * hd + 2 * i + s) * cols, in + (size_t)(h * hd + s * half + i) * cols,
                       (size_t)cols * sizeof(real));
}

/* one tensor's bytes, in its stored type, into out */
static size_t tensor_bytes(model *m, int i, const export_dtype *dt, real *buf, real *tmp, void *out) {
    const tensor_info *t = model_tensor(m, i);
    const model_config *c = model_cfg(m);
    if (t->is_matrix) model_merged(m, i, buf);
    else memcpy(buf, model_params(m) + t->offset, t->numel * sizeof(real));
    if (t->kind == K_WQ || t->kind == K_WK) {
        permute_rows(buf, tmp, t->rows, t->cols, t->kind == K_WQ ? c->n_heads : c->n_kv_heads);
        memcpy(buf, tmp, t->numel * sizeof(real));
    }
    const export_dtype *st = stored(t, dt);
    for (size_t k = 0; k < t->numel; k++) {
        float f = (float)buf[k];
        if (st->ggml_type == G_F32) ((float *)out)[k] = f;
        else ((uint16_t *)out)[k] = st->ggml_type == G_F16 ? to_f16(f) : to_bf16(f);
    }
    return t->numel * st->bytes;
}

static int write_data(atomic_file *f, model *m, const export_dtype *dt, char *err, size_t errlen) {
    size_t max = 0;
    for (int i = 0; i < model_num_tensors(m); i++)
        if (model_tensor(m, i)->numel > max) max = model_tensor(m, i)->numel;
    real *buf = malloc(max * sizeof(real)), *tmp = malloc(max * sizeof(real));
    void *out = malloc(max * 4 + ALIGN);
    int bad = !buf || !tmp || !out;
    if (bad) snprintf(err, errlen, "out of memory");
    char name[96];
    for (int i = 0; i < model_num_tensors(m) && !bad; i++) {
        if (!gguf_name(m, i, name, sizeof name)) continue;
        size_t n = tensor_bytes(m, i, dt, buf, tmp, out), pad = (ALIGN - n % ALIGN) % ALIGN;
        memset((char *)out + n, 0, pad);
        bad = atomic_write(f, out, n + pad);
    }
    free(buf);
    free(tmp);
    free(out);
    return bad;
}

int export_gguf(model *m, const tokenizer *tk, const char *path, const export_dtype *dt, char *err, size_t errlen) {
    const model_config *c = model_cfg(m);
    if (c->mlp != MLP_SWIGLU) {
        snprintf(err, errlen, "export --format gguf: llama.cpp has no architecture for the GELU MLP (its arcee is "
                 "ReLU-squared, not GELU): train with --mlp swiglu, or export for Hugging Face (--format hf)");
        return -1;
    }
    if (!tk || !tk->piece) {
        snprintf(err, errlen, "export --format gguf: the %s tokenizer has no GGUF form (llama.cpp reads SentencePiece "
                 "and BPE vocabularies): train with --tokenizer gpt2 or sentencepiece, or export for Hugging Face",
                 tk ? tk->name : "recorded");
        return -1;
    }
    if (c->vocab_size < tk->vocab_size) {
        snprintf(err, errlen, "export --format gguf: the model has %d tokens, its tokenizer %d", c->vocab_size,
                 tk->vocab_size);
        return -1;
    }
    model_effective(m);
    char name[300];
    snprintf(name, sizeof name, "wesar %s", c->reparam);
    gbuf meta = {0}, infos = {0};
    int count, rc = -1;
    hparams(&meta, c, dt, name);
    if (tokenizer_meta(&meta, tk, c->vocab_size, err, errlen)) goto out;
    tensor_infos(&infos, m, dt, &count);
    if (meta.oom || infos.oom) { snprintf(err, errlen, "out of memory"); goto out; }
    gbuf head = {0};
    put(&head, "GGUF", 4);
    put_u32(&head, 3);
    put_u64(&head, (uint64_t)count);
    put_u64(&head, meta.kvs);
    put(&head, meta.p, meta.n);
    put(&head, infos.p, infos.n);
    static const char zeros[ALIGN];
    put(&head, zeros, (ALIGN - head.n % ALIGN) % ALIGN);
    atomic_file f;
    if (head.oom) snprintf(err, errlen, "out of memory");
    else if (!atomic_open(&f, path, err, errlen)) {
        int bad = atomic_write(&f, head.p, head.n);
        if (!bad) bad = write_data(&f, m, dt, err, errlen);
        rc = atomic_commit(&f, bad, err, errlen);
    }
    free(head.p);
out:
    free(meta.p);
    free(infos.p);
    return rc;
}
