/* model.h - the LLaMA-style decoder: parameter table, forward and backward.
 *
 *   h0 = s_e * W_e[tok]                         (s_e: embedding output scale)
 *   per layer:  a = h + W_o Attn(RoPE(W_q n), RoPE(W_k n), W_v n),  n = RMSNorm(h)
 *               h = a + W_d act(W_u m [, W_gate m]),                m = RMSNorm(a)
 *   logits = W_p RMSNorm(h);   loss = CE + zcoef * lse^2
 *
 * All parameters live in one contiguous buffer (params), their gradients in
 * another (grads) of the same layout; every tensor is described by one row of
 * the tensor table.  Each matrix also has a scalar `scale` used as the alpha of
 * its matrix products, so the effective matrix is scale*W without ever being
 * materialised: that is where the WeSaR gate goes.  The reparameterization
 * (reparam.h) adds its gates and buffers to the table and sets the scales.
 *
 * Memory is planned once by model_alloc(B, T); forward/backward allocate nothing.
 */
#ifndef WESAR_MODEL_H
#define WESAR_MODEL_H
#include "../kernels/kernels.h"
#include "config.h"
#include <stdint.h>

typedef enum {
    K_EMBED, K_ATTN_NORM, K_WQ, K_WK, K_WV, K_WO, K_MLP_NORM, K_WGATE, K_WU, K_WD,
    K_FINAL_NORM, K_WP,
    K_GATE,    /* a reparameterization's trainable scalar(s) of one matrix */
    K_BUFFER,  /* state that is saved but not trained (power-iteration vectors) */
    K_COUNT
} tensor_kind;

typedef struct tensor_info {
    char name[64];    /* e.g. "layers.3.attn.W_o", "layers.3.attn.W_o.gate" */
    tensor_kind kind;
    int layer;        /* -1 for embedding, final norm and head */
    int rows, cols;   /* out x in for matrices; 1 x n for gains, gates, buffers */
    int is_matrix;    /* matrices get weight decay and a reparameterization */
    int trainable;    /* 0 for buffers: the optimizer leaves them alone */
    int gate, aux;    /* matrices: index of the gate tensor and of u (v, sigma follow), or -1 */
    size_t offset, numel;
} tensor_info;

typedef struct {
    double ce;        /* mean cross-entropy over counted rows (nats/token) */
    double z;         /* mean lse^2 (the z-loss before its coefficient) */
    int rows;         /* rows counted (targets >= 0) */
} model_loss;

typedef struct model model;

/* Builds the tensor table for cfg (no parameter memory yet). */
model *model_create(const model_config *cfg, char *err, size_t errlen);
void model_free(model *m);
/* Plans and allocates parameters, gradients and activations for batches of at
 * most B sequences of T <= seq_len tokens.  B = 0: parameters only. */
int model_alloc(model *m, int B, int T, char *err, size_t errlen);

const model_config *model_cfg(const model *m);
size_t model_num_params(const model *m);
int model_num_tensors(const model *m);
const tensor_info *model_tensor(const model *m, int i);
const char *kind_name(tensor_kind k);
real *model_params(model *m);
real *model_grads(model *m);
real *model_scales(model *m);     /* alpha of each matrix's products, one per tensor */
size_t model_activation_bytes(const model *m);

/* Initialises every tensor per the config's init criterion and reparameterization
 * (see reparam.h); the embedding output starts at std 1 in every method. */
void model_init(model *m, uint64_t seed);
/* Once per training step, before its forward passes (sigma-Reparam's power
 * iteration); a no-op for the other rules. */
void model_reparam_step(model *m);

/* Forward pass over tok[B*T]; if target is non-NULL the loss is computed
 * (target < 0 = ignore).  The head runs a chunk of rows at a time: the
 * B*T x vocab logits are never held at once (model_logits computes rows of
 * them on demand). */
int model_forward(model *m, const int32_t *tok, const int32_t *target, int B, int T,
                  model_loss *loss);
/* Rows of logits per chunk (default: at most 128 MiB of them); at most the
 * planned B*T.  Tests make it small so that a short batch spans chunks. */
void model_set_head_rows(model *m, int rows);
/* Logits of rows row0..row0+n-1 of the last forward into out (n x vocab). */
void model_logits(const model *m, int row0, int n, real *out);
/* Training: forward and backward of weight * mean over the counted rows of
 * (CE + zcoef*lse^2).  ACCUMULATES into grads (call model_zero_grad first)
 * the gradients of the EFFECTIVE matrices; after the last micro-batch,
 * model_grads_finish turns them into gradients of the stored parameters
 * (matrices, gates).  Nothing is accumulated if no row is counted. */
int model_forward_backward(model *m, const int32_t *tok, const int32_t *target, int B, int T,
                           real weight, real zcoef, model_loss *loss);
void model_grads_finish(model *m);
/* fn(ctx, l) runs in model_forward_backward right after layer l's backward
 * (l = n_layers-1 down to 0): from then on this pass no longer touches the
 * gradients of layer l's own tensors (norm gains and matrices), so data
 * parallelism can start summing them over ranks while the layers below
 * run.  NULL: none. */
void model_set_grad_ready(model *m, void (*fn)(void *ctx, int layer), void *ctx);
void model_zero_grad(model *m);
/* The plain effective matrix of tensor i (scale and reparameterization folded
 * in), for export; out has numel entries. */
void model_merged(model *m, int i, real *out);
/* The effective matrix of tensor i as the parameter buffer `params` (the
 * model's layout, e.g. a copy taken before an optimizer step) makes it, with
 * the same rule; the model itself is not touched.  For telemetry. */
void model_merged_at(const model *m, const real *params, int i, real *out);
/* The rows X (*M x cols) that matrix i multiplied in the last forward pass,
 * its layer input; NULL for the embedding, which is a lookup of the tokens
 * model_last_tokens gives.  Valid until the next forward. */
const real *model_input_of(const model *m, int i, int *M);
const int32_t *model_last_tokens(const model *m, int *M);
/* Inference with a KV cache (wesar generate): keys and values of every past
 * position are kept, so each new token costs one row through the layers
 * instead of a forward over the whole sequence.  The math is model_forward's
 * (same kernels, same effective matrices), restricted to the new rows.
 * Works on a model allocated with B = 0 (parameters only).  The effective
 * matrices are taken once, at kv_cache_create: the parameters must not change
 * while a cache is in use. */
typedef struct kv_cache kv_cache;
/* room for max_T <= seq_len positions, and prefill chunks of up to max_T */
kv_cache *kv_cache_create(model *m, int max_T);
void kv_cache_free(kv_cache *kv);
int kv_cache_len(const kv_cache *kv);
void kv_cache_reset(kv_cache *kv);
/* Feeds n tokens at positions len..len+n-1; the last one's logits (vocab_size
 * values) go to logits.  -1 if they do not fit in the cache. */
int model_decode(model *m, kv_cache *kv, const int32_t *tok, int n, real *logits);
/* Recomputes the effective scales/matrices from the parameters (model_forward
 * does this itself; call it before model_merged after changing parameters). */
void model_effective(model *m);

#endif
