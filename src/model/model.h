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
 * its matrix product, so the effective matrix is scale*W without ever being
 * materialised: the WeSaR gate.  The core trainer keeps scale = 1 for every
 * matrix except the embedding (output std 1, Takase et al.).
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
    K_FINAL_NORM, K_WP, K_COUNT
} tensor_kind;

typedef struct {
    char name[48];    /* e.g. "layers.3.attn.W_o" */
    tensor_kind kind;
    int layer;        /* -1 for embedding, final norm and head */
    int rows, cols;   /* out x in for matrices; 1 x d for norm gains */
    int is_matrix;    /* matrices get weight decay and a scale; gains do not */
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
real *model_scales(model *m);     /* one per tensor */
size_t model_activation_bytes(const model *m);

/* He initialisation (WeSaR paper, Table 1, "He" column), embedding output std 1. */
void model_init_he(model *m, uint64_t seed);

/* Forward pass over tok[B*T]; if target is non-NULL the loss is computed
 * (target < 0 = ignore).  Logits stay available until the next backward. */
int model_forward(model *m, const int32_t *tok, const int32_t *target, int B, int T,
                  model_loss *loss);
const real *model_logits(const model *m);
/* Backward of row_weight * sum_rows(CE + zcoef*lse^2) for the last forward;
 * ACCUMULATES into grads (call model_zero_grad first). */
void model_backward(model *m, real row_weight, real zcoef);
void model_zero_grad(model *m);

#endif
