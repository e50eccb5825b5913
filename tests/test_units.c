/* test_units.c - config, shards, datasets, schedule, init, checkpoints,
 * tokenizer and prepare, each against closed-form or hand-made expectations;
 * the bf16 matrix product against OpenBLAS sgemm on operands rounded here;
 * the attention kernel against the textbook formulas in double. */
#include "check.h"
#include "train/spike.h"
#include "train/telemetry.h"
#include "ckpt/ckpt.h"
#include "kernels/kernels.h"
#include "kernels/gemm_bf16.h"
#include <cblas.h>
#include "data/prepare.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "model/config.h"
#include "model/model.h"
#include "optim/optim.h"
#include "util/fileio.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PI 3.14159265358979323846
static char tmpdir[256];

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_config(void) {
    char err[512];
    model_config c;
    CHECK(!config_preset(&c, "1.3b", err, sizeof err), "%s", err);
    CHECK(!config_finish(&c, err, sizeof err), "%s", err);
    model *m = model_create(&c, err, sizeof err);
    /* the WeSaR paper's 1.3B: 24*(4d^2 + 2*4d^2) + 2*32000*d + (2N+1)*d */
    size_t d = 2048, want = 24 * (12 * d * d) + 2 * 32000 * d + 49 * d;
    CHECK(want == 1339131904ULL, "closed form %zu", want);
    CHECK(m && model_num_params(m) == 1339131904ULL, "1.3b has %zu parameters", m ? model_num_params(m) : 0);
    model_free(m);

    CHECK(!config_preset(&c, "tiny", err, sizeof err), "%s", err);
    CHECK(c.vocab_size == 257 && c.d_model == 256 && c.n_layers == 4 && c.n_heads == 4 && c.seq_len == 256,
          "tiny preset");
    CHECK(config_preset(&c, "huge", err, sizeof err) == -1, "unknown preset accepted");
    CHECK_ERR_HAS(err, "unknown preset 'huge'");

    /* swiglu defaults to 8d/3 rounded up to 64 */
    config_preset(&c, "tiny", err, sizeof err);
    config_set(&c, "mlp", "swiglu", err, sizeof err);
    config_finish(&c, err, sizeof err);
    CHECK(c.ffn_dim == 704, "swiglu ffn_dim %d", c.ffn_dim);

    CHECK(config_set(&c, "d_model", "abc", err, sizeof err) == -1, "bad int accepted");
    CHECK_ERR_HAS(err, "d_model");
    CHECK(config_set(&c, "mlp", "relu", err, sizeof err) == -1, "bad mlp accepted");
    CHECK(config_set(&c, "nope", "1", err, sizeof err) == 1, "unknown key not reported");
    config_preset(&c, "tiny", err, sizeof err);
    c.n_kv_heads = 3;
    CHECK(config_finish(&c, err, sizeof err) == -1, "n_kv_heads 3 of 4 accepted");
    CHECK_ERR_HAS(err, "n_kv_heads");
    config_preset(&c, "tiny", err, sizeof err);
    c.n_heads = 3;
    CHECK(config_finish(&c, err, sizeof err) == -1, "3 heads for d=256 accepted");

    /* files: key=value and JSON */
    char path[300];
    snprintf(path, sizeof path, "%s/m.conf", tmpdir);
    const char *kv = "# comment\nd_model = 64\nn_heads=2\nmlp=swiglu\n";
    write_file(path, kv, strlen(kv));
    config_preset(&c, "tiny", err, sizeof err);
    CHECK(!config_load_file(&c, path, NULL, NULL, err, sizeof err), "%s", err);
    CHECK(c.d_model == 64 && c.n_heads == 2 && c.mlp == MLP_SWIGLU, "key=value file");
    snprintf(path, sizeof path, "%s/m.json", tmpdir);
    const char *js = "{\"d_model\": 128, \"n_layers\": 3, \"mlp\": \"gelu\"}";
    write_file(path, js, strlen(js));
    CHECK(!config_load_file(&c, path, NULL, NULL, err, sizeof err), "%s", err);
    CHECK(c.d_model == 128 && c.n_layers == 3 && c.mlp == MLP_GELU, "JSON file");
    const char *bad = "{\"d_model\": 128, \"colour\": 3}";
    write_file(path, bad, strlen(bad));
    CHECK(config_load_file(&c, path, NULL, NULL, err, sizeof err) == -1, "unknown JSON key accepted");
    CHECK_ERR_HAS(err, "colour");
    CHECK_ERR_HAS(err, "m.json");
    write_file(path, "{\"d_model\": ", 12);
    CHECK(config_load_file(&c, path, NULL, NULL, err, sizeof err) == -1, "truncated JSON accepted");
    CHECK_ERR_HAS(err, "invalid JSON");
}

static void test_shards(void) {
    char err[512], path[300];
    uint32_t tok[1000];
    for (int i = 0; i < 1000; i++) tok[i] = (uint32_t)(i * 37 % 257);
    snprintf(path, sizeof path, "%s/a_train.bin", tmpdir);
    CHECK(!shard_write(path, tok, 1000, 256, err, sizeof err), "%s", err);
    shard s;
    CHECK(!shard_open(&s, path, 257, err, sizeof err), "%s", err);
    CHECK(s.version == 1 && s.n_tokens == 1000, "v%d n=%zu", s.version, s.n_tokens);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= shard_token(&s, i) == tok[i];
    CHECK(same, "uint16 round trip");
    shard_close(&s);
    /* a vocabulary that does not match the data */
    CHECK(shard_open(&s, path, 100, err, sizeof err) == -1, "token >= vocab accepted");
    CHECK_ERR_HAS(err, "a_train.bin");
    CHECK_ERR_HAS(err, "vocab_size 100");

    /* version 2: uint32 tokens */
    uint32_t big[5] = {70000, 1, 65536, 99999, 0};
    snprintf(path, sizeof path, "%s/b.bin", tmpdir);
    CHECK(!shard_write(path, big, 5, 99999, err, sizeof err), "%s", err);
    CHECK(!shard_open(&s, path, 100000, err, sizeof err), "%s", err);
    CHECK(s.version == 2 && shard_token(&s, 0) == 70000 && shard_token(&s, 3) == 99999, "uint32 shard");
    shard_close(&s);

    /* hand-built headers: wrong magic, wrong version, truncated body */
    int32_t h[256 + 4] = {0};
    h[0] = 20240520; h[1] = 1; h[2] = 8;
    snprintf(path, sizeof path, "%s/c.bin", tmpdir);
    write_file(path, h, 256 * 4 + 8 * 2);
    CHECK(!shard_open(&s, path, 0, err, sizeof err), "%s", err);
    shard_close(&s);
    write_file(path, h, 256 * 4 + 7 * 2);
    CHECK(shard_open(&s, path, 0, err, sizeof err) == -1, "truncated shard accepted");
    CHECK_ERR_HAS(err, "c.bin");
    CHECK_ERR_HAS(err, "need");
    h[0] = 12345;
    write_file(path, h, 256 * 4 + 8 * 2);
    CHECK(shard_open(&s, path, 0, err, sizeof err) == -1, "bad magic accepted");
    CHECK_ERR_HAS(err, "magic");
    h[0] = 20240520; h[1] = 3;
    write_file(path, h, 256 * 4 + 8 * 2);
    CHECK(shard_open(&s, path, 0, err, sizeof err) == -1, "version 3 accepted");
    CHECK_ERR_HAS(err, "version is 3");
    write_file(path, h, 10);
    CHECK(shard_open(&s, path, 0, err, sizeof err) == -1, "10-byte file accepted");
    CHECK_ERR_HAS(err, "truncated header");
}

static void test_dataset(void) {
    char err[512], dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/ds", tmpdir);
    CHECK(!make_dir(dir, err, sizeof err), "%s", err);
    uint32_t tok[300];
    for (int i = 0; i < 300; i++) tok[i] = (uint32_t)i;
    snprintf(path, sizeof path, "%s/x_train_000.bin", dir);
    shard_write(path, tok, 300, 299, err, sizeof err);
    snprintf(path, sizeof path, "%s/x_train_001.bin", dir);
    shard_write(path, tok + 100, 100, 299, err, sizeof err);
    snprintf(path, sizeof path, "%s/x_val_000.bin", dir);
    shard_write(path, tok, 50, 299, err, sizeof err);
    dataset d;
    CHECK(!dataset_open(&d, dir, "train", 300, err, sizeof err), "%s", err);
    CHECK(d.n_shards == 2 && d.n_tokens == 400, "%d shards %zu tokens", d.n_shards, d.n_tokens);
    int32_t a[4 * 16], b[4 * 16], ta[4 * 16], tb[4 * 16];
    rng_t r1, r2;
    rng_seed(&r1, 42, 0);
    rng_seed(&r2, 42, 0);
    dataset_sample(&d, &r1, 4, 16, a, ta);
    dataset_sample(&d, &r2, 4, 16, b, tb);
    CHECK(!memcmp(a, b, sizeof a) && !memcmp(ta, tb, sizeof ta), "same seed, same batch");
    int shifted = 1;
    for (int i = 0; i < 4 * 16; i++) shifted &= ta[i] == a[i] + 1; /* tokens are consecutive ids */
    CHECK(shifted, "targets are the next tokens");
    /* sequential: the 100-token second shard gives 6 windows of 16 (+1) */
    CHECK(dataset_num_sequential(&d, 1, 16) == 18 + 6, "%zu windows", dataset_num_sequential(&d, 1, 16));
    CHECK(dataset_sequential(&d, 1, 2, 16, a, ta) && a[0] == 32 && ta[15] == 48 && a[16] == 48, "second batch");
    CHECK(!dataset_sequential(&d, 12, 2, 16, a, ta), "batch past the end");
    dataset_close(&d);
    dataset v;
    CHECK(!dataset_open(&v, dir, "val", 300, err, sizeof err) && v.n_tokens == 50, "val split");
    dataset_close(&v);
    CHECK(dataset_open(&v, dir, "test", 300, err, sizeof err) == -1, "missing split accepted");
    CHECK_ERR_HAS(err, "no test shards");
    CHECK(dataset_open(&v, "/nonexistent/x_*.bin", "train", 300, err, sizeof err) == -1, "no files");
}

static void test_schedule(void) {
    /* warmup 10 to 1e-3, cosine to 1e-4 at step 109 */
    CHECK(fabs(lr_schedule(0, 110, 10, 1e-3, 0.1) - 1e-4) < 1e-15, "first warmup step");
    CHECK(fabs(lr_schedule(9, 110, 10, 1e-3, 0.1) - 1e-3) < 1e-15, "warmup end");
    CHECK(fabs(lr_schedule(10, 110, 10, 1e-3, 0.1) - 1e-3) < 1e-15, "decay start");
    double mid = 1e-4 + 0.5 * (1 + cos(PI * 49 / 99)) * 9e-4;
    CHECK(fabs(lr_schedule(59, 110, 10, 1e-3, 0.1) - mid) < 1e-15, "mid decay");
    CHECK(fabs(lr_schedule(109, 110, 10, 1e-3, 0.1) - 1e-4) < 1e-15, "last step at min");
    CHECK(fabs(lr_schedule(5, 100, 0, 2e-3, 0.1) - (2e-4 + 0.5 * (1 + cos(PI * 5 / 99)) * 1.8e-3)) < 1e-15,
          "no warmup");
}

static void test_init(void) {
    /* He init (Table 1): sample std of each matrix type, and embedding output std 1 */
    char err[256];
    model_config c = {.vocab_size = 512, .d_model = 128, .n_layers = 3, .n_heads = 4,
                      .seq_len = 16, .mlp = MLP_GELU, .rope_theta = 10000, .norm_eps = 1e-5};
    model *m = model_create(&c, err, sizeof err);
    CHECK(m && !model_alloc(m, 0, 16, err, sizeof err), "%s", err);
    model_init(m, 3);
    double d = 128, N = 3;
    for (int i = 0; i < model_num_tensors(m); i++) {
        const tensor_info *t = model_tensor(m, i);
        const real *p = model_params(m) + t->offset;
        double s = 0, s2 = 0;
        for (size_t j = 0; j < t->numel; j++) { s += p[j]; s2 += (double)p[j] * p[j]; }
        double mean = s / t->numel, sd = sqrt(s2 / t->numel - mean * mean);
        if (!t->is_matrix) {
            CHECK(mean == 1 && sd == 0, "%s: gains start at 1", t->name);
            continue;
        }
        double want = t->kind == K_WO ? sqrt(1 / (2 * N * d))
                      : t->kind == K_WD ? sqrt(2 / (8 * N * d)) : sqrt(1 / d);
        /* the sample std of n normals has relative std 1/sqrt(2n) */
        double tol = 5 / sqrt(2.0 * t->numel);
        CHECK(fabs(sd / want - 1) < tol, "%s std %.5f want %.5f", t->name, sd, want);
        CHECK(fabs(mean) < 5 * want / sqrt((double)t->numel), "%s mean %.2e", t->name, mean);
    }
    CHECK(fabs(model_scales(m)[0] - sqrt(d)) < 1e-4, "embedding scale %f", (double)model_scales(m)[0]);
    model_free(m);
}

static void test_ckpt(void) {
    char err[512], path[300];
    model_config c = {.vocab_size = 40, .d_model = 16, .n_layers = 2, .n_heads = 2,
                      .seq_len = 8, .mlp = MLP_SWIGLU, .rope_theta = 10000, .norm_eps = 1e-5};
    model *m = model_create(&c, err, sizeof err);
    model_alloc(m, 0, 8, err, sizeof err);
    model_init(m, 11);
    size_t np = model_num_params(m);
    real *state = malloc(2 * np * sizeof(real));
    for (size_t i = 0; i < 2 * np; i++) state[i] = (real)i * 0.5f;
    ckpt_extra x = {.step = 77, .n_state = 2, .state = state};
    rng_seed(&x.data_rng, 5, 6);
    snprintf(x.optim, sizeof x.optim, "adamw");
    snprintf(path, sizeof path, "%s/ck.bin", tmpdir);
    CHECK(!ckpt_save(path, m, &x, err, sizeof err), "%s", err);
    model_config c2;
    CHECK(!ckpt_read_config(path, &c2, NULL, 0, err, sizeof err), "%s", err);
    CHECK(c2.mlp == MLP_SWIGLU && c2.d_model == 16 && c2.ffn_dim == model_cfg(m)->ffn_dim, "config round trip");
    model *m2 = model_create(&c2, err, sizeof err);
    model_alloc(m2, 0, 8, err, sizeof err);
    ckpt_extra y;
    CHECK(!ckpt_load(path, m2, &y, err, sizeof err), "%s", err);
    CHECK(!memcmp(model_params(m), model_params(m2), np * sizeof(real)), "params round trip");
    CHECK(y.step == 77 && y.n_state == 2 && !memcmp(y.state, state, 2 * np * sizeof(real)) &&
          !memcmp(&y.data_rng, &x.data_rng, sizeof x.data_rng) && !strcmp(y.optim, "adamw"),
          "optimizer state, step and rng round trip");
    ckpt_extra_free(&y);
    /* one flipped bit, a truncation, a wrong model */
    FILE *f = fopen(path, "r+b");
    fseek(f, -100, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(ch ^ 0x10, f);
    fclose(f);
    CHECK(ckpt_load(path, m2, &y, err, sizeof err) == -1, "bit flip accepted");
    CHECK_ERR_HAS(err, "checksum");
    CHECK(!ckpt_save(path, m, &x, err, sizeof err), "%s", err);
    CHECK(truncate(path, 500) == 0, "truncate");
    CHECK(ckpt_load(path, m2, &y, err, sizeof err) == -1, "truncated checkpoint accepted");
    CHECK_ERR_HAS(err, "ck.bin");
    CHECK(!ckpt_save(path, m, &x, err, sizeof err), "%s", err);
    c2.d_model = 32;
    model *m3 = model_create(&c2, err, sizeof err);
    model_alloc(m3, 0, 8, err, sizeof err);
    CHECK(ckpt_load(path, m3, &y, err, sizeof err) == -1, "wrong-shape model accepted");
    CHECK_ERR_HAS(err, "model differs from the one it is loaded into: d_model 16 -> 32"); /* names the key */
    write_file(path, "WESARCKQ", 8);
    CHECK(ckpt_load(path, m2, &y, err, sizeof err) == -1, "bad magic accepted");
    CHECK_ERR_HAS(err, "not a wesar checkpoint");
    model_free(m);
    model_free(m2);
    model_free(m3);
    free(state);
}

static void test_prepare(void) {
    char err[512], in[300], out[300], path[400];
    snprintf(in, sizeof in, "%s/text.txt", tmpdir);
    const char *text = "hello world\nsecond line \xe2\x9c\x93 end";
    write_file(in, text, strlen(text));
    snprintf(out, sizeof out, "%s/prep", tmpdir);
    prepare_opts o = {"bytes", NULL, 0.25, 1 << 20, 1, NULL};
    const char *ins[1] = {in};
    CHECK(!prepare_text(ins, 1, out, &o, err, sizeof err), "%s", err);
    shard tr, va;
    snprintf(path, sizeof path, "%s/train_000000.bin", out);
    CHECK(!shard_open(&tr, path, 257, err, sizeof err), "%s", err);
    snprintf(path, sizeof path, "%s/val_000000.bin", out);
    CHECK(!shard_open(&va, path, 257, err, sizeof err), "%s", err);
    size_t n = strlen(text) + 1, nv = (size_t)(n * 0.25);
    CHECK(tr.n_tokens == n - nv && va.n_tokens == nv, "split %zu/%zu", tr.n_tokens, va.n_tokens);
    /* end-of-text, then the bytes; decoding gives the text back */
    tokenizer *tk = tokenizer_open("bytes", NULL, err, sizeof err);
    char back[256];
    size_t k = 0;
    CHECK(shard_token(&tr, 0) == 256, "starts with end-of-text");
    for (size_t i = 1; i < tr.n_tokens; i++) k += tk->decode(tk, shard_token(&tr, i), back + k, 4);
    for (size_t i = 0; i < va.n_tokens; i++) k += tk->decode(tk, shard_token(&va, i), back + k, 4);
    CHECK(k == strlen(text) && !memcmp(back, text, k), "byte round trip");
    shard_close(&tr);
    shard_close(&va);
    tokenizer_free(tk);
    CHECK(tokenizer_open("sentencepiece", NULL, err, sizeof err) == NULL, "sentencepiece without its model");
    CHECK_ERR_HAS(err, "needs --tokenizer-path");
    CHECK(tokenizer_open("gpt2", NULL, err, sizeof err) == NULL, "gpt2 without its files");
    CHECK_ERR_HAS(err, "needs --tokenizer-path");
    snprintf(in, sizeof in, "%s/missing.txt", tmpdir);
    CHECK(prepare_text(ins, 1, out, &o, err, sizeof err) == -1, "missing input accepted");
    CHECK_ERR_HAS(err, "missing.txt");
}

/* The spike detector: a steadily falling loss with 0.01 of noise.  Its trend
 * predicts about 2.0 for the next step with a residual std of about 0.01, so
 * 2.05 is noise and 2.1 a spike at k = 6; a plain mean + k std rule over the
 * same window (mean 2.95, std 0.59) would miss both. */
static void test_spike(void) {
    spike_detector d;
    spike_init(&d, 20, 6);
    int flagged = 0;
    for (int i = 0; i < 30; i++) flagged += spike_observe(&d, 5 - 0.1 * i + 0.01 * (i % 2 ? 1 : -1));
    CHECK(flagged == 0, "a smooth descent flagged %d times", flagged);
    spike_detector copy = d;
    CHECK(!spike_observe(&d, 2.05), "2.05 flagged (trend %g, std %g)", d.mean, d.std);
    CHECK(fabs(d.mean - 2.0) < 0.02 && fabs(d.std - 0.0105) < 0.002, "trend %g std %g", d.mean, d.std);
    d = copy;
    CHECK(spike_observe(&d, 2.1), "2.1 not flagged (trend %g, std %g)", d.mean, d.std);
    CHECK(spike_observe(&d, NAN) && d.events == 1 && d.run == 2, "NaN: events %ld run %d", d.events, d.run);
    /* state round-trips exactly through JSON */
    char a[8192], b[8192];
    spike_to_json(&d, a, sizeof a);
    spike_detector e;
    CHECK(!spike_from_json(&e, a), "from_json rejected its own state");
    spike_to_json(&e, b, sizeof b);
    CHECK(!strcmp(a, b) && !memcmp(e.hist, d.hist, sizeof d.hist), "round trip differs");
    CHECK(spike_from_json(&e, "{\"window\":20,\"k\":6,\"n\":2,\"head\":5,\"run\":0,\"events\":0,\"hist\":[1,2]}"),
          "inconsistent state accepted");
    /* `window` spikes in a row become the new level */
    spike_init(&d, 20, 6);
    for (int i = 0; i < 25; i++) spike_observe(&d, 2 + 0.01 * (i % 3));
    int in_row = 0;
    while (spike_observe(&d, 8.0) && in_row < 100) in_row++;
    CHECK(in_row == 20, "new level after %d spikes, expected 20", in_row);
}

/* Closed-form steps: W <- (1+e) W gives update ratio e and angle 0; rows
 * turned by theta in a plane give angle theta, down to 1e-7 rad where
 * acos(fp32 dot) would read 0; a 5x larger step in one matrix is the one
 * telemetry_jumped names, with factor 5. */
static void test_telemetry(void) {
    char err[256];
    model_config c = {.vocab_size = 11, .d_model = 8, .n_layers = 1, .n_heads = 2, .seq_len = 4,
                      .mlp = MLP_GELU, .rope_theta = 10000, .norm_eps = 1e-5};
    model *m = model_create(&c, err, sizeof err);
    CHECK(m && !model_alloc(m, 1, 4, err, sizeof err), "%s", err);
    model_init(m, 3);
    telemetry *tel = telemetry_create(m, 4, err, sizeof err);
    CHECK(tel != NULL, "%s", err);
    if (!tel) return;
    real *p = model_params(m);
    double *gsq = calloc((size_t)model_num_tensors(m), sizeof *gsq);
    int nm = telemetry_count(tel), target = 3;
    double lr = 0.5;
    for (int step = 0; step < 12; step++) {
        telemetry_before(tel, gsq);
        for (int k = 0; k < nm; k++) {
            const tensor_info *t = NULL;
            for (int i = 0; i < model_num_tensors(m); i++)
                if (!strcmp(model_tensor(m, i)->name, telemetry_name(tel, k))) t = model_tensor(m, i);
            double e = 1e-3 * lr * (step == 11 && k == target ? 5 : 1);
            for (size_t j = 0; j < t->numel; j++) p[t->offset + j] = (real)(p[t->offset + j] * (1 + e));
        }
        telemetry_after(tel, lr, 0);
    }
    const matrix_stats *s = telemetry_stats(tel, 0);
    /* fp32 rounding of the scaled weights: ~6e-8 relative per element */
    CHECK(fabs(s->update_ratio - 5e-4) < 5e-4 * 1e-4 && fabs(s->angle) < 1e-7,
          "uniform scaling: ratio %g (want 5e-4), angle %g (want 0)", s->update_ratio, s->angle);
    int which[3];
    double f[3];
    int nj = telemetry_jumped(tel, 2.0, 3, which, f);
    CHECK(nj == 1 && which[0] == target && fabs(f[0] - 5) < 1e-3,
          "jumped: %d matrices, first %s x%g (want %s x5)", nj, nj ? telemetry_name(tel, which[0]) : "-",
          nj ? f[0] : 0, telemetry_name(tel, target));
    /* state round trip through JSON */
    char *js = malloc(telemetry_state_len(tel));
    CHECK(!telemetry_state_to_json(tel, js, telemetry_state_len(tel)), "state json");
    cJSON *item = cJSON_Parse(js);
    telemetry_reset(tel);
    CHECK(telemetry_jumped(tel, 2.0, 3, which, f) == 0, "reset keeps history");
    telemetry_state_from_json(tel, item);
    CHECK(telemetry_jumped(tel, 2.0, 3, which, f) == 1 && which[0] == target, "state round trip");
    cJSON_Delete(item);
    free(js);
    /* rotations: every row of matrix 0 becomes (cos phi, sin phi, 0...) and
     * then turns by theta */
    const tensor_info *t0 = NULL;
    for (int i = 0; i < model_num_tensors(m); i++)
        if (!strcmp(model_tensor(m, i)->name, telemetry_name(tel, 0))) t0 = model_tensor(m, i);
    for (int r = 0; r < 2; r++) {
        double theta = r ? 1e-7 : 0.3;
        for (int row = 0; row < t0->rows; row++) {
            real *w = p + t0->offset + (size_t)row * t0->cols;
            memset(w, 0, (size_t)t0->cols * sizeof *w);
            w[0] = 1;
        }
        telemetry_before(tel, gsq);
        for (int row = 0; row < t0->rows; row++) {
            real *w = p + t0->offset + (size_t)row * t0->cols;
            w[0] = (real)cos(theta);
            w[1] = (real)sin(theta);
        }
        telemetry_after(tel, lr, 0);
        double got = telemetry_stats(tel, 0)->angle;
        CHECK(fabs(got - theta) < 1e-6 * theta + 1e-12, "angle %g, want %g", got, theta);
    }
    free(gsq);
    telemetry_free(tel);
    model_free(m);
}

/* fp32 -> bf16 -> fp32, round to nearest even, written out bit by bit */
static float round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t low = u & 0xffff, keep = u >> 16;
    if (low > 0x8000 || (low == 0x8000 && (keep & 1))) keep++;
    u = keep << 16;
    memcpy(&x, &u, 4);
    return x;
}

/* matmul_fwd/matmul_bwd in bf16 == sgemm of the rounded operands (up to fp32
 * summation order), for each of the three transposition patterns, with
 * edges that are not multiples of the kernel's 16 x 16 tiles and K blocks. */
static void test_bf16(void) {
    if (kernels_set_precision(PRECISION_BF16)) {
        printf("  (bf16: no AVX-512 BF16 on this CPU; --precision bf16 is refused, as checked here)\n");
        CHECK(kernels_precision() == PRECISION_FP32, "precision changed after a refusal");
        return;
    }
    printf("  (bf16 products: %s)\n", kernels_gemm_name(PRECISION_BF16));
    kernels_weights_changed(); /* no kept copy from an earlier test's matrices */
    int shapes[][3] = {{37, 29, 45}, {300, 513, 70}, {17, 260, 33}};
    for (int s = 0; s < 3; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
        float *g = malloc(sizeof(float) * M * N), *xr = malloc(sizeof(float) * M * K);
        float *wr = malloc(sizeof(float) * N * K), *gr = malloc(sizeof(float) * M * N);
        float *out = malloc(sizeof(float) * M * N), *ref = malloc(sizeof(float) * M * N);
        float *dx = malloc(sizeof(float) * M * K), *dxr = malloc(sizeof(float) * M * K);
        float *dw = malloc(sizeof(float) * N * K), *dwr = malloc(sizeof(float) * N * K);
        uint64_t st = 99 + s;
        for (int i = 0; i < M * K; i++) { st = st * 6364136223846793005ull + 1; x[i] = (float)((st >> 40) / 16777216.0 - 0.5); xr[i] = round_bf16(x[i]); dx[i] = dxr[i] = 0.25f; }
        for (int i = 0; i < N * K; i++) { st = st * 6364136223846793005ull + 1; w[i] = (float)((st >> 40) / 16777216.0 - 0.5); wr[i] = round_bf16(w[i]); dw[i] = dwr[i] = 0.5f; }
        for (int i = 0; i < M * N; i++) { st = st * 6364136223846793005ull + 1; g[i] = (float)((st >> 40) / 16777216.0 - 0.5); gr[i] = round_bf16(g[i]); }
        double e_fwd = 0, e_dx = 0, e_dw = 0, e_fp32 = 0, e_own = 0;
        /* wesar's own kernel, the fallback where oneDNN is not built in, on its own */
        gemm_bf16(0, 1, M, N, K, 0.75f, x, K, w, K, 0, out, N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 0.75f, xr, K, wr, K, 0, ref, N);
        for (int i = 0; i < M * N; i++) e_own = fmax(e_own, fabs(out[i] - ref[i]));
        CHECK(e_own < 2e-5, "bf16 %dx%dx%d: the own kernel is %.2e from sgemm of rounded operands", M, K, N, e_own);
        matmul_fwd(out, x, w, 0.75f, M, K, N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 0.75f, xr, K, wr, K, 0, ref, N);
        for (int i = 0; i < M * N; i++) e_fwd = fmax(e_fwd, fabs(out[i] - ref[i]));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 0.75f, x, K, w, K, 0, ref, N);
        for (int i = 0; i < M * N; i++) e_fp32 = fmax(e_fp32, fabs(out[i] - ref[i]));
        matmul_bwd(dx, dw, g, x, w, 0.75f, M, K, N, 1); /* dx += ..., dw += ... */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 0.75f, gr, N, wr, K, 1, dxr, K);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1, gr, N, xr, K, 1, dwr, K);
        for (int i = 0; i < M * K; i++) e_dx = fmax(e_dx, fabs(dx[i] - dxr[i]));
        for (int i = 0; i < N * K; i++) e_dw = fmax(e_dw, fabs(dw[i] - dwr[i]));
        CHECK(e_fwd < 2e-5 && e_dx < 2e-5 && e_dw < 2e-5,
              "bf16 %dx%dx%d: max abs diff fwd %.2e dinp %.2e dW %.2e from sgemm of rounded operands", M, K, N,
              e_fwd, e_dx, e_dw);
        CHECK(e_fp32 > 1e-4, "bf16 %dx%dx%d: equals fp32 to %.2e: operands not rounded", M, K, N, e_fp32);
        /* W changed in place: after kernels_weights_changed the product uses the new W, not a kept copy */
        for (int i = 0; i < N * K; i++) w[i] = -2 * w[i], wr[i] = round_bf16(w[i]);
        kernels_weights_changed();
        matmul_fwd(out, x, w, 0.75f, M, K, N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 0.75f, xr, K, wr, K, 0, ref, N);
        double e_new = 0;
        for (int i = 0; i < M * N; i++) e_new = fmax(e_new, fabs(out[i] - ref[i]));
        CHECK(e_new < 4e-5, "bf16 %dx%dx%d: %.2e from the changed W's product: a stale copy of W", M, K, N, e_new);
        free(x); free(w); free(g); free(xr); free(wr); free(gr); free(out); free(ref);
        free(dx); free(dxr); free(dw); free(dwr);
    }
    kernels_set_precision(PRECISION_FP32);
}

/* The attention kernel in the build's own precision (float in release and
 * asan: attention.c's 16-wide vectors, padding and tails) against the
 * textbook formulas in double: softmax(q k^T / sqrt(hd)) v, causal, and its
 * gradients for a loss sum(R o out). */
static void att_textbook(double *out, double *dq, double *dk, double *dv, const real *q, const real *k,
                         const real *v, const real *R, int B, int T, int H, int Hkv, int hd) {
    int qs = H * hd, kvs = Hkv * hd;
    double *p = malloc(sizeof(double) * T), *dp = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                int kh = h / (H / Hkv);
                size_t qo = ((size_t)b * T + t) * qs + h * hd;
                double mx = -1e300, sum = 0, D = 0;
                for (int j = 0; j <= t; j++) {
                    const real *kj = k + ((size_t)b * T + j) * kvs + kh * hd;
                    p[j] = 0;
                    for (int e = 0; e < hd; e++) p[j] += (double)q[qo + e] * kj[e] / sqrt(hd);
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= t; j++) sum += exp(p[j] - mx);
                for (int j = 0; j <= t; j++) p[j] = exp(p[j] - mx) / sum;
                for (int e = 0; e < hd; e++) {
                    out[qo + e] = 0;
                    for (int j = 0; j <= t; j++) out[qo + e] += p[j] * v[((size_t)b * T + j) * kvs + kh * hd + e];
                }
                for (int j = 0; j <= t; j++) { /* dP = R v^T; dS = P o (dP - sum P o dP) */
                    const real *vj = v + ((size_t)b * T + j) * kvs + kh * hd;
                    dp[j] = 0;
                    for (int e = 0; e < hd; e++) dp[j] += (double)R[qo + e] * vj[e];
                    D += p[j] * dp[j];
                }
                for (int j = 0; j <= t; j++) {
                    size_t ko = ((size_t)b * T + j) * kvs + kh * hd;
                    double ds = p[j] * (dp[j] - D) / sqrt(hd);
                    for (int e = 0; e < hd; e++) {
                        dq[qo + e] += ds * k[ko + e];
                        dk[ko + e] += ds * q[qo + e];
                        dv[ko + e] += p[j] * R[qo + e];
                    }
                }
            }
    free(p);
    free(dp);
}

static void test_attention(void) {
    int shapes[][3] = {{200, 32, 2}, {70, 64, 4}, {77, 40, 2}, {9, 8, 4}}; /* T, hd, Hkv (H = 4) */
    for (int s = 0; s < 4; s++) {
        int B = 2, H = 4, T = shapes[s][0], hd = shapes[s][1], Hkv = shapes[s][2];
        size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * Hkv * hd;
        real *q = malloc(sizeof(real) * nq), *k = malloc(sizeof(real) * nk), *v = malloc(sizeof(real) * nk);
        real *R = malloc(sizeof(real) * nq), *out = malloc(sizeof(real) * nq), *dq = malloc(sizeof(real) * nq);
        real *dk = malloc(sizeof(real) * nk), *dv = malloc(sizeof(real) * nk);
        real *lse = malloc(sizeof(real) * B * H * T);
        real *scratch = malloc(sizeof(real) * attention_scratch_len(T) * kernels_threads());
        double *o_ref = calloc(nq, sizeof(double)), *dq_ref = calloc(nq, sizeof(double));
        double *dk_ref = calloc(nk, sizeof(double)), *dv_ref = calloc(nk, sizeof(double));
        uint64_t st = 7 + s;
#define NEXT() (st = st * 6364136223846793005ull + 1, (real)((st >> 40) / 16777216.0 * 4 - 2))
        for (size_t i = 0; i < nq; i++) { q[i] = NEXT(); R[i] = NEXT(); }
        for (size_t i = 0; i < nk; i++) { k[i] = NEXT(); v[i] = NEXT(); }
#undef NEXT
        attention_fwd(out, lse, scratch, q, k, v, B, T, H, Hkv, hd);
        attention_bwd(dq, dk, dv, scratch, R, out, lse, q, k, v, B, T, H, Hkv, hd);
        att_textbook(o_ref, dq_ref, dk_ref, dv_ref, q, k, v, R, B, T, H, Hkv, hd);
        double e[4] = {0}, m[4] = {0};
        for (size_t i = 0; i < nq; i++) {
            e[0] = fmax(e[0], fabs(out[i] - o_ref[i])), m[0] = fmax(m[0], fabs(o_ref[i]));
            e[1] = fmax(e[1], fabs(dq[i] - dq_ref[i])), m[1] = fmax(m[1], fabs(dq_ref[i]));
        }
        for (size_t i = 0; i < nk; i++) {
            e[2] = fmax(e[2], fabs(dk[i] - dk_ref[i])), m[2] = fmax(m[2], fabs(dk_ref[i]));
            e[3] = fmax(e[3], fabs(dv[i] - dv_ref[i])), m[3] = fmax(m[3], fabs(dv_ref[i]));
        }
        for (int w = 0; w < 4; w++)
            CHECK(e[w] < 2e-5 * (1 + m[w]), "attention T=%d hd=%d Hkv=%d: %s is %.2e from the textbook's (largest %.2f)",
                  T, hd, Hkv, (const char *[]){"out", "dq", "dk", "dv"}[w], e[w], m[w]);
        free(q); free(k); free(v); free(R); free(out); free(dq); free(dk); free(dv); free(lse); free(scratch);
        free(o_ref); free(dq_ref); free(dk_ref); free(dv_ref);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/wesar_units_%d", (int)getpid());
    char err[256];
    if (make_dir(tmpdir, err, sizeof err)) { printf("%s\n", err); return 1; }
    test_config();
    test_shards();
    test_dataset();
    test_schedule();
    test_init();
    test_ckpt();
    test_prepare();
    test_spike();
    test_telemetry();
    test_bf16();
    test_attention();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    printf("%s: %d checks, %d failed\n", check_failures ? "FAIL" : "ok", check_count, check_failures);
    return check_failures != 0;
}
