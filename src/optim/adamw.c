/* adamw.c - AdamW exactly as torch.optim.AdamW (decoupled decay scaled by lr). */
#include "optim.h"
#include <math.h>

static void adamw_update(real *p, const real *g, real *const *state, size_t n,
                         const tensor_info *t, const optim_step_args *a) {
    (void)t;
    real *m = state[0], *v = state[1];
    real b1 = (real)a->beta1, b2 = (real)a->beta2;
    real decay = (real)(1.0 - a->lr * a->weight_decay);
    /* adamw-nobc: no first-moment bias correction (the second keeps its own) */
    real step = (real)(a->lr / (a->no_m_bias_correction ? 1.0 : 1.0 - pow(a->beta1, (double)a->t)));
    real inv_sqrt_bc2 = (real)(1.0 / sqrt(1.0 - pow(a->beta2, (double)a->t)));
    real eps = (real)a->eps;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step * m[i] / (real_sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
}

const optim_rule optim_adamw = {
    "adamw", "AdamW (torch.optim.AdamW semantics: decay p -= lr*wd*p, bias-corrected moments)",
    2, adamw_update};

static void adamw_nobc_update(real *p, const real *g, real *const *state, size_t n,
                              const tensor_info *t, const optim_step_args *a) {
    optim_step_args b = *a;
    b.no_m_bias_correction = 1;
    adamw_update(p, g, state, n, t, &b);
}

const optim_rule optim_adamw_nobc = {
    "adamw-nobc", "AdamW without the first-moment bias correction (Kosson et al. 2024)", 2,
    adamw_nobc_update};
