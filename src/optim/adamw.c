/* adamw.c - AdamW exactly as torch.optim.AdamW (decoupled decay scaled by lr). */
#include "optim.h"
#include <math.h>

/* bias_correct_m 0: adamw-nobc (the second moment keeps its correction) */
static void adamw_core(real *p, const real *g, real *const *state, size_t n,
                       const optim_step_args *a, int bias_correct_m) {
    real *m = state[0], *v = state[1];
    real b1 = (real)a->beta1, b2 = (real)a->beta2;
    real decay = (real)(1.0 - a->lr * a->weight_decay);
    real step = (real)(a->lr / (bias_correct_m ? 1.0 - pow(a->beta1, (double)a->t) : 1.0));
    real inv_sqrt_bc2 = (real)(1.0 / sqrt(1.0 - pow(a->beta2, (double)a->t)));
    real eps = (real)a->eps;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step * m[i] / (real_sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
}

static void adamw_update(real *p, const real *g, real *const *state, size_t n,
                         const tensor_info *t, const optim_step_args *a) {
    (void)t;
    adamw_core(p, g, state, n, a, 1);
}

const optim_rule optim_adamw = {
    "adamw", "AdamW (torch.optim.AdamW semantics: decay p -= lr*wd*p, bias-corrected moments)",
    2, adamw_update, NULL, 0};

static void adamw_nobc_update(real *p, const real *g, real *const *state, size_t n,
                              const tensor_info *t, const optim_step_args *a) {
    (void)t;
    adamw_core(p, g, state, n, a, 0);
}

const optim_rule optim_adamw_nobc = {
    "adamw-nobc", "AdamW without the first-moment bias correction (Kosson et al. 2024)", 2,
    adamw_nobc_update, NULL, 0};
