/* test_overfit.c - a small model must memorise one fixed batch of random
 * tokens (loss < 0.05 nats): the whole step (forward, backward, clipping,
 * AdamW, schedule) has to work for that, for both MLP types. */
#include "model/model.h"
#include "train/train.h"
#include "util/rng.h"
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int run(mlp_type mlp, int n_kv) {
    model_config c = {.vocab_size = 64, .d_model = 64, .n_layers = 2, .n_heads = 4,
                      .n_kv_heads = n_kv, .seq_len = 32, .mlp = mlp, .rope_theta = 10000,
                      .norm_eps = 1e-5};
    train_config tc;
    train_defaults(&tc, NULL);
    tc.batch_size = 4;
    tc.steps = 200;
    tc.warmup = 10;
    tc.lr = 3e-3;
    tc.weight_decay = 0;
    char err[256];
    model *m = model_create(&c, err, sizeof err);
    if (!m || model_alloc(m, tc.batch_size, c.seq_len, err, sizeof err)) { printf("%s\n", err); return 1; }
    model_init(m, 1);
    trainer *tr = trainer_create(m, &tc, err, sizeof err);
    int n = tc.batch_size * c.seq_len;
    int32_t *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt);
    rng_t r;
    rng_seed(&r, 2, 3);
    for (int i = 0; i < n; i++) {
        tok[i] = (int32_t)rng_below(&r, 64);
        tgt[i] = (int32_t)rng_below(&r, 64);
    }
    step_stats st = {0}, first = {0};
    for (long s = 0; s < tc.steps; s++) {
        if (trainer_step(tr, tok, tgt, c.seq_len, &st, err, sizeof err)) { printf("%s\n", err); return 1; }
        if (!s) first = st;
    }
    int ok = st.loss < 0.05;
    printf("%s %s %s: loss %.4f -> %.4f after %ld steps on one batch\n", ok ? "ok  " : "FAIL",
           mlp_name(mlp), n_kv < 4 ? "GQA" : "MHA", first.loss, st.loss, tc.steps);
    trainer_free(tr);
    model_free(m);
    free(tok);
    free(tgt);
    return !ok;
}

/* A NaN in one parameter must stop the step with an error naming it. */
static int nan_detection(void) {
    model_config c = {.vocab_size = 16, .d_model = 16, .n_layers = 2, .n_heads = 2,
                      .seq_len = 8, .mlp = MLP_GELU, .rope_theta = 10000, .norm_eps = 1e-5};
    train_config tc;
    train_defaults(&tc, NULL);
    tc.batch_size = 1;
    char err[256] = "";
    model *m = model_create(&c, err, sizeof err);
    model_alloc(m, 1, 8, err, sizeof err);
    model_init(m, 1);
    trainer *tr = trainer_create(m, &tc, err, sizeof err);
    int32_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tgt[8] = {2, 3, 4, 5, 6, 7, 8, 9};
    step_stats st;
    int ok = !trainer_step(tr, tok, tgt, 8, &st, err, sizeof err);
    /* poison the last layer's W_d: the loss goes NaN first */
    const tensor_info *wd = NULL;
    for (int i = 0; i < model_num_tensors(m); i++)
        if (!strcmp(model_tensor(m, i)->name, "layers.1.mlp.W_d")) wd = model_tensor(m, i);
    model_params(m)[wd->offset + 3] = NAN;
    ok &= trainer_step(tr, tok, tgt, 8, &st, err, sizeof err) == TRAIN_NONFINITE && strstr(err, "step 2") &&
          strstr(err, "loss is nan");
    printf("%s NaN loss reported: %s\n", ok ? "ok  " : "FAIL", err);
    /* The gradient path: a final-norm gain of 1e30 keeps the loss finite
     * (huge logits, lse^2 summed in double) but overflows the gradients that
     * flow back through it; the error must name a parameter tensor. */
    model_init(m, 1);
    const tensor_info *g = NULL;
    for (int i = 0; i < model_num_tensors(m); i++)
        if (!strcmp(model_tensor(m, i)->name, "final_norm.g")) g = model_tensor(m, i);
    model_params(m)[g->offset] = 1e30f;
    int ok2 = trainer_step(tr, tok, tgt, 8, &st, err, sizeof err) == TRAIN_NONFINITE &&
              strstr(err, "step 2: non-finite gradient in embed.W_e");
    printf("%s non-finite gradient reported: %s\n", ok2 ? "ok  " : "FAIL", err);
    trainer_free(tr);
    model_free(m);
    return !(ok && ok2);
}

int main(void) { return run(MLP_GELU, 4) + run(MLP_SWIGLU, 2) + nan_detection() != 0; }
