/* model.c - parameter table, memory plan, forward and backward of the decoder. */
#include "model.h"
#include "../reparam/reparam.h"
#include "../util/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    /* saved by the forward pass, per layer (index [l]) */
    real *resid;      /* (N+1) x M x d: input of each layer, then the final stream */
    real *mid;        /* N x M x d: stream after attention */
    real *attn_n, *attn_rstd;
    real *q, *k, *v;  /* after RoPE for q, k */
    real *att_lse;    /* N x B x H x T: log-sum-exp of each attention row */
    real *att;        /* N x M x qdim: attention output before W_o */
    real *mlp_n, *mlp_rstd;
    real *pre_g, *pre_u, *act;  /* N x M x F (pre_g: swiglu only) */
    real *final_n, *final_rstd, *lse;
    real *logits;     /* head_rows x V: one chunk of the logits, never all of them */
    /* backward scratch */
    real *d_resid, *d_tmp, *dq, *dk, *dv, *d_att, *dF_a, *dF_b, *att_scratch;
} activations;

struct model {
    model_config cfg;
    const reparam_rule *rule;
    double *fixed;             /* per tensor: constant multiplier (rule->fixed, from the config) */
    real *eff;                 /* materialised effective matrices (rule->materialize) */
    const real **mat;          /* per tensor: what the products read (W or eff) */
    int n_tensors;
    tensor_info *tensors;
    int (*layer_t)[K_COUNT];   /* tensor index of each kind, per layer */
    int t_embed, t_final_norm, t_head;
    size_t n_params;
    real *params, *grads, *scale;
    real *rope_cos, *rope_sin;
    int B, T;                  /* planned maximum */
    int head_rows;             /* rows of logits computed at a time */
    void (*grad_ready)(void *ctx, int layer); /* model_set_grad_ready */
    void *grad_ready_ctx;
    int cur_B, cur_T;          /* shape of the last forward */
    const int32_t *cur_tok;
    activations a;
    real *act_mem;
    size_t act_len;
};

static const char *kind_names[K_COUNT] = {
    "W_e", "attn_norm", "W_q", "W_k", "W_v", "W_o", "mlp_norm", "W_gate", "W_u", "W_d",
    "final_norm", "W_p", "gate", "buffer"};

const char *kind_name(tensor_kind k) { return kind_names[k]; }

static int add_tensor(model *m, tensor_kind kind, int layer, int rows, int cols) {
    tensor_info *t = &m->tensors[m->n_tensors];
    t->kind = kind;
    t->layer = layer;
    t->rows = rows;
    t->cols = cols;
    t->is_matrix = kind != K_ATTN_NORM && kind != K_MLP_NORM && kind != K_FINAL_NORM &&
                   kind != K_GATE && kind != K_BUFFER;
    t->trainable = kind != K_BUFFER;
    t->gate = t->aux = -1;
    t->numel = (size_t)rows * cols;
    t->offset = m->n_params;
    m->n_params += t->numel;
    static const char *group[K_COUNT] = {"embed", "attn_norm", "attn", "attn", "attn", "attn",
                                         "mlp_norm", "mlp", "mlp", "mlp", "final_norm", "head",
                                         "", ""};
    if (kind == K_GATE || kind == K_BUFFER) return m->n_tensors++; /* named by the caller */
    const char *leaf = t->is_matrix ? kind_names[kind] : "g";
    if (layer >= 0)
        snprintf(t->name, sizeof t->name, "layers.%d.%s.%s", layer, group[kind], leaf);
    else
        snprintf(t->name, sizeof t->name, "%s.%s", group[kind], leaf);
    return m->n_tensors++;
}

/* "layers.3.attn.W_o" + "gate" -> "layers.3.attn.W_o.gate" */
static void name_child(model *m, int child, int parent, const char *suffix) {
    char base[48];
    memcpy(base, m->tensors[parent].name, sizeof base - 1); /* parents' names are short */
    base[sizeof base - 1] = 0;
    snprintf(m->tensors[child].name, sizeof m->tensors[child].name, "%.47s.%.15s", base, suffix);
}

model *model_create(const model_config *cfg, char *err, size_t errlen) {
    model_config c = *cfg;
    if (config_finish(&c, err, errlen)) return NULL;
    model *m = calloc(1, sizeof *m);
    if (!m) { snprintf(err, errlen, "out of memory"); return NULL; }
    m->cfg = c;
    int N = c.n_layers, d = c.d_model, hd = d / c.n_heads;
    int qdim = c.n_heads * hd, kvdim = c.n_kv_heads * hd, F = c.ffn_dim;
    m->rule = reparam_find(c.reparam);
    /* each matrix may bring a gate and three buffers */
    m->tensors = calloc(((size_t)N * 10 + 3) * 5, sizeof *m->tensors);
    m->layer_t = calloc((size_t)N, sizeof *m->layer_t);
    if (!m->tensors || !m->layer_t) { model_free(m); snprintf(err, errlen, "out of memory"); return NULL; }
    m->t_embed = add_tensor(m, K_EMBED, -1, c.vocab_size, d);
    for (int l = 0; l < N; l++) {
        int *t = m->layer_t[l];
        for (int k = 0; k < K_COUNT; k++) t[k] = -1;
        t[K_ATTN_NORM] = add_tensor(m, K_ATTN_NORM, l, 1, d);
        t[K_WQ] = add_tensor(m, K_WQ, l, qdim, d);
        t[K_WK] = add_tensor(m, K_WK, l, kvdim, d);
        t[K_WV] = add_tensor(m, K_WV, l, kvdim, d);
        t[K_WO] = add_tensor(m, K_WO, l, d, qdim);
        t[K_MLP_NORM] = add_tensor(m, K_MLP_NORM, l, 1, d);
        if (c.mlp == MLP_SWIGLU) t[K_WGATE] = add_tensor(m, K_WGATE, l, F, d);
        t[K_WU] = add_tensor(m, K_WU, l, F, d);
        t[K_WD] = add_tensor(m, K_WD, l, d, F);
    }
    m->t_final_norm = add_tensor(m, K_FINAL_NORM, -1, 1, d);
    m->t_head = add_tensor(m, K_WP, -1, c.vocab_size, d);
    /* the reparameterization's own tensors, after all the model's */
    int n_main = m->n_tensors;
    for (int i = 0; i < n_main; i++) {
        if (!m->tensors[i].is_matrix) continue;
        int ng = m->rule->gate_len(&m->tensors[i]);
        if (ng) {
            int g = add_tensor(m, K_GATE, m->tensors[i].layer, 1, ng);
            name_child(m, g, i, m->rule->gate_name);
            m->tensors[i].gate = g;
        }
        if (ng && m->rule->power_iteration) {
            int u = add_tensor(m, K_BUFFER, m->tensors[i].layer, 1, m->tensors[i].rows);
            int v = add_tensor(m, K_BUFFER, m->tensors[i].layer, 1, m->tensors[i].cols);
            int sg = add_tensor(m, K_BUFFER, m->tensors[i].layer, 1, 1);
            name_child(m, u, i, "u");
            name_child(m, v, i, "v");
            name_child(m, sg, i, "sigma");
            m->tensors[i].aux = u;
        }
    }
    return m;
}

void model_free(model *m) {
    if (!m) return;
    free(m->tensors);
    free(m->layer_t);
    free(m->params);
    free(m->grads);
    free(m->scale);
    free(m->fixed);
    free(m->eff);
    free(m->mat);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->act_mem);
    free(m);
}

const model_config *model_cfg(const model *m) { return &m->cfg; }
size_t model_num_params(const model *m) { return m->n_params; }
int model_num_tensors(const model *m) { return m->n_tensors; }
const tensor_info *model_tensor(const model *m, int i) { return &m->tensors[i]; }
real *model_params(model *m) { return m->params; }
real *model_grads(model *m) { return m->grads; }
real *model_scales(model *m) { return m->scale; }
size_t model_activation_bytes(const model *m) { return m->act_len * sizeof(real); }

/* Carves the activation arena.  With mem == NULL it only counts. */
static size_t plan_activations(model *m, real *mem) {
    const model_config *c = &m->cfg;
    size_t N = c->n_layers, d = c->d_model, hd = d / c->n_heads, M = (size_t)m->B * m->T;
    size_t qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd, F = c->ffn_dim, V = c->vocab_size;
    size_t off = 0;
    activations *a = &m->a;
#define TAKE(field, n) do { a->field = mem ? mem + off : NULL; off += (n); } while (0)
    TAKE(resid, (N + 1) * M * d);
    TAKE(mid, N * M * d);
    TAKE(attn_n, N * M * d);
    TAKE(attn_rstd, N * M);
    TAKE(q, N * M * qdim);
    TAKE(k, N * M * kvdim);
    TAKE(v, N * M * kvdim);
    TAKE(att_lse, N * m->B * c->n_heads * (size_t)m->T);
    TAKE(att, N * M * qdim);
    TAKE(mlp_n, N * M * d);
    TAKE(mlp_rstd, N * M);
    TAKE(pre_g, c->mlp == MLP_SWIGLU ? N * M * F : 0);
    TAKE(pre_u, N * M * F);
    TAKE(act, N * M * F);
    TAKE(final_n, M * d);
    TAKE(final_rstd, M);
    TAKE(logits, (size_t)m->head_rows * V);
    TAKE(lse, M);
    TAKE(d_resid, M * d);
    TAKE(d_tmp, M * d);
    TAKE(dq, M * qdim);
    TAKE(dk, M * kvdim);
    TAKE(dv, M * kvdim);
    TAKE(d_att, M * qdim);
    TAKE(dF_a, M * F);
    TAKE(dF_b, M * F);
    TAKE(att_scratch, attention_scratch_len(m->T) * (size_t)kernels_threads());
#undef TAKE
    return off;
}

int model_alloc(model *m, int B, int T, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    if (B < 0 || T < 1 || T > c->seq_len) {
        snprintf(err, errlen, "batch shape B=%d T=%d: expected B >= 0 and 1 <= T <= seq_len=%d",
                 B, T, c->seq_len);
        return -1;
    }
    m->params = calloc(m->n_params, sizeof(real));
    m->grads = B ? calloc(m->n_params, sizeof(real)) : NULL;
    m->scale = calloc((size_t)m->n_tensors, sizeof(real));
    m->fixed = calloc((size_t)m->n_tensors, sizeof(double));
    m->mat = calloc((size_t)m->n_tensors, sizeof *m->mat);
    size_t n_eff = 0;
    for (int i = 0; i < m->n_tensors && m->rule->materialize; i++)
        if (m->tensors[i].is_matrix) n_eff += m->tensors[i].numel;
    m->eff = n_eff ? malloc(n_eff * sizeof(real)) : NULL;
    int h2 = c->d_model / c->n_heads / 2;
    m->rope_cos = malloc((size_t)c->seq_len * h2 * sizeof(real));
    m->rope_sin = malloc((size_t)c->seq_len * h2 * sizeof(real));
    m->B = B;
    m->T = T;
    /* 128 MiB of logits per chunk at most: every chunk reads and writes all
     * of dW_p (vocab x d) once more, so small chunks cost memory traffic
     * (gpt2-small, 2x1024 rows, fp32: 41-row chunks 10.4 s/step, 256 rows
     * 10.0 s, 1024 rows 8.9 s); the whole B*T x V would be 412 MB there. */
    m->head_rows = (int)(((size_t)32 << 20) / c->vocab_size);
    if (m->head_rows < 16) m->head_rows = 16;
    if (m->head_rows > B * T) m->head_rows = B * T;
    m->act_len = B ? plan_activations(m, NULL) : 0;
    m->act_mem = B ? malloc(m->act_len * sizeof(real)) : NULL;
    if (!m->params || (B && !m->grads) || !m->scale || !m->rope_cos || !m->rope_sin ||
        (B && !m->act_mem) || !m->fixed || !m->mat || (n_eff && !m->eff)) {
        snprintf(err, errlen, "out of memory: %zu parameters + %.1f MiB of activations (B=%d, T=%d)",
                 m->n_params, m->act_len * sizeof(real) / 1048576.0, B, T);
        return -1;
    }
    if (B) plan_activations(m, m->act_mem);
    for (int i = 0, off = 0; i < m->n_tensors; i++) {
        m->scale[i] = 1;
        m->fixed[i] = m->tensors[i].is_matrix
                          ? m->rule->fixed(&m->tensors[i], init_std(c->init, c, m->tensors[i].kind),
                                           c->n_layers)
                          : 1;
        m->mat[i] = m->params + m->tensors[i].offset;
        if (m->eff && m->tensors[i].is_matrix) {
            m->mat[i] = m->eff + off;
            off += m->tensors[i].numel;
        }
    }
    /* RoPE tables in double, then rounded: HF computes inv_freq = theta^(-2i/hd). */
    int hd = c->d_model / c->n_heads;
    for (int t = 0; t < c->seq_len; t++)
        for (int i = 0; i < h2; i++) {
            double ang = t * pow(c->rope_theta, -2.0 * i / hd);
            m->rope_cos[(size_t)t * h2 + i] = (real)cos(ang);
            m->rope_sin[(size_t)t * h2 + i] = (real)sin(ang);
        }
    return 0;
}

/* What the rule sees of matrix i in a parameter buffer of the model's layout
 * (the model's own, or a copy) and, if grads is non-NULL, its gradients. */
static reparam_view view_in(const model *m, real *params, real *grads, int i) {
    const tensor_info *t = &m->tensors[i];
    reparam_view v = {t, params + t->offset, grads ? grads + t->offset : NULL, NULL, NULL, NULL,
                      NULL, NULL, m->eff ? (real *)m->mat[i] : NULL, &m->scale[i], &m->fixed[i]};
    if (t->gate >= 0) {
        v.gate = params + m->tensors[t->gate].offset;
        v.dgate = grads ? grads + m->tensors[t->gate].offset : NULL;
    }
    if (t->aux >= 0) {
        v.u = params + m->tensors[t->aux].offset;
        v.v = params + m->tensors[t->aux + 1].offset;
        v.s = params + m->tensors[t->aux + 2].offset;
    }
    return v;
}

static reparam_view view_of(model *m, int i) { return view_in(m, m->params, m->grads, i); }

void model_init(model *m, uint64_t seed) {
    const model_config *c = &m->cfg;
    double sigma = sqrt(c->sigma2);
    for (int i = 0; i < m->n_tensors; i++) {
        const tensor_info *t = &m->tensors[i];
        if (t->kind == K_ATTN_NORM || t->kind == K_MLP_NORM || t->kind == K_FINAL_NORM) {
            real *p = m->params + t->offset;
            for (size_t j = 0; j < t->numel; j++) p[j] = 1;
        }
        if (!t->is_matrix) continue;
        rng_t r;
        rng_seed(&r, seed, (uint64_t)i + 1); /* one stream per tensor: init is order-free */
        double base = init_std(c->init, c, t->kind);
        double target = t->kind == K_EMBED ? 1.0 : base; /* embedding output std 1 */
        reparam_view v = view_of(m, i);
        m->rule->init(&v, target, base, sigma, &r);
    }
    model_effective(m);
}

void model_effective(model *m) {
    kernels_weights_changed(); /* the bf16 products' rounded copies of the matrices are stale */
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].is_matrix) {
            reparam_view v = view_of(m, i);
            m->rule->effective(&v);
        }
}

void model_reparam_step(model *m) {
    if (!m->rule->step) return;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].is_matrix) {
            reparam_view v = view_of(m, i);
            m->rule->step(&v);
        }
}

void model_grads_finish(model *m) {
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].is_matrix) {
            reparam_view v = view_of(m, i);
            m->rule->grad(&v);
        }
}

void model_merged(model *m, int i, real *out) {
    reparam_view v = view_of(m, i);
    merge_effective(&v, out);
}

void model_merged_at(const model *m, const real *params, int i, real *out) {
    real scale = 1;
    reparam_view v = view_in(m, (real *)params, NULL, i);
    v.eff = m->eff ? out : NULL; /* the model's own scale and eff stay as they are */
    v.scale = &scale;
    m->rule->effective(&v); /* reads the parameters; writes only scale and out */
    merge_effective(&v, out);
}

void model_set_grad_ready(model *m, void (*fn)(void *ctx, int layer), void *ctx) {
    m->grad_ready = fn;
    m->grad_ready_ctx = ctx;
}

void model_zero_grad(model *m) { memset(m->grads, 0, m->n_params * sizeof(real)); }

#define PARAM(ti) (m->params + m->tensors[ti].offset)
#define MAT(ti) (m->mat[ti])
#define GRAD(ti) (m->grads + m->tensors[ti].offset)

/* Layer l's slices of the saved activations for a B x T batch. */
typedef struct {
    real *x, *mid, *attn_n, *attn_rstd, *q, *k, *v, *att, *att_lse, *mlp_n, *mlp_rstd, *pre_g, *pre_u, *act;
} layer_acts;

static layer_acts layer_acts_of(model *m, int l, int B, int T) {
    const model_config *c = &m->cfg;
    size_t M = (size_t)B * T, d = c->d_model, hd = d / c->n_heads, F = c->ffn_dim;
    size_t qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    activations *a = &m->a;
    layer_acts L = {a->resid + l * M * d, a->mid + l * M * d, a->attn_n + l * M * d,
                    a->attn_rstd + l * M, a->q + l * M * qdim, a->k + l * M * kvdim,
                    a->v + l * M * kvdim, a->att + l * M * qdim,
                    a->att_lse + (size_t)l * B * c->n_heads * T, a->mlp_n + l * M * d,
                    a->mlp_rstd + l * M, a->pre_g ? a->pre_g + l * M * F : NULL,
                    a->pre_u + l * M * F, a->act + l * M * F};
    return L;
}

/* Where one block's input, intermediates and output live.  Training points
 * them at the saved activations (layer_acts); decode at its scratch rows,
 * with the attention's and the MLP's norm sharing a buffer and out = x (no
 * backward reads them). */
typedef struct {
    real *x, *mid, *attn_n, *attn_rstd, *q, *k, *v, *att, *mlp_n, *mlp_rstd, *pre_g, *pre_u, *act, *out;
    real *att_lse;            /* training: softmax statistics for the backward */
    const real *kc, *vc;  /* decode: this layer's cache, k and v written into it at pos0 */
    real *scores;         /* decode: attention scratch */
} block_bufs;

/* One transformer block over B x T rows at positions pos0.. (the one forward
 * that training and decode share):
 *   mid = x + W_o attn(rope(W_q n(x)), rope(W_k n(x)), W_v n(x))
 *   out = mid + W_d mlp(n(mid))          mlp: gelu(W_u .) or silu(W_gate .) * W_u . */
static void block_forward(model *m, int l, const block_bufs *b, int B, int T, int pos0) {
    const model_config *c = &m->cfg;
    const int *t = m->layer_t[l];
    int M = B * T, d = c->d_model, H = c->n_heads, Hkv = c->n_kv_heads, hd = d / H;
    int qdim = H * hd, kvdim = Hkv * hd, F = c->ffn_dim, h2 = hd / 2;
    real eps = (real)c->norm_eps;
    size_t Md = (size_t)M * d, MF = (size_t)M * F;
    const real *cos = m->rope_cos + (size_t)pos0 * h2, *sin = m->rope_sin + (size_t)pos0 * h2;

    rmsnorm_fwd(b->attn_n, b->attn_rstd, b->x, PARAM(t[K_ATTN_NORM]), M, d, eps);
    matmul_fwd(b->q, b->attn_n, MAT(t[K_WQ]), m->scale[t[K_WQ]], M, d, qdim);
    matmul_fwd(b->k, b->attn_n, MAT(t[K_WK]), m->scale[t[K_WK]], M, d, kvdim);
    matmul_fwd(b->v, b->attn_n, MAT(t[K_WV]), m->scale[t[K_WV]], M, d, kvdim);
    rope_fwd(b->q, cos, sin, B, T, H, hd);
    rope_fwd(b->k, cos, sin, B, T, Hkv, hd);
    if (b->kc) attention_cached(b->att, b->scores, b->q, b->kc, b->vc, T, pos0, H, Hkv, hd);
    else attention_fwd(b->att, b->att_lse, m->a.att_scratch, b->q, b->k, b->v, B, T, H, Hkv, hd);
    matmul_fwd(b->mid, b->att, MAT(t[K_WO]), m->scale[t[K_WO]], M, qdim, d);
    add_inplace(b->mid, b->x, Md);

    rmsnorm_fwd(b->mlp_n, b->mlp_rstd, b->mid, PARAM(t[K_MLP_NORM]), M, d, eps);
    matmul_fwd(b->pre_u, b->mlp_n, MAT(t[K_WU]), m->scale[t[K_WU]], M, d, F);
    if (c->mlp == MLP_SWIGLU) {
        matmul_fwd(b->pre_g, b->mlp_n, MAT(t[K_WGATE]), m->scale[t[K_WGATE]], M, d, F);
        swiglu_fwd(b->act, b->pre_g, b->pre_u, MF);
    } else {
        gelu_fwd(b->act, b->pre_u, MF);
    }
    matmul_fwd(b->out, b->act, MAT(t[K_WD]), m->scale[t[K_WD]], M, F, d);
    add_inplace(b->out, b->mid, Md);
}

/* The layers and the final norm: everything up to the head. */
static int forward_body(model *m, const int32_t *tok, int B, int T) {
    const model_config *c = &m->cfg;
    if (B < 1 || B > m->B || T < 1 || T > m->T) return -1;
    size_t Md = (size_t)B * T * c->d_model;
    activations *a = &m->a;
    m->cur_B = B;
    m->cur_T = T;
    m->cur_tok = tok;
    model_effective(m);

    embed_fwd(a->resid, tok, MAT(m->t_embed), m->scale[m->t_embed], B * T, c->d_model);
    for (int l = 0; l < c->n_layers; l++) {
        layer_acts L = layer_acts_of(m, l, B, T);
        block_bufs b = {L.x, L.mid, L.attn_n, L.attn_rstd, L.q, L.k, L.v, L.att, L.mlp_n, L.mlp_rstd, L.pre_g, L.pre_u, L.act,
                        a->resid + (l + 1) * Md, L.att_lse, NULL, NULL, NULL};
        block_forward(m, l, &b, B, T, 0);
    }
    rmsnorm_fwd(a->final_n, a->final_rstd, a->resid + (size_t)c->n_layers * Md,
                PARAM(m->t_final_norm), B * T, c->d_model, (real)c->norm_eps);
    return 0;
}

/* The head and the loss, head_rows at a time, so the B*T x V logits never
 * exist at once.  With grad, each chunk's logits turn into their gradient
 * right away (the loss weights are known before the forward: the counted
 * rows come from the targets), giving dW_p and d(final_n) into d_tmp. */
static void head_loss(model *m, const int32_t *target, real weight, real zcoef, int grad,
                      model_loss *loss) {
    const model_config *c = &m->cfg;
    int M = m->cur_B * m->cur_T, d = c->d_model, V = c->vocab_size, rows = 0;
    activations *a = &m->a;
    for (int i = 0; i < M; i++) rows += target[i] >= 0;
    real rw = rows ? weight / rows : 0;
    double ce = 0, z = 0;
    for (int r0 = 0; r0 < M; r0 += m->head_rows) {
        int n = M - r0 < m->head_rows ? M - r0 : m->head_rows;
        double ce_c, z_c;
        matmul_fwd(a->logits, a->final_n + (size_t)r0 * d, MAT(m->t_head), m->scale[m->t_head], n,
                   d, V);
        xent_fwd(&ce_c, &z_c, a->lse + r0, a->logits, target + r0, n, V);
        ce += ce_c;
        z += z_c;
        if (!grad || !rows) continue; /* no counted row: nothing to accumulate */
        xent_bwd(a->logits, a->lse + r0, target + r0, n, V, rw, zcoef);
        matmul_bwd(a->d_tmp + (size_t)r0 * d, GRAD(m->t_head), a->logits,
                   a->final_n + (size_t)r0 * d, MAT(m->t_head), m->scale[m->t_head], n, d, V, 0);
    }
    loss->rows = rows;
    loss->ce = rows ? ce / rows : 0;
    loss->z = rows ? z / rows : 0;
}

int model_forward(model *m, const int32_t *tok, const int32_t *target, int B, int T,
                  model_loss *loss) {
    if (forward_body(m, tok, B, T)) return -1;
    if (target && loss) head_loss(m, target, 0, 0, 0, loss);
    return 0;
}

void model_set_head_rows(model *m, int rows) {
    if (rows >= 1 && rows <= m->head_rows) m->head_rows = rows;
}

void model_logits(const model *m, int row0, int n, real *out) {
    const model_config *c = &m->cfg;
    matmul_fwd(out, m->a.final_n + (size_t)row0 * c->d_model, MAT(m->t_head),
               m->scale[m->t_head], n, c->d_model, c->vocab_size);
}

struct kv_cache {
    int max_T, len;
    real *k, *v;                /* n_layers x max_T x kvdim (k after RoPE) */
    real *x, *an, *rstd, *q, *att, *mid, *pg, *pu, *act, *scores;  /* max_T rows */
    real *mem;
};

kv_cache *kv_cache_create(model *m, int max_T) {
    const model_config *c = &m->cfg;
    if (max_T < 1 || max_T > c->seq_len) return NULL;
    size_t d = c->d_model, hd = d / c->n_heads, kvdim = c->n_kv_heads * hd, qdim = c->n_heads * hd;
    size_t F = c->ffn_dim, T = max_T, L = c->n_layers;
    size_t sizes[] = {L * T * kvdim, L * T * kvdim, T * d, T * d, T, T * qdim, T * qdim, T * d,
                      T * F, T * F, T * F, (size_t)c->n_heads * T * T}; /* scores: H x rows x positions */
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) total += sizes[i];
    kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv || !(kv->mem = malloc(total * sizeof(real)))) { free(kv); return NULL; }
    real **slot[] = {&kv->k, &kv->v, &kv->x, &kv->an, &kv->rstd, &kv->q, &kv->att, &kv->mid,
                     &kv->pg, &kv->pu, &kv->act, &kv->scores};
    real *p = kv->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) { *slot[i] = p; p += sizes[i]; }
    kv->max_T = max_T;
    model_effective(m); /* once: the parameters stay fixed while the cache is in use */
    return kv;
}

void kv_cache_free(kv_cache *kv) {
    if (kv) free(kv->mem);
    free(kv);
}
int kv_cache_len(const kv_cache *kv) { return kv->len; }
void kv_cache_reset(kv_cache *kv) { kv->len = 0; }

int model_decode(model *m, kv_cache *kv, const int32_t *tok, int n, real *logits) {
    const model_config *c = &m->cfg;
    if (n < 1 || kv->len + n > kv->max_T) return -1;
    int d = c->d_model, kvdim = c->n_kv_heads * (d / c->n_heads), p0 = kv->len;
    embed_fwd(kv->x, tok, MAT(m->t_embed), m->scale[m->t_embed], n, d);
    for (int l = 0; l < c->n_layers; l++) {
        real *kc = kv->k + (size_t)l * kv->max_T * kvdim, *vc = kv->v + (size_t)l * kv->max_T * kvdim;
        block_bufs b = {kv->x, kv->mid, kv->an, kv->rstd, kv->q, kc + (size_t)p0 * kvdim, vc + (size_t)p0 * kvdim,
                        kv->att, kv->an, kv->rstd, kv->pg, kv->pu, kv->act, kv->x, NULL, kc, vc, kv->scores};
        block_forward(m, l, &b, 1, n, p0);
    }
    /* only the last row's logits are needed */
    const real *last = kv->x + (size_t)(n - 1) * d;
    rmsnorm_fwd(kv->an, kv->rstd, last, PARAM(m->t_final_norm), 1, d, (real)c->norm_eps);
    matmul_fwd(logits, kv->an, MAT(m->t_head), m->scale[m->t_head], 1, d, c->vocab_size);
    kv->len += n;
    return 0;
}

const real *model_input_of(const model *m, int i, int *M) {
    const tensor_info *t = &m->tensors[i];
    *M = m->cur_B * m->cur_T;
    if (t->kind == K_WP) return m->a.final_n;
    if (t->layer < 0 || !*M) return NULL;
    layer_acts L = layer_acts_of((model *)m, t->layer, m->cur_B, m->cur_T);
    switch (t->kind) {
    case K_WQ: case K_WK: case K_WV: return L.attn_n;
    case K_WO: return L.att;
    case K_WGATE: case K_WU: return L.mlp_n;
    case K_WD: return L.act;
    default: return NULL;
    }
}

const int32_t *model_last_tokens(const model *m, int *M) {
    *M = m->cur_B * m->cur_T;
    return m->cur_tok;
}

/* Everything below the head, whose gradient head_loss left in d_tmp. */
static void backward_body(model *m) {
    const model_config *c = &m->cfg;
    int B = m->cur_B, T = m->cur_T, M = B * T, d = c->d_model, H = c->n_heads;
    int Hkv = c->n_kv_heads, hd = d / H, qdim = H * hd, kvdim = Hkv * hd, F = c->ffn_dim;
    size_t Md = (size_t)M * d, MF = (size_t)M * F;
    activations *a = &m->a;

    rmsnorm_bwd(a->d_resid, GRAD(m->t_final_norm), a->d_tmp, a->resid + (size_t)c->n_layers * Md,
                PARAM(m->t_final_norm), a->final_rstd, M, d, 0);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const int *t = m->layer_t[l];
        layer_acts L = layer_acts_of(m, l, B, T);
        real *x = L.x, *mid = L.mid, *attn_n = L.attn_n, *attn_rstd = L.attn_rstd, *q = L.q, *k = L.k, *v = L.v;
        real *att = L.att, *mlp_n = L.mlp_n, *mlp_rstd = L.mlp_rstd, *pre_u = L.pre_u, *act = L.act;

        /* d_resid = dL/d(out of layer l); the MLP branch adds to dL/d(mid) */
        matmul_bwd(a->dF_a, GRAD(t[K_WD]), a->d_resid, act, MAT(t[K_WD]), m->scale[t[K_WD]],
                   M, F, d, 0);
        if (c->mlp == MLP_SWIGLU) {
            real *pre_g = L.pre_g;
            swiglu_bwd(a->dF_b, a->dF_a, a->dF_a, pre_g, pre_u, MF);
            matmul_bwd(a->d_tmp, GRAD(t[K_WGATE]), a->dF_b, mlp_n, MAT(t[K_WGATE]),
                       m->scale[t[K_WGATE]], M, d, F, 0);
            matmul_bwd(a->d_tmp, GRAD(t[K_WU]), a->dF_a, mlp_n, MAT(t[K_WU]), m->scale[t[K_WU]],
                       M, d, F, 1);
        } else {
            gelu_bwd(a->dF_a, a->dF_a, pre_u, MF);
            matmul_bwd(a->d_tmp, GRAD(t[K_WU]), a->dF_a, mlp_n, MAT(t[K_WU]), m->scale[t[K_WU]],
                       M, d, F, 0);
        }
        rmsnorm_bwd(a->d_resid, GRAD(t[K_MLP_NORM]), a->d_tmp, mid, PARAM(t[K_MLP_NORM]), mlp_rstd,
                    M, d, 1);

        /* d_resid = dL/d(mid); the attention branch adds to dL/dx */
        matmul_bwd(a->d_att, GRAD(t[K_WO]), a->d_resid, att, MAT(t[K_WO]), m->scale[t[K_WO]],
                   M, qdim, d, 0);
        attention_bwd(a->dq, a->dk, a->dv, a->att_scratch, a->d_att, att, L.att_lse, q, k, v, B, T,
                      H, Hkv, hd);
        rope_bwd(a->dq, m->rope_cos, m->rope_sin, B, T, H, hd);
        rope_bwd(a->dk, m->rope_cos, m->rope_sin, B, T, Hkv, hd);
        matmul_bwd(a->d_tmp, GRAD(t[K_WQ]), a->dq, attn_n, MAT(t[K_WQ]), m->scale[t[K_WQ]], M, d,
                   qdim, 0);
        matmul_bwd(a->d_tmp, GRAD(t[K_WK]), a->dk, attn_n, MAT(t[K_WK]), m->scale[t[K_WK]], M, d,
                   kvdim, 1);
        matmul_bwd(a->d_tmp, GRAD(t[K_WV]), a->dv, attn_n, MAT(t[K_WV]), m->scale[t[K_WV]], M, d,
                   kvdim, 1);
        rmsnorm_bwd(a->d_resid, GRAD(t[K_ATTN_NORM]), a->d_tmp, x, PARAM(t[K_ATTN_NORM]), attn_rstd, M,
                    d, 1);
        if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, l);
    }
    embed_bwd(GRAD(m->t_embed), a->d_resid, m->cur_tok, M, d);
}

int model_forward_backward(model *m, const int32_t *tok, const int32_t *target, int B, int T,
                           real weight, real zcoef, model_loss *loss) {
    if (forward_body(m, tok, B, T)) return -1;
    head_loss(m, target, weight, zcoef, 1, loss);
    if (loss->rows) backward_body(m);
    return 0;
}
