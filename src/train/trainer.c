/* trainer.c - one optimizer step (train.h): micro-batches, the gradient
 * sum over ranks, clipping, the optimizer rule, ZeRO-1's shard plan. */
#include "train.h"
#include "../dist/dist.h"
#include "../model/model.h"
#include "../optim/optim.h"
#include "../util/clock.h"
#include "telemetry.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    double opt[OPTIM_MAX_OPTIONS]; /* the rule's options' values, in its order (optim_step_args) */
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
    for (int k = 0; k < rule->n_options && k < OPTIM_MAX_OPTIONS; k++)
        t->opt[k] = tc->optim_opt[optim_option_index(rule->options[k].name)];
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

/* The step in order (micro-batches, the gradient sum, norms, clipping, the update, the gather,
 * telemetry): one function, so that the order the ZeRO-1 ranks agree on stays in view. */
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
                             ti->is_matrix ? tc->weight_decay : 0, step + 1, t->opt};
        t->rule->update(params + ti->offset, grads + ti->offset, slabs, ti->numel, ti, &a);
    }
    dist_allgatherv(params, t->shard_off, t->shard_n, "the parameter all-gather");
    tel0 = now_sec();
    if (t->tel) telemetry_after(t->tel, st->lr, train_telemetry_due(tc, step));
    st->telemetry_ms += (now_sec() - tel0) * 1e3;
    t->step++;
    return 0;
}
