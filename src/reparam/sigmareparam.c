/* sigmareparam.c - sigma-Reparam (Zhai et al. 2023) as the WeSaR paper runs
 * it: W_eff = alpha * W / s with s the spectral norm of W estimated by ONE
 * power-iteration step per training step (Miyato et al. 2018), no gradient
 * through s, alpha initialised to 1.
 *
 * Choices (the paper is silent; documented in the README):
 *  - u starts random and, as torch.nn.utils.spectral_norm does, 15 power
 *    iterations run at initialization so that s is accurate from step 0.
 *    Apple's reference instead starts from an SVD and lets the gradient flow
 *    through s, with alpha initialised to the initial spectral norm.
 *  - The embedding is not reparameterized: its output keeps the constant
 *    std-1 scale of the baselines (W_e's handling is not stated). */
#include "../model/model.h"
#include "reparam.h"
#include <math.h>

static int sr_gate(const tensor_info *t) { return t->kind == K_EMBED ? 0 : 1; }

static void normalize(real *x, int n) {
    double s = sqrt(dot_real(x, x, (size_t)n));
    for (int i = 0; i < n; i++) x[i] = (real)(x[i] / (s > 0 ? s : 1));
}

/* v <- normalize(W^T u);  u <- normalize(W v) */
static void power_step(reparam_view *v) {
    int rows = v->t->rows, cols = v->t->cols;
    for (int j = 0; j < cols; j++) v->v[j] = 0;
    for (int i = 0; i < rows; i++) {
        const real *w = v->W + (size_t)i * cols;
        real ui = v->u[i];
        for (int j = 0; j < cols; j++) v->v[j] += ui * w[j];
    }
    normalize(v->v, cols);
#pragma omp parallel for
    for (int i = 0; i < rows; i++) v->u[i] = (real)dot_real(v->W + (size_t)i * cols, v->v, (size_t)cols);
    normalize(v->u, rows);
}

/* s = u^T W v, kept in a buffer: constant within a step (no gradient flows
 * through it) and saved with the checkpoint. */
static double sigma_hat(const reparam_view *v) {
    int rows = v->t->rows, cols = v->t->cols;
    double s = 0;
#pragma omp parallel for reduction(+ : s)
    for (int i = 0; i < rows; i++) s += v->u[i] * dot_real(v->W + (size_t)i * cols, v->v, (size_t)cols);
    return s;
}

static void sr_init(reparam_view *v, double target, double base, double sigma, rng_t *r) {
    (void)target;
    if (v->t->kind == K_EMBED) { /* constant std-1 embedding, as the baselines */
        fill_normal(v->W, v->t->numel, base, r);
        return;
    }
    fill_normal(v->W, v->t->numel, sigma, r);
    fill_normal(v->u, (size_t)v->t->rows, 1, r);
    normalize(v->u, v->t->rows);
    for (int k = 0; k < 15; k++) power_step(v);
    *v->s = (real)sigma_hat(v);
    *v->gate = 1;
}

static void sr_effective(reparam_view *v) {
    if (!v->gate) { effective_fixed(v); return; } /* the embedding */
    *v->scale = *v->gate / *v->s;
}

/* s is a constant: dL/dW = (alpha/s) G,  dL/dalpha = <G, W>/s */
static void sr_grad(reparam_view *v) {
    size_t n = v->t->numel;
    if (!v->gate) { grad_fixed(v); return; }
    *v->dgate += (real)(dot_real(v->G, v->W, n) / *v->s);
    scale_inplace(v->G, *v->scale, n);
}

static void sr_step(reparam_view *v) {
    if (!v->u) return;
    power_step(v);
    *v->s = (real)sigma_hat(v);
}

const reparam_rule reparam_sigmareparam = {
    .name = "sigmareparam",
    .summary = "sigma-Reparam: alpha * W / ||W||_2, one power iteration per step, alpha init 1",
    .default_sigma2 = 16e-5, .gate_name = "alpha", .gate_len = sr_gate, .power_iteration = 1, .materialize = 0,
    .fixed = fixed_embed, .init = sr_init, .effective = sr_effective, .grad = sr_grad, .step = sr_step};
