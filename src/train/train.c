/* train.c - train_run: setup (setup.c), then the loop over steps with its
 * validation, spike and rollback handling, logging and checkpoints. */
#include "loop.h"
#include "../ckpt/rundir.h"
#include "../dist/dist.h"
#include "../kernels/kernels.h"
#include "../util/clock.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
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

/* Token rows for the RRC: two GEMMs per matrix over them cost 4n/(6 x tokens
 * per step) of a step, so the default takes 1/8 of the step's tokens (about
 * 8% of a step on the telemetry steps, under 1% at every 10th), at most the
 * 1024 that the spec deems enough and at least 64. */
static int rrc_rows(const train_config *tc, int rows_per_micro_batch) {
    if (tc->rrc_tokens) return tc->rrc_tokens;
    long n = (long)rows_per_micro_batch * tc->grad_accum / 8;
    return n > 1024 ? 1024 : n < 64 ? 64 : (int)n;
}

/* SIGINT/SIGTERM: finish the step, checkpoint, exit cleanly. */
static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig) {
    stop_requested = sig;
    dist_note_signal(sig);
}

/* A run in progress: the loop's state (loop.h) and what train_run's phases share. */
typedef struct {
    loop L;
    train_config tcl;            /* the run's config: the caller's, resolved (out dir, schedule, data) */
    dataset train, val;
    int have_val, branch, defaulted_out, agreed;
    int B, T, seqs;              /* micro-batch, window, this rank's sequences per step */
    long start, old_horizon, tokens_per_step;
    int32_t *inp, *tgt;
    double last_val, loss;       /* for the result, whatever the way out */
    char path[1200], src_dir[1024];
    struct sigaction old_int, old_term;
    int handlers;
    double t_start, t_int, comm_int; /* progress: since the start, since the last line */
    long tok_int, steps_timed;
} run;

/* The request on its own: threads, optimizer options, the lr horizon. */
static int check_request(run *R, char *err, size_t errlen) {
    const train_config *tc = &R->tcl;
    int P = dist_size();
    int want = tc->threads ? tc->threads : P > 1 && !getenv("OMP_NUM_THREADS") ? default_threads() : 0;
    if (want && kernels_set_threads(want) < want) {
        snprintf(err, errlen, "threads: %d asked for, but at most %d run here (OpenBLAS's build limit, or "
                 "ulimit -v)", want, kernels_threads());
        return -1;
    }
    R->L.rule = optim_find(tc->optim);
    if (!R->L.rule) { snprintf(err, errlen, "optim: unknown optimizer '%s'", tc->optim); return -1; }
    if (!tc->data[0]) { snprintf(err, errlen, "data: no training data given (--data DIR)"); return -1; }
    for (int i = 0; i < optim_n_options(); i++) { /* an option the chosen optimizer does not have */
        const optim_option *o = optim_option_at(i);
        if (tc->optim_opt[i] == o->def || optim_rule_has(R->L.rule, o->name)) continue;
        char who[128];
        optim_option_rules(o->name, who, sizeof who);
        snprintf(err, errlen, "%s%s applies to %s (the optimizers that declare it), not to %s",
                 o->is_switch ? "--" : "", o->name, who, R->L.rule->name);
        return -1;
    }
    R->old_horizon = resolve_schedule(&R->tcl, err, errlen);
    if (R->old_horizon < 0) return -1;
    if (tc->warmup >= tc->steps && tc->warmup > 0 && R->L.root)
        fprintf(stderr, "warning: warmup (%ld) >= steps (%ld): the learning rate never peaks\n",
                tc->warmup, tc->steps);
    return 0;
}

/* The model, its initial weights, the data, the trainer and the telemetry. */
static int build(run *R, const model_config *mc, char *err, size_t errlen) {
    const train_config *tc = &R->tcl;
    model *m = R->L.m = model_create(mc, err, errlen);
    if (!m) return -1;
    /* set here, after the last early return before it: train_run's end puts fp32 back */
    if (kernels_set_precision(tc->precision)) {
        snprintf(err, errlen, "precision: bf16 needs a CPU with AVX-512 BF16 (avx512_bf16 in "
                 "/proc/cpuinfo) and the fp32 build; this one has no bf16 kernel (use --precision fp32)");
        return -1;
    }
    const model_config *c = model_cfg(m);
    R->B = tc->batch_size, R->T = tc->seq_len ? tc->seq_len : c->seq_len;
    if (R->T > c->seq_len) {
        snprintf(err, errlen, "train_seq_len: %d exceeds the model's seq_len %d", R->T, c->seq_len);
        return -1;
    }
    if (model_alloc(m, R->B, R->T, err, errlen)) return -1;
    model_init(m, tc->seed);
    if (open_data(&R->tcl, c->vocab_size, R->B, R->T, &R->train, &R->val, &R->have_val, R->L.root && !tc->quiet,
                  err, errlen))
        return -1;
    R->L.tr = trainer_create(m, tc, err, errlen);
    R->L.x = malloc(sizeof *R->L.x);
    if (!R->L.tr || !R->L.x) { if (R->L.tr) snprintf(err, errlen, "out of memory"); return -1; }
    memset(R->L.x, 0, sizeof *R->L.x);
    if (tc->telemetry_every && R->L.root) { /* rank 0 measures, on its slice of the batch */
        R->L.tel = telemetry_create(m, rrc_rows(tc, R->B * R->T), err, errlen);
        if (!R->L.tel) return -1;
        trainer_set_telemetry(R->L.tr, R->L.tel);
    }
    return 0;
}

/* The run directory (rank 0's), the checkpoint to go on from, the batch
 * buffers and the run's files. */
static int take_dir_and_resume(run *R, char *err, size_t errlen) {
    loop *L = &R->L;
    const train_config *tc = &R->tcl;
    /* the directory is ours before its checkpoints are read */
    if (L->root && claim_out_dir(L, R->src_dir, R->branch, err, errlen)) return -1;
    rng_seed(&L->data_rng, tc->seed, 0xda7a);
    run_state_init(&L->rs, tc);
    if (tc->resume_from[0]) {
        if (snapshot_load(L, tc->resume_from, err, errlen)) return -1;
        R->start = L->x->step;
        L->data_rng = L->x->data_rng;
        if (R->start >= tc->steps) {
            snprintf(err, errlen, "%s: already at step %ld of %ld (raise --steps to continue)",
                     tc->resume_from, R->start, tc->steps);
            return -1;
        }
    }
    R->seqs = trainer_seqs(L->tr);
    int rows_buf = R->seqs > R->B ? R->seqs : R->B; /* evaluate takes B */
    R->inp = malloc((size_t)rows_buf * R->T * sizeof *R->inp);
    R->tgt = malloc((size_t)rows_buf * R->T * sizeof *R->tgt);
    int gather = dist_size() > 1 && L->root;
    L->piece = gather ? malloc(STATE_PIECE * sizeof(real)) : NULL;
    if (!R->inp || !R->tgt || (gather && !L->piece)) { snprintf(err, errlen, "out of memory"); return -1; }
    if (!L->root) return 0; /* the files are rank 0's */
    if (R->defaulted_out) point_latest(tc->out_dir, tc->quiet);
    return open_run_files(L, model_cfg(L->m), R->start, R->src_dir, R->branch, err, errlen);
}

static void say_start(const run *R) {
    const train_config *tc = &R->tcl;
    const model_config *c = model_cfg(R->L.m);
    size_t np = model_num_params(R->L.m);
    printf("wesar train: %zu parameters (%s MLP, d=%d, N=%d, H=%d, Hkv=%d, V=%d), %.1f MiB activations\n", np,
           mlp_name(c->mlp), c->d_model, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size,
           model_activation_bytes(R->L.m) / 1048576.0);
    printf("data: %zu train tokens in %d shard(s)%s; batch %d x %d x %d = %ld tokens/step; "
           "%ld steps; %s lr %.2e warmup %ld; %d threads\n",
           R->train.n_tokens, R->train.n_shards, R->have_val ? "" : " (no val)", R->B, R->T, tc->grad_accum,
           R->tokens_per_step, tc->steps, R->L.rule->name, tc->lr, tc->warmup, kernels_threads());
    if (dist_size() > 1) {
        size_t n;
        trainer_state(R->L.tr, NULL, &n);
        printf("ranks: %d, each running %d of the %d sequences per step; optimizer state sharded "
               "(ZeRO-1): %.1f of %.1f MiB on rank 0\n", dist_size(), R->seqs, R->B * tc->grad_accum,
               R->L.rule->n_state * n * sizeof(real) / 1048576.0, R->L.rule->n_state * np * sizeof(real) / 1048576.0);
    }
    printf("run directory: %s\n", tc->out_dir);
    if (R->start)
        printf("%s %s at step %ld\n", R->branch ? "branching from" : "resuming from", tc->resume_from, R->start);
    if (R->start) say_schedule(tc, R->start, R->old_horizon);
    fflush(stdout);
}

static void catch_signals(run *R) {
    stop_requested = 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, &R->old_int);
    sigaction(SIGTERM, &sa, &R->old_term);
    R->handlers = 1;
}

/* What one step asks of the loop next */
enum { STEP_OK, STEP_ROLLBACK, STEP_FAILED };

/* One optimizer step on the next batch, and the spike detector's verdict:
 * STEP_ROLLBACK with the reason in detail (and jumped), when the loss spiked
 * or went non-finite and the run rolls back. */
static int one_step(run *R, long step, step_stats *st, int *spike, char *detail, size_t dlen, char *jumped,
                    size_t jlen, char *err, size_t errlen) {
    loop *L = &R->L;
    const train_config *tc = &R->tcl;
    /* every rank draws the whole global batch (so the sampler stays one) and reads its own slice */
    dataset_sample_part(&R->train, &L->data_rng, R->B * tc->grad_accum, dist_rank() * R->seqs, R->seqs, R->T,
                        R->inp, R->tgt);
    int r = trainer_step(L->tr, R->inp, R->tgt, R->T, st, err, errlen);
    if (r == TRAIN_NONFINITE && tc->on_nan != ON_NAN_ROLLBACK) L->diverged = step + 1;
    if (r && !(r == TRAIN_NONFINITE && tc->on_nan == ON_NAN_ROLLBACK)) return STEP_FAILED;
    *spike = !r && spike_observe(&L->rs.spikes, st->loss);
    snprintf(jumped, jlen, "[]");
    if (*spike) {
        const spike_detector *d = &L->rs.spikes;
        int k = snprintf(detail, dlen, "loss spike: %.4f > %.4f + %g x %.4f (trend + k std of the last %d)",
                         st->loss, d->mean, d->k, d->std, d->n);
        if (L->tel) describe_jumps(L->tel, detail + k, dlen - (size_t)k, jumped, jlen);
        if (!tc->quiet && tc->on_spike == ON_SPIKE_LOG) fprintf(stderr, "wesar: step %ld: %s\n", step + 1, detail);
    } else if (r) { /* without err's "step N: ": rollback's messages name the step themselves */
        char at[32];
        int k = snprintf(at, sizeof at, "step %ld: ", step + 1);
        snprintf(detail, dlen, "%s", err + (strncmp(err, at, (size_t)k) ? 0 : k));
    }
    return r || (*spike && tc->on_spike == ON_SPIKE_ROLLBACK) ? STEP_ROLLBACK : STEP_OK;
}

/* The progress line: every log_every steps, at validation, the first and the last */
static void progress(run *R, long step, const step_stats *st, int do_val) {
    const train_config *tc = &R->tcl;
    double now = now_sec(), el = now - R->t_int;
    double eta = (now - R->t_start) / R->steps_timed * (tc->steps - step - 1);
    char etas[32], vals[32] = "", comms[32] = "";
    fmt_duration(etas, sizeof etas, eta);
    if (do_val) snprintf(vals, sizeof vals, " | val %.4f", R->last_val);
    if (dist_size() > 1 && el > 0) snprintf(comms, sizeof comms, " | comm %.0f%%", R->comm_int / (el * 10));
    printf("step %*ld/%ld | loss %.4f%s | lr %.2e | norm %.3f | %.0f tok/s%s | ETA %s\n",
           (int)snprintf(NULL, 0, "%ld", tc->steps), step + 1, tc->steps, st->loss, vals, st->lr, st->grad_norm,
           el > 0 ? R->tok_int / el : 0.0, comms, etas);
    fflush(stdout);
    R->t_int = now;
    R->tok_int = 0;
    R->comm_int = 0;
}

/* Rank 0's record of a step: log.jsonl, telemetry.jsonl and the progress line. */
static int record_step(run *R, long step, const step_stats *st, int spike, const char *jumped, double ms,
                       double comm_ms, int do_val, int last, char *err, size_t errlen) {
    loop *L = &R->L;
    const train_config *tc = &R->tcl;
    fprintf(L->log,
            "{\"step\":%ld,\"loss\":%.6f,\"z_loss\":%.6f,\"lr\":%.6e,\"grad_norm\":%.6f,\"tokens\":%ld,\"ms\":%.2f",
            step + 1, st->loss, st->z_loss, st->lr, st->grad_norm, (step + 1) * R->tokens_per_step, ms);
    if (L->tel) fprintf(L->log, ",\"telemetry_ms\":%.2f", st->telemetry_ms);
    if (dist_size() > 1) fprintf(L->log, ",\"comm_ms\":%.2f", comm_ms);
    if (do_val) fprintf(L->log, ",\"val_loss\":%.6f", R->last_val);
    if (spike) fprintf(L->log, ",\"spike\":true");
    if (spike && L->tel) fprintf(L->log, ",\"jumped\":%s", jumped);
    fprintf(L->log, "}\n");
    fflush(L->log);
    if (L->tlog && train_telemetry_due(tc, step) &&
        (telemetry_write(L->tel, L->tlog, step + 1, st->loss, st->lr) || fflush(L->tlog))) {
        snprintf(err, errlen, "%s: write failed: %s", L->tlog_path, strerror(errno));
        return -1;
    }
    if (!tc->quiet && ((step + 1) % tc->log_every == 0 || last || step == 0 || do_val)) progress(R, step, st, do_val);
    return 0;
}

/* After a step: divergence, the checkpoint, a stop signal.  1: stop here. */
static int end_step(run *R, long step, const step_stats *st, int stopping, int last, char *err, size_t errlen) {
    loop *L = &R->L;
    const train_config *tc = &R->tcl;
    if (tc->diverge_factor > 0 && L->rs.first_loss > 0 && st->loss > tc->diverge_factor * L->rs.first_loss) {
        snprintf(err, errlen, "step %ld: loss %.4f is more than %g x step 1's %.4f: diverged (--diverge-factor)",
                 step + 1, st->loss, tc->diverge_factor, L->rs.first_loss);
        L->diverged = step + 1;
        return -1;
    }
    if ((tc->ckpt_every && (step + 1) % tc->ckpt_every == 0) || (last && tc->ckpt_final) || stopping) {
        if (snapshot_save(L, step + 1, R->path, sizeof R->path, err, errlen)) return -1;
        if (last && !tc->quiet) printf("checkpoint: %s\n", R->path);
    }
    if (stopping && !last && L->root) {
        fprintf(stderr, "wesar: %s received: stopped after step %ld, checkpoint %s\nresume with: wesar train "
                "--resume %s\n", stop_requested == SIGINT ? "SIGINT" : stop_requested == SIGTERM ? "SIGTERM"
                : "a stop signal to another rank", step + 1, R->path, tc->out_dir);
    }
    return stopping && !last;
}

/* The steps from R->start on; 0 when done or stopped by a signal. */
static int steps(run *R, char *err, size_t errlen) {
    loop *L = &R->L;
    const train_config *tc = &R->tcl;
    R->t_start = R->t_int = now_sec();
    for (long step = R->start; step < tc->steps; step++) {
        double t0 = now_sec(), c0 = dist_comm_seconds();
        dist_set_step(step);
        step_stats st;
        int spike = 0;
        char detail[1200], jumped[1200];
        int r = one_step(R, step, &st, &spike, detail, sizeof detail, jumped, sizeof jumped, err, errlen);
        if (r == STEP_FAILED) return -1;
        if (r == STEP_ROLLBACK) {
            int nan = !spike; /* a rollback without a spike is a non-finite loss or gradient */
            long to = rollback_to_good(L, step + 1, nan ? "nan" : "spike", nan ? NAN : st.loss, detail,
                                       spike && L->tel ? jumped : NULL, err, errlen);
            if (to < 0) return -1;
            step = to - 1;
            continue;
        }
        if (step + 1 > L->rs.horizon) L->rs.in_a_row = 0;
        if (step == 0) L->rs.first_loss = st.loss;
        R->loss = st.loss;
        double ms = (now_sec() - t0) * 1e3, comm_ms = (dist_comm_seconds() - c0) * 1e3;
        R->tok_int += R->tokens_per_step;
        R->comm_int += comm_ms;
        R->steps_timed++;
        double stop = stop_requested;
        dist_sum(&stop, 1, "the stop flag"); /* a signal to any rank stops them all after this step */
        int stopping = stop != 0, last = step + 1 == tc->steps;
        int do_val = R->have_val && ((tc->val_every && (step + 1) % tc->val_every == 0) || last);
        if (do_val) R->last_val = evaluate(L->m, &R->val, R->B, R->T, tc->val_batches, R->inp, R->tgt);
        if (L->root && record_step(R, step, &st, spike, jumped, ms, comm_ms, do_val, last, err, errlen)) return -1;
        int e = end_step(R, step, &st, stopping, last, err, errlen);
        if (e) return e < 0 ? -1 : 0;
    }
    return 0;
}

static void finish(run *R, train_result *res, char *err, size_t errlen) {
    loop *L = &R->L;
    if (res) {
        memset(res, 0, sizeof *res);
        res->steps_done = L->tr ? trainer_steps_done(L->tr) : 0;
        res->final_loss = R->loss;
        res->final_val_loss = R->last_val;
        res->spikes = L->rs.spikes.events;
        res->rollbacks = L->rs.rollbacks;
        res->diverged_step = L->diverged;
    }
    /* a rank that failed during setup meets the others' dist_agree */
    if (!R->agreed) dist_agree(0, err, errlen);
    kernels_set_precision(PRECISION_FP32);
    if (R->handlers) {
        sigaction(SIGINT, &R->old_int, NULL);
        sigaction(SIGTERM, &R->old_term, NULL);
    }
    if (L->log) fclose(L->log);
    if (L->tlog) fclose(L->tlog);
    if (L->lock >= 0) close(L->lock); /* after the last write */
    telemetry_free(L->tel);
    free(R->inp);
    free(R->tgt);
    free(L->x);
    free(L->piece);
    trainer_free(L->tr);
    dataset_close(&R->train);
    if (R->val.shards) dataset_close(&R->val);
    model_free(L->m);
}

int train_run(const model_config *mc, const train_config *tc_in, train_result *res, char *err,
              size_t errlen) {
    run *R = calloc(1, sizeof *R);
    if (!R) { snprintf(err, errlen, "out of memory"); return -1; }
    R->tcl = *tc_in;
    R->L.tc = &R->tcl;
    R->L.root = dist_rank() == 0;
    R->L.lock = -1;
    R->last_val = R->loss = NAN;
    R->defaulted_out = !R->tcl.out_dir[0];
    if (!R->L.root) R->tcl.quiet = 1;
    if (R->defaulted_out && R->L.root) default_out_dir(&R->tcl);
    /* rank 0's checkpoint and directory, should the ranks' listings or clocks differ */
    dist_bcast(R->tcl.resume_from, sizeof R->tcl.resume_from, "starting up");
    dist_bcast(R->tcl.out_dir, sizeof R->tcl.out_dir, "starting up");
    dist_set_timeout(R->tcl.dist_timeout, R->tcl.out_dir);
    if (R->tcl.resume_from[0]) {
        snprintf(R->path, sizeof R->path, "%s", R->tcl.resume_from);
        snprintf(R->src_dir, sizeof R->src_dir, "%s", dirname(R->path));
        R->branch = !rundir_same(R->src_dir, R->tcl.out_dir);
    }
    int rc = check_request(R, err, errlen) || build(R, mc, err, errlen) || take_dir_and_resume(R, err, errlen);
    /* every rank got here, or some failed on the way (then each meets the others in finish's dist_agree) */
    if (!rc) {
        R->agreed = 1;
        rc = !dist_agree(1, err, errlen);
    }
    if (!rc) {
        dist_bcast(model_params(R->L.m), model_num_params(R->L.m) * sizeof(real), "starting up"); /* one set of weights */
        R->tokens_per_step = (long)R->B * R->T * R->tcl.grad_accum;
        if (!R->tcl.quiet) say_start(R);
        catch_signals(R);
        rc = steps(R, err, errlen);
    }
    rc = R->L.diverged ? TRAIN_DIVERGED : rc ? -1 : 0;
    finish(R, res, err, errlen);
    free(R);
    return rc;
}
