/* train_keys.c - the training keys (train.h): one table gives each key its
 * type, place in train_config, range, default and JSON rule, and drives the
 * defaults, parsing (train_set) and the run's config.json (train_to_json).
 * A new key is one row here (and its field in train_config). */
#include "train.h"
#include "../data/tokenizer.h"
#include "../optim/optim.h"
#include "spike.h"
#include "../util/parse.h"
#include <cjson/cJSON.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* T_OPTIONS: the optimizers' own options (optim.h) go in this place of config.json */
/* T_DBL_OFF: a number in [lo, hi], or 0 for off */
typedef enum { T_STR, T_INT, T_LONG, T_U64, T_DBL, T_DBL_OFF, T_FLAG, T_CHOICE, T_OPTIONS } key_type;
enum { J_ALWAYS, J_IF_SET, J_NEVER }; /* J_IF_SET: a non-empty string, a non-zero number */

typedef struct {
    const char *name;
    key_type type;
    size_t off, cap;       /* field offset; T_STR: its capacity */
    double lo, hi;         /* numbers: the range (hi 0: the type's own limit) */
    const char *def;       /* the default, as a value (NULL: empty / 0) */
    const char *choices[2];/* T_CHOICE: the names of values 0 and 1 */
    int json;
    /* extra checks of a value already parsed (NULL: none): 0 or -1 with err set */
    int (*check)(const char *k, const char *v, char *err, size_t n);
} train_key;

static int known_optim(const char *k, const char *v, char *err, size_t n) {
    if (optim_find(v)) return 0;
    snprintf(err, n, "%s: unknown optimizer '%s' (available: %s)", k, v, optim_names());
    return -1;
}

static int known_tokenizer(const char *k, const char *v, char *err, size_t n) {
    if (tokenizer_known(v)) return 0;
    snprintf(err, n, "%s: expected %s, got '%s'", k, TOKENIZER_NAMES, v);
    return -1;
}

#define F(field) offsetof(train_config, field)
#define S(field) F(field), sizeof ((train_config *)0)->field
/* in the order of config.json */
static const train_key KEYS[] = {
    {"data", T_STR, S(data), 0, 0, NULL, {0}, J_ALWAYS, NULL},
    {"val_data", T_STR, S(val_data), 0, 0, NULL, {0}, J_IF_SET, NULL},
    {"out", T_STR, S(out_dir), 0, 0, NULL, {0}, J_ALWAYS, NULL},
    {"optim", T_STR, S(optim), 0, 0, "adamw", {0}, J_ALWAYS, known_optim},
    {"batch_size", T_INT, F(batch_size), 0, 1, 0, "8", {0}, J_ALWAYS, NULL},
    {"train_seq_len", T_INT, F(seq_len), 0, 0, 0, NULL, {0}, J_ALWAYS, NULL}, /* 0: the model's */
    {"grad_accum", T_INT, F(grad_accum), 0, 1, 0, "1", {0}, J_ALWAYS, NULL},
    {"steps", T_LONG, F(steps), 0, 1, 0, "1000", {0}, J_ALWAYS, NULL},
    {"warmup", T_LONG, F(warmup), 0, 0, 0, "100", {0}, J_ALWAYS, NULL},
    {"decay_steps", T_LONG, F(decay_steps), 0, 0, 0, NULL, {0}, J_ALWAYS, NULL},
    {"tokenizer", T_STR, S(tokenizer), 0, 0, NULL, {0}, J_IF_SET, known_tokenizer},
    {"tokenizer_path", T_STR, S(tokenizer_path), 0, 0, NULL, {0}, J_IF_SET, NULL},
    {"lr", T_DBL, F(lr), 0, 0, 10, "1e-3", {0}, J_ALWAYS, NULL}, /* the WeSaR paper's "Rapid" setting */
    {"min_lr_frac", T_DBL, F(min_lr_frac), 0, 0, 1, "0.1", {0}, J_ALWAYS, NULL}, /* llm-foundry's alpha_f */
    {"beta1", T_DBL, F(beta1), 0, 0, 0.999999, "0.9", {0}, J_ALWAYS, NULL},
    {"beta2", T_DBL, F(beta2), 0, 0, 0.999999, "0.95", {0}, J_ALWAYS, NULL},
    {"eps", T_DBL, F(eps), 0, 1e-30, 1, "1e-8", {0}, J_ALWAYS, NULL}, /* 0: 0/0 at a zero gradient */
    {"weight_decay", T_DBL, F(weight_decay), 0, 0, 10, "0.01", {0}, J_ALWAYS, NULL},
    {"grad_clip", T_DBL, F(grad_clip), 0, 0, 1e30, "1", {0}, J_ALWAYS, NULL},
    {"zloss", T_DBL, F(zloss), 0, 0, 10, "1e-4", {0}, J_ALWAYS, NULL},
    {"log_every", T_INT, F(log_every), 0, 1, 0, "10", {0}, J_ALWAYS, NULL},
    {"val_every", T_INT, F(val_every), 0, 0, 0, "100", {0}, J_ALWAYS, NULL},
    {"val_batches", T_INT, F(val_batches), 0, 1, 0, "20", {0}, J_ALWAYS, NULL},
    /* a long run that dies loses at most this many steps */
    {"ckpt_every", T_INT, F(ckpt_every), 0, 0, 0, "500", {0}, J_ALWAYS, NULL},
    {"ckpt_final", T_FLAG, F(ckpt_final), 0, 0, 0, "1", {0}, J_ALWAYS, NULL},
    {"keep", T_INT, F(keep), 0, 0, 0, NULL, {0}, J_ALWAYS, NULL},
    {"(optimizer options)", T_OPTIONS, F(optim_opt), 0, 0, 0, NULL, {0}, J_ALWAYS, NULL},
    {"on_spike", T_CHOICE, F(on_spike), 0, 0, 0, "log", {"log", "rollback"}, J_ALWAYS, NULL},
    {"on_nan", T_CHOICE, F(on_nan), 0, 0, 0, "stop", {"stop", "rollback"}, J_ALWAYS, NULL},
    /* long enough for a stable std, short enough to follow the decay */
    {"spike_window", T_INT, F(spike_window), 0, SPIKE_MIN_HISTORY, SPIKE_MAX_WINDOW, "50", {0}, J_ALWAYS, NULL},
    /* loss noise is near-Gaussian early on; 6 sigma is never noise */
    {"spike_k", T_DBL, F(spike_k), 0, 0.1, 1e6, "6", {0}, J_ALWAYS, NULL},
    {"max_rollbacks", T_INT, F(max_rollbacks), 0, 1, 0, "3", {0}, J_ALWAYS, NULL},
    /* 0 (off) or a factor above 1 (parse_value's special case) */
    {"diverge_factor", T_DBL_OFF, F(diverge_factor), 0, 1.0001, 1e6, NULL, {0}, J_IF_SET, NULL},
    {"telemetry_every", T_INT, F(telemetry_every), 0, 0, 0, "10", {0}, J_ALWAYS, NULL},
    {"rrc_tokens", T_INT, F(rrc_tokens), 0, 0, 0, NULL, {0}, J_ALWAYS, NULL}, /* 0: auto, see rrc_rows */
    {"seed", T_U64, F(seed), 0, 0, 0, "1337", {0}, J_ALWAYS, NULL},
    {"threads", T_INT, F(threads), 0, 0, 0, NULL, {0}, J_ALWAYS, NULL}, /* the most: kernels_set_threads */
    /* longer than any checkpoint write; a dead rank is noticed within it */
    {"dist_timeout", T_DBL, F(dist_timeout), 0, 0, 1e7, "300", {0}, J_ALWAYS, NULL},
    {"precision", T_CHOICE, F(precision), 0, 0, 0, "fp32", {"fp32", "bf16"}, J_ALWAYS, NULL},
};
#define N_KEYS ((int)(sizeof KEYS / sizeof *KEYS))

static const train_key *find_key(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (KEYS[i].type != T_OPTIONS && !strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

/* an optimizer's option: a switch (0 or 1) or a number in its range */
static int parse_option(train_config *t, int i, const char *v, char *err, size_t n) {
    const optim_option *o = optim_option_at(i);
    double x;
    if (o->is_switch && strcmp(v, "0") && strcmp(v, "1")) {
        snprintf(err, n, "%s: expected 0 or 1, got '%s'", o->name, v);
        return -1;
    }
    if (parse_real(v, o->lo, o->hi, &x)) {
        snprintf(err, n, "%s: expected a number in [%.15g, %.15g], got '%s'", o->name, o->lo, o->hi, v);
        return -1;
    }
    t->optim_opt[i] = x;
    return 0;
}

static int integer_value(const train_key *k, const char *v, long long *x, char *err, size_t n) {
    long long max = k->type == T_INT ? 2000000000LL : LLONG_MAX;
    if (parse_integer(v, (long long)k->lo, max, x)) {
        snprintf(err, n, "%s: expected an integer >= %.0f, got '%s'", k->name, k->lo, v);
        return -1;
    }
    if (k->hi && *x > (long long)k->hi) {
        snprintf(err, n, "%s: at most %.0f, got '%s'", k->name, k->hi, v);
        return -1;
    }
    return 0;
}

static int number_value(const train_key *k, const char *v, double *x, char *err, size_t n) {
    if (k->type == T_DBL_OFF && !strcmp(v, "0")) { *x = 0; return 0; }
    if (parse_real(v, k->lo, k->hi, x)) {
        snprintf(err, n, "%s: expected a number in [%.15g, %.15g]%s, got '%s'", k->name, k->lo, k->hi,
                 k->type == T_DBL_OFF ? " or 0 (off)" : "", v);
        return -1;
    }
    return 0;
}

/* one value into its field */
static int parse_value(train_config *t, const train_key *k, const char *v, char *err, size_t n) {
    char *field = (char *)t + k->off;
    long long i;
    double d;
    switch (k->type) {
    case T_STR:
        if (strlen(v) >= k->cap || !*v) {
            snprintf(err, n, "%s: expected a non-empty value under %zu characters", k->name, k->cap);
            return -1;
        }
        if (k->check && k->check(k->name, v, err, n)) return -1;
        snprintf(field, k->cap, "%s", v);
        return 0;
    case T_INT: case T_LONG: case T_U64:
        if (integer_value(k, v, &i, err, n)) return -1;
        if (k->type == T_INT) *(int *)field = (int)i;
        else if (k->type == T_LONG) *(long *)field = (long)i;
        else *(uint64_t *)field = (uint64_t)i;
        return 0;
    case T_DBL: case T_DBL_OFF:
        if (number_value(k, v, &d, err, n)) return -1;
        *(double *)field = d;
        return 0;
    case T_OPTIONS: return -1;
    case T_FLAG: case T_CHOICE: {
        const char *a = k->type == T_FLAG ? "0" : k->choices[0], *b = k->type == T_FLAG ? "1" : k->choices[1];
        if (strcmp(v, a) && strcmp(v, b)) {
            snprintf(err, n, "%s: expected %s or %s, got '%s'", k->name, a, b, v);
            return -1;
        }
        *(int *)field = !strcmp(v, b);
        return 0;
    }
    }
    return -1;
}

int train_set(train_config *t, const char *k, const char *v, char *err, size_t n) {
    const train_key *key = find_key(k);
    int opt = key ? -1 : optim_option_index(k);
    return key ? parse_value(t, key, v, err, n) : opt >= 0 ? parse_option(t, opt, v, err, n) : 1;
}

void train_defaults(train_config *t, const char *preset) {
    memset(t, 0, sizeof *t);
    char err[256];
    for (int i = 0; i < N_KEYS; i++)
        if (KEYS[i].def) parse_value(t, &KEYS[i], KEYS[i].def, err, sizeof err);
    for (int i = 0; i < optim_n_options(); i++) t->optim_opt[i] = optim_option_at(i)->def;
    if (preset && !strcmp(preset, "tiny")) {
        /* ~3 minutes on 2 cores; reaches about 1.74 nats/byte on tinyshakespeare */
        t->batch_size = 16;
        t->steps = 300;
        t->warmup = 30;
        t->lr = 2e-3;
        t->val_every = 50;
        t->val_batches = 8;
    }
}

static void add_json(cJSON *j, const train_config *t, const train_key *k) {
    if (k->type == T_OPTIONS) {
        for (int i = 0; i < optim_n_options(); i++) cJSON_AddNumberToObject(j, optim_option_at(i)->name, t->optim_opt[i]);
        return;
    }
    const char *field = (const char *)t + k->off;
    double x = k->type == T_INT || k->type == T_FLAG ? *(const int *)field
             : k->type == T_LONG ? (double)*(const long *)field
             : k->type == T_U64 ? (double)*(const uint64_t *)field
             : k->type == T_DBL || k->type == T_DBL_OFF ? *(const double *)field : 0;
    if (k->json == J_NEVER || (k->json == J_IF_SET && (k->type == T_STR ? !*field : x == 0))) return;
    if (k->type == T_STR) cJSON_AddStringToObject(j, k->name, field);
    else if (k->type == T_CHOICE) cJSON_AddStringToObject(j, k->name, k->choices[*(const int *)field != 0]);
    else cJSON_AddNumberToObject(j, k->name, x);
}

int train_to_json(const train_config *t, char *buf, size_t len) {
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; i < N_KEYS; i++) add_json(j, t, &KEYS[i]);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    int n = snprintf(buf, len, "%s", text ? text : "{}");
    free(text);
    return n;
}
