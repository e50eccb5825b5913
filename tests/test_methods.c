/* test_methods.c - WeSaR and its baselines: initial stds against Table 1 (closed
 * form, written here), gate initial values against the spec's worked values,
 * merged models against gated ones, WeSaR against plain matrices. */
#include "check.h"
#include "model/model.h"
#include "reparam/reparam.h"
#include "util/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static model *build(int d, int N, const char *init, const char *reparam, int B, int T) {
    model_config c = {.vocab_size = 300, .d_model = d, .n_layers = N, .n_heads = 4, .seq_len = 16,
                      .mlp = MLP_GELU, .rope_theta = 10000, .norm_eps = 1e-5};
    char err[256];
    config_set(&c, "init", init, err, sizeof err);
    config_set(&c, "reparam", reparam, err, sizeof err);
    model *m = model_create(&c, err, sizeof err);
    if (!m || model_alloc(m, B, T, err, sizeof err)) { printf("build: %s\n", err); exit(1); }
    model_init(m, 42);
    return m;
}

static double std_of(const real *x, size_t n) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) { s += x[i]; s2 += (double)x[i] * x[i]; }
    return sqrt(s2 / n - (s / n) * (s / n));
}

/* Table 1 of the WeSaR paper, written out (not taken from the code) */
static double table1(const char *init, tensor_kind k, double d, double N) {
    int resid = k == K_WO || k == K_WD;
    if (!strcmp(init, "small")) return resid ? sqrt(2 / (10 * N * d)) : sqrt(2 / (5 * d));
    if (!strcmp(init, "gpt2")) return resid ? 0.02 / sqrt(2 * N) : 0.02;
    if (k == K_WO) return sqrt(1 / (2 * N * d));
    if (k == K_WD) return sqrt(2 / (8 * N * d));
    return sqrt(1 / d);
}

static void test_init_stds(void) {
    static const char *inits[] = {"he", "small", "gpt2"};
    static const char *rules[] = {"none", "wesar", "weightnorm", "sigmareparam", "residual"};
    int sizes[2][2] = {{128, 2}, {256, 6}};
    for (int z = 0; z < 2; z++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 5; b++) {
                int d = sizes[z][0], N = sizes[z][1];
                model *m = build(d, N, inits[a], rules[b], 0, 16);
                double sigma = sqrt(model_cfg(m)->sigma2);
                real *tmp = malloc(300 * (size_t)4 * d * sizeof(real));
                for (int i = 0; i < model_num_tensors(m); i++) {
                    const tensor_info *t = model_tensor(m, i);
                    if (!t->is_matrix) continue;
                    double tol = 6 / sqrt(2.0 * t->numel);
                    double want = table1(inits[a], t->kind, d, N);
                    double eff_want = t->kind == K_EMBED ? 1 : want;
                    const real *W = model_params(m) + t->offset;
                    double stored = std_of(W, t->numel);
                    model_merged(m, i, tmp);
                    double eff = std_of(tmp, t->numel);
                    const char *r = rules[b];
                    double stored_want = want;
                    if (!strcmp(r, "wesar") || !strcmp(r, "weightnorm") ||
                        (!strcmp(r, "sigmareparam") && t->kind != K_EMBED))
                        stored_want = sigma;
                    if (!strcmp(r, "residual") && (t->kind == K_WO || t->kind == K_WD))
                        stored_want = want * sqrt(2.0 * N);
                    CHECK(fabs(stored / stored_want - 1) < tol, "%s/%s d=%d %s: stored std %.5f want %.5f",
                          inits[a], r, d, t->name, stored, stored_want);
                    if (!strcmp(r, "sigmareparam") && t->kind != K_EMBED) {
                        /* alpha = 1: the effective matrix is W / s, spectral norm 1 */
                        double s = model_params(m)[model_tensor(m, t->aux + 2)->offset];
                        CHECK(fabs(eff * s / stored - 1) < 1e-5, "%s: W_eff = W/s", t->name);
                    } else {
                        CHECK(fabs(eff / eff_want - 1) < tol, "%s/%s d=%d %s: effective std %.5f want %.5f",
                              inits[a], r, d, t->name, eff, eff_want);
                    }
                    if (!strcmp(r, "wesar")) {
                        double gate = model_params(m)[model_tensor(m, t->gate)->offset];
                        CHECK(fabs(gate - eff_want / sigma) < 1e-4 * gate, "%s gate %.5f want %.5f", t->name,
                              gate, eff_want / sigma);
                    }
                }
                free(tmp);
                model_free(m);
            }
}

/* The spec's worked gate values (section 2.1), sigma^2 = 4e-5 */
static void test_gate_values(void) {
    struct { int d, N; double e, q, o, dd; } rows[] = {
        {2048, 24, 158.11, 3.4939, 0.50429, 0.35659},
        {5120, 40, 158.11, 2.2097, 0.24705, 0.17469},
        {768, 12, 158.11, 5.7054, 1.1646, 0.82351}};
    for (int i = 0; i < 3; i++) {
        model_config c = {.vocab_size = 32000, .d_model = rows[i].d, .n_layers = rows[i].N,
                          .n_heads = 16, .seq_len = 2048, .mlp = MLP_GELU};
        c.ffn_dim = 4 * c.d_model;
        double s = sqrt(4e-5);
        double q = init_std(INIT_HE, &c, K_WQ) / s, o = init_std(INIT_HE, &c, K_WO) / s;
        double dd = init_std(INIT_HE, &c, K_WD) / s, p = init_std(INIT_HE, &c, K_WP) / s;
        CHECK(fabs(1 / s - rows[i].e) < 0.01, "alpha_e %.4f", 1 / s);
        CHECK(fabs(q / rows[i].q - 1) < 2e-5 && fabs(p / rows[i].q - 1) < 2e-5, "d=%d alpha_q %.5f", rows[i].d, q);
        CHECK(fabs(o / rows[i].o - 1) < 2e-5, "d=%d alpha_o %.6f want %.5f", rows[i].d, o, rows[i].o);
        CHECK(fabs(dd / rows[i].dd - 1) < 2e-5, "d=%d alpha_d %.6f want %.5f", rows[i].d, dd, rows[i].dd);
    }
}

static void logits_of(model *m, const int32_t *tok, real *out) {
    model_forward(m, tok, NULL, 2, 16, NULL);
    model_logits(m, 0, 2 * 16, out);
}

static double rel(const real *a, const real *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) { num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]); den += (double)b[i] * b[i]; }
    return sqrt(num / den);
}

/* Every method's merged matrices, loaded into a plain model, give the same logits. */
static void test_merge(void) {
    static const char *rules[] = {"none", "wesar", "weightnorm", "sigmareparam", "residual"};
    int32_t tok[32];
    for (int i = 0; i < 32; i++) tok[i] = (i * 37 + 5) % 300;
    size_t nl = (size_t)2 * 16 * 300;
    real *la = malloc(nl * sizeof(real)), *lb = malloc(nl * sizeof(real));
    for (int b = 0; b < 5; b++) {
        model *m = build(64, 2, "he", rules[b], 2, 16);
        /* move gates and gains off their initial values, as training would */
        rng_t r;
        rng_seed(&r, 9, 9);
        for (int i = 0; i < model_num_tensors(m); i++) {
            const tensor_info *t = model_tensor(m, i);
            if (!t->is_matrix && t->trainable)
                for (size_t j = 0; j < t->numel; j++) model_params(m)[t->offset + j] *= 1 + 0.2 * rng_normal(&r);
        }
        model_reparam_step(m);
        logits_of(m, tok, la);
        model *p = build(64, 2, "he", "plain", 2, 16);
        for (int i = 0; i < model_num_tensors(p); i++) {
            const tensor_info *t = model_tensor(p, i); /* the model's own tensors come first */
            if (t->is_matrix) model_merged(m, i, model_params(p) + t->offset);
            else memcpy(model_params(p) + t->offset, model_params(m) + model_tensor(m, i)->offset,
                        t->numel * sizeof(real));
        }
        logits_of(p, tok, lb);
        double e = rel(lb, la, nl);
        CHECK(e < 1e-5, "%s: merged logits rel.err %.2e", rules[b], e);
        printf("  merge %-12s: logits of the merged plain model, rel.err %.1e\n", rules[b], e);
        model_free(p);
        model_free(m);
    }
    /* WeSaR against --reparam none carrying the same effective weights */
    model *w = build(64, 2, "he", "wesar", 2, 16), *n = build(64, 2, "he", "none", 2, 16);
    for (int i = 0; i < model_num_tensors(w); i++)
        if (model_tensor(w, i)->is_matrix) model_params(w)[model_tensor(w, model_tensor(w, i)->gate)->offset] *= 1.3f;
    logits_of(w, tok, la);
    logits_of(n, tok, lb); /* computes n's scales */
    for (int i = 0; i < model_num_tensors(n); i++) {
        const tensor_info *t = model_tensor(n, i);
        if (!t->is_matrix) continue;
        real *dst = model_params(n) + t->offset, s = model_scales(n)[i];
        model_merged(w, i, dst);
        for (size_t j = 0; j < t->numel; j++) dst[j] /= s;
    }
    logits_of(n, tok, lb);
    double e = rel(lb, la, nl);
    CHECK(e < 1e-5, "wesar vs none: rel.err %.2e", e);
    printf("  wesar forward == none forward with the same effective weights: rel.err %.1e\n", e);
    model_free(w);
    model_free(n);
    free(la);
    free(lb);
}

static void test_rejections(void) {
    model_config c;
    char err[256];
    config_preset(&c, "tiny", err, sizeof err);
    config_set(&c, "sigma2", "4e-5", err, sizeof err);
    CHECK(config_finish(&c, err, sizeof err) == -1, "--sigma2 with reparam none accepted");
    CHECK_ERR_HAS(err, "no common sigma");
    CHECK(config_set(&c, "reparam", "spectral", err, sizeof err) == -1, "unknown reparam accepted");
    CHECK_ERR_HAS(err, "wesar");
    CHECK(config_set(&c, "init", "xavier", err, sizeof err) == -1, "unknown init accepted");
    config_preset(&c, "tiny", err, sizeof err);
    config_set(&c, "reparam", "wesar", err, sizeof err);
    CHECK(!config_finish(&c, err, sizeof err) && c.sigma2 == 4e-5, "wesar default sigma2 %g", c.sigma2);
}

int main(void) {
    test_gate_values();
    test_init_stds();
    test_merge();
    test_rejections();
    printf("%s: %d checks, %d failed\n", check_failures ? "FAIL" : "ok", check_count, check_failures);
    return check_failures != 0;
}
