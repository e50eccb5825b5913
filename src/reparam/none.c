/* none.c - plain matrices (the Small / He / GPT-2 baselines) and Residual
 * Scaling (Noci et al. 2022), which differs only by a fixed factor. */
#include "../model/model.h"
#include "reparam.h"
#include <math.h>

static int no_gate(const tensor_info *t) { (void)t; return 0; }

/* the embedding output is rescaled to std 1 by a constant (fixed_embed) */
static double residual_fixed(const tensor_info *t, double base, int n_layers) {
    if (t->kind == K_WO || t->kind == K_WD) return 1.0 / sqrt(2.0 * n_layers);
    return fixed_embed(t, base, n_layers);
}

/* W ~ N(0, base^2) */
static void none_init(reparam_view *v, double target, double base, double sigma, rng_t *r) {
    (void)target; (void)sigma;
    fill_normal(v->W, v->t->numel, base, r);
}

/* y = x + f(RMSNorm(x)) / sqrt(2N): W_o and W_d are drawn without the
 * 1/sqrt(2N) of the criterion and carry it as a fixed, untrained factor. */
static void residual_init(reparam_view *v, double target, double base, double sigma, rng_t *r) {
    none_init(v, target, base / (v->t->kind == K_EMBED ? 1 : *v->fixed), sigma, r);
}

const reparam_rule reparam_none = {
    .name = "none",
    .summary = "plain matrices; the embedding output is scaled to std 1 by a constant",
    .default_sigma2 = 0, .gate_name = NULL, .gate_len = no_gate, .power_iteration = 0, .materialize = 0,
    .fixed = fixed_embed, .init = none_init, .effective = effective_fixed, .grad = grad_fixed, .step = NULL};

/* The merged form every method exports to: W_eff = W, nothing else. */
static void plain_init(reparam_view *v, double target, double base, double sigma, rng_t *r) {
    (void)sigma;
    fill_normal(v->W, v->t->numel, v->t->kind == K_EMBED ? target : base, r);
}

const reparam_rule reparam_plain = {
    .name = "plain",
    .summary = "plain weights as exported: W_eff = W everywhere, no embedding scale",
    .default_sigma2 = 0, .gate_name = NULL, .gate_len = no_gate, .power_iteration = 0, .materialize = 0,
    .fixed = fixed_one, .init = plain_init, .effective = effective_fixed, .grad = grad_fixed, .step = NULL};

const reparam_rule reparam_residual = {
    .name = "residual",
    .summary = "Residual Scaling: fixed 1/sqrt(2N) on both sublayers' outputs (W_o, W_d)",
    .default_sigma2 = 0, .gate_name = NULL, .gate_len = no_gate, .power_iteration = 0, .materialize = 0,
    .fixed = residual_fixed, .init = residual_init, .effective = effective_fixed, .grad = grad_fixed, .step = NULL};
