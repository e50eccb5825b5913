/* test_grad.c - every gradient of every parameter tensor against central
 * finite differences, with the whole model built in float64 (-DWESAR_FP64).
 * Covers every reparameterization (gates, weight-norm gains, sigma-Reparam's
 * alpha with its spectral estimate held constant), both MLP types, with and
 * without grouped-query attention, z-loss and ignored targets.  The attention
 * kernel alone is also checked at a length that spans several of its query
 * blocks (the model checks use a short sequence), against the textbook
 * formula and finite differences. */
#include "kernels/kernels.h"
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
    model_set_head_rows(m, 5); /* the head's loss and gradient in three chunks */
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
    model_zero_grad(m);
    model_forward_backward(m, tok, tgt, B, T, 1.0, ZCOEF, &L);
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

/* sum(R o attention(q, k, v)) and, with grads, its gradients */
static double att_loss(const double *q, const double *k, const double *v, const double *R,
                       double *out, double *lse, double *scratch, int B, int T, int H, int Hkv,
                       int hd) {
    attention_fwd(out, lse, scratch, q, k, v, B, T, H, Hkv, hd);
    double s = 0;
    for (size_t i = 0; i < (size_t)B * T * H * hd; i++) s += R[i] * out[i];
    return s;
}

/* T: several query blocks and a last one of any length; hd: whole vectors
 * (attention.c's 64-byte ones: 8 doubles) and a remainder */
static int check_attention(int T, int hd) {
    int B = 2, H = 4, Hkv = 2, fails = 0;
    size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * Hkv * hd;
    double *q = malloc(nq * 8), *k = malloc(nk * 8), *v = malloc(nk * 8), *R = malloc(nq * 8);
    double *out = malloc(nq * 8), *lse = malloc((size_t)B * H * T * 8);
    double *dq = malloc(nq * 8), *dk = malloc(nk * 8), *dv = malloc(nk * 8);
    double *scratch = malloc(attention_scratch_len(T) * kernels_threads() * 8);
    rng_t r;
    rng_seed(&r, 7, 1);
    for (size_t i = 0; i < nq; i++) { q[i] = rng_normal(&r); R[i] = rng_normal(&r); }
    for (size_t i = 0; i < nk; i++) { k[i] = rng_normal(&r); v[i] = rng_normal(&r); }
    att_loss(q, k, v, R, out, lse, scratch, B, T, H, Hkv, hd);
    /* forward: the textbook formula, one row at a time */
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                int kh = h / (H / Hkv);
                double sc[T], mx = -1e300, sum = 0;
                const double *qi = q + ((size_t)b * T + t) * H * hd + h * hd;
                for (int j = 0; j <= t; j++) {
                    const double *kj = k + ((size_t)b * T + j) * Hkv * hd + kh * hd;
                    sc[j] = 0;
                    for (int e = 0; e < hd; e++) sc[j] += qi[e] * kj[e] / sqrt(hd);
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j <= t; j++) sum += exp(sc[j] - mx);
                for (int e = 0; e < hd; e++) {
                    double o = 0;
                    for (int j = 0; j <= t; j++)
                        o += exp(sc[j] - mx) / sum * v[((size_t)b * T + j) * Hkv * hd + kh * hd + e];
                    worst = fmax(worst, fabs(o - out[((size_t)b * T + t) * H * hd + h * hd + e]));
                }
            }
    if (worst > 1e-12) { printf("  attention forward: max abs diff %.3e\n", worst); fails++; }
    attention_bwd(dq, dk, dv, scratch, R, out, lse, q, k, v, B, T, H, Hkv, hd);
    double *xs[3] = {q, k, v}, *gs[3] = {dq, dk, dv};
    size_t ns[3] = {nq, nk, nk};
    for (int w = 0; w < 3; w++)
        for (int s = 0; s < 60; s++) {
            size_t i = (size_t)rng_below(&r, ns[w]);
            double x0 = xs[w][i], hstep = 1e-5;
            xs[w][i] = x0 + hstep;
            double lp = att_loss(q, k, v, R, out, lse, scratch, B, T, H, Hkv, hd);
            xs[w][i] = x0 - hstep;
            double lm = att_loss(q, k, v, R, out, lse, scratch, B, T, H, Hkv, hd);
            xs[w][i] = x0;
            double fd = (lp - lm) / (2 * hstep), err = fabs(fd - gs[w][i]);
            if (err > 1e-7 * (1 + fabs(fd))) {
                printf("  attention d%c[%zu]: %.10f, finite differences %.10f\n", "qkv"[w], i,
                       gs[w][i], fd);
                fails++;
            }
        }
    printf("%s attention kernel, T=%d over several query blocks, hd=%d: forward and 180 gradients\n",
           fails ? "FAIL" : "ok  ", T, hd);
    free(q); free(k); free(v); free(R); free(out); free(lse); free(dq); free(dk); free(dv);
    free(scratch);
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
    f += check_attention(150, 8);
    f += check_attention(131, 20);
    return f != 0;
}
