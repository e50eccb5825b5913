/* telemetry.h - how big each optimizer step is, per parameter matrix
 * (Kosson, Messmer & Jaggi 2024; the WeSaR paper's Figure 1).
 *
 * For a stored matrix W (out x in) and its effective matrix E, the one the
 * products use (gate*W under WeSaR, fixed*W for the plain methods,
 * g_r*W_r/||W_r|| per row under weight normalization, alpha*W/s under
 * sigma-Reparam), with dW = W_{t+1} - W_t the whole step (decay included):
 *
 *   update_ratio      ||dW||_F / ||W_t||_F                       every step
 *   angle             mean over rows r of the angle between W_t[r] and
 *                     W_{t+1}[r], 2 atan2(|a-b|, |a+b|) of the unit rows
 *                     (exact for tiny angles, where acos is not)  every step
 *   grad_norm         ||dL/dW||_F of the stored matrix, before clipping
 *   gate              the matrix's scalar gate (WeSaR's a, sigma-Reparam's
 *                     alpha) or the RMS of its row gains (weight norm.),
 *                     after the step; NAN for methods without one
 *   update_ratio_eff  ||dE||_F / ||E_t||_F                       full steps
 *   rrc               ||X dE^T||_F / ||X E_t^T||_F: the relative change of
 *                     the layer's outputs with its inputs X held fixed (the
 *                     spec's "local" RRC), X = up to rrc_tokens rows of the
 *                     step's last micro-batch, evenly strided; for the
 *                     embedding the rows of the tokens it looked up  full steps
 *
 * The angle of E's rows equals that of W's rows for every method here (E's
 * rows are positive multiples of W's), so one angle serves both.
 *
 * Spike attribution: each matrix keeps a running mean (EMA 0.9) of its
 * update ratio per unit learning rate; at a spike, the matrices whose ratio
 * per lr in either of the last two steps exceeds `factor` times that mean
 * are the ones that "jumped".  That state goes into checkpoints.
 *
 * Memory: one copy of the parameters and a few matrices' worth of scratch,
 * allocated by telemetry_create; nothing is allocated per step. */
#ifndef WESAR_TELEMETRY_H
#define WESAR_TELEMETRY_H
#include "../model/model.h"
#include <stdio.h>

typedef struct {
    double norm, update_ratio, angle, grad_norm, gate;  /* every step */
    double norm_eff, update_ratio_eff, rrc;             /* full steps, else NAN */
    double recent[2];  /* update_ratio / lr of the step before last and the last */
    double mean;       /* EMA of update_ratio / lr before those two */
    long n;            /* steps seen */
} matrix_stats;

typedef struct telemetry telemetry;

telemetry *telemetry_create(model *m, int rrc_tokens, char *err, size_t errlen);
void telemetry_free(telemetry *t);
/* After the gradients, before the update: snapshots the parameters.
 * grad_sumsq: squared gradient norm of every tensor (model order), pre-clip. */
void telemetry_before(telemetry *t, const double *grad_sumsq);
/* After the update made at learning rate lr; full: also update_ratio_eff
 * and rrc (two GEMMs per matrix on rrc_tokens rows). */
void telemetry_after(telemetry *t, double lr, int full);
int telemetry_count(const telemetry *t);              /* matrices */
const char *telemetry_name(const telemetry *t, int k);
const matrix_stats *telemetry_stats(const telemetry *t, int k);

/* One line: {"step":S,"lr":..,"loss":..,"matrices":{"layers.0.attn.W_q":{...},...}}
 * (fields as above; NAN ones left out).  Returns 0, or -1 on a write error. */
int telemetry_write(const telemetry *t, FILE *f, long step, double loss, double lr);
/* The matrices that jumped at the last step: up to max of them, largest
 * factor (ratio per lr over its running mean) first, as indices for
 * telemetry_name/telemetry_stats.  0 when none or too little history. */
int telemetry_jumped(const telemetry *t, double factor, int max, int *which, double *factors);
/* The attribution state, for checkpoints: a JSON array (exact doubles). */
size_t telemetry_state_len(const telemetry *t);
int telemetry_state_to_json(const telemetry *t, char *buf, size_t len);
/* From a cJSON item written by the above; a missing or mismatched one resets. */
void telemetry_state_from_json(telemetry *t, const void *cjson_item);
void telemetry_reset(telemetry *t);
#endif
