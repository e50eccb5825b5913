/* train.c - the training loop. */
#include "train.h"
#include "../ckpt/ckpt.h"
#include "../ckpt/rundir.h"
#include "../data/prepare.h"
#include "../dist/dist.h"
#include "../data/shard.h"
#include "../data/tokenizer.h"
#include "../kernels/kernels.h"
#include "../model/model.h"
#include "../optim/optim.h"
#include "../util/fileio.h"
#include "../util/rng.h"
#include "spike.h"
#include "telemetry.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void train_defaults(train_config *t, const char *preset) {
    memset(t, 0, sizeof *t);
    snprintf(t->optim, sizeof t->optim, "adamw");
    t->batch_size = 8;
    t->grad_accum = 1;
    t->steps = 1000;
    t->warmup = 100;
    t->lr = 1e-3;          /* the WeSaR paper's "Rapid" setting */
    t->min_lr_frac = 0.1;  /* cosine to 10% of peak (llm-foundry's usual alpha_f) */
    t->beta1 = 0.9;
    t->beta2 = 0.95;
    t->eps = 1e-8;
    t->weight_decay = 0.01;
    t->grad_clip = 1.0;
    t->zloss = 1e-4;
    t->log_every = 10;
    t->val_every = 100;
    t->val_batches = 20;
    t->ckpt_every = TRAIN_CKPT_EVERY; /* a long run that dies loses at most this many steps */
    t->ckpt_final = 1;
    t->on_spike = ON_SPIKE_LOG;
    t->on_nan = ON_NAN_STOP;
    t->spike_window = 50;  /* long enough for a stable std, short enough to follow the decay */
    t->spike_k = 6;        /* loss noise is near-Gaussian early on; 6 sigma is never noise */
    t->max_rollbacks = 3;
    t->telemetry_every = 10;
    t->rrc_tokens = 0;     /* auto: see rrc_rows */
    t->seed = 1337;
    t->dist_timeout = 300; /* longer than any checkpoint write; a dead rank is noticed within it */
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

static int p_int(const char *k, const char *v, int lo, int *out, char *err, size_t n) {
    char *e;
    errno = 0;
    long x = strtol(v, &e, 10);
    if (errno || e == v || *e || x < lo || x > 2000000000L) {
        snprintf(err, n, "%s: expected an integer >= %d, got '%s'", k, lo, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int p_long(const char *k, const char *v, long lo, long *out, char *err, size_t n) {
    char *e;
    errno = 0;
    long long x = strtoll(v, &e, 10);
    if (errno || e == v || *e || x < lo) {
        snprintf(err, n, "%s: expected an integer >= %ld, got '%s'", k, lo, v);
        return -1;
    }
    *out = (long)x;
    return 0;
}

static int p_dbl(const char *k, const char *v, double lo, double hi, double *out, char *err, size_t n) {
    char *e;
    errno = 0;
    double x = strtod(v, &e);
    if (errno || e == v || *e || !(x >= lo && x <= hi)) {
        snprintf(err, n, "%s: expected a number in [%.15g, %.15g], got '%s'", k, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int p_flag(const char *k, const char *v, int *out, char *err, size_t n) {
    if (strcmp(v, "0") && strcmp(v, "1")) {
        snprintf(err, n, "%s: expected 0 or 1, got '%s'", k, v);
        return -1;
    }
    *out = *v == '1';
    return 0;
}

static int p_str(const char *k, const char *v, char *out, size_t cap, char *err, size_t n) {
    if (strlen(v) >= cap || !*v) {
        snprintf(err, n, "%s: expected a non-empty value under %zu characters", k, cap);
        return -1;
    }
    snprintf(out, cap, "%s", v);
    return 0;
}

int train_set(train_config *t, const char *k, const char *v, char *err, size_t n) {
    if (!strcmp(k, "data")) return p_str(k, v, t->data, sizeof t->data, err, n);
    if (!strcmp(k, "val_data")) return p_str(k, v, t->val_data, sizeof t->val_data, err, n);
    if (!strcmp(k, "out")) return p_str(k, v, t->out_dir, sizeof t->out_dir, err, n);
    if (!strcmp(k, "optim")) {
        if (!optim_find(v)) { snprintf(err, n, "optim: unknown optimizer '%s' (available: %s)", v, optim_names()); return -1; }
        return p_str(k, v, t->optim, sizeof t->optim, err, n);
    }
    if (!strcmp(k, "batch_size")) return p_int(k, v, 1, &t->batch_size, err, n);
    if (!strcmp(k, "train_seq_len")) return p_int(k, v, 0, &t->seq_len, err, n); /* 0: seq_len */
    if (!strcmp(k, "grad_accum")) return p_int(k, v, 1, &t->grad_accum, err, n);
    if (!strcmp(k, "steps")) return p_long(k, v, 1, &t->steps, err, n);
    if (!strcmp(k, "warmup")) return p_long(k, v, 0, &t->warmup, err, n);
    if (!strcmp(k, "decay_steps")) return p_long(k, v, 0, &t->decay_steps, err, n);
    if (!strcmp(k, "tokenizer")) {
        if (!tokenizer_known(v)) {
            snprintf(err, n, "tokenizer: expected %s, got '%s'", TOKENIZER_NAMES, v);
            return -1;
        }
        return p_str(k, v, t->tokenizer, sizeof t->tokenizer, err, n);
    }
    if (!strcmp(k, "tokenizer_path")) return p_str(k, v, t->tokenizer_path, sizeof t->tokenizer_path, err, n);
    if (!strcmp(k, "lr")) return p_dbl(k, v, 0, 10, &t->lr, err, n);
    if (!strcmp(k, "min_lr_frac")) return p_dbl(k, v, 0, 1, &t->min_lr_frac, err, n);
    if (!strcmp(k, "beta1")) return p_dbl(k, v, 0, 0.999999, &t->beta1, err, n);
    if (!strcmp(k, "beta2")) return p_dbl(k, v, 0, 0.999999, &t->beta2, err, n);
    if (!strcmp(k, "eps")) return p_dbl(k, v, 1e-30, 1, &t->eps, err, n); /* 0: 0/0 at a zero gradient */
    if (!strcmp(k, "weight_decay")) return p_dbl(k, v, 0, 10, &t->weight_decay, err, n);
    if (!strcmp(k, "grad_clip")) return p_dbl(k, v, 0, 1e30, &t->grad_clip, err, n);
    if (!strcmp(k, "zloss")) return p_dbl(k, v, 0, 10, &t->zloss, err, n);
    if (!strcmp(k, "log_every")) return p_int(k, v, 1, &t->log_every, err, n);
    if (!strcmp(k, "val_every")) return p_int(k, v, 0, &t->val_every, err, n);
    if (!strcmp(k, "val_batches")) return p_int(k, v, 1, &t->val_batches, err, n);
    if (!strcmp(k, "ckpt_every")) return p_int(k, v, 0, &t->ckpt_every, err, n);
    if (!strcmp(k, "ckpt_final")) return p_flag(k, v, &t->ckpt_final, err, n);
    if (!strcmp(k, "threads")) return p_int(k, v, 0, &t->threads, err, n); /* the most: kernels_set_threads */
    if (!strcmp(k, "keep")) return p_int(k, v, 0, &t->keep, err, n);
    if (!strcmp(k, "on_spike") || !strcmp(k, "on_nan")) {
        int sp = k[3] == 's', rb = !strcmp(v, "rollback");
        if (!rb && strcmp(v, sp ? "log" : "stop")) {
            snprintf(err, n, "%s: expected %s or rollback, got '%s'", k, sp ? "log" : "stop", v);
            return -1;
        }
        *(sp ? &t->on_spike : &t->on_nan) = rb;
        return 0;
    }
    if (!strcmp(k, "spike_window")) {
        if (p_int(k, v, SPIKE_MIN_HISTORY, &t->spike_window, err, n)) return -1;
        if (t->spike_window <= SPIKE_MAX_WINDOW) return 0;
        snprintf(err, n, "%s: at most %d, got '%s'", k, SPIKE_MAX_WINDOW, v);
        return -1;
    }
    if (!strcmp(k, "precision")) {
        int bf = !strcmp(v, "bf16");
        if (!bf && strcmp(v, "fp32")) {
            snprintf(err, n, "precision: expected fp32 or bf16, got '%s'", v);
            return -1;
        }
        t->precision = bf ? PRECISION_BF16 : PRECISION_FP32;
        return 0;
    }
    if (!strcmp(k, "nesterov")) return p_flag(k, v, &t->nesterov, err, n);
    if (!strcmp(k, "inverse_bias_correction")) return p_flag(k, v, &t->inverse_bias_correction, err, n);
    if (!strcmp(k, "rrc_correction")) return p_flag(k, v, &t->rrc_correction, err, n);
    if (!strcmp(k, "dist_timeout")) return p_dbl(k, v, 0, 1e7, &t->dist_timeout, err, n);
    if (!strcmp(k, "spike_k")) return p_dbl(k, v, 0.1, 1e6, &t->spike_k, err, n);
    if (!strcmp(k, "max_rollbacks")) return p_int(k, v, 1, &t->max_rollbacks, err, n);
    if (!strcmp(k, "diverge_factor")) {
        if (!strcmp(v, "0")) { t->diverge_factor = 0; return 0; }
        return p_dbl(k, v, 1.0001, 1e6, &t->diverge_factor, err, n);
    }
    if (!strcmp(k, "telemetry_every")) return p_int(k, v, 0, &t->telemetry_every, err, n);
    if (!strcmp(k, "rrc_tokens")) return p_int(k, v, 0, &t->rrc_tokens, err, n);
    if (!strcmp(k, "seed")) {
        long s;
        if (p_long(k, v, 0, &s, err, n)) return -1;
        t->seed = (uint64_t)s;
        return 0;
    }
    return 1;
}

int train_to_json(const train_config *t, char *buf, size_t len) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "data", t->data);
    if (t->val_data[0]) cJSON_AddStringToObject(j, "val_data", t->val_data);
    cJSON_AddStringToObject(j, "out", t->out_dir);
    cJSON_AddStringToObject(j, "optim", t->optim);
    cJSON_AddNumberToObject(j, "batch_size", t->batch_size);
    cJSON_AddNumberToObject(j, "train_seq_len", t->seq_len);
    cJSON_AddNumberToObject(j, "grad_accum", t->grad_accum);
    cJSON_AddNumberToObject(j, "steps", (double)t->steps);
    cJSON_AddNumberToObject(j, "warmup", (double)t->warmup);
    cJSON_AddNumberToObject(j, "decay_steps", (double)t->decay_steps);
    if (t->tokenizer[0]) cJSON_AddStringToObject(j, "tokenizer", t->tokenizer);
    if (t->tokenizer_path[0]) cJSON_AddStringToObject(j, "tokenizer_path", t->tokenizer_path);
    cJSON_AddNumberToObject(j, "lr", t->lr);
    cJSON_AddNumberToObject(j, "min_lr_frac", t->min_lr_frac);
    cJSON_AddNumberToObject(j, "beta1", t->beta1);
    cJSON_AddNumberToObject(j, "beta2", t->beta2);
    cJSON_AddNumberToObject(j, "eps", t->eps);
    cJSON_AddNumberToObject(j, "weight_decay", t->weight_decay);
    cJSON_AddNumberToObject(j, "grad_clip", t->grad_clip);
    cJSON_AddNumberToObject(j, "zloss", t->zloss);
    cJSON_AddNumberToObject(j, "log_every", t->log_every);
    cJSON_AddNumberToObject(j, "val_every", t->val_every);
    cJSON_AddNumberToObject(j, "val_batches", t->val_batches);
    cJSON_AddNumberToObject(j, "ckpt_every", t->ckpt_every);
    cJSON_AddNumberToObject(j, "ckpt_final", t->ckpt_final);
    cJSON_AddNumberToObject(j, "keep", t->keep);
    cJSON_AddNumberToObject(j, "nesterov", t->nesterov);
    cJSON_AddNumberToObject(j, "inverse_bias_correction", t->inverse_bias_correction);
    cJSON_AddNumberToObject(j, "rrc_correction", t->rrc_correction);
    cJSON_AddStringToObject(j, "on_spike", t->on_spike == ON_SPIKE_ROLLBACK ? "rollback" : "log");
    cJSON_AddStringToObject(j, "on_nan", t->on_nan == ON_NAN_ROLLBACK ? "rollback" : "stop");
    cJSON_AddNumberToObject(j, "spike_window", t->spike_window);
    cJSON_AddNumberToObject(j, "spike_k", t->spike_k);
    cJSON_AddNumberToObject(j, "max_rollbacks", t->max_rollbacks);
    if (t->diverge_factor) cJSON_AddNumberToObject(j, "diverge_factor", t->diverge_factor);
    cJSON_AddNumberToObject(j, "telemetry_every", t->telemetry_every);
    cJSON_AddNumberToObject(j, "rrc_tokens", t->rrc_tokens);
    cJSON_AddNumberToObject(j, "seed", (double)t->seed);
    cJSON_AddNumberToObject(j, "threads", t->threads);
    cJSON_AddNumberToObject(j, "dist_timeout", t->dist_timeout);
    cJSON_AddStringToObject(j, "precision", t->precision == PRECISION_BF16 ? "bf16" : "fp32");
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    int n = snprintf(buf, len, "%s", text ? text : "{}");
    free(text);
    return n;
}

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* Data parallelism (dist.h), with P > 1 ranks:
 *  - the step's global batch of batch_size x grad_accum sequences splits into
 *    P equal, disjoint slices; a rank runs its slice in micro-batches of at
 *    most batch_size, each weighted by its share of the global batch, so the
 *    gradients summed over ranks are the ones P = 1 computes;
 *  - in the last micro-batch, each layer's gradient sum (MPI_Iallreduce)
 *    starts as soon as the backward leaves that layer, and proceeds while
 *    the layers below run;
 *  - ZeRO-1: rank r keeps optimizer state for, and updates, only its shard,
 *    a run of whole tensors (rules may need a tensor's shape) holding about
 *    1/P of the parameters; an all-gather then hands every rank the new
 *    parameters.  Gradients stay whole on every rank (ZeRO-1 does not shard
 *    them), so the gates' gradients, which model_grads_finish derives from
 *    their matrices', are right wherever the gate's owner is. */
struct trainer {
    model *m;
    train_config tc;
    const optim_rule *rule;
    real *state;        /* n_state slabs over this rank's shard [lo, lo + n) */
    size_t lo, n;
    long step;
    double *gsq;        /* squared gradient norm per tensor, before clipping */
    telemetry *tel;     /* or NULL */
    int rank, ranks;
    int seqs;           /* sequences of the global batch this rank runs */
    size_t *shard_off, *shard_n;  /* every rank's shard */
    size_t (*bucket)[2];          /* per layer: gradient span summed once its backward is done */
    size_t (*rest)[2];            /* the spans summed after the whole backward */
    int n_rest;
};

/* Shard boundaries at the tensor starts nearest to r * n_params / P. */
static void plan_shards(trainer *t) {
    model *m = t->m;
    int nt = model_num_tensors(m), P = t->ranks;
    size_t np = model_num_params(m);
    t->shard_off[0] = 0;
    for (int r = 1; r < P; r++) {
        size_t target = np * (size_t)r / (size_t)P, best = np, lo = t->shard_off[r - 1];
        for (int i = 0; i < nt; i++) {
            size_t o = model_tensor(m, i)->offset;
            if (o < lo) continue;
            size_t d = o > target ? o - target : target - o, db = best > target ? best - target : target - best;
            if (d < db) best = o;
        }
        t->shard_off[r] = best;
    }
    for (int r = 0; r < P; r++) t->shard_n[r] = (r + 1 < P ? t->shard_off[r + 1] : np) - t->shard_off[r];
    t->lo = t->shard_off[t->rank];
    t->n = t->shard_n[t->rank];
}

static int layer_weight(const tensor_info *ti) {
    return ti->layer >= 0 && ti->kind != K_GATE && ti->kind != K_BUFFER;
}

/* The per-layer spans for the overlapped sum, and the rest.  A layer's span
 * may hold gates and buffers (their gradients come later, from
 * model_grads_finish, after the sums are complete) but no other tensor the
 * backward still writes; otherwise every sum waits for the end. */
static int plan_buckets(trainer *t) {
    model *m = t->m;
    int nt = model_num_tensors(m), NL = model_cfg(m)->n_layers;
    size_t np = model_num_params(m);
    t->bucket = calloc((size_t)NL, sizeof *t->bucket);
    t->rest = calloc((size_t)NL + 2, sizeof *t->rest);
    if (!t->bucket || !t->rest) return -1;
    for (int l = 0; l < NL; l++) t->bucket[l][0] = np, t->bucket[l][1] = 0;
    for (int i = 0; i < nt; i++) {
        const tensor_info *ti = model_tensor(m, i);
        if (!layer_weight(ti) || ti->layer >= NL) continue;
        size_t *b = t->bucket[ti->layer];
        if (ti->offset < b[0]) b[0] = ti->offset;
        if (ti->offset + ti->numel > b[1]) b[1] = ti->offset + ti->numel;
    }
    int ok = 1;
    for (int l = 0; l < NL && ok; l++) {
        if (t->bucket[l][0] >= t->bucket[l][1]) { ok = 0; break; }
        for (int i = 0; i < nt; i++) {
            const tensor_info *ti = model_tensor(m, i);
            int inside = ti->offset < t->bucket[l][1] && ti->offset + ti->numel > t->bucket[l][0];
            if (inside && layer_weight(ti) && ti->layer != l) ok = 0;
            if (inside && !layer_weight(ti) && ti->kind != K_GATE && ti->kind != K_BUFFER) ok = 0;
        }
    }
    /* layers are laid out in order (model.c), so the rest is what lies
     * before layer 0, between layers, and after the last */
    for (int l = 1; l < NL && ok; l++)
        if (t->bucket[l][0] < t->bucket[l - 1][1]) ok = 0;
    if (!ok) {
        free(t->bucket);
        t->bucket = NULL;
        t->rest[0][0] = 0, t->rest[0][1] = np, t->n_rest = 1;
        return 0;
    }
    size_t at = 0;
    for (int l = 0; l <= NL; l++) {
        size_t end = l < NL ? t->bucket[l][0] : np;
        if (end > at) t->rest[t->n_rest][0] = at, t->rest[t->n_rest][1] = end, t->n_rest++;
        if (l < NL) at = t->bucket[l][1];
    }
    return 0;
}

static void on_layer_grads(void *ctx, int layer) {
    trainer *t = ctx;
    real *g = model_grads(t->m);
    dist_iallreduce(g + t->bucket[layer][0], t->bucket[layer][1] - t->bucket[layer][0]);
    dist_poll();
}

trainer *trainer_create(model *m, const train_config *tc, char *err, size_t errlen) {
    const optim_rule *rule = optim_find(tc->optim);
    if (!rule) { snprintf(err, errlen, "optim: unknown optimizer '%s'", tc->optim); return NULL; }
    int P = dist_size();
    long G = (long)tc->batch_size * tc->grad_accum;
    if (G % P) {
        snprintf(err, errlen, "the global batch, batch_size %d x grad_accum %d = %ld sequences, does not "
                 "split evenly over %d ranks: make it a multiple of %d", tc->batch_size, tc->grad_accum, G, P, P);
        return NULL;
    }
    trainer *t = calloc(1, sizeof *t);
    if (!t) { snprintf(err, errlen, "out of memory"); return NULL; }
    t->m = m;
    t->tc = *tc;
    t->rule = rule;
    t->rank = dist_rank();
    t->ranks = P;
    t->seqs = (int)(G / P);
    t->shard_off = calloc((size_t)P, sizeof *t->shard_off);
    t->shard_n = calloc((size_t)P, sizeof *t->shard_n);
    t->gsq = calloc((size_t)model_num_tensors(m), sizeof *t->gsq);
    int bad = !t->shard_off || !t->shard_n || !t->gsq;
    if (!bad) {
        plan_shards(t);
        t->state = calloc((size_t)rule->n_state * t->n + 1, sizeof(real));
        bad = !t->state || (P > 1 && plan_buckets(t));
    }
    if (bad) {
        trainer_free(t);
        snprintf(err, errlen, "out of memory for the optimizer state");
        return NULL;
    }
    return t;
}

void trainer_free(trainer *t) {
    if (!t) return;
    free(t->state);
    free(t->gsq);
    free(t->shard_off);
    free(t->shard_n);
    free(t->bucket);
    free(t->rest);
    free(t);
}

void trainer_set_telemetry(trainer *t, telemetry *tel) { t->tel = tel; }

int train_telemetry_due(const train_config *tc, long step) {
    return tc->telemetry_every > 0 &&
           ((step + 1) % tc->telemetry_every == 0 || step == 0 || step + 1 == tc->steps);
}

long trainer_steps_done(const trainer *t) { return t->step; }
void trainer_set_steps_done(trainer *t, long step) { t->step = step; }
real *trainer_state(trainer *t, size_t *lo, size_t *n) {
    if (lo) *lo = t->lo;
    if (n) *n = t->n;
    return t->state;
}
int trainer_seqs(const trainer *t) { return t->seqs; }
const size_t *trainer_shards(const trainer *t, const size_t **n) {
    *n = t->shard_n;
    return t->shard_off;
}

int trainer_step(trainer *t, const int32_t *inp, const int32_t *tgt, int T, step_stats *st,
                 char *err, size_t errlen) {
    model *m = t->m;
    const train_config *tc = &t->tc;
    int B = tc->batch_size, nt = model_num_tensors(m);
    real *params = model_params(m), *grads = model_grads(m);
    long step = t->step;
    double G = (double)B * tc->grad_accum; /* sequences in the global batch */

    model_reparam_step(m);
    model_zero_grad(m);
    double sums[2] = {0, 0}; /* cross-entropy, z, each weighted by rows / the global batch's */
    for (int s0 = 0; s0 < t->seqs; s0 += B) {
        int b = t->seqs - s0 < B ? t->seqs - s0 : B, last = s0 + b >= t->seqs;
        size_t at = (size_t)s0 * T;
        model_loss L;
        if (last && t->bucket) model_set_grad_ready(m, on_layer_grads, t);
        /* each micro-batch's mean times its share of the global batch: with
         * one rank and full micro-batches, the mean of the micro-batch means */
        int r = model_forward_backward(m, inp + at, tgt + at, b, T, (real)(b / G), (real)tc->zloss, &L);
        model_set_grad_ready(m, NULL, NULL);
        if (r) {
            snprintf(err, errlen, "batch shape %dx%d exceeds the planned one", b, T);
            return -1;
        }
        if (!L.rows) { snprintf(err, errlen, "step %ld: a micro-batch has no targets", step + 1); return -1; }
        sums[0] += L.ce / (G / b);
        sums[1] += L.z / (G / b);
    }
    if (t->ranks > 1) {
        for (int i = 0; i < t->n_rest; i++) dist_iallreduce(grads + t->rest[i][0], t->rest[i][1] - t->rest[i][0]);
        dist_wait("the gradient all-reduce");
        dist_sum(sums, 2, "the loss sum");
    }
    model_grads_finish(m);
    double ce = sums[0], z = sums[1];
    st->loss = ce;
    st->z_loss = tc->zloss * z;
    if (!isfinite(ce) || !isfinite(z)) {
        snprintf(err, errlen, "step %ld: loss is %g (z_loss %g): training diverged", step + 1, ce, z);
        return TRAIN_NONFINITE;
    }
    /* each tensor's norm from its owner alone: the sum over ranks then adds
     * zeros, so every rank holds the same bits and takes the same decisions */
    size_t lo = t->lo, hi = t->lo + t->n;
    for (int i = 0; i < nt; i++) {
        const tensor_info *ti = model_tensor(m, i);
        t->gsq[i] = ti->offset >= lo && ti->offset < hi ? sumsq(grads + ti->offset, ti->numel) : 0;
    }
    dist_sum(t->gsq, nt, "the gradient norms");
    double ss = 0;
    for (int i = 0; i < nt; i++) {
        if (!isfinite(t->gsq[i])) {
            snprintf(err, errlen, "step %ld: non-finite gradient in %s", step + 1, model_tensor(m, i)->name);
            return TRAIN_NONFINITE;
        }
        ss += t->gsq[i];
    }
    double tel0 = now_sec();
    if (t->tel) telemetry_before(t->tel, t->gsq);
    st->telemetry_ms = (now_sec() - tel0) * 1e3;
    st->grad_norm = sqrt(ss);
    if (tc->grad_clip > 0 && st->grad_norm > tc->grad_clip)
        scale_inplace(grads + lo, (real)(tc->grad_clip / st->grad_norm), t->n);
    st->lr = lr_schedule(step, tc->decay_steps ? tc->decay_steps : tc->steps, tc->warmup, tc->lr, tc->min_lr_frac);
    for (int i = 0; i < nt; i++) {
        const tensor_info *ti = model_tensor(m, i);
        if (!ti->trainable || ti->offset < lo || ti->offset >= hi) continue;
        real *slabs[8];
        for (int k = 0; k < t->rule->n_state; k++) slabs[k] = t->state + (size_t)k * t->n + (ti->offset - lo);
        /* weight decay on matrices only, never on norm gains or gates */
        optim_step_args a = {st->lr, tc->beta1, tc->beta2, tc->eps,
                             ti->is_matrix ? tc->weight_decay : 0, step + 1,
                             tc->nesterov, tc->inverse_bias_correction, tc->rrc_correction};
        t->rule->update(params + ti->offset, grads + ti->offset, slabs, ti->numel, ti, &a);
    }
    dist_allgatherv(params, t->shard_off, t->shard_n, "the parameter all-gather");
    tel0 = now_sec();
    if (t->tel) telemetry_after(t->tel, st->lr, train_telemetry_due(tc, step));
    st->telemetry_ms += (now_sec() - tel0) * 1e3;
    t->step++;
    return 0;
}

/* Mean validation cross-entropy over the first val_batches consecutive batches. */
static double evaluate(model *m, const dataset *val, int B, int T, int n_batches, int32_t *inp,
                       int32_t *tgt) {
    double acc[2] = {0, 0}; /* loss sum, rows */
    for (int i = dist_rank(); i < n_batches; i += dist_size()) { /* ranks take turns */
        if (!dataset_sequential(val, (size_t)i, B, T, inp, tgt)) break;
        model_loss L;
        model_forward(m, inp, tgt, B, T, &L);
        acc[0] += L.ce * L.rows;
        acc[1] += L.rows;
    }
    dist_sum(acc, 2, "the validation loss");
    return acc[1] ? acc[0] / acc[1] : NAN;
}

/* Keeps the log's lines up to a step, so that the log reads as one run after
 * a resume or a rollback: every step once, in order.  keep_events: rollback
 * event lines stay whatever their step (on resume they are redone).  From
 * src into dst: the same file, or a branch's new log. */
static int trim_log(const char *src, const char *dst, long step, int keep_events, char *err, size_t errlen) {
    FILE *f = fopen(src, "r");
    if (!f) return 0;
    atomic_file out;
    if (atomic_open(&out, dst, err, errlen)) { fclose(f); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int bad = 0;
    while (!bad && (n = getline(&line, &cap, f)) > 0) { /* telemetry lines are long */
        long s;
        if (sscanf(line, "{\"step\":%ld", &s) == 1 && line[n - 1] == '\n' &&
            (s <= step || (keep_events && strstr(line, "\"event\":"))))
            bad = atomic_write(&out, line, (size_t)n);
    }
    free(line);
    fclose(f);
    return atomic_commit(&out, bad, err, errlen);
}

/* The loop's own state, saved in each checkpoint's "run" object so that a
 * resumed run makes the same spike and rollback decisions. */
typedef struct {
    spike_detector spikes;
    long rollbacks;  /* in total */
    int in_a_row;    /* rollbacks since training last got past a failure */
    long horizon;    /* the latest step that failed and was rolled back */
    double first_loss; /* step 1's, for diverge_factor; 0 until then */
} run_state;

static void run_state_init(run_state *r, const train_config *tc) {
    memset(r, 0, sizeof *r);
    spike_init(&r->spikes, tc->spike_window, tc->spike_k);
}

/* The run object as a string (malloc'd; NULL when out of memory), with the
 * telemetry's spike-attribution state when there is telemetry. */
static char *run_to_json(const run_state *r, const telemetry *tel) {
    size_t len = 256 + 26 * SPIKE_MAX_WINDOW + (tel ? telemetry_state_len(tel) : 0);
    char *buf = malloc(len);
    if (!buf) return NULL;
    int n = snprintf(buf, len, "{\"rollbacks\":%ld,\"in_a_row\":%d,\"horizon\":%ld,\"first_loss\":%.17g,"
                     "\"spike\":", r->rollbacks, r->in_a_row, r->horizon, r->first_loss);
    n += spike_to_json(&r->spikes, buf + n, len - (size_t)n);
    if (tel) {
        n += snprintf(buf + n, len - (size_t)n, ",\"jump\":");
        n += telemetry_state_to_json(tel, buf + n, len - (size_t)n) ? 0 : (int)strlen(buf + n);
    }
    snprintf(buf + n, len - (size_t)n, "}");
    return buf;
}

/* A checkpoint without a "run" object (or with another spike window) starts
 * the detector afresh; likewise the telemetry's attribution state. */
static void run_from_json(run_state *r, const char *text, const train_config *tc, telemetry *tel) {
    run_state_init(r, tc);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    cJSON *rb = cJSON_GetObjectItem(j, "rollbacks"), *ia = cJSON_GetObjectItem(j, "in_a_row"),
          *hz = cJSON_GetObjectItem(j, "horizon");
    if (cJSON_IsNumber(rb) && cJSON_IsNumber(ia) && cJSON_IsNumber(hz)) {
        r->rollbacks = (long)rb->valuedouble;
        r->in_a_row = (int)ia->valuedouble;
        r->horizon = (long)hz->valuedouble;
        const cJSON *fl = cJSON_GetObjectItem(j, "first_loss");
        if (cJSON_IsNumber(fl)) r->first_loss = fl->valuedouble;
        spike_detector d;
        if (!spike_from_json_item(&d, cJSON_GetObjectItem(j, "spike")) &&
            d.window == r->spikes.window) {
            d.k = tc->spike_k;
            r->spikes = d;
        }
    }
    if (tel) telemetry_state_from_json(tel, cJSON_GetObjectItem(j, "jump"));
    cJSON_Delete(j);
}

/* Everything a training loop carries between steps. */
typedef struct {
    const train_config *tc;
    const optim_rule *rule;
    model *m;
    trainer *tr;
    rng_t data_rng;
    run_state rs;
    ckpt_extra *x;      /* scratch for checkpoint I/O (large: allocated once) */
    char trj[2048];     /* training config as JSON */
    FILE *log;
    char log_path[1200];
    telemetry *tel;     /* NULL with telemetry_every 0 */
    FILE *tlog;         /* telemetry.jsonl */
    char tlog_path[1200];
    int root;           /* rank 0: the one that prints and writes files */
    real *piece;        /* rank 0 with P > 1: one piece of another rank's optimizer state */
    int lock;           /* rank 0: the run directory's lock (dir_lock), or -1 */
    long diverged;      /* the step that diverged (train.h: TRAIN_DIVERGED), or 0 */
} loop;

/* (Re)opens a log of the run (closing *f first if open): cut >= 0 cuts it
 * back to that step (trim_log) and appends, on resume and rollback; cut < 0
 * starts it empty, for a fresh run. */
static int open_log(FILE **f, const char *path, long cut, int keep_events, char *err, size_t errlen) {
    if (*f) fclose(*f);
    *f = NULL;
    if (cut >= 0 && trim_log(path, path, cut, keep_events, err, errlen)) return -1;
    *f = fopen(path, cut >= 0 ? "a" : "w");
    if (!*f) {
        snprintf(err, errlen, "%s: cannot %s: %s", path, cut >= 0 ? "open" : "create", strerror(errno));
        return -1;
    }
    return 0;
}

/* ZeRO-1 checkpoints: rank 0 writes the whole optimizer state, taking the
 * other ranks' shards piece by piece as the writer asks for them (so no
 * rank ever holds all of it); they send theirs in the same order. */
#define STATE_PIECE ((size_t)1 << 20)
typedef struct {
    loop *L;
    int k, r;      /* slab, owner */
    size_t at;     /* within the owner's shard */
} gather;

static const real *gather_next(void *ctx, size_t *n) {
    gather *g = ctx;
    trainer *tr = g->L->tr;
    const size_t *len;
    trainer_shards(tr, &len);
    size_t mine;
    real *own = trainer_state(tr, NULL, &mine);
    int P = dist_size();
    while (g->k < g->L->rule->n_state) {
        if (g->at >= len[g->r]) {
            g->at = 0;
            if (++g->r == P) g->r = 0, g->k++;
            continue;
        }
        *n = len[g->r] - g->at < STATE_PIECE ? len[g->r] - g->at : STATE_PIECE;
        const real *p = own + (size_t)g->k * mine + g->at;
        if (g->r) {
            dist_recv(g->L->piece, *n, g->r, "the checkpoint's optimizer state");
            p = g->L->piece;
        }
        g->at += *n;
        return p;
    }
    return NULL;
}

/* Collective: every rank calls it; rank 0 writes. */
static int save_checkpoint(loop *L, long step, char *path, size_t plen, char *err, size_t errlen) {
    snprintf(path, plen, "%s/ckpt_%08ld.bin", L->tc->out_dir, step);
    size_t lo, n;
    real *own = trainer_state(L->tr, &lo, &n);
    if (!L->root) {
        for (int k = 0; k < L->rule->n_state; k++)
            for (size_t at = 0; at < n; at += STATE_PIECE)
                dist_send(own + (size_t)k * n + at, n - at < STATE_PIECE ? n - at : STATE_PIECE, 0,
                          "the checkpoint's optimizer state");
        return dist_agree(1, err, errlen) ? 0 : -1; /* rank 0 reports a failed write */
    }
    ckpt_extra *x = L->x;
    memset(x, 0, sizeof *x);
    x->step = step;
    x->data_rng = L->data_rng;
    snprintf(x->optim, sizeof x->optim, "%s", L->rule->name);
    x->n_state = L->rule->n_state;
    x->state = own;
    gather g = {L, 0, 0, 0};
    if (dist_size() > 1) {
        x->state_next = gather_next;
        x->state_ctx = &g;
    }
    snprintf(x->train_json, sizeof x->train_json, "%s", L->trj);
    x->run_json = run_to_json(&L->rs, L->tel);
    int bad = !x->run_json;
    if (bad) snprintf(err, errlen, "out of memory");
    else bad = ckpt_save(path, L->m, x, err, errlen);
    free(x->run_json);
    x->run_json = NULL;
    size_t rest;
    if (dist_size() > 1)
        while (gather_next(&g, &rest)) {} /* what the writer did not take, if it stopped early */
    if (bad) {
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, "; earlier checkpoints are intact (wesar train --resume %s)",
                 L->tc->out_dir);
    }
    if (!dist_agree(!bad, err, errlen)) return -1;
    rundir_prune(L->tc->out_dir, L->tc->keep, -1);
    return 0;
}

/* Loads model and optimizer state and the run state (L->rs, telemetry's)
 * from path; L->x then holds its step and data RNG for the caller. */
static int load_checkpoint(loop *L, const char *path, char *err, size_t errlen) {
    size_t lo, n;
    real *state = trainer_state(L->tr, &lo, &n);
    L->x->state_lo = lo; /* this rank's shard only */
    L->x->state_n = n;
    if (ckpt_load(path, L->m, L->x, err, errlen)) return -1;
    int rc = 0;
    if (strcmp(L->x->optim, L->rule->name) || L->x->n_state != L->rule->n_state) {
        snprintf(err, errlen, "%s: optimizer state is %s, but this run uses %s", path, L->x->optim,
                 L->rule->name);
        rc = -1;
    } else if (L->x->n_state) {
        memcpy(state, L->x->state, (size_t)L->x->n_state * n * sizeof(real));
    }
    if (!rc) {
        trainer_set_steps_done(L->tr, L->x->step);
        run_from_json(&L->rs, L->x->run_json, L->tc, L->tel);
    }
    ckpt_extra_free(L->x);
    return rc;
}

/* --on-spike/--on-nan rollback: back to the newest good checkpoint before
 * bad_step (or to the initial weights), keeping the data sampler where it
 * is, so the batches from there to bad_step are skipped (what PaLM and OPT
 * did by hand).  The restored state is saved again with the advanced sampler
 * so that a resumed run skips them too.  Returns the step resumed from. */
static long rollback(loop *L, long bad_step, const char *reason, double loss, const char *detail,
                     const char *jumped, char *err, size_t errlen) {
    const train_config *tc = L->tc;
    if (L->rs.in_a_row >= tc->max_rollbacks) {
        L->diverged = bad_step;
        snprintf(err, errlen, "step %ld: %s; giving up after %d rollbacks in a row (--max-rollbacks)",
                 bad_step, detail, L->rs.in_a_row);
        return -1;
    }
    /* the n-th rollback in a row goes n good checkpoints back: if the newest
     * one leads into the same failure, the damage is older than it */
    char path[1200], why[1400];
    long to = 0, max_step = bad_step - 1;
    int found = 0;
    if (L->root)
        for (int k = 0; k <= L->rs.in_a_row && max_step >= 0; k++) {
            found = !rundir_find_checkpoint(tc->out_dir, max_step, path, sizeof path, why, sizeof why);
            if (!found) break;
            max_step = rundir_step(path) - 1;
        }
    /* rank 0's choice, for every rank */
    dist_bcast(&found, sizeof found, "the rollback");
    dist_bcast(path, sizeof path, "the rollback");
    /* the detector's window goes back with the weights (its later losses
     * belong to the abandoned steps); the rollback counters go on */
    run_state rs = L->rs;
    if (found) {
        if (load_checkpoint(L, path, err, errlen)) return -1;
        to = L->x->step;
    } else {
        model_init(L->m, tc->seed);
        size_t n;
        real *state = trainer_state(L->tr, NULL, &n);
        memset(state, 0, (size_t)L->rule->n_state * n * sizeof(real));
        trainer_set_steps_done(L->tr, 0);
        snprintf(path, sizeof path, "the initial weights");
        run_state_init(&L->rs, tc);
        if (L->tel) telemetry_reset(L->tel);
    }
    L->rs.spikes.events = rs.spikes.events;
    L->rs.rollbacks = rs.rollbacks;
    L->rs.in_a_row = rs.in_a_row;
    L->rs.horizon = rs.horizon;
    if (L->root) rundir_prune(tc->out_dir, 0, to);
    L->rs.rollbacks++;
    L->rs.in_a_row++;
    if (bad_step > L->rs.horizon) L->rs.horizon = bad_step;
    if (L->root)
        fprintf(stderr, "wesar: step %ld: %s: rolled back to step %ld (%s), skipping %ld batches "
                        "(rollback %d of at most %d in a row)\n",
                bad_step, detail, to, path, bad_step - to, L->rs.in_a_row, tc->max_rollbacks);
    char ck[1200];
    if (save_checkpoint(L, to, ck, sizeof ck, err, errlen)) return -1;
    if (!L->root) return to;
    /* the log reads as one run: the abandoned steps go, the event stays */
    if (open_log(&L->log, L->log_path, to, 1, err, errlen) ||
        (L->tlog && open_log(&L->tlog, L->tlog_path, to, 0, err, errlen)))
        return -1;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "step", (double)to);
    cJSON_AddStringToObject(e, "event", "rollback");
    cJSON_AddStringToObject(e, "reason", reason);
    cJSON_AddNumberToObject(e, "failed_step", (double)bad_step);
    if (isfinite(loss)) cJSON_AddNumberToObject(e, "loss", loss);
    cJSON_AddStringToObject(e, "detail", detail);
    if (jumped) cJSON_AddRawToObject(e, "jumped", jumped); /* a JSON array from describe_jumps */
    cJSON_AddNumberToObject(e, "skipped_batches", (double)(bad_step - to));
    cJSON_AddNumberToObject(e, "in_a_row", L->rs.in_a_row);
    char *line = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    fprintf(L->log, "%s\n", line ? line : "{}");
    fflush(L->log);
    free(line);
    return to;
}

/* Token rows for the RRC: two GEMMs per matrix over them cost 4n/(6 x tokens
 * per step) of a step, so the default takes 1/8 of the step's tokens (about
 * 8% of a step on the telemetry steps, under 1% at every 10th), at most the
 * 1024 that the spec deems enough and at least 64. */
static int rrc_rows(const train_config *tc, int rows_per_micro_batch) {
    if (tc->rrc_tokens) return tc->rrc_tokens;
    long n = (long)rows_per_micro_batch * tc->grad_accum / 8;
    return n > 1024 ? 1024 : n < 64 ? 64 : (int)n;
}

/* A matrix "jumped" at a spike when its update ratio per unit lr exceeds
 * twice its recent running mean (telemetry.h). */
#define JUMP_FACTOR 2.0

/* The matrices whose update ratio jumped at a spike, appended to the
 * human detail ("; update ratio jumped in NAME (x3.1), ...") and as a JSON
 * array for the log. */
static void describe_jumps(const telemetry *tel, char *text, size_t tlen, char *json, size_t jlen) {
    int which[5];
    double f[5];
    int n = telemetry_jumped(tel, JUMP_FACTOR, 5, which, f);
    size_t a = 0, b = (size_t)snprintf(json, jlen, "[");
    for (int i = 0; i < n && a < tlen && b < jlen; i++) {
        const char *name = telemetry_name(tel, which[i]);
        a += (size_t)snprintf(text + a, tlen - a, "%s%s (x%.1f)",
                              i ? ", " : "; update ratio jumped in ", name, f[i]);
        if (a < tlen)
            b += (size_t)snprintf(json + b, jlen - b,
                                  "%s{\"name\":\"%s\",\"factor\":%.3f,\"update_ratio\":%.6e}",
                                  i ? "," : "", name, f[i], telemetry_stats(tel, which[i])->update_ratio);
    }
    if (b < jlen) snprintf(json + b, jlen - b, "]");
    else snprintf(json, jlen, "[]");
}

/* SIGINT/SIGTERM: finish the step, checkpoint, exit cleanly. */
static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig) {
    stop_requested = sig;
    dist_note_signal(sig);
}

/* Under mpirun with no thread count given: the node's cores shared among
 * its ranks (mpirun may also have bound each rank to fewer). */
static int default_threads(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cores > 0 ? cores : 1) / dist_local_size(), mask = kernels_threads();
    if (n > mask) n = mask;
    return n > 0 ? n : 1;
}

/* --out not given: runs/<date>-<time> (with a -N suffix should it exist),
 * so that two runs never collide; runs/latest then points at it. */
static void default_out_dir(train_config *tc) {
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    struct stat st;
    snprintf(tc->out_dir, sizeof tc->out_dir, "runs/%s", stamp);
    for (int k = 2; !stat(tc->out_dir, &st) && k < 10000; k++)
        snprintf(tc->out_dir, sizeof tc->out_dir, "runs/%s-%d", stamp, k);
}

static void point_latest(const char *out_dir, int quiet) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "runs/latest.tmp.%d", (int)getpid());
    unlink(tmp);
    if (symlink(out_dir + 5, tmp) || rename(tmp, "runs/latest")) {
        unlink(tmp);
        if (!quiet) fprintf(stderr, "note: runs/latest is not a link (a directory of an older run?): left as it is\n");
    }
}

/* The lr schedule's horizon: a fresh run decays over its steps; a resumed
 * one keeps its checkpoint's (for checkpoints older than decay_steps: that
 * run's steps), so that more --steps go on at min_lr instead of jumping.
 * Returns the checkpoint's horizon (0 for a fresh run). */
static long resolve_schedule(train_config *tc, char *err, size_t errlen) {
    if (!tc->resume_from[0]) {
        if (!tc->decay_steps) tc->decay_steps = tc->steps;
        return 0;
    }
    model_config mc;
    char tj[4096];
    if (ckpt_read_config(tc->resume_from, &mc, tj, sizeof tj, err, errlen)) return -1;
    cJSON *j = cJSON_Parse(tj);
    const cJSON *d = cJSON_GetObjectItem(j, "decay_steps"), *s = cJSON_GetObjectItem(j, "steps");
    long old = cJSON_IsNumber(d) && d->valuedouble > 0 ? (long)d->valuedouble
             : cJSON_IsNumber(s) ? (long)s->valuedouble : tc->steps;
    cJSON_Delete(j);
    if (!tc->decay_steps) tc->decay_steps = old;
    return old;
}

/* What the schedule does past the checkpoint, said once: a changed horizon
 * moves the lr at once; steps past the horizon run at min_lr. */
static void say_schedule(const train_config *tc, long start, long old) {
    double mn = tc->lr * tc->min_lr_frac;
    if (old && old != tc->decay_steps)
        printf("note: decay_steps %ld -> %ld: the lr at step %ld goes from %.3e (the run's schedule) to %.3e\n",
               old, tc->decay_steps, start + 1, lr_schedule(start, old, tc->warmup, tc->lr, tc->min_lr_frac),
               lr_schedule(start, tc->decay_steps, tc->warmup, tc->lr, tc->min_lr_frac));
    if (tc->steps > tc->decay_steps && start < tc->steps)
        printf("note: the cosine ends at step %ld (decay_steps); steps %ld..%ld run at min_lr %.3e "
               "(--decay-steps %ld stretches it over them instead)\n", tc->decay_steps,
               (start > tc->decay_steps ? start : tc->decay_steps) + 1, tc->steps, mn, tc->steps);
}

/* Opens the train and val shards and checks them against their meta.json
 * (prepare_check_meta) and against each other: one tokenizer, recorded in tc
 * with the data paths made absolute, so that the run resumes, evaluates and
 * generates from any directory. */
static int open_data(train_config *tc, int vocab, int B, int T, dataset *train, dataset *val, int *have_val,
                     int say, char *err, size_t errlen) {
    data_meta mt, mv;
    if (prepare_check_meta(tc->data, "train", vocab, NULL, &mt, err, errlen) ||
        dataset_open(train, tc->data, "train", vocab, err, errlen) ||
        prepare_check_meta(tc->data, "train", vocab, train, &mt, err, errlen))
        return -1;
    if (!dataset_num_sequential(train, 1, T)) {
        snprintf(err, errlen, "%s: %zu training tokens: no shard holds one window of seq_len + 1 = %d tokens",
                 tc->data, train->n_tokens, T + 1);
        return -1;
    }
    if (mt.found && mt.tokenizer[0]) {
        if (tc->tokenizer[0] && strcmp(tc->tokenizer, mt.tokenizer)) {
            snprintf(err, errlen, "tokenizer: %s, but %s says the data was prepared with %s", tc->tokenizer,
                     mt.path, mt.tokenizer);
            return -1;
        }
        snprintf(tc->tokenizer, sizeof tc->tokenizer, "%s", mt.tokenizer);
        if (!tc->tokenizer_path[0]) snprintf(tc->tokenizer_path, sizeof tc->tokenizer_path, "%s", mt.tokenizer_path);
    }
    char verr[1400];
    const char *vp = tc->val_data[0] ? tc->val_data : tc->data;
    if (dataset_open(val, vp, "val", vocab, verr, sizeof verr)) {
        if (tc->val_data[0]) { snprintf(err, errlen, "%s", verr); return -1; }
        if (say) fprintf(stderr, "note: no validation shards (%s); training without validation\n", verr);
        *have_val = 0;
    } else {
        if (prepare_check_meta(vp, "val", vocab, val, &mv, err, errlen)) return -1;
        if (mt.found && mv.found && (strcmp(mt.tokenizer, mv.tokenizer) || mt.vocab_size != mv.vocab_size)) {
            snprintf(err, errlen, "val_data: %s says the %s tokenizer (vocab_size %d), but the training data's %s says "
                     "%s (vocab_size %d)", mv.path, mv.tokenizer, mv.vocab_size, mt.path, mt.tokenizer, mt.vocab_size);
            return -1;
        }
        *have_val = dataset_num_sequential(val, B, T) > 0;
        if (!*have_val && say) fprintf(stderr, "warning: %s: val split shorter than one batch; no validation\n", vp);
    }
    path_absolute(tc->data, tc->data, sizeof tc->data);
    if (tc->val_data[0]) path_absolute(tc->val_data, tc->val_data, sizeof tc->val_data);
    return 0;
}

/* Rank 0 takes the run directory: creates it and locks it for the run's
 * lifetime, and never writes over another run's checkpoints: a fresh run or
 * a branch (--resume A --out B) needs a directory without any, and a resume
 * in place needs the newest one (not an older file, whose later steps the
 * run would overwrite). */
static int claim_out_dir(loop *L, const char *src_dir, int branch, char *err, size_t errlen) {
    const train_config *tc = L->tc;
    if (make_dir(tc->out_dir, err, errlen)) return -1;
    L->lock = dir_lock(tc->out_dir, err, errlen);
    if (L->lock < 0) return -1;
    char **names;
    int n = rundir_list(tc->out_dir, &names), rc = 0;
    if (n && !tc->resume_from[0]) {
        snprintf(err, errlen, "%s already holds checkpoints of an earlier run: continue it with --resume %s, or "
                 "pick another --out", tc->out_dir, tc->out_dir);
        rc = -1;
    } else if (n && branch) {
        snprintf(err, errlen, "%s already holds checkpoints of another run: a branch of %s (--resume with --out) "
                 "needs a directory without any", tc->out_dir, src_dir);
        rc = -1;
    }
    long at = tc->resume_from[0] ? rundir_step(tc->resume_from) : 0;
    for (int i = 0; i < n && !rc && !branch && tc->resume_from[0] && rundir_step(names[i]) > at; i++) {
        char path[1200], why[1400];
        snprintf(path, sizeof path, "%s/%s", tc->out_dir, names[i]);
        if (ckpt_verify(path, why, sizeof why)) continue; /* a damaged one may go */
        snprintf(err, errlen, "%s is at step %ld, but %s holds %s at step %ld: resuming from it would overwrite "
                 "the later steps; branch it with --out NEWDIR", tc->resume_from, at, tc->out_dir, names[i],
                 rundir_step(names[i]));
        rc = -1;
    }
    rundir_free_names(names, n);
    if (rc) return -1;
    int stale = atomic_cleanup(tc->out_dir);
    if (stale && !tc->quiet)
        fprintf(stderr, "note: removed %d unfinished temporary file(s) of a killed run in %s\n", stale, tc->out_dir);
    return 0;
}

/* config.json and the logs: new for a fresh run; cut back to the
 * checkpoint's step on resume; a branch starts with its source's up to it. */
static int open_run_files(loop *L, const model_config *c, long start, const char *src_dir, int branch,
                          char *err, size_t errlen) {
    const train_config *tc = L->tc;
    char path[1200], cfgj[1024], all[3600];
    config_to_json(c, cfgj, sizeof cfgj);
    train_to_json(tc, L->trj, sizeof L->trj);
    snprintf(path, sizeof path, "%.1023s/config.json", tc->out_dir);
    int n = snprintf(all, sizeof all, "{\"model\":%s,\"train\":%s}\n", cfgj, L->trj);
    atomic_file af;
    if (atomic_open(&af, path, err, errlen) || atomic_commit(&af, atomic_write(&af, all, (size_t)n), err, errlen))
        return -1;
    snprintf(L->log_path, sizeof L->log_path, "%.1023s/log.jsonl", tc->out_dir);
    snprintf(L->tlog_path, sizeof L->tlog_path, "%.1023s/telemetry.jsonl", tc->out_dir);
    if (branch) {
        snprintf(path, sizeof path, "%.1023s/log.jsonl", src_dir);
        if (trim_log(path, L->log_path, start, 0, err, errlen)) return -1;
        snprintf(path, sizeof path, "%.1023s/telemetry.jsonl", src_dir);
        if (L->tel && trim_log(path, L->tlog_path, start, 0, err, errlen)) return -1;
    }
    long cut = tc->resume_from[0] ? start : -1;
    if (open_log(&L->log, L->log_path, cut, 0, err, errlen)) return -1;
    if (L->tel) return open_log(&L->tlog, L->tlog_path, cut, 0, err, errlen);
    if (!tc->resume_from[0]) unlink(L->tlog_path); /* no stale file from another run */
    return 0;
}

/* Setup, the loop over steps and its bookkeeping: one function, so that the
 * loop's state stays in view (issue 18 splits it into named phases). */
int train_run(const model_config *mc, const train_config *tc_in, train_result *res, char *err,
              size_t errlen) {
    int rc = -1, agreed = 0;
    int rank = dist_rank(), P = dist_size(), root = rank == 0;
    train_config tcl = *tc_in;
    if (!root) tcl.quiet = 1;
    const train_config *tc = &tcl;
    model *m = NULL;
    dataset train = {0}, val = {0};
    int have_val = 0, branch = 0, defaulted_out = !tcl.out_dir[0];
    double last_val = NAN, loss = NAN; /* for res, whatever the way out */
    int32_t *inp = NULL, *tgt = NULL;
    struct sigaction old_int, old_term;
    int handlers = 0;
    char path[1200], src_dir[1024] = "";
    loop L;
    memset(&L, 0, sizeof L);
    L.tc = tc;
    L.root = root;
    L.lock = -1;
    if (defaulted_out && root) default_out_dir(&tcl);
    /* rank 0's checkpoint and directory, should the ranks' listings or clocks differ */
    dist_bcast(tcl.resume_from, sizeof tcl.resume_from, "starting up");
    dist_bcast(tcl.out_dir, sizeof tcl.out_dir, "starting up");
    dist_set_timeout(tc->dist_timeout, tc->out_dir);
    if (tcl.resume_from[0]) {
        snprintf(path, sizeof path, "%s", tcl.resume_from);
        snprintf(src_dir, sizeof src_dir, "%s", dirname(path));
        branch = !rundir_same(src_dir, tcl.out_dir);
    }

    int want = tc->threads ? tc->threads : P > 1 && !getenv("OMP_NUM_THREADS") ? default_threads() : 0;
    if (want && kernels_set_threads(want) < want) {
        snprintf(err, errlen, "threads: %d asked for, but at most %d run here (OpenBLAS's build limit, or "
                 "ulimit -v)", want, kernels_threads());
        goto done;
    }

    L.rule = optim_find(tc->optim);
    if (!L.rule) { snprintf(err, errlen, "optim: unknown optimizer '%s'", tc->optim); goto done; }
    if (!tc->data[0]) { snprintf(err, errlen, "data: no training data given (--data DIR)"); goto done; }
    if (!strncmp(L.rule->name, "adamw", 5) &&
        (tc->nesterov || tc->inverse_bias_correction || tc->rrc_correction)) {
        snprintf(err, errlen, "--nesterov, --inverse-bias-correction and --rrc-correction apply to "
                 "the Lion family (lion, liona, lionar), not to %s", L.rule->name);
        goto done;
    }
    long old_horizon = resolve_schedule(&tcl, err, errlen);
    if (old_horizon < 0) goto done;
    if (tc->warmup >= tc->steps && tc->warmup > 0 && root)
        fprintf(stderr, "warning: warmup (%ld) >= steps (%ld): the learning rate never peaks\n",
                tc->warmup, tc->steps);
    m = model_create(mc, err, errlen);
    if (!m) goto done;
    L.m = m;
    /* set here, after the last early return: `done` puts fp32 back */
    if (kernels_set_precision(tc->precision)) {
        snprintf(err, errlen, "precision: bf16 needs a CPU with AVX-512 BF16 (avx512_bf16 in "
                 "/proc/cpuinfo) and the fp32 build; this one has no bf16 kernel (use --precision fp32)");
        goto done;
    }
    const model_config *c = model_cfg(m);
    int B = tc->batch_size, T = tc->seq_len ? tc->seq_len : c->seq_len;
    if (T > c->seq_len) {
        snprintf(err, errlen, "train_seq_len: %d exceeds the model's seq_len %d", T, c->seq_len);
        goto done;
    }
    if (model_alloc(m, B, T, err, errlen)) goto done;
    model_init(m, tc->seed);
    size_t np = model_num_params(m);
    if (open_data(&tcl, c->vocab_size, B, T, &train, &val, &have_val, root && !tc->quiet, err, errlen)) goto done;
    L.tr = trainer_create(m, tc, err, errlen);
    L.x = malloc(sizeof *L.x);
    if (!L.tr || !L.x) { if (L.tr) snprintf(err, errlen, "out of memory"); goto done; }
    memset(L.x, 0, sizeof *L.x);
    if (tc->telemetry_every && root) { /* rank 0 measures, on its slice of the batch */
        L.tel = telemetry_create(m, rrc_rows(tc, B * T), err, errlen);
        if (!L.tel) goto done;
        trainer_set_telemetry(L.tr, L.tel);
    }
    /* the directory is ours before its checkpoints are read */
    if (root && claim_out_dir(&L, src_dir, branch, err, errlen)) goto done;
    long start = 0;
    rng_seed(&L.data_rng, tc->seed, 0xda7a);
    run_state_init(&L.rs, tc);
    if (tc->resume_from[0]) {
        if (load_checkpoint(&L, tc->resume_from, err, errlen)) goto done;
        start = L.x->step;
        L.data_rng = L.x->data_rng;
        if (start >= tc->steps) {
            snprintf(err, errlen, "%s: already at step %ld of %ld (raise --steps to continue)",
                     tc->resume_from, start, tc->steps);
            goto done;
        }
    }
    int seqs = trainer_seqs(L.tr), rows_buf = seqs > B ? seqs : B; /* evaluate takes B */
    inp = malloc((size_t)rows_buf * T * sizeof *inp);
    tgt = malloc((size_t)rows_buf * T * sizeof *tgt);
    L.piece = P > 1 && root ? malloc(STATE_PIECE * sizeof(real)) : NULL;
    if (!inp || !tgt || (P > 1 && root && !L.piece)) { snprintf(err, errlen, "out of memory"); goto done; }
    if (!root) goto setup_done; /* the files are rank 0's */
    if (defaulted_out) point_latest(tc->out_dir, tc->quiet);
    if (open_run_files(&L, c, start, src_dir, branch, err, errlen)) goto done;
setup_done:
    /* every rank got here, or some failed on the way (then each goes to
     * done, and meets the others in the same dist_agree there) */
    agreed = 1;
    if (!dist_agree(1, err, errlen)) goto done;
    dist_bcast(model_params(m), np * sizeof(real), "starting up"); /* one set of weights, whatever happened */
    long tokens_per_step = (long)B * T * tc->grad_accum;
    if (!tc->quiet) {
        printf("wesar train: %zu parameters (%s MLP, d=%d, N=%d, H=%d, Hkv=%d, V=%d), "
               "%.1f MiB activations\n",
               np, mlp_name(c->mlp), c->d_model, c->n_layers, c->n_heads, c->n_kv_heads,
               c->vocab_size, model_activation_bytes(m) / 1048576.0);
        printf("data: %zu train tokens in %d shard(s)%s; batch %d x %d x %d = %ld tokens/step; "
               "%ld steps; %s lr %.2e warmup %ld; %d threads\n",
               train.n_tokens, train.n_shards, have_val ? "" : " (no val)", B, T, tc->grad_accum,
               tokens_per_step, tc->steps, L.rule->name, tc->lr, tc->warmup, kernels_threads());
        if (P > 1) {
            size_t n;
            trainer_state(L.tr, NULL, &n);
            printf("ranks: %d, each running %d of the %d sequences per step; optimizer state sharded "
                   "(ZeRO-1): %.1f of %.1f MiB on rank 0\n", P, seqs, B * tc->grad_accum,
                   L.rule->n_state * n * sizeof(real) / 1048576.0,
                   L.rule->n_state * np * sizeof(real) / 1048576.0);
        }
        printf("run directory: %s\n", tc->out_dir);
        if (start) printf("%s %s at step %ld\n", branch ? "branching from" : "resuming from", tc->resume_from, start);
        if (start) say_schedule(tc, start, old_horizon);
        fflush(stdout);
    }

    stop_requested = 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    handlers = 1;
    double t_start = now_sec(), t_int = t_start, comm_int = 0;
    long tok_int = 0, steps_timed = 0;
    for (long step = start; step < tc->steps; step++) {
        double t0 = now_sec(), c0 = dist_comm_seconds();
        dist_set_step(step);
        /* every rank draws the whole global batch (so the sampler stays one)
         * and reads its own slice */
        dataset_sample_part(&train, &L.data_rng, B * tc->grad_accum, rank * seqs, seqs, T, inp, tgt);
        step_stats st;
        int r = trainer_step(L.tr, inp, tgt, T, &st, err, errlen);
        if (r == TRAIN_NONFINITE && tc->on_nan != ON_NAN_ROLLBACK) L.diverged = step + 1;
        if (r && !(r == TRAIN_NONFINITE && tc->on_nan == ON_NAN_ROLLBACK)) goto done;
        int spike = !r && spike_observe(&L.rs.spikes, st.loss);
        char detail[1200], jumped[1200] = "[]";
        if (spike) {
            const spike_detector *d = &L.rs.spikes;
            int k = snprintf(detail, sizeof detail,
                             "loss spike: %.4f > %.4f + %g x %.4f (trend + k std of the last %d)",
                             st.loss, d->mean, d->k, d->std, d->n);
            if (L.tel) describe_jumps(L.tel, detail + k, sizeof detail - (size_t)k, jumped, sizeof jumped);
            if (!tc->quiet && tc->on_spike == ON_SPIKE_LOG)
                fprintf(stderr, "wesar: step %ld: %s\n", step + 1, detail);
        } else if (r) { /* without err's "step N: ": rollback's messages name the step themselves */
            char at[32];
            int k = snprintf(at, sizeof at, "step %ld: ", step + 1);
            snprintf(detail, sizeof detail, "%s", err + (strncmp(err, at, (size_t)k) ? 0 : k));
        }
        if (r || (spike && tc->on_spike == ON_SPIKE_ROLLBACK)) {
            long to = rollback(&L, step + 1, r ? "nan" : "spike", r ? NAN : st.loss, detail,
                               spike && L.tel ? jumped : NULL, err, errlen);
            if (to < 0) goto done;
            step = to - 1;
            continue;
        }
        if (step + 1 > L.rs.horizon) L.rs.in_a_row = 0;
        if (step == 0) L.rs.first_loss = st.loss;
        double ce = st.loss, lr = st.lr, gnorm = st.grad_norm;
        loss = ce;
        double ms = (now_sec() - t0) * 1e3, comm_ms = (dist_comm_seconds() - c0) * 1e3;
        tok_int += tokens_per_step;
        comm_int += comm_ms;
        steps_timed++;
        double stop = stop_requested;
        dist_sum(&stop, 1, "the stop flag"); /* a signal to any rank stops them all after this step */
        int stopping = stop != 0, last = step + 1 == tc->steps;
        int do_val = have_val && ((tc->val_every && (step + 1) % tc->val_every == 0) || last);
        if (do_val) last_val = evaluate(m, &val, B, T, tc->val_batches, inp, tgt);
        if (!root) goto logged;
        fprintf(L.log,
                "{\"step\":%ld,\"loss\":%.6f,\"z_loss\":%.6f,\"lr\":%.6e,\"grad_norm\":%.6f,"
                "\"tokens\":%ld,\"ms\":%.2f",
                step + 1, ce, st.z_loss, lr, gnorm, (step + 1) * tokens_per_step, ms);
        if (L.tel) fprintf(L.log, ",\"telemetry_ms\":%.2f", st.telemetry_ms);
        if (P > 1) fprintf(L.log, ",\"comm_ms\":%.2f", comm_ms);
        if (do_val) fprintf(L.log, ",\"val_loss\":%.6f", last_val);
        if (spike) fprintf(L.log, ",\"spike\":true");
        if (spike && L.tel) fprintf(L.log, ",\"jumped\":%s", jumped);
        fprintf(L.log, "}\n");
        fflush(L.log);
        if (L.tlog && train_telemetry_due(tc, step)) {
            if (telemetry_write(L.tel, L.tlog, step + 1, ce, lr) || fflush(L.tlog)) {
                snprintf(err, errlen, "%s: write failed: %s", L.tlog_path, strerror(errno));
                goto done;
            }
        }
        if (!tc->quiet && ((step + 1) % tc->log_every == 0 || last || step == 0 || do_val)) {
            double now = now_sec(), el = now - t_int;
            double eta = (now - t_start) / steps_timed * (tc->steps - step - 1);
            char etas[32], vals[32] = "", comms[32] = "";
            fmt_duration(etas, sizeof etas, eta);
            if (do_val) snprintf(vals, sizeof vals, " | val %.4f", last_val);
            if (P > 1 && el > 0) snprintf(comms, sizeof comms, " | comm %.0f%%", comm_int / (el * 10));
            printf("step %*ld/%ld | loss %.4f%s | lr %.2e | norm %.3f | %.0f tok/s%s | ETA %s\n",
                   (int)snprintf(NULL, 0, "%ld", tc->steps), step + 1, tc->steps, ce, vals, lr,
                   gnorm, el > 0 ? tok_int / el : 0.0, comms, etas);
            fflush(stdout);
            t_int = now;
            tok_int = 0;
            comm_int = 0;
        }
    logged:
        if (tc->diverge_factor > 0 && L.rs.first_loss > 0 && st.loss > tc->diverge_factor * L.rs.first_loss) {
            snprintf(err, errlen, "step %ld: loss %.4f is more than %g x step 1's %.4f: diverged (--diverge-factor)",
                     step + 1, st.loss, tc->diverge_factor, L.rs.first_loss);
            L.diverged = step + 1;
            goto done;
        }
        if ((tc->ckpt_every && (step + 1) % tc->ckpt_every == 0) || (last && tc->ckpt_final) ||
            stopping) {
            if (save_checkpoint(&L, step + 1, path, sizeof path, err, errlen)) goto done;
            if (last && !tc->quiet) printf("checkpoint: %s\n", path);
        }
        if (stopping && !last && root) {
            fprintf(stderr, "wesar: %s received: stopped after step %ld, checkpoint %s\n"
                            "resume with: wesar train --resume %s\n",
                    stop_requested == SIGINT ? "SIGINT" : stop_requested == SIGTERM ? "SIGTERM"
                                                                      : "a stop signal to another rank",
                    step + 1, path, tc->out_dir);
        }
        if (stopping && !last) break;
    }
    rc = 0;
done:
    if (L.diverged) rc = TRAIN_DIVERGED;
    if (res) {
        memset(res, 0, sizeof *res);
        res->steps_done = L.tr ? trainer_steps_done(L.tr) : 0;
        res->final_loss = loss;
        res->final_val_loss = last_val;
        res->spikes = L.rs.spikes.events;
        res->rollbacks = L.rs.rollbacks;
        res->diverged_step = L.diverged;
    }
    /* a rank that failed during setup meets the others' dist_agree */
    if (!agreed) dist_agree(0, err, errlen);
    kernels_set_precision(PRECISION_FP32);
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (L.log) fclose(L.log);
    if (L.tlog) fclose(L.tlog);
    if (L.lock >= 0) close(L.lock); /* after the last write */
    telemetry_free(L.tel);
    free(inp);
    free(tgt);
    free(L.x);
    free(L.piece);
    trainer_free(L.tr);
    dataset_close(&train);
    if (val.shards) dataset_close(&val);
    model_free(m);
    return rc;
}
