/* wesar.c - Weight Scaling as Reparameterization (Nishida et al. 2024):
 * every matrix is stored as W ~ N(0, sigma^2) with ONE common sigma, and used
 * as a * W with one trainable scalar gate a, initialised to sigma_i / sigma,
 * so the model computes what the criterion asks while Adam sees uniformly
 * scaled parameters.  The gate is the alpha of the matrix products: a * W is
 * never materialised. */
#include "../model/model.h"
#include "reparam.h"

static int one_gate(const tensor_info *t) { (void)t; return 1; }

static void wesar_init(reparam_view *v, double target, double base, double sigma, rng_t *r) {
    (void)base;
    fill_normal(v->W, v->t->numel, sigma, r);
    *v->gate = (real)(target / sigma);  /* embedding: target 1 -> 1/sigma */
}

static void wesar_effective(reparam_view *v) { *v->scale = *v->gate; }

/* W_eff = a W:  dL/dW = a G,  dL/da = <G, W> */
static void wesar_grad(reparam_view *v) {
    size_t n = v->t->numel;
    *v->dgate += (real)dot_real(v->G, v->W, n);
    scale_inplace(v->G, *v->gate, n);
}

const reparam_rule reparam_wesar = {
    .name = "wesar",
    .summary = "WeSaR: W ~ N(0, sigma^2), one trainable gate per matrix, init sigma_i/sigma",
    .default_sigma2 = 4e-5, .gate_name = "gate", .gate_len = one_gate, .power_iteration = 0, .materialize = 0,
    .fixed = fixed_one, .init = wesar_init, .effective = wesar_effective, .grad = wesar_grad, .step = NULL};
