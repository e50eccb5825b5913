/* reparam.h - initialization criteria and reparameterizations of the
 * parameter matrices (WeSaR and its baselines), as a table of small rules.
 *
 * Every matrix W_i is used through an effective matrix  W_eff = scale * M,
 * where M is the stored matrix (or, for weight normalization, a materialised
 * one) and `scale` is the alpha of its matrix products.  A rule says how the
 * stored parameters make W_eff (effective), how dL/dW_eff becomes gradients of
 * the stored parameters (grad), how to initialise them (init) and how to fold
 * everything back into one plain matrix (merge, for export).
 *
 *   none          W_eff = fixed * W             (fixed: 1; embedding 1/sigma_e)
 *   residual      as none, with fixed = 1/sqrt(2N) on W_o and W_d (Noci et al.)
 *   wesar         W_eff = a * W, one trainable gate a per matrix, W ~ N(0, sigma^2)
 *   weightnorm    W_eff[r] = g_r * W[r] / ||W[r]||, one trainable g per row
 *   sigmareparam  W_eff = alpha * W / s, s = u^T W v by one power iteration per step
 *   plain         W_eff = W: the merged form that export writes
 *
 * Adding a rule: one file with one reparam_rule, one line in reparam.c.
 */
#ifndef WESAR_REPARAM_H
#define WESAR_REPARAM_H
#include <stdio.h>
#include "../kernels/kernels.h"
#include "../model/config.h"
#include "../util/rng.h"

struct tensor_info;

/* What a rule sees of one matrix. */
typedef struct {
    const struct tensor_info *t;
    real *W, *G;          /* stored matrix; its gradient slot (dL/dW_eff on entry to grad) */
    real *gate, *dgate;   /* the rule's trainable parameter and gradient, or NULL */
    real *u, *v, *s;      /* power iteration: vectors (rows, cols) and the estimate, or NULL */
    real *eff;            /* materialised effective matrix (rules with materialize), or NULL */
    real *scale;          /* alpha of this matrix's products */
    const double *fixed;  /* constant multiplier (rule->fixed) */
} reparam_view;

typedef struct {
    const char *name;
    const char *summary;
    double default_sigma2;  /* > 0: stored matrices ~ N(0, sigma^2), --sigma2 allowed */
    const char *gate_name;  /* suffix of the trainable parameter ("gate", "g", "alpha") */
    int (*gate_len)(const struct tensor_info *t);  /* 0, 1 or rows */
    int power_iteration;    /* keeps u, v buffers */
    int materialize;        /* forward reads `eff` instead of W */
    /* The constant multiplier of a matrix, a function of the config alone (so
     * a loaded checkpoint gets it back): embedding 1/sigma_e, residual 1/sqrt(2N). */
    double (*fixed)(const struct tensor_info *t, double base, int n_layers);
    /* target: std the criterion asks of W_eff (embedding: 1); base: std the
     * plain method samples for W (embedding: sigma_e) */
    void (*init)(reparam_view *v, double target, double base, double sigma, rng_t *r);
    void (*effective)(reparam_view *v);
    void (*grad)(reparam_view *v);
    void (*step)(reparam_view *v);  /* once per training step, or NULL */
} reparam_rule;

const reparam_rule *reparam_find(const char *name);
const char *reparam_names(void);        /* "none, wesar, ...", from the table */
const char *reparam_sigma_names(void);  /* the rules with a common sigma: "wesar, weightnorm or sigmareparam" */
void reparam_help(FILE *f);             /* the rules and their summaries, for --help */

/* Table 1: std of the effective matrix of kind k under scheme s (the
 * embedding entry is the std of W_e itself; its output is rescaled to 1). */
double init_std(init_scheme s, const model_config *c, int kind);

/* Shared pieces for the rules. */
void fill_normal(real *x, size_t n, double std, rng_t *r);
double dot_real(const real *a, const real *b, size_t n);
void merge_effective(const reparam_view *v, real *out);  /* out = scale * (eff or W) */
/* W_eff = fixed * W: scale = fixed; dL/dW = fixed * G */
void effective_fixed(reparam_view *v);
void grad_fixed(reparam_view *v);
double fixed_one(const struct tensor_info *t, double base, int n_layers);   /* 1 */
double fixed_embed(const struct tensor_info *t, double base, int n_layers); /* 1/base on W_e */
#endif
