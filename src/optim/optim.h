/* optim.h - optimizers as data: a table of update rules, one file per rule.
 *
 * An optimizer keeps `n_state` slabs of state, each laid out like the
 * parameter buffer, and updates one tensor at a time so that rules that need a
 * tensor's shape (per-row norms, ...) fit the same interface.  Adding a rule
 * means one new file with one optim_rule and one line in optim.c's table.
 */
#ifndef WESAR_OPTIM_H
#define WESAR_OPTIM_H
#include "../kernels/kernels.h"
#include "../model/model.h"
#include <stddef.h>

typedef struct {
    double lr;            /* this step's learning rate (after the schedule) */
    double beta1, beta2, eps;
    double weight_decay;  /* already 0 for tensors that are not decayed */
    long t;               /* 1-based count of updates, for bias corrections */
    int nesterov;                 /* Lion family: one EMA (beta1), Nesterov-style direction */
    int inverse_bias_correction;  /* Lion family: step times (1 - beta^t) */
    int rrc_correction;           /* Lion family: the RRC / SNR factor (lion.c) */
} optim_step_args;

typedef struct {
    const char *name;
    const char *summary;
    int n_state;
    /* p, g, state slabs (state[k] points at this tensor inside slab k) */
    void (*update)(real *p, const real *g, real *const *state, size_t n,
                   const tensor_info *t, const optim_step_args *a);
} optim_rule;

const optim_rule *optim_find(const char *name);
/* "adamw, ..." for error messages and --help */
const char *optim_names(void);

/* Linear warmup over `warmup` steps, then cosine decay from peak to
 * min_frac*peak at step `total`.  step is 0-based. */
double lr_schedule(long step, long total, long warmup, double peak, double min_frac);

#endif
