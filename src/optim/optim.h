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
#include <stdio.h>

typedef struct {
    double lr;            /* this step's learning rate (after the schedule) */
    double beta1, beta2, eps;
    double weight_decay;  /* already 0 for tensors that are not decayed */
    long t;               /* 1-based count of updates, for bias corrections */
    const double *opt;    /* the rule's options' values, in its options[] order */
} optim_step_args;

/* A rule's own hyperparameter, a training key of that name.  lo 0, hi 1 and
 * switch 1: an on/off switch, given bare as --NAME. */
typedef struct {
    const char *name;     /* the key: "nesterov" (--nesterov) */
    const char *label;    /* short, in run labels ("ibc") */
    const char *help;
    int is_switch;
    double lo, hi, def;
} optim_option;
#define OPTIM_MAX_OPTIONS 8 /* distinct options over all rules */

typedef struct {
    const char *name;
    const char *summary;  /* one line, in --help */
    int n_state;
    /* p, g, state slabs (state[k] points at this tensor inside slab k) */
    void (*update)(real *p, const real *g, real *const *state, size_t n,
                   const tensor_info *t, const optim_step_args *a);
    const optim_option *options; /* n_options of them, or NULL */
    int n_options;
} optim_rule;

const optim_rule *optim_find(const char *name);
/* "adamw, ..." for error messages */
const char *optim_names(void);
/* The options of all rules, each name once, in table order: train_config
 * keeps their values by this index (train.h: optim_opt). */
int optim_n_options(void);
const optim_option *optim_option_at(int i);
int optim_option_index(const char *name);   /* -1: no rule has it */
int optim_rule_has(const optim_rule *r, const char *option);
/* "lion, liona, lionar": the rules that declare an option */
void optim_option_rules(const char *option, char *buf, size_t len);
/* The optimizers and their options, for --help, from the tables */
void optim_help(FILE *f);

/* Linear warmup over `warmup` steps, then cosine decay from peak to
 * min_frac*peak at step `total`.  step is 0-based. */
double lr_schedule(long step, long total, long warmup, double peak, double min_frac);

#endif
