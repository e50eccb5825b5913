/* lion.c - the Lion family of Kosson, Messmer & Jaggi (NeurIPS 2024), as
 * ../shared/spec/warmup-optimizers.md §3.3-3.7 writes them.
 *
 *   lion    Chen et al. 2023: u = sign(b1 m + (1-b1) g), m = b2 m + (1-b2) g,
 *           p = p (1 - lr wd) - lr u.
 *   liona   (spec: reconstructed) the total step u + wd p renormalized to an
 *           l2 norm of exactly lr sqrt(numel) per tensor: l2 control only.
 *   lionar  (spec: rotational Lion, from the authors' REQ code) per output row
 *           of each matrix: radial part of u removed, step lr * |W_i| * u_i/|u_i|,
 *           row projected back to its norm at the first step; no weight decay.
 *           1-D tensors and gates: plain Lion without decay.
 *
 * Options, each reconstructed in the spec and isolated here:
 *   nesterov  one EMA with beta = beta1 drives the direction:
 *             m = b m + (1-b) g, u = sign(b m + (1-b) g) with the updated m;
 *   ibc       "inverse bias correction": the step times (1 - beta^t), beta the EMA's;
 *   rrc       the relative-representation-change factor per tensor,
 *             f = sqrt(clamp((1 - r)/(1 - c), f_min^2, 1)), r = |m_hat|^2/|g|^2,
 *             c = (1 - beta)/(1 + beta), f_min = 0.05 (spec §3.6, reconstructed).
 */
#include "optim.h"
#include <math.h>

#define RRC_F_MIN 0.05

/* The family's options (all three RECONSTRUCTED from the paper's
 * description, see README), in the order of a->opt */
enum { NESTEROV, IBC, RRC, N_OPTIONS };
static const optim_option OPTIONS[N_OPTIONS] = {
    [NESTEROV] = {"nesterov", "nesterov", "one EMA (beta1), Nesterov-style direction (RECONSTRUCTED)", 1, 0, 1, 0},
    [IBC] = {"inverse_bias_correction", "ibc", "the step times (1 - beta^t) (RECONSTRUCTED)", 1, 0, 1, 0},
    [RRC] = {"rrc_correction", "rrc", "the RRC / SNR factor per tensor (RECONSTRUCTED)", 1, 0, 1, 0}};

static inline real sign_of(real x) { return (real)((x > 0) - (x < 0)); }

/* Updates the momentum m in place, writes the direction sign(...) into u and
 * returns the step multiplier from the options (ibc, rrc) times lr. */
static double lion_direction(real *u, real *m, const real *g, size_t n, const optim_step_args *a) {
    double b1 = a->beta1, b2 = a->beta2, beta;
    if (a->opt[NESTEROV]) {
        beta = b1;
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) {
            m[i] = (real)(b1 * m[i] + (1 - b1) * g[i]);
            u[i] = sign_of((real)(b1 * m[i] + (1 - b1) * g[i]));
        }
    } else {
        beta = b2;
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) {
            u[i] = sign_of((real)(b1 * m[i] + (1 - b1) * g[i]));
            m[i] = (real)(b2 * m[i] + (1 - b2) * g[i]);
        }
    }
    double scale = a->lr;
    if (a->opt[IBC]) scale *= 1 - pow(beta, (double)a->t);
    if (a->opt[RRC]) {
        double mm = sumsq(m, n), gg = sumsq(g, n);
        double bc = 1 - pow(beta, (double)a->t), r = gg > 0 ? mm / (bc * bc) / gg : 0;
        double c = (1 - beta) / (1 + beta), f2 = (1 - r) / (1 - c);
        if (f2 < RRC_F_MIN * RRC_F_MIN) f2 = RRC_F_MIN * RRC_F_MIN;
        if (f2 > 1) f2 = 1;
        scale *= sqrt(f2);
    }
    return scale;
}

/* state: m, then the direction scratch u (kept in the state so that no
 * memory is allocated per step) */
static void lion_update(real *p, const real *g, real *const *state, size_t n,
                        const tensor_info *t, const optim_step_args *a) {
    (void)t;
    real *m = state[0], *u = state[1];
    double scale = lion_direction(u, m, g, n, a);
    real decay = (real)(1.0 - a->lr * a->weight_decay), s = (real)scale;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) p[i] = p[i] * decay - s * u[i];
}

static void liona_update(real *p, const real *g, real *const *state, size_t n,
                         const tensor_info *t, const optim_step_args *a) {
    (void)t;
    real *m = state[0], *u = state[1];
    double scale = lion_direction(u, m, g, n, a);
    real w = (real)a->weight_decay;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) u[i] += w * p[i]; /* the total step, decay included */
    double dd = sumsq(u, n);
    if (dd <= 0) return;
    real s = (real)(scale * sqrt((double)n / dd));
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) p[i] -= s * u[i];
}

static int rotational(const tensor_info *t) { return t->is_matrix && t->kind != K_GATE; }

/* state: m, u, and the rows' norms (the first t->rows entries of slab 2) */
static void lionar_update(real *p, const real *g, real *const *state, size_t n,
                          const tensor_info *t, const optim_step_args *a) {
    real *m = state[0], *u = state[1], *norm = state[2];
    double scale = lion_direction(u, m, g, n, a);
    if (!rotational(t)) { /* plain Lion, no decay */
        real s = (real)scale;
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) p[i] -= s * u[i];
        return;
    }
    int rows = t->rows;
    size_t cols = (size_t)t->cols;
#pragma omp parallel for
    for (int r = 0; r < rows; r++) {
        real *w = p + (size_t)r * cols, *ur = u + (size_t)r * cols;
        double ww = 0, uw = 0;
        for (size_t j = 0; j < cols; j++) ww += (double)w[j] * w[j], uw += (double)ur[j] * w[j];
        if (a->t == 1) norm[r] = (real)sqrt(ww); /* the row keeps this norm for the whole run */
        double nr = norm[r];
        if (nr <= 0) continue;
        double radial = uw / (nr * nr), uu = 0;
        for (size_t j = 0; j < cols; j++) {
            ur[j] = (real)(ur[j] - radial * w[j]);
            uu += (double)ur[j] * ur[j];
        }
        double step = scale * nr / (sqrt(uu) + 1e-8), nn = 0;
        for (size_t j = 0; j < cols; j++) {
            w[j] = (real)(w[j] - step * ur[j]);
            nn += (double)w[j] * w[j];
        }
        real back = (real)(nr / sqrt(nn));
        for (size_t j = 0; j < cols; j++) w[j] *= back;
    }
}

const optim_rule optim_lion = {"lion", "Lion (Chen et al. 2023)", 2, lion_update, OPTIONS, N_OPTIONS};
const optim_rule optim_liona = {
    "liona", "LionA: Lion with the l2 norm of each tensor's step fixed to lr*sqrt(numel) (RECONSTRUCTED)",
    2, liona_update, OPTIONS, N_OPTIONS};
const optim_rule optim_lionar = {
    "lionar", "LionAR: rotational Lion, per-row angular steps, norms held fixed (RECONSTRUCTED)",
    3, lionar_update, OPTIONS, N_OPTIONS};
