/* weightnorm.c - Weight Normalization (Salimans & Kingma 2016) on every
 * matrix: each output row is g_r * w_r / ||w_r|| with a trainable g_r.  The
 * normalised matrix is materialised once per forward pass. */
#include "../model/model.h"
#include "reparam.h"
#include <math.h>

static int row_gates(const tensor_info *t) { return t->rows; }

/* Gate init is not stated in the paper: g_r = sigma_i * sqrt(d_in) makes
 * W_eff's rows the length a std-sigma_i matrix has, so the function at init
 * is the criterion's (the alternative, g = 1, is not). */
static void wn_init(reparam_view *v, double target, double base, double sigma, rng_t *r) {
    (void)base;
    fill_normal(v->W, v->t->numel, sigma, r);
    for (int i = 0; i < v->t->rows; i++) v->gate[i] = (real)(target * sqrt((double)v->t->cols));
}

static void wn_effective(reparam_view *v) {
    int rows = v->t->rows, cols = v->t->cols;
#pragma omp parallel for
    for (int i = 0; i < rows; i++) {
        const real *w = v->W + (size_t)i * cols;
        real *e = v->eff + (size_t)i * cols;
        real c = (real)(v->gate[i] / sqrt(dot_real(w, w, (size_t)cols)));
        for (int j = 0; j < cols; j++) e[j] = c * w[j];
    }
    *v->scale = 1;
}

/* dg_r = <G_r, w_r>/||w_r||;  dw_r = (g_r/||w_r||) (G_r - <G_r, w_r>/||w_r||^2 w_r) */
static void wn_grad(reparam_view *v) {
    int rows = v->t->rows, cols = v->t->cols;
#pragma omp parallel for
    for (int i = 0; i < rows; i++) {
        const real *w = v->W + (size_t)i * cols;
        real *g = v->G + (size_t)i * cols;
        double nn = dot_real(w, w, (size_t)cols), n = sqrt(nn), gw = dot_real(g, w, (size_t)cols);
        v->dgate[i] += (real)(gw / n);
        real a = (real)(v->gate[i] / n), b = (real)(gw / nn);
        for (int j = 0; j < cols; j++) g[j] = a * (g[j] - b * w[j]);
    }
}

const reparam_rule reparam_weightnorm = {
    .name = "weightnorm",
    .summary = "Weight Normalization: per-row g_r * w_r/||w_r||, g trainable",
    .default_sigma2 = 16e-5, .gate_name = "g", .gate_len = row_gates, .power_iteration = 0, .materialize = 1,
    .fixed = fixed_one, .init = wn_init, .effective = wn_effective, .grad = wn_grad, .step = NULL};
