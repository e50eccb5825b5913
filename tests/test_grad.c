/* test_grad.c - every gradient of every parameter tensor against central
 * finite differences, with the whole model built in float64 (-DWESAR_FP64).
 * Covers every reparameterization (gates, weight-norm gains, sigma-Reparam's
 * alpha with its spectral estimate held constant), both MLP types, with and
 * without grouped-query attention, z-loss and ignored targets. */
#include "model/model.h"
#include "util/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WESAR_FP64
#error "test_grad must be built with -DWESAR_FP64"
#endif

static const double ZCOEF = 0.05; /* large, so the z-loss gradient matters */

static double total_loss(model *m, const int32_t *tok, const int32_t *tgt, int B, int T) {
    model_loss L;
    model_forward(m, tok, tgt, B, T, &L);
    return L.ce + ZCOEF * L.z;
}

static int check(const char *reparam, mlp_type mlp, int n_kv_heads) {
    model_config c = {.vocab_size = 11, .d_model = 16, .n_layers = 2, .n_heads = 4,
                      .n_kv_heads = n_kv_heads, .ffn_dim = mlp == MLP_SWIGLU ? 24 : 0,
                      .seq_len = 8, .mlp = mlp, .rope_theta = 10000, .norm_eps = 1e-5};
    snprintf(c.reparam, sizeof c.reparam, "%s", reparam);
    char label[64], err[256];
    snprintf(label, sizeof label, "%-12s %-6s %s", reparam, mlp_name(mlp),
             n_kv_heads == 4 ? "MHA" : "GQA");
    model *m = model_create(&c, err, sizeof err);
    int B = 2, T = 7;
    if (!m || model_alloc(m, B, T, err, sizeof err)) { printf("FAIL %s: %s\n", label, err); return 1; }
    model_init(m, 7);
    rng_t r;
    rng_seed(&r, 99, 1);
    real *p = model_params(m), *g = model_grads(m);
    /* gains and gates away from their initial values, so that their role in
     * the backward pass shows */
    for (int i = 0; i < model_num_tensors(m); i++) {
        const tensor_info *t = model_tensor(m, i);
        if (!t->is_matrix && t->trainable)
            for (size_t j = 0; j < t->numel; j++) p[t->offset + j] *= 1 + 0.3 * rng_normal(&r);
    }
    int32_t tok[14], tgt[14];
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)rng_below(&r, 11);
        tgt[i] = i % 5 == 3 ? -1 : (int32_t)rng_below(&r, 11); /* some ignored rows */
    }
    model_loss L;
    model_forward(m, tok, tgt, B, T, &L);
    model_zero_grad(m);
    model_backward(m, 1.0 / L.rows, ZCOEF);
    model_grads_finish(m);
    int fails = 0, checked = 0;
    const double h = 1e-5;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const tensor_info *t = model_tensor(m, i);
        if (!t->trainable) continue; /* buffers: the power iteration's u, v, sigma */
        checked++;
        double num = 0, den = 0, worst = 0;
        for (size_t j = 0; j < t->numel; j++) {
            real *x = &p[t->offset + j], keep = *x;
            *x = keep + h;
            double lp = total_loss(m, tok, tgt, B, T);
            *x = keep - h;
            double lm = total_loss(m, tok, tgt, B, T);
            *x = keep;
            double fd = (lp - lm) / (2 * h), an = g[t->offset + j];
            num += (fd - an) * (fd - an);
            den += fd * fd;
            if (fabs(fd - an) > worst) worst = fabs(fd - an);
        }
        double rel = sqrt(num) / (sqrt(den) > 1e-12 ? sqrt(den) : 1e-12);
        int ok = rel < 1e-6 && sqrt(den) > 0;
        if (!ok) {
            printf("  %s %-28s rel.err %.3e  max abs %.3e  |fd| %.3e\n", label, t->name, rel, worst,
                   sqrt(den));
            fails++;
        }
    }
    printf("%s %s: %d tensors checked against finite differences\n", fails ? "FAIL" : "ok  ",
           label, checked);
    model_free(m);
    return fails != 0;
}

int main(void) {
    static const char *rules[] = {"none", "wesar", "weightnorm", "sigmareparam", "residual"};
    int f = 0;
    for (int i = 0; i < 5; i++) {
        f += check(rules[i], MLP_GELU, 4);
        f += check(rules[i], MLP_SWIGLU, 2);
    }
    f += check("none", MLP_GELU, 2);
    f += check("wesar", MLP_SWIGLU, 1);
    return f != 0;
}
