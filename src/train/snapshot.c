/* snapshot.c - checkpoint save and load for the loop (loop.h), with
 * ZeRO-1's optimizer state gathered piece by piece. */
#include "loop.h"
#include "../ckpt/rundir.h"
#include "../dist/dist.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ZeRO-1 checkpoints: rank 0 writes the whole optimizer state, taking the
 * other ranks' shards piece by piece as the writer asks for them (so no
 * rank ever holds all of it); they send theirs in the same order. */
typedef struct {
    loop *L;
    int k, r;      /* slab, owner */
    size_t at;     /* within the owner's shard */
} gather;

static const real *gather_next(void *ctx, size_t *n) {
    gather *g = ctx;
    trainer *tr = g->L->tr;
    const size_t *len;
    trainer_shards(tr, &len);
    size_t mine;
    real *own = trainer_state(tr, NULL, &mine);
    int P = dist_size();
    while (g->k < g->L->rule->n_state) {
        if (g->at >= len[g->r]) {
            g->at = 0;
            if (++g->r == P) g->r = 0, g->k++;
            continue;
        }
        *n = len[g->r] - g->at < STATE_PIECE ? len[g->r] - g->at : STATE_PIECE;
        const real *p = own + (size_t)g->k * mine + g->at;
        if (g->r) {
            dist_recv(g->L->piece, *n, g->r, "the checkpoint's optimizer state");
            p = g->L->piece;
        }
        g->at += *n;
        return p;
    }
    return NULL;
}

/* Collective: every rank calls it; rank 0 writes. */
int snapshot_save(loop *L, long step, char *path, size_t plen, char *err, size_t errlen) {
    snprintf(path, plen, "%s/ckpt_%08ld.bin", L->tc->out_dir, step);
    size_t lo, n;
    real *own = trainer_state(L->tr, &lo, &n);
    if (!L->root) {
        for (int k = 0; k < L->rule->n_state; k++)
            for (size_t at = 0; at < n; at += STATE_PIECE)
                dist_send(own + (size_t)k * n + at, n - at < STATE_PIECE ? n - at : STATE_PIECE, 0,
                          "the checkpoint's optimizer state");
        return dist_agree(1, err, errlen) ? 0 : -1; /* rank 0 reports a failed write */
    }
    ckpt_extra *x = L->x;
    memset(x, 0, sizeof *x);
    x->step = step;
    x->data_rng = L->data_rng;
    snprintf(x->optim, sizeof x->optim, "%s", L->rule->name);
    x->n_state = L->rule->n_state;
    x->state = own;
    gather g = {L, 0, 0, 0};
    if (dist_size() > 1) {
        x->state_next = gather_next;
        x->state_ctx = &g;
    }
    snprintf(x->train_json, sizeof x->train_json, "%s", L->trj);
    x->run_json = run_to_json(&L->rs, L->tel);
    int bad = !x->run_json;
    if (bad) snprintf(err, errlen, "out of memory");
    else bad = ckpt_save(path, L->m, x, err, errlen);
    free(x->run_json);
    x->run_json = NULL;
    size_t rest;
    if (dist_size() > 1)
        while (gather_next(&g, &rest)) {} /* what the writer did not take, if it stopped early */
    if (bad) {
        size_t k = strlen(err);
        snprintf(err + k, errlen - k, "; earlier checkpoints are intact (wesar train --resume %s)",
                 L->tc->out_dir);
    }
    if (!dist_agree(!bad, err, errlen)) return -1;
    rundir_prune(L->tc->out_dir, L->tc->keep, -1);
    return 0;
}

/* Loads model and optimizer state and the run state (L->rs, telemetry's)
 * from path; L->x then holds its step and data RNG for the caller. */
int snapshot_load(loop *L, const char *path, char *err, size_t errlen) {
    size_t lo, n;
    real *state = trainer_state(L->tr, &lo, &n);
    L->x->state_lo = lo; /* this rank's shard only */
    L->x->state_n = n;
    if (ckpt_load(path, L->m, L->x, err, errlen)) return -1;
    int rc = 0;
    if (strcmp(L->x->optim, L->rule->name) || L->x->n_state != L->rule->n_state) {
        snprintf(err, errlen, "%s: optimizer state is %s, but this run uses %s", path, L->x->optim,
                 L->rule->name);
        rc = -1;
    } else if (L->x->n_state) {
        memcpy(state, L->x->state, (size_t)L->x->n_state * n * sizeof(real));
    }
    if (!rc) {
        trainer_set_steps_done(L->tr, L->x->step);
        run_from_json(&L->rs, L->x->run_json, L->tc, L->tel);
    }
    ckpt_extra_free(L->x);
    return rc;
}
