/* train.c - the training loop. */
#include "train.h"
#include "../ckpt/ckpt.h"
#include "../data/shard.h"
#include "../kernels/kernels.h"
#include "../model/model.h"
#include "../optim/optim.h"
#include "../util/fileio.h"
#include "../util/rng.h"
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
    t->seed = 1337;
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
    if (!strcmp(k, "ckpt_final")) {
        if (strcmp(v, "0") && strcmp(v, "1")) { snprintf(err, n, "%s: expected 0 or 1, got '%s'", k, v); return -1; }
        t->ckpt_final = *v == '1';
        return 0;
    }
    if (!strcmp(k, "threads")) return p_int(k, v, 0, &t->threads, err, n);
    if (!strcmp(k, "keep")) return p_int(k, v, 0, &t->keep, err, n);
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
    cJSON_AddNumberToObject(j, "seed", (double)t->seed);
    cJSON_AddNumberToObject(j, "threads", t->threads);
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

struct trainer {
    model *m;
    train_config tc;
    const optim_rule *rule;
    real *state;
    long step;
};

trainer *trainer_create(model *m, const train_config *tc, char *err, size_t errlen) {
    const optim_rule *rule = optim_find(tc->optim);
    if (!rule) { snprintf(err, errlen, "optim: unknown optimizer '%s'", tc->optim); return NULL; }
    trainer *t = calloc(1, sizeof *t);
    if (t) t->state = calloc((size_t)rule->n_state * model_num_params(m) + 1, sizeof(real));
    if (!t || !t->state) {
        free(t);
        snprintf(err, errlen, "out of memory for the optimizer state");
        return NULL;
    }
    t->m = m;
    t->tc = *tc;
    t->rule = rule;
    return t;
}

void trainer_free(trainer *t) {
    if (!t) return;
    free(t->state);
    free(t);
}

long trainer_steps_done(const trainer *t) { return t->step; }
void trainer_set_steps_done(trainer *t, long step) { t->step = step; }
real *trainer_state(trainer *t) { return t->state; }

int trainer_step(trainer *t, const int32_t *inp, const int32_t *tgt, int T, step_stats *st,
                 char *err, size_t errlen) {
    model *m = t->m;
    const train_config *tc = &t->tc;
    int B = tc->batch_size, nt = model_num_tensors(m);
    size_t np = model_num_params(m), mb = (size_t)B * T;
    real *params = model_params(m), *grads = model_grads(m);
    long step = t->step;

    model_reparam_step(m);
    model_zero_grad(m);
    double ce = 0, z = 0;
    for (int mi = 0; mi < tc->grad_accum; mi++) {
        model_loss L;
        if (model_forward(m, inp + mi * mb, tgt + mi * mb, B, T, &L)) {
            snprintf(err, errlen, "batch shape %dx%d exceeds the planned one", B, T);
            return -1;
        }
        if (!L.rows) { snprintf(err, errlen, "step %ld: a micro-batch has no targets", step + 1); return -1; }
        ce += L.ce / tc->grad_accum;
        z += L.z / tc->grad_accum;
        /* mean over each micro-batch's rows, averaged over the micro-batches */
        model_backward(m, (real)(1.0 / ((double)L.rows * tc->grad_accum)), (real)tc->zloss);
    }
    model_grads_finish(m);
    st->loss = ce;
    st->z_loss = tc->zloss * z;
    if (!isfinite(ce) || !isfinite(z)) {
        snprintf(err, errlen, "step %ld: loss is %g (z_loss %g): training diverged", step + 1, ce, z);
        return -1;
    }
    double ss = 0;
    for (int i = 0; i < nt; i++) {
        const tensor_info *ti = model_tensor(m, i);
        double s = sumsq(grads + ti->offset, ti->numel);
        if (!isfinite(s)) {
            snprintf(err, errlen, "step %ld: non-finite gradient in %s", step + 1, ti->name);
            return -1;
        }
        ss += s;
    }
    st->grad_norm = sqrt(ss);
    if (tc->grad_clip > 0 && st->grad_norm > tc->grad_clip)
        scale_inplace(grads, (real)(tc->grad_clip / st->grad_norm), np);
    st->lr = lr_schedule(step, tc->steps, tc->warmup, tc->lr, tc->min_lr_frac);
    for (int i = 0; i < nt; i++) {
        const tensor_info *ti = model_tensor(m, i);
        if (!ti->trainable) continue;
        real *slabs[8];
        for (int k = 0; k < t->rule->n_state; k++) slabs[k] = t->state + (size_t)k * np + ti->offset;
        /* weight decay on matrices only, never on norm gains or gates */
        optim_step_args a = {st->lr, tc->beta1, tc->beta2, tc->eps,
                             ti->is_matrix ? tc->weight_decay : 0, step + 1};
        t->rule->update(params + ti->offset, grads + ti->offset, slabs, ti->numel, ti, &a);
    }
    t->step++;
    return 0;
}

/* Mean validation cross-entropy over the first val_batches consecutive batches. */
static double evaluate(model *m, const dataset *val, int B, int T, int n_batches, int32_t *inp,
                       int32_t *tgt) {
    double sum = 0;
    long rows = 0;
    for (int i = 0; i < n_batches; i++) {
        if (!dataset_sequential(val, (size_t)i, B, T, inp, tgt)) break;
        model_loss L;
        model_forward(m, inp, tgt, B, T, &L);
        sum += L.ce * L.rows;
        rows += L.rows;
    }
    return rows ? sum / rows : NAN;
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
    qsort(*names, (size_t)n, sizeof **names, newest_first);
    return n;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int train_find_checkpoint(const char *run_dir, char *path, size_t len, char *err, size_t errlen) {
    char **names;
    int n = list_checkpoints(run_dir, &names), rc = -1;
    for (int i = 0; i < n && rc; i++) {
        char why[1400];
        snprintf(path, len, "%s/%s", run_dir, names[i]);
        rc = ckpt_verify(path, why, sizeof why);
        if (rc) fprintf(stderr, "warning: skipping %s\n", why);
    }
    free_names(names, n);
    if (rc) snprintf(err, errlen, "%s: no valid checkpoint (ckpt_*.bin) to resume from", run_dir);
    return rc;
}

/* --keep K: remove all but the newest K checkpoints */
static void prune_checkpoints(const char *dir, int keep) {
    char **names, path[1200];
    int n = list_checkpoints(dir, &names);
    for (int i = keep; keep > 0 && i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    free_names(names, n);
}

/* On resume: keep the log's lines up to the checkpoint's step, so the log
 * reads as one run. */
static int trim_log(const char *path, long step, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    atomic_file out;
    if (atomic_open(&out, path, err, errlen)) { fclose(f); return -1; }
    char line[4096];
    int bad = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        long s;
        if (sscanf(line, "{\"step\":%ld", &s) == 1 && s <= step && strchr(line, '\n'))
            bad = atomic_write(&out, line, strlen(line));
    }
    fclose(f);
    return atomic_commit(&out, bad, err, errlen);
}

/* SIGINT/SIGTERM: finish the step, checkpoint, exit cleanly. */
static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig) { stop_requested = sig; }

int train_run(const model_config *mc, const train_config *tc, train_result *res, char *err,
              size_t errlen) {
    int rc = -1;
    model *m = NULL;
    dataset train = {0}, val = {0};
    int have_val = 0;
    trainer *tr = NULL;
    int32_t *inp = NULL, *tgt = NULL;
    FILE *log = NULL;
    struct sigaction old_int, old_term;
    int handlers = 0;
    char path[1200];

    if (tc->threads) kernels_set_threads(tc->threads);
    const optim_rule *rule = optim_find(tc->optim);
    if (!rule) { snprintf(err, errlen, "optim: unknown optimizer '%s'", tc->optim); return -1; }
    if (!tc->data[0]) { snprintf(err, errlen, "data: no training data given (--data DIR)"); return -1; }
    if (tc->warmup >= tc->steps && tc->warmup > 0)
        fprintf(stderr, "warning: warmup (%ld) >= steps (%ld): the learning rate never peaks\n",
                tc->warmup, tc->steps);
    m = model_create(mc, err, errlen);
    if (!m) return -1;
    const model_config *c = model_cfg(m);
    int B = tc->batch_size, T = tc->seq_len ? tc->seq_len : c->seq_len;
    if (T > c->seq_len) {
        snprintf(err, errlen, "train_seq_len: %d exceeds the model's seq_len %d", T, c->seq_len);
        goto done;
    }
    if (model_alloc(m, B, T, err, errlen)) goto done;
    model_init(m, tc->seed);
    size_t np = model_num_params(m);
    if (dataset_open(&train, tc->data, "train", c->vocab_size, err, errlen)) goto done;
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
            if (!have_val) fprintf(stderr, "warning: %s: val split shorter than one batch; no validation\n", vp);
        } else if (tc->val_data[0]) {
            snprintf(err, errlen, "%s", verr);
            goto done;
        } else if (!tc->quiet) {
            fprintf(stderr, "note: no validation shards (%s); training without validation\n", verr);
        }
    }
    tr = trainer_create(m, tc, err, errlen);
    if (!tr) goto done;
    long start = 0;
    rng_t data_rng;
    rng_seed(&data_rng, tc->seed, 0xda7a);
    if (tc->resume_from[0]) {
        ckpt_extra x;
        if (ckpt_load(tc->resume_from, m, &x, err, errlen)) goto done;
        if (strcmp(x.optim, rule->name) || x.n_state != rule->n_state) {
            snprintf(err, errlen, "%s: optimizer state is %s, but this run uses %s", tc->resume_from,
                     x.optim, rule->name);
            free(x.state);
            goto done;
        }
        if (x.n_state) memcpy(trainer_state(tr), x.state, (size_t)x.n_state * np * sizeof(real));
        free(x.state);
        start = x.step;
        data_rng = x.data_rng;
        trainer_set_steps_done(tr, start);
        if (start >= tc->steps) {
            snprintf(err, errlen, "%s: already at step %ld of %ld (raise --steps to continue)",
                     tc->resume_from, start, tc->steps);
            goto done;
        }
    }
    inp = malloc((size_t)B * T * tc->grad_accum * sizeof *inp);
    tgt = malloc((size_t)B * T * tc->grad_accum * sizeof *tgt);
    if (!inp || !tgt) { snprintf(err, errlen, "out of memory"); goto done; }
    if (make_dir(tc->out_dir, err, errlen)) goto done;

    char cfgj[1024], trj[2048];
    config_to_json(c, cfgj, sizeof cfgj);
    train_to_json(tc, trj, sizeof trj);
    {
        snprintf(path, sizeof path, "%s/config.json", tc->out_dir);
        char all[3200];
        int L = snprintf(all, sizeof all, "{\"model\":%s,\"train\":%s}\n", cfgj, trj);
        atomic_file af;
        if (atomic_open(&af, path, err, errlen) ||
            atomic_commit(&af, atomic_write(&af, all, (size_t)L), err, errlen))
            goto done;
    }
    snprintf(path, sizeof path, "%s/log.jsonl", tc->out_dir);
    if (start && trim_log(path, start, err, errlen)) goto done;
    log = fopen(path, start ? "a" : "w");
    if (!log) { snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno)); goto done; }

    long tokens_per_step = (long)B * T * tc->grad_accum;
    if (!tc->quiet) {
        printf("wesar train: %zu parameters (%s MLP, d=%d, N=%d, H=%d, Hkv=%d, V=%d), "
               "%.1f MiB activations\n",
               np, mlp_name(c->mlp), c->d_model, c->n_layers, c->n_heads, c->n_kv_heads,
               c->vocab_size, model_activation_bytes(m) / 1048576.0);
        printf("data: %zu train tokens in %d shard(s)%s; batch %d x %d x %d = %ld tokens/step; "
               "%ld steps; %s lr %.2e warmup %ld; %d threads\n",
               train.n_tokens, train.n_shards, have_val ? "" : " (no val)", B, T, tc->grad_accum,
               tokens_per_step, tc->steps, rule->name, tc->lr, tc->warmup, kernels_threads());
        fflush(stdout);
    }

    if (start && !tc->quiet) printf("resuming from %s at step %ld\n", tc->resume_from, start);
    stop_requested = 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    handlers = 1;
    double t_start = now_sec(), t_int = t_start, last_val = NAN, loss = NAN;
    long tok_int = 0;
    for (long step = start; step < tc->steps; step++) {
        double t0 = now_sec();
        for (int mi = 0; mi < tc->grad_accum; mi++)
            dataset_sample(&train, &data_rng, B, T, inp + (size_t)mi * B * T, tgt + (size_t)mi * B * T);
        step_stats st;
        if (trainer_step(tr, inp, tgt, T, &st, err, errlen)) goto done;
        double ce = st.loss, lr = st.lr, gnorm = st.grad_norm;
        loss = ce;
        double ms = (now_sec() - t0) * 1e3;
        tok_int += tokens_per_step;
        int stopping = stop_requested != 0, last = step + 1 == tc->steps;
        int do_val = have_val && ((tc->val_every && (step + 1) % tc->val_every == 0) || last);
        if (do_val) last_val = evaluate(m, &val, B, T, tc->val_batches, inp, tgt);
        fprintf(log,
                "{\"step\":%ld,\"loss\":%.6f,\"z_loss\":%.6f,\"lr\":%.6e,\"grad_norm\":%.6f,"
                "\"tokens\":%ld,\"ms\":%.2f",
                step + 1, ce, st.z_loss, lr, gnorm, (step + 1) * tokens_per_step, ms);
        if (do_val) fprintf(log, ",\"val_loss\":%.6f", last_val);
        fprintf(log, "}\n");
        fflush(log);
        if (!tc->quiet && ((step + 1) % tc->log_every == 0 || last || step == 0 || do_val)) {
            double now = now_sec(), el = now - t_int;
            double eta = (now - t_start) / (step + 1 - start) * (tc->steps - step - 1);
            char etas[32], vals[32] = "";
            fmt_duration(etas, sizeof etas, eta);
            if (do_val) snprintf(vals, sizeof vals, " | val %.4f", last_val);
            printf("step %*ld/%ld | loss %.4f%s | lr %.2e | norm %.3f | %.0f tok/s | ETA %s\n",
                   (int)snprintf(NULL, 0, "%ld", tc->steps), step + 1, tc->steps, ce, vals, lr,
                   gnorm, el > 0 ? tok_int / el : 0.0, etas);
            fflush(stdout);
            t_int = now;
            tok_int = 0;
        }
        if ((tc->ckpt_every && (step + 1) % tc->ckpt_every == 0) || (last && tc->ckpt_final) ||
            stopping) {
            ckpt_extra x = {0};
            x.step = step + 1;
            x.data_rng = data_rng;
            snprintf(x.optim, sizeof x.optim, "%s", rule->name);
            x.n_state = rule->n_state;
            x.state = trainer_state(tr);
            snprintf(x.train_json, sizeof x.train_json, "%s", trj);
            snprintf(path, sizeof path, "%s/ckpt_%08ld.bin", tc->out_dir, step + 1);
            if (ckpt_save(path, m, &x, err, errlen)) goto done;
            prune_checkpoints(tc->out_dir, tc->keep);
            if (last && !tc->quiet) printf("checkpoint: %s\n", path);
        }
        if (stopping && !last) {
            fprintf(stderr, "wesar: %s received: stopped after step %ld, checkpoint %s\n"
                            "resume with: wesar train --resume %s\n",
                    stop_requested == SIGINT ? "SIGINT" : "SIGTERM", step + 1, path, tc->out_dir);
            break;
        }
    }
    if (res) {
        res->steps_done = trainer_steps_done(tr);
        res->final_loss = loss;
        res->final_val_loss = last_val;
    }
    rc = 0;
done:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (log) fclose(log);
    free(inp);
    free(tgt);
    trainer_free(tr);
    dataset_close(&train);
    if (val.shards) dataset_close(&val);
    model_free(m);
    return rc;
}
