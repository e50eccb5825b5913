/* train.c - the training loop. */
#include "train.h"
#include "../ckpt/ckpt.h"
#include "../data/prepare.h"
#include "../dist/dist.h"
#include "../data/shard.h"
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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

void train_defaults(train_config *t, const char *preset) {
    memset(t, 0, sizeof *t);
    snprintf(t->optim, sizeof t->optim, "adamw");
    snprintf(t->out_dir, sizeof t->out_dir, "runs/latest");
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
    t->ckpt_every = 0;
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
        snprintf(err, n, "%s: expected a number in [%g, %g], got '%s'", k, lo, hi, v);
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
    if (!strcmp(k, "lr")) return p_dbl(k, v, 0, 10, &t->lr, err, n);
    if (!strcmp(k, "min_lr_frac")) return p_dbl(k, v, 0, 1, &t->min_lr_frac, err, n);
    if (!strcmp(k, "beta1")) return p_dbl(k, v, 0, 0.999999, &t->beta1, err, n);
    if (!strcmp(k, "beta2")) return p_dbl(k, v, 0, 0.999999, &t->beta2, err, n);
    if (!strcmp(k, "eps")) return p_dbl(k, v, 0, 1, &t->eps, err, n);
    if (!strcmp(k, "weight_decay")) return p_dbl(k, v, 0, 10, &t->weight_decay, err, n);
    if (!strcmp(k, "grad_clip")) return p_dbl(k, v, 0, 1e30, &t->grad_clip, err, n);
    if (!strcmp(k, "zloss")) return p_dbl(k, v, 0, 10, &t->zloss, err, n);
    if (!strcmp(k, "log_every")) return p_int(k, v, 1, &t->log_every, err, n);
    if (!strcmp(k, "val_every")) return p_int(k, v, 0, &t->val_every, err, n);
    if (!strcmp(k, "val_batches")) return p_int(k, v, 1, &t->val_batches, err, n);
    if (!strcmp(k, "ckpt_every")) return p_int(k, v, 0, &t->ckpt_every, err, n);
    if (!strcmp(k, "ckpt_final")) return p_flag(k, v, &t->ckpt_final, err, n);
    if (!strcmp(k, "threads")) return p_int(k, v, 0, &t->threads, err, n);
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
    st->lr = lr_schedule(step, tc->steps, tc->warmup, tc->lr, tc->min_lr_frac);
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

/* zero-padded steps: reverse name order is newest first */
static int newest_first(const void *a, const void *b) {
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* ckpt_XXXXXXXX.bin names in dir, newest (highest step) first */
static int list_checkpoints(const char *dir, char ***names) {
    DIR *d = opendir(dir);
    int n = 0;
    *names = NULL;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t L = strlen(e->d_name);
        if (L != 17 || strncmp(e->d_name, "ckpt_", 5) || strcmp(e->d_name + 13, ".bin")) continue;
        char **nn = realloc(*names, (size_t)(n + 1) * sizeof *nn);
        if (!nn) break;
        *names = nn;
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(*names, (size_t)n, sizeof **names, newest_first); /* qsort(NULL, 0) is UB */
    return n;
}

/* the step in a "ckpt_XXXXXXXX.bin" name (or a path ending in one) */
static long name_step(const char *name) {
    const char *base = strrchr(name, '/');
    return atol((base ? base + 1 : name) + 5);
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int train_find_checkpoint(const char *run_dir, long max_step, char *path, size_t len, char *err,
                          size_t errlen) {
    char **names;
    int n = list_checkpoints(run_dir, &names), rc = -1;
    for (int i = 0; i < n && rc; i++) {
        char why[1400];
        if (max_step >= 0 && name_step(names[i]) > max_step) continue;
        snprintf(path, len, "%s/%s", run_dir, names[i]);
        rc = ckpt_verify(path, why, sizeof why);
        if (rc) fprintf(stderr, "warning: skipping %s\n", why);
    }
    free_names(names, n);
    if (rc) snprintf(err, errlen, "%s: no valid checkpoint (ckpt_*.bin) to resume from", run_dir);
    return rc;
}

/* Removes all but the newest `keep` checkpoints (keep 0: no limit) and every
 * one after step max_step (max_step < 0: no limit): --keep, and a rollback
 * abandoning the checkpoints of the steps it undoes. */
static void remove_checkpoints(const char *dir, int keep, long max_step) {
    char **names, path[1200];
    int n = list_checkpoints(dir, &names);
    for (int i = 0; i < n; i++) {
        if ((keep <= 0 || i < keep) && (max_step < 0 || name_step(names[i]) <= max_step)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    free_names(names, n);
}

/* Keeps the log's lines up to a step, so that the log reads as one run after
 * a resume or a rollback: every step once, in order.  keep_events: rollback
 * event lines stay whatever their step (on resume they are redone). */
static int trim_log(const char *path, long step, int keep_events, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    atomic_file out;
    if (atomic_open(&out, path, err, errlen)) { fclose(f); return -1; }
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
    int n = snprintf(buf, len, "{\"rollbacks\":%ld,\"in_a_row\":%d,\"horizon\":%ld,\"spike\":",
                     r->rollbacks, r->in_a_row, r->horizon);
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
} loop;

/* (Re)opens a log of the run (closing *f first if open): cut >= 0 cuts it
 * back to that step (trim_log) and appends, on resume and rollback; cut < 0
 * starts it empty, for a fresh run. */
static int open_log(FILE **f, const char *path, long cut, int keep_events, char *err, size_t errlen) {
    if (*f) fclose(*f);
    *f = NULL;
    if (cut >= 0 && trim_log(path, cut, keep_events, err, errlen)) return -1;
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
    remove_checkpoints(L->tc->out_dir, L->tc->keep, -1);
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
            found = !train_find_checkpoint(tc->out_dir, max_step, path, sizeof path, why, sizeof why);
            if (!found) break;
            max_step = name_step(path) - 1;
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
    if (L->root) remove_checkpoints(tc->out_dir, 0, to);
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

/* After a failed dataset_open: if the data directory's meta.json (written
 * by wesar prepare) names another vocabulary than the model's, say how to
 * match it. */
static void vocab_hint(const char *data, int vocab, char *err, size_t errlen) {
    char path[1200];
    cJSON *j = prepare_read_meta(data, path, sizeof path);
    if (!j) return; /* no meta.json: no hint */
    const cJSON *v = cJSON_GetObjectItem(j, "vocab_size"), *t = cJSON_GetObjectItem(j, "tokenizer");
    if (cJSON_IsNumber(v) && v->valuedouble != vocab && v->valuedouble >= 2 && v->valuedouble <= 1 << 24) {
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, "; %s says the %s tokenizer, vocab_size %d: train with --vocab-size %d",
                 path, cJSON_IsString(t) ? t->valuestring : "?", (int)v->valuedouble, (int)v->valuedouble);
        err_printable(err);
    }
    cJSON_Delete(j);
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

int train_run(const model_config *mc, const train_config *tc_in, train_result *res, char *err,
              size_t errlen) {
    int rc = -1, agreed = 0;
    int rank = dist_rank(), P = dist_size(), root = rank == 0;
    train_config tcl = *tc_in;
    if (!root) tcl.quiet = 1;
    const train_config *tc = &tcl;
    model *m = NULL;
    dataset train = {0}, val = {0};
    int have_val = 0;
    int32_t *inp = NULL, *tgt = NULL;
    struct sigaction old_int, old_term;
    int handlers = 0;
    char path[1200];
    loop L;
    memset(&L, 0, sizeof L);
    L.tc = tc;
    L.root = root;
    /* rank 0's checkpoint, should the ranks' directory listings differ */
    dist_bcast(tcl.resume_from, sizeof tcl.resume_from, "starting up");
    dist_set_timeout(tc->dist_timeout, tc->out_dir);

    if (tc->threads) kernels_set_threads(tc->threads);
    else if (P > 1 && !getenv("OMP_NUM_THREADS")) kernels_set_threads(default_threads());

    L.rule = optim_find(tc->optim);
    if (!L.rule) { snprintf(err, errlen, "optim: unknown optimizer '%s'", tc->optim); goto done; }
    if (!tc->data[0]) { snprintf(err, errlen, "data: no training data given (--data DIR)"); goto done; }
    if (!strncmp(L.rule->name, "adamw", 5) &&
        (tc->nesterov || tc->inverse_bias_correction || tc->rrc_correction)) {
        snprintf(err, errlen, "--nesterov, --inverse-bias-correction and --rrc-correction apply to "
                 "the Lion family (lion, liona, lionar), not to %s", L.rule->name);
        goto done;
    }
    if (!tc->resume_from[0] && root) {
        char **names;
        int n = list_checkpoints(tc->out_dir, &names);
        free_names(names, n);
        if (n) {
            snprintf(err, errlen, "%s already holds checkpoints of an earlier run: continue it with "
                     "--resume %s, or pick another --out", tc->out_dir, tc->out_dir);
            goto done;
        }
    }
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
    if (dataset_open(&train, tc->data, "train", c->vocab_size, err, errlen)) {
        vocab_hint(tc->data, c->vocab_size, err, errlen);
        goto done;
    }
    if (train.n_tokens <= (size_t)T + 1 || !dataset_num_sequential(&train, 1, T)) {
        snprintf(err, errlen, "%s: %zu training tokens, fewer than one window of %d", tc->data,
                 train.n_tokens, T + 1);
        goto done;
    }
    {
        char verr[512];
        const char *vp = tc->val_data[0] ? tc->val_data : tc->data;
        if (!dataset_open(&val, vp, "val", c->vocab_size, verr, sizeof verr)) {
            have_val = dataset_num_sequential(&val, B, T) > 0;
            if (!have_val && root)
                fprintf(stderr, "warning: %s: val split shorter than one batch; no validation\n", vp);
        } else if (tc->val_data[0]) {
            snprintf(err, errlen, "%s", verr);
            goto done;
        } else if (!tc->quiet) {
            fprintf(stderr, "note: no validation shards (%s); training without validation\n", verr);
        }
    }
    L.tr = trainer_create(m, tc, err, errlen);
    L.x = malloc(sizeof *L.x);
    if (!L.tr || !L.x) { if (L.tr) snprintf(err, errlen, "out of memory"); goto done; }
    memset(L.x, 0, sizeof *L.x);
    if (tc->telemetry_every && root) { /* rank 0 measures, on its slice of the batch */
        L.tel = telemetry_create(m, rrc_rows(tc, B * T), err, errlen);
        if (!L.tel) goto done;
        trainer_set_telemetry(L.tr, L.tel);
    }
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
    if (make_dir(tc->out_dir, err, errlen)) goto done;
    {
        int stale = atomic_cleanup(tc->out_dir);
        if (stale && !tc->quiet)
            fprintf(stderr, "note: removed %d unfinished temporary file(s) of a killed run in %s\n",
                    stale, tc->out_dir);
    }

    char cfgj[1024];
    config_to_json(c, cfgj, sizeof cfgj);
    train_to_json(tc, L.trj, sizeof L.trj);
    {
        snprintf(path, sizeof path, "%.1023s/config.json", tc->out_dir);
        char all[3200];
        int n = snprintf(all, sizeof all, "{\"model\":%s,\"train\":%s}\n", cfgj, L.trj);
        atomic_file af;
        if (atomic_open(&af, path, err, errlen) ||
            atomic_commit(&af, atomic_write(&af, all, (size_t)n), err, errlen))
            goto done;
    }
    snprintf(L.log_path, sizeof L.log_path, "%.1023s/log.jsonl", tc->out_dir);
    long cut = tc->resume_from[0] ? start : -1;
    if (open_log(&L.log, L.log_path, cut, 0, err, errlen)) goto done;
    snprintf(L.tlog_path, sizeof L.tlog_path, "%.1023s/telemetry.jsonl", tc->out_dir);
    if (L.tel) {
        if (open_log(&L.tlog, L.tlog_path, cut, 0, err, errlen)) goto done;
    } else if (!tc->resume_from[0]) {
        unlink(L.tlog_path); /* no stale file from another run */
    }

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
        if (start) printf("resuming from %s at step %ld\n", tc->resume_from, start);
        fflush(stdout);
    }

    stop_requested = 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    handlers = 1;
    double t_start = now_sec(), t_int = t_start, last_val = NAN, loss = NAN, comm_int = 0;
    long tok_int = 0, steps_timed = 0;
    for (long step = start; step < tc->steps; step++) {
        double t0 = now_sec(), c0 = dist_comm_seconds();
        dist_set_step(step);
        /* every rank draws the whole global batch (so the sampler stays one)
         * and reads its own slice */
        dataset_sample_part(&train, &L.data_rng, B * tc->grad_accum, rank * seqs, seqs, T, inp, tgt);
        step_stats st;
        int r = trainer_step(L.tr, inp, tgt, T, &st, err, errlen);
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
        } else if (r) {
            snprintf(detail, sizeof detail, "%s", err);
        }
        if (r || (spike && tc->on_spike == ON_SPIKE_ROLLBACK)) {
            long to = rollback(&L, step + 1, r ? "nan" : "spike", r ? NAN : st.loss, detail,
                               spike && L.tel ? jumped : NULL, err, errlen);
            if (to < 0) goto done;
            step = to - 1;
            continue;
        }
        if (step + 1 > L.rs.horizon) L.rs.in_a_row = 0;
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
    if (res) {
        res->steps_done = trainer_steps_done(L.tr);
        res->final_loss = loss;
        res->final_val_loss = last_val;
        res->spikes = L.rs.spikes.events;
        res->rollbacks = L.rs.rollbacks;
    }
    rc = 0;
done:
    /* a rank that failed during setup meets the others' dist_agree */
    if (!agreed) dist_agree(0, err, errlen);
    kernels_set_precision(PRECISION_FP32);
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (L.log) fclose(L.log);
    if (L.tlog) fclose(L.tlog);
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
