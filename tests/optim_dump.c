/* optim_dump.c - runs one optimizer rule for a few steps on three tensors
 * (a 6x10 matrix with weight decay, a 1-D gain, a gate) with fixed random
 * gradients, and writes the start, the gradients and the result for
 * tests/ref/check_optim.py to redo from the spec on its own.
 * usage: optim_dump RULE NESTEROV IBC RRC OUT */
#include "optim/optim.h"
#include "tensorfile.h"
#include "util/rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 6
enum { ROWS = 6, COLS = 10, N = ROWS * COLS + COLS + 1 };

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: optim_dump RULE NESTEROV IBC RRC OUT\n"); return 2; }
    const optim_rule *rule = optim_find(argv[1]);
    if (!rule) { fprintf(stderr, "unknown rule %s\n", argv[1]); return 2; }
    tensor_info ti[3] = {
        {.name = "W", .kind = K_WQ, .rows = ROWS, .cols = COLS, .is_matrix = 1, .trainable = 1,
         .offset = 0, .numel = ROWS * COLS},
        {.name = "gain", .kind = K_ATTN_NORM, .rows = 1, .cols = COLS, .trainable = 1,
         .offset = ROWS * COLS, .numel = COLS},
        {.name = "gate", .kind = K_GATE, .rows = 1, .cols = 1, .trainable = 1,
         .offset = ROWS * COLS + COLS, .numel = 1}};
    real p[N], g[STEPS][N], *state = calloc((size_t)rule->n_state * N, sizeof(real));
    rng_t r;
    rng_seed(&r, 42, 7);
    for (int i = 0; i < N; i++) p[i] = (real)(i < ROWS * COLS ? 0.5 * rng_normal(&r) : 1 + 0.1 * rng_normal(&r));
    /* a shared direction plus noise: consecutive gradients agree, as early in training */
    real common[N];
    for (int i = 0; i < N; i++) common[i] = (real)rng_normal(&r);
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) g[s][i] = (real)(0.7 * common[i] + rng_normal(&r));
    tfile tf;
    if (tf_open(&tf, argv[5])) return 1;
    int64_t dn = N, dg[2] = {STEPS, N};
    float buf[STEPS * N];
    for (int i = 0; i < N; i++) buf[i] = (float)p[i];
    tf_put_f32(&tf, "p0", 1, &dn, buf);
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) buf[s * N + i] = (float)g[s][i];
    tf_put_f32(&tf, "grads", 2, dg, buf);
    int lion = rule->name[0] == 'l';
    /* argv[2..4]: nesterov, inverse_bias_correction, rrc_correction, by name in the rule's options */
    const char *names[3] = {"nesterov", "inverse_bias_correction", "rrc_correction"};
    double opt[OPTIM_MAX_OPTIONS] = {0};
    for (int k = 0; k < rule->n_options; k++)
        for (int q = 0; q < 3; q++)
            if (!strcmp(rule->options[k].name, names[q])) opt[k] = atoi(argv[2 + q]);
    for (int s = 0; s < STEPS; s++) {
        double lr = 0.01 * (s + 1);
        for (int k = 0; k < 3; k++) {
            real *slabs[8];
            for (int j = 0; j < rule->n_state; j++) slabs[j] = state + (size_t)j * N + ti[k].offset;
            optim_step_args a = {lr, 0.9, lion ? 0.99 : 0.95, 1e-8, ti[k].is_matrix ? 0.1 : 0, s + 1, opt};
            rule->update(p + ti[k].offset, g[s] + ti[k].offset, slabs, ti[k].numel, &ti[k], &a);
        }
    }
    for (int i = 0; i < N; i++) buf[i] = (float)p[i];
    tf_put_f32(&tf, "p", 1, &dn, buf);
    free(state);
    return tf_close(&tf) != 0;
}
