/* setup.c - what train_run does before its first step (loop.h): threads,
 * the run directory and its files, the data, the lr schedule's horizon. */
#include "loop.h"
#include "../ckpt/rundir.h"
#include "../data/prepare.h"
#include "../dist/dist.h"
#include "../kernels/kernels.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Under mpirun with no thread count given: the node's cores shared among
 * its ranks (mpirun may also have bound each rank to fewer). */
int default_threads(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (int)(cores > 0 ? cores : 1) / dist_local_size(), mask = kernels_threads();
    if (n > mask) n = mask;
    return n > 0 ? n : 1;
}

/* --out not given: runs/<date>-<time> (with a -N suffix should it exist),
 * so that two runs never collide; runs/latest then points at it. */
void default_out_dir(train_config *tc) {
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

void point_latest(const char *out_dir, int quiet) {
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
long resolve_schedule(train_config *tc, char *err, size_t errlen) {
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
void say_schedule(const train_config *tc, long start, long old) {
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
int open_data(train_config *tc, int vocab, int B, int T, dataset *train, dataset *val, int *have_val,
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
int claim_out_dir(loop *L, const char *src_dir, int branch, char *err, size_t errlen) {
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
int open_run_files(loop *L, const model_config *c, long start, const char *src_dir, int branch,
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
        if (runlog_trim(path, L->log_path, start, 0, err, errlen)) return -1;
        snprintf(path, sizeof path, "%.1023s/telemetry.jsonl", src_dir);
        if (L->tel && runlog_trim(path, L->tlog_path, start, 0, err, errlen)) return -1;
    }
    long cut = tc->resume_from[0] ? start : -1;
    if (runlog_open(&L->log, L->log_path, cut, 0, err, errlen)) return -1;
    if (L->tel) return runlog_open(&L->tlog, L->tlog_path, cut, 0, err, errlen);
    if (!tc->resume_from[0]) unlink(L->tlog_path); /* no stale file from another run */
    return 0;
}
