/* ckpt.h - checkpoints: model, scales, optimizer state, step and RNG.
 *
 * Layout (version 1, little-endian):
 *   "WESARCKP" | u32 version | u32 header_len | header (JSON) |
 *   f32 params[n_params] | f32 scales[n_tensors] | f32 state[n_state*n_params] |
 *   u32 CRC-32 of every byte before it
 * The JSON header holds the model config, the optimizer name, the step, the
 * data RNG, the training config and (optional "run") the loop's own state;
 * readers check the file size against it before allocating anything and the
 * checksum before loading anything.
 * Written atomically (fileio.h).
 */
#ifndef WESAR_CKPT_H
#define WESAR_CKPT_H
#include "../model/model.h"
#include "../util/rng.h"
#include <stddef.h>

#define CKPT_VERSION 1

typedef struct {
    long step;              /* optimizer steps done */
    rng_t data_rng;         /* state of the batch sampler */
    char optim[32];
    int n_state;
    real *state;            /* n_state * n_params, may be NULL when n_state == 0 */
    char train_json[4096];  /* the training config, for the record */
    char *run_json;         /* optional run state (spike detector, rollbacks, telemetry), a
                               JSON object; ckpt_load allocates it */
    /* Saving a state sharded over ranks (ZeRO-1): with state_next set,
     * ckpt_save takes the state from it instead of from state, piece by
     * piece in file order (slab 0 first); it returns the next piece and
     * sets *n to its length, or returns NULL to fail the save. */
    const real *(*state_next)(void *ctx, size_t *n);
    void *state_ctx;
    /* Loading one rank's shard: with state_n > 0, ckpt_load keeps only
     * values [state_lo, state_lo + state_n) of each slab, so x->state holds
     * n_state * state_n of them (every byte is still checksummed). */
    size_t state_lo, state_n;
} ckpt_extra;

/* Frees what ckpt_load allocated (state, run_json). */
void ckpt_extra_free(ckpt_extra *x);

int ckpt_save(const char *path, model *m, const ckpt_extra *x, char *err, size_t errlen);

/* Reads the config from a checkpoint, so the caller can build the model, and
 * (if train_json is non-NULL) the training config it was written with. */
int ckpt_read_config(const char *path, model_config *cfg, char *train_json, size_t tjlen,
                     char *err, size_t errlen);
/* Checks magic, version, header and the checksum of the whole file. */
int ckpt_verify(const char *path, char *err, size_t errlen);
/* Loads into a model built from that config (params allocated).  x->state
 * (if the file has optimizer state) and x->run_json are allocated here:
 * release them with ckpt_extra_free. */
int ckpt_load(const char *path, model *m, ckpt_extra *x, char *err, size_t errlen);
#endif
