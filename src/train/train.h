/* train.h - a training job: its keys (train_keys.c), one optimizer step
 * (trainer.c: micro-batches, accumulation, the gradient sum over ranks,
 * clipping, the optimizer rule), and the whole run (train.c: validation,
 * spikes and rollback, the progress line, the JSON-lines logs, checkpoints). */
#ifndef WESAR_TRAIN_H
#define WESAR_TRAIN_H
#include "../kernels/kernels.h"
#include "../model/config.h"
#include "../optim/optim.h"
#include <stddef.h>
#include <stdint.h>

enum { ON_SPIKE_LOG, ON_SPIKE_ROLLBACK };
enum { ON_NAN_STOP, ON_NAN_ROLLBACK };

typedef struct {
    char data[1024];       /* shard directory, file or glob (train split) */
    char val_data[1024];   /* optional: val shards; default: "val" files in data */
    char out_dir[1024];    /* "" until train_run picks runs/<date>-<time> */
    char tokenizer[32];    /* the data's tokenizer, from its meta.json (or --tokenizer for shards
                              without one): recorded so eval and generate find it */
    char tokenizer_path[1024];
    char optim[32];        /* an optimizer of optim.h's table (adamw, lion, ...) */
    int batch_size;        /* sequences per micro-batch (B) */
    int seq_len;           /* T; 0 = the model's context */
    int grad_accum;        /* micro-batches per step */
    long steps;
    long warmup;
    long decay_steps;      /* the cosine reaches min_lr here, then stays; 0 = steps.  Recorded
                              resolved, so a resume with more --steps keeps the schedule */
    double lr, min_lr_frac, beta1, beta2, eps, weight_decay, grad_clip, zloss;
    int log_every, val_every, val_batches, ckpt_every;
    int ckpt_final;        /* 1: write a checkpoint after the last step */
    int keep;              /* keep the newest K checkpoints (0 = all) */
    char resume_from[1024];/* checkpoint to continue from (see rundir.h) */
    double optim_opt[OPTIM_MAX_OPTIONS]; /* the optimizers' own options (optim.h), by optim_option_index */
    int on_spike;          /* ON_SPIKE_LOG or ON_SPIKE_ROLLBACK */
    int on_nan;            /* ON_NAN_STOP or ON_NAN_ROLLBACK */
    int spike_window;      /* losses the spike detector remembers (spike.h) */
    double spike_k;        /* spike: loss > window mean + k * std */
    int max_rollbacks;     /* give up after this many rollbacks in a row */
    double diverge_factor; /* a loss above this many times step 1's ends the run as diverged; 0: off */
    int telemetry_every;   /* telemetry.jsonl line every N steps (telemetry.h); 0: off */
    int rrc_tokens;        /* token rows the RRC measure uses; 0: 1/8 of a step's, 64..1024 */
    uint64_t seed;
    int threads;           /* 0 = all cores (under mpirun: the node's cores / its ranks) */
    double dist_timeout;   /* under mpirun: seconds a rank waits for the others before it
                              ends the job (a rank died or hangs); 0 = forever (dist.h) */
    int precision;         /* PRECISION_FP32 or PRECISION_BF16 (kernels.h): matmul operands */
    int quiet;
} train_config;

/* Defaults; a preset name ("tiny", ...) may tune the run length and batch. */
void train_defaults(train_config *t, const char *preset);
/* Same codes as config_set: 0 ok, 1 unknown key, -1 bad value. */
int train_set(train_config *t, const char *key, const char *value, char *err, size_t errlen);
int train_to_json(const train_config *t, char *buf, size_t len);

/* One optimizer step, separated from the loop so that tests drive it too. */
typedef struct trainer trainer;
typedef struct model model;

typedef struct {
    double loss;       /* mean cross-entropy over the step's micro-batches */
    double z_loss;     /* zloss coefficient * mean lse^2 */
    double grad_norm;  /* global norm before clipping */
    double lr;
    double telemetry_ms; /* time spent in telemetry (telemetry.h) this step */
} step_stats;

/* m must be allocated for tc's batch shape.  Owns the optimizer state.
 * Under mpirun (dist.h) every rank makes one: each runs 1/P of the global
 * batch (batch_size x grad_accum sequences, which must split evenly) and
 * keeps and updates 1/P of the optimizer state (ZeRO-1; see train.c). */
trainer *trainer_create(model *m, const train_config *tc, char *err, size_t errlen);
void trainer_free(trainer *t);
/* Sequences of the global batch this rank runs: batch_size x grad_accum / P.
 * Rank r's are the global batch's sequences r*seqs .. (r+1)*seqs - 1. */
int trainer_seqs(const trainer *t);
/* inp/tgt hold this rank's trainer_seqs() sequences of T tokens (with one
 * rank: grad_accum consecutive micro-batches of batch_size).
 * Returns 0; TRAIN_NONFINITE with err naming the step and the loss or
 * gradient that went non-finite (then no update is applied); -1 on other
 * errors. */
#define TRAIN_NONFINITE -2
int trainer_step(trainer *t, const int32_t *inp, const int32_t *tgt, int T, step_stats *st,
                 char *err, size_t errlen);
/* Attaches per-matrix telemetry (telemetry.h) to every step; NULL detaches.
 * Its full measures run on the steps train_telemetry_due names. */
struct telemetry;
void trainer_set_telemetry(trainer *t, struct telemetry *tel);
int train_telemetry_due(const train_config *tc, long step);  /* step: 0-based */
long trainer_steps_done(const trainer *t);
void trainer_set_steps_done(trainer *t, long step);
/* This rank's optimizer state: n_state slabs of *n values each, for the
 * parameters [*lo, *lo + *n) (all of them with one rank). */
real *trainer_state(trainer *t, size_t *lo, size_t *n);
/* Every rank's shard start, and its length in *n (dist_size() of each), for
 * gathering the state. */
const size_t *trainer_shards(const trainer *t, const size_t **n);

typedef struct {
    long steps_done;
    double final_loss;     /* last training loss (CE) */
    double final_val_loss; /* last validation loss, NAN if none */
    long spikes;           /* spike events detected */
    long rollbacks;        /* rollbacks done */
    long diverged_step;    /* with TRAIN_DIVERGED: the step whose loss went non-finite or past
                              diverge_factor (or the rollbacks gave up) */
} train_result;

/* Runs a training job; prints progress, writes OUT_DIR/{log.jsonl,
 * telemetry.jsonl, config.json, ckpt_<step>.bin}.  Returns 0 on success;
 * TRAIN_DIVERGED (err says why, res->diverged_step where) when the loss went
 * non-finite under --on-nan stop, past diverge_factor, or the rollbacks gave
 * up; -1 on any other error, with err set. */
#define TRAIN_DIVERGED -3
int train_run(const model_config *mc, const train_config *tc, train_result *res, char *err,
              size_t errlen);
#endif
