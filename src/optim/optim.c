/* optim.c - the table of optimizers and the learning-rate schedule. */
#include "optim.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

extern const optim_rule optim_adamw, optim_adamw_nobc, optim_lion, optim_liona, optim_lionar;

static const optim_rule *const rules[] = {&optim_adamw, &optim_adamw_nobc, &optim_lion, &optim_liona,
                                          &optim_lionar};

const optim_rule *optim_find(const char *name) {
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
        if (!strcmp(rules[i]->name, name)) return rules[i];
    return NULL;
}

#define N_RULES ((int)(sizeof rules / sizeof *rules))

const char *optim_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0; i < N_RULES; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", rules[i]->name);
    return names;
}

/* the union of the rules' options, each name once */
static const optim_option *all[OPTIM_MAX_OPTIONS];
static int n_all = -1;
static void collect(void) {
    if (n_all >= 0) return;
    n_all = 0;
    for (int i = 0; i < N_RULES; i++)
        for (int k = 0; k < rules[i]->n_options; k++) {
            int seen = 0;
            for (int j = 0; j < n_all && !seen; j++) seen = !strcmp(all[j]->name, rules[i]->options[k].name);
            if (!seen && n_all < OPTIM_MAX_OPTIONS) all[n_all++] = &rules[i]->options[k];
        }
}

int optim_n_options(void) { collect(); return n_all; }
const optim_option *optim_option_at(int i) { collect(); return i >= 0 && i < n_all ? all[i] : NULL; }

int optim_option_index(const char *name) {
    collect();
    for (int i = 0; i < n_all; i++)
        if (!strcmp(all[i]->name, name)) return i;
    return -1;
}

int optim_rule_has(const optim_rule *r, const char *option) {
    for (int k = 0; r && k < r->n_options; k++)
        if (!strcmp(r->options[k].name, option)) return 1;
    return 0;
}

void optim_option_rules(const char *option, char *buf, size_t len) {
    buf[0] = 0;
    for (int i = 0; i < N_RULES; i++)
        if (optim_rule_has(rules[i], option))
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", rules[i]->name);
}

void optim_help(FILE *f) {
    fputs("             optim, one of:\n", f);
    for (int i = 0; i < N_RULES; i++) fprintf(f, "               %-11s %s\n", rules[i]->name, rules[i]->summary);
    collect();
    for (int i = 0; i < n_all; i++) {
        char who[128];
        optim_option_rules(all[i]->name, who, sizeof who);
        char flag[64];
        snprintf(flag, sizeof flag, "%s", all[i]->name);
        for (char *c = flag; *c; c++) *c = *c == '_' ? '-' : *c; /* as a flag */
        fprintf(f, "             %s%s (%s): %s\n", all[i]->is_switch ? "--" : "", all[i]->is_switch ? flag : all[i]->name,
                who, all[i]->help);
    }
}

double lr_schedule(long step, long total, long warmup, double peak, double min_frac) {
    if (step < warmup) return peak * (double)(step + 1) / (double)warmup;
    long span = total - warmup;
    if (span <= 1) return peak;
    double progress = (double)(step - warmup) / (double)(span - 1);
    if (progress > 1) progress = 1;
    double lo = peak * min_frac;
    return lo + 0.5 * (1 + cos(3.14159265358979323846 * progress)) * (peak - lo);
}
