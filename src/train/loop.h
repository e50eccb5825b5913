/* loop.h - what the training loop's files share (internal to src/train):
 * the loop's state between steps and the phases train_run (train.c) calls.
 *   runlog.c    log.jsonl and telemetry.jsonl: cut back to a step, reopen
 *   snapshot.c  checkpoint save and load, with the ZeRO-1 gather
 *   rollback.c  the run state in checkpoints, rollback, which matrices jumped
 *   setup.c     data, run directory, config.json, lr horizon, threads
 *   trainer.c   one optimizer step (train.h) */
#ifndef WESAR_LOOP_H
#define WESAR_LOOP_H
#include "train.h"
#include "../ckpt/ckpt.h"
#include "../data/shard.h"
#include "../model/model.h"
#include "../optim/optim.h"
#include "../util/rng.h"
#include "spike.h"
#include "telemetry.h"
#include <stdio.h>

/* The loop's own state, saved in each checkpoint's "run" object so that a
 * resumed run makes the same spike and rollback decisions. */
typedef struct {
    spike_detector spikes;
    long rollbacks;  /* in total */
    int in_a_row;    /* rollbacks since training last got past a failure */
    long horizon;    /* the latest step that failed and was rolled back */
    double first_loss; /* step 1's, for diverge_factor; 0 until then */
} run_state;

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

/* ZeRO-1 checkpoints move the optimizer state in pieces of this many values (snapshot.c) */
#define STATE_PIECE ((size_t)1 << 20)

/* runlog.c */
int runlog_trim(const char *src, const char *dst, long step, int keep_events, char *err, size_t errlen);
int runlog_open(FILE **f, const char *path, long cut, int keep_events, char *err, size_t errlen);

/* rollback.c */
void run_state_init(run_state *r, const train_config *tc);
char *run_to_json(const run_state *r, const telemetry *tel);
void run_from_json(run_state *r, const char *text, const train_config *tc, telemetry *tel);
long rollback_to_good(loop *L, long bad_step, const char *reason, double loss, const char *detail,
                      const char *jumped, char *err, size_t errlen);
void describe_jumps(const telemetry *tel, char *text, size_t tlen, char *json, size_t jlen);

/* snapshot.c */
int snapshot_save(loop *L, long step, char *path, size_t plen, char *err, size_t errlen);
int snapshot_load(loop *L, const char *path, char *err, size_t errlen);

/* setup.c */
int default_threads(void);
void default_out_dir(train_config *tc);
void point_latest(const char *out_dir, int quiet);
long resolve_schedule(train_config *tc, char *err, size_t errlen);
void say_schedule(const train_config *tc, long start, long old);
int open_data(train_config *tc, int vocab, int B, int T, dataset *train, dataset *val, int *have_val, int say,
              char *err, size_t errlen);
int claim_out_dir(loop *L, const char *src_dir, int branch, char *err, size_t errlen);
int open_run_files(loop *L, const model_config *c, long start, const char *src_dir, int branch, char *err,
                   size_t errlen);
#endif
