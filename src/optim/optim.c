/* optim.c - the table of optimizers and the learning-rate schedule. */
#include "optim.h"
#include <math.h>
#include <string.h>

extern const optim_rule optim_adamw, optim_adamw_nobc, optim_lion, optim_liona, optim_lionar;

static const optim_rule *const rules[] = {&optim_adamw, &optim_adamw_nobc, &optim_lion, &optim_liona,
                                          &optim_lionar};

const optim_rule *optim_find(const char *name) {
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
        if (!strcmp(rules[i]->name, name)) return rules[i];
    return NULL;
}

const char *optim_names(void) { return "adamw, adamw-nobc, lion, liona, lionar"; }

double lr_schedule(long step, long total, long warmup, double peak, double min_frac) {
    if (step < warmup) return peak * (double)(step + 1) / (double)warmup;
    long span = total - warmup;
    if (span <= 1) return peak;
    double progress = (double)(step - warmup) / (double)(span - 1);
    if (progress > 1) progress = 1;
    double lo = peak * min_frac;
    return lo + 0.5 * (1 + cos(3.14159265358979323846 * progress)) * (peak - lo);
}
