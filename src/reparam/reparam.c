/* reparam.c - the table of rules, Table 1, and shared helpers. */
#include "reparam.h"
#include "../model/model.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

extern const reparam_rule reparam_none, reparam_residual, reparam_wesar, reparam_weightnorm,
    reparam_sigmareparam, reparam_plain;

static const reparam_rule *const rules[] = {&reparam_none, &reparam_wesar, &reparam_weightnorm,
                                            &reparam_sigmareparam, &reparam_residual,
                                            &reparam_plain};

const reparam_rule *reparam_find(const char *name) {
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
        if (!strcmp(rules[i]->name, name)) return rules[i];
    return NULL;
}

#define N_RULES ((int)(sizeof rules / sizeof *rules))

static void list(char *buf, size_t len, int common_sigma_only, const char *sep, const char *last) {
    int n = 0, k = 0;
    for (int i = 0; i < N_RULES; i++) n += !common_sigma_only || rules[i]->default_sigma2 > 0;
    buf[0] = 0;
    for (int i = 0; i < N_RULES; i++) {
        if (common_sigma_only && !(rules[i]->default_sigma2 > 0)) continue;
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", k == 0 ? "" : k == n - 1 ? last : sep, rules[i]->name);
        k++;
    }
}

const char *reparam_names(void) {
    static char names[256];
    if (!names[0]) list(names, sizeof names, 0, ", ", ", ");
    return names;
}

const char *reparam_sigma_names(void) {
    static char names[256];
    if (!names[0]) list(names, sizeof names, 1, ", ", " or ");
    return names;
}

void reparam_help(FILE *f) {
    fputs("             reparam, one of:\n", f);
    for (int i = 0; i < N_RULES; i++) {
        fprintf(f, "               %-13s %s", rules[i]->name, rules[i]->summary);
        if (rules[i]->default_sigma2 > 0) fprintf(f, " (sigma2 %g)", rules[i]->default_sigma2);
        fputc('\n', f);
    }
    fprintf(f, "             sigma2: the common variance of the stored matrices (%s)\n", reparam_sigma_names());
}

double init_std(init_scheme s, const model_config *c, int kind) {
    double d = c->d_model, N = c->n_layers, F = c->ffn_dim;
    int resid = kind == K_WO || kind == K_WD;
    switch (s) {
    case INIT_SMALL: /* Nguyen & Salazar: sqrt(2/(5d)) everywhere, W_o/W_d / sqrt(2N) */
        return sqrt(2.0 / (5 * d)) / (resid ? sqrt(2 * N) : 1);
    case INIT_GPT2: /* GPT-2: 0.02, residual projections 0.02/sqrt(2N) */
        return 0.02 / (resid ? sqrt(2 * N) : 1);
    case INIT_HE:
    default:
        /* fan-in 1/d; W_d gain 2 (post-GELU input, ReLU-like) over fan-in F;
         * W_o/W_d times 1/sqrt(2N).  F = 4d gives Table 1's sqrt(2/(8Nd)). */
        if (kind == K_WD) return sqrt(2.0 / F) / sqrt(2 * N);
        if (kind == K_WO) return sqrt(1.0 / d) / sqrt(2 * N);
        return sqrt(1.0 / d);
    }
}

void fill_normal(real *x, size_t n, double std, rng_t *r) {
    for (size_t i = 0; i < n; i++) x[i] = (real)(std * rng_normal(r));
}

double dot_real(const real *a, const real *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

double fixed_one(const tensor_info *t, double base, int n_layers) {
    (void)t; (void)base; (void)n_layers;
    return 1.0;
}

double fixed_embed(const tensor_info *t, double base, int n_layers) {
    (void)n_layers;
    return t->kind == K_EMBED ? 1.0 / base : 1.0;
}

void effective_fixed(reparam_view *v) { *v->scale = (real)*v->fixed; }

void grad_fixed(reparam_view *v) {
    if (*v->scale != 1) scale_inplace(v->G, *v->scale, v->t->numel);
}

void merge_effective(const reparam_view *v, real *out) {
    const real *src = v->eff ? v->eff : v->W;
    for (size_t i = 0; i < v->t->numel; i++) out[i] = *v->scale * src[i];
}
