/* ref_dump.c - runs the C model on a fixed tiny problem and writes what the
 * PyTorch reference (tests/ref/check_model.py) needs to recompute it on its
 * own: initial weights, scales, tokens and hyperparameters (init.bin,
 * meta.json), and the C results to compare (out.bin): logits, losses, every
 * gradient, and every parameter after 3 AdamW steps with clipping,
 * accumulation and the warmup/cosine schedule.
 *
 * With rrc_tokens=N, per-matrix telemetry (telemetry.h) runs on every step
 * and step 3's measures go to out.bin as "tel.NAME" (with the parameters
 * before step 3 as "before3.*") for tests/ref/check_telemetry.py.
 *
 * usage: ref_dump OUTDIR [key=value ...]   (model keys, e.g. mlp=swiglu n_kv_heads=2) */
#include "ckpt/ckpt.h"
#include "model/model.h"
#include "tensorfile.h"
#include "train/telemetry.h"
#include "train/train.h"
#include "util/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef WESAR_FP64
#error "ref_dump compares the fp32 build"
#endif

/* trainable tensors under prefix+name; buffers under "buf."+prefix+name */
static void put_params(tfile *tf, model *m, const char *prefix, const real *buf) {
    for (int i = 0; i < model_num_tensors(m); i++) {
        const tensor_info *t = model_tensor(m, i);
        char name[128];
        if (!t->trainable && !strcmp(prefix, "grad.")) continue;
        snprintf(name, sizeof name, "%s%s%s", t->trainable ? "" : "buf.", prefix, t->name);
        int64_t dims[2] = {t->rows, t->cols};
        if (t->is_matrix) tf_put_f32(tf, name, 2, dims, buf + t->offset);
        else tf_put_f32(tf, name, 1, dims + 1, buf + t->offset);
    }
}

/* all rows' logits of the last forward */
static void put_logits(tfile *tf, const char *name, model *m, int rows, int V) {
    real *l = malloc((size_t)rows * V * sizeof(real));
    model_logits(m, 0, rows, l);
    int64_t ld[2] = {rows, V};
    tf_put_f32(tf, name, 2, ld, l);
    free(l);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: ref_dump OUTDIR [key=value ...]\n"); return 2; }
    const char *dir = argv[1];
    model_config c = {.vocab_size = 50, .d_model = 32, .n_layers = 2, .n_heads = 4,
                      .seq_len = 16, .mlp = MLP_GELU, .rope_theta = 10000, .norm_eps = 1e-5};
    char err[512];
    int power_steps = -1, save_ckpt = 0, rrc_tokens = 0;
    for (int i = 2; i < argc; i++) {
        if (!strncmp(argv[i], "power_steps=", 12)) { power_steps = atoi(argv[i] + 12); continue; }
        if (!strcmp(argv[i], "ckpt=1")) { save_ckpt = 1; continue; }
        if (!strncmp(argv[i], "rrc_tokens=", 11)) { rrc_tokens = atoi(argv[i] + 11); continue; }
        char kv[128];
        snprintf(kv, sizeof kv, "%s", argv[i]);
        char *eq = strchr(kv, '=');
        if (!eq) { fprintf(stderr, "bad argument %s\n", argv[i]); return 2; }
        *eq = 0;
        if (config_set(&c, kv, eq + 1, err, sizeof err)) { fprintf(stderr, "%s: %s\n", kv, err); return 2; }
    }
    train_config tc;
    train_defaults(&tc, NULL);
    tc.batch_size = 2;
    tc.grad_accum = 2;
    tc.steps = 10;        /* schedule length; we take 3 of them */
    tc.warmup = 2;
    tc.lr = 1e-2;
    tc.weight_decay = 0.1;
    tc.zloss = 1e-2;
    tc.grad_clip = 1.0;
    tc.telemetry_every = 3; /* with rrc_tokens=: full telemetry on steps 1 and 3 */
    int B = tc.batch_size, T = 12, A = tc.grad_accum, S = 3;
    model *m = model_create(&c, err, sizeof err);
    if (!m || model_alloc(m, B, T, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    model_init(m, 1234);
    if (power_steps >= 0) { /* sigma-Reparam: the estimate after more power-iteration steps */
        for (int k = 0; k < power_steps; k++) model_reparam_step(m);
        tfile tf;
        char path[1024];
        snprintf(path, sizeof path, "%s/power.bin", dir);
        if (tf_open(&tf, path)) { perror(path); return 1; }
        put_params(&tf, m, "", model_params(m));
        tf_close(&tf);
        model_free(m);
        return 0;
    }
    size_t n = (size_t)S * A * B * T;
    int32_t *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt);
    rng_t r;
    rng_seed(&r, 5, 5);
    for (size_t i = 0; i < n; i++) {
        tok[i] = (int32_t)rng_below(&r, (uint64_t)c.vocab_size);
        tgt[i] = i % 7 == 4 ? -1 : (int32_t)rng_below(&r, (uint64_t)c.vocab_size);
    }
    char path[1024], cj[1024], tj[2048];
    config_finish(&c, err, sizeof err);
    config_to_json(&c, cj, sizeof cj);
    train_to_json(&tc, tj, sizeof tj);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    fprintf(f, "{\"model\":%s,\"train\":%s,\"B\":%d,\"T\":%d,\"steps_run\":%d}\n", cj, tj, B, T, S);
    fclose(f);

    tfile tf;
    snprintf(path, sizeof path, "%s/init.bin", dir);
    if (tf_open(&tf, path)) { perror(path); return 1; }
    put_params(&tf, m, "", model_params(m));
    int64_t nsd[1] = {model_num_tensors(m)};
    tf_put_f32(&tf, "scales", 1, nsd, model_scales(m));
    int64_t td[4] = {S, A, B, T};
    tf_put(&tf, "tokens", 1, 4, td, tok);
    tf_put(&tf, "targets", 1, 4, td, tgt);
    tf_close(&tf);

    snprintf(path, sizeof path, "%s/out.bin", dir);
    if (tf_open(&tf, path)) { perror(path); return 1; }
    /* step 1's gradient, accumulated over its micro-batches, before clipping
     * (the trainer's own first step below repeats it from the same state:
     * the power iteration it runs first is kept out of this one) */
    model_zero_grad(m);
    double ce[2], z[2];
    for (int a = 0; a < A; a++) {
        model_loss L;
        model_forward_backward(m, tok + (size_t)a * B * T, tgt + (size_t)a * B * T, B, T,
                               (real)(1.0 / A), (real)tc.zloss, &L);
        ce[a] = L.ce;
        z[a] = L.z;
        if (a == 0) put_logits(&tf, "logits", m, B * T, c.vocab_size);
    }
    model_grads_finish(m);
    int64_t two[1] = {A};
    tf_put(&tf, "ce", 2, 1, two, ce);
    tf_put(&tf, "z", 2, 1, two, z);
    put_params(&tf, m, "grad.", model_grads(m));
    trainer *tr = trainer_create(m, &tc, err, sizeof err);
    if (!tr) { fprintf(stderr, "%s\n", err); return 1; }
    telemetry *tel = NULL;
    if (rrc_tokens) { /* full measures on step 3 (and 1): telemetry_every 3 */
        tel = telemetry_create(m, rrc_tokens, err, sizeof err);
        if (!tel) { fprintf(stderr, "%s\n", err); return 1; }
        trainer_set_telemetry(tr, tel);
    }
    double losses[3], norms[3];
    for (int s = 0; s < S; s++) {
        if (tel && s == S - 1) put_params(&tf, m, "before3.", model_params(m));
        step_stats st;
        if (trainer_step(tr, tok + (size_t)s * A * B * T, tgt + (size_t)s * A * B * T, T, &st, err,
                         sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        losses[s] = st.loss;
        norms[s] = st.grad_norm;
    }
    int64_t sd[1] = {S};
    tf_put(&tf, "step_loss", 2, 1, sd, losses);
    tf_put(&tf, "step_grad_norm", 2, 1, sd, norms);
    put_params(&tf, m, "after.", model_params(m));
    for (int k = 0; tel && k < telemetry_count(tel); k++) {
        const matrix_stats *ms = telemetry_stats(tel, k);
        double v[8] = {ms->update_ratio, ms->update_ratio_eff, ms->angle, ms->rrc,
                       ms->grad_norm, ms->norm, ms->norm_eff, ms->gate};
        char name[128];
        snprintf(name, sizeof name, "tel.%s", telemetry_name(tel, k));
        int64_t d8[1] = {8};
        tf_put(&tf, name, 2, 1, d8, v);
    }
    telemetry_free(tel);
    if (save_ckpt) { /* the trained (gated) model's logits, and its checkpoint for `wesar export` */
        model_forward(m, tok, NULL, B, T, NULL);
        put_logits(&tf, "logits_after", m, B * T, c.vocab_size);
        ckpt_extra x = {.step = S, .n_state = 0};
        snprintf(x.optim, sizeof x.optim, "adamw");
        snprintf(path, sizeof path, "%s/ckpt.bin", dir);
        if (ckpt_save(path, m, &x, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    }
    tf_close(&tf);
    trainer_free(tr);
    model_free(m);
    free(tok);
    free(tgt);
    return 0;
}
