/* rollback.c - the loop's own state in checkpoints, rollback to a good
 * checkpoint, and which matrices' update ratios jumped at a spike (loop.h). */
#include "loop.h"
#include "../ckpt/rundir.h"
#include "../dist/dist.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void run_state_init(run_state *r, const train_config *tc) {
    memset(r, 0, sizeof *r);
    spike_init(&r->spikes, tc->spike_window, tc->spike_k);
}

/* The run object as a string (malloc'd; NULL when out of memory), with the
 * telemetry's spike-attribution state when there is telemetry. */
char *run_to_json(const run_state *r, const telemetry *tel) {
    size_t len = 256 + 26 * SPIKE_MAX_WINDOW + (tel ? telemetry_state_len(tel) : 0);
    char *buf = malloc(len);
    if (!buf) return NULL;
    int n = snprintf(buf, len, "{\"rollbacks\":%ld,\"in_a_row\":%d,\"horizon\":%ld,\"first_loss\":%.17g,"
                     "\"spike\":", r->rollbacks, r->in_a_row, r->horizon, r->first_loss);
    n += spike_to_json(&r->spikes, buf + n, len - (size_t)n);
    if (tel) {
        n += snprintf(buf + n, len - (size_t)n, ",\"jump\":");
        n += telemetry_state_to_json(tel, buf + n, len - (size_t)n) ? 0 : (int)strlen(buf + n);
    }
    snprintf(buf + n, len - (size_t)n, "}");
    return buf;
}

/* A checkpoint without a "run" object (or with another spike window) starts
 * the detector afresh; likewise the telemetry's attribution state. */
void run_from_json(run_state *r, const char *text, const train_config *tc, telemetry *tel) {
    run_state_init(r, tc);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    cJSON *rb = cJSON_GetObjectItem(j, "rollbacks"), *ia = cJSON_GetObjectItem(j, "in_a_row"),
          *hz = cJSON_GetObjectItem(j, "horizon");
    if (cJSON_IsNumber(rb) && cJSON_IsNumber(ia) && cJSON_IsNumber(hz)) {
        r->rollbacks = (long)rb->valuedouble;
        r->in_a_row = (int)ia->valuedouble;
        r->horizon = (long)hz->valuedouble;
        const cJSON *fl = cJSON_GetObjectItem(j, "first_loss");
        if (cJSON_IsNumber(fl)) r->first_loss = fl->valuedouble;
        spike_detector d;
        if (!spike_from_json_item(&d, cJSON_GetObjectItem(j, "spike")) &&
            d.window == r->spikes.window) {
            d.k = tc->spike_k;
            r->spikes = d;
        }
    }
    if (tel) telemetry_state_from_json(tel, cJSON_GetObjectItem(j, "jump"));
    cJSON_Delete(j);
}

/* --on-spike/--on-nan rollback: back to the newest good checkpoint before
 * bad_step (or to the initial weights), keeping the data sampler where it
 * is, so the batches from there to bad_step are skipped (what PaLM and OPT
 * did by hand).  The restored state is saved again with the advanced sampler
 * so that a resumed run skips them too.  Returns the step resumed from. */
long rollback_to_good(loop *L, long bad_step, const char *reason, double loss, const char *detail,
                     const char *jumped, char *err, size_t errlen) {
    const train_config *tc = L->tc;
    if (L->rs.in_a_row >= tc->max_rollbacks) {
        L->diverged = bad_step;
        snprintf(err, errlen, "step %ld: %s; giving up after %d rollbacks in a row (--max-rollbacks)",
                 bad_step, detail, L->rs.in_a_row);
        return -1;
    }
    /* the n-th rollback in a row goes n good checkpoints back: if the newest
     * one leads into the same failure, the damage is older than it */
    char path[1200], why[1400];
    long to = 0, max_step = bad_step - 1;
    int found = 0;
    if (L->root)
        for (int k = 0; k <= L->rs.in_a_row && max_step >= 0; k++) {
            found = !rundir_find_checkpoint(tc->out_dir, max_step, path, sizeof path, why, sizeof why);
            if (!found) break;
            max_step = rundir_step(path) - 1;
        }
    /* rank 0's choice, for every rank */
    dist_bcast(&found, sizeof found, "the rollback");
    dist_bcast(path, sizeof path, "the rollback");
    /* the detector's window goes back with the weights (its later losses
     * belong to the abandoned steps); the rollback counters go on */
    run_state rs = L->rs;
    if (found) {
        if (snapshot_load(L, path, err, errlen)) return -1;
        to = L->x->step;
    } else {
        model_init(L->m, tc->seed);
        size_t n;
        real *state = trainer_state(L->tr, NULL, &n);
        memset(state, 0, (size_t)L->rule->n_state * n * sizeof(real));
        trainer_set_steps_done(L->tr, 0);
        snprintf(path, sizeof path, "the initial weights");
        run_state_init(&L->rs, tc);
        if (L->tel) telemetry_reset(L->tel);
    }
    L->rs.spikes.events = rs.spikes.events;
    L->rs.rollbacks = rs.rollbacks;
    L->rs.in_a_row = rs.in_a_row;
    L->rs.horizon = rs.horizon;
    if (L->root) rundir_prune(tc->out_dir, 0, to);
    L->rs.rollbacks++;
    L->rs.in_a_row++;
    if (bad_step > L->rs.horizon) L->rs.horizon = bad_step;
    if (L->root)
        fprintf(stderr, "wesar: step %ld: %s: rolled back to step %ld (%s), skipping %ld batches "
                        "(rollback %d of at most %d in a row)\n",
                bad_step, detail, to, path, bad_step - to, L->rs.in_a_row, tc->max_rollbacks);
    char ck[1200];
    if (snapshot_save(L, to, ck, sizeof ck, err, errlen)) return -1;
    if (!L->root) return to;
    /* the log reads as one run: the abandoned steps go, the event stays */
    if (runlog_open(&L->log, L->log_path, to, 1, err, errlen) ||
        (L->tlog && runlog_open(&L->tlog, L->tlog_path, to, 0, err, errlen)))
        return -1;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "step", (double)to);
    cJSON_AddStringToObject(e, "event", "rollback");
    cJSON_AddStringToObject(e, "reason", reason);
    cJSON_AddNumberToObject(e, "failed_step", (double)bad_step);
    if (isfinite(loss)) cJSON_AddNumberToObject(e, "loss", loss);
    cJSON_AddStringToObject(e, "detail", detail);
    if (jumped) cJSON_AddRawToObject(e, "jumped", jumped); /* a JSON array from describe_jumps */
    cJSON_AddNumberToObject(e, "skipped_batches", (double)(bad_step - to));
    cJSON_AddNumberToObject(e, "in_a_row", L->rs.in_a_row);
    char *line = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    fprintf(L->log, "%s\n", line ? line : "{}");
    fflush(L->log);
    free(line);
    return to;
}

/* A matrix "jumped" at a spike when its update ratio per unit lr exceeds
 * twice its recent running mean (telemetry.h). */
#define JUMP_FACTOR 2.0

/* The matrices whose update ratio jumped at a spike, appended to the
 * human detail ("; update ratio jumped in NAME (x3.1), ...") and as a JSON
 * array for the log. */
void describe_jumps(const telemetry *tel, char *text, size_t tlen, char *json, size_t jlen) {
    int which[5];
    double f[5];
    int n = telemetry_jumped(tel, JUMP_FACTOR, 5, which, f);
    size_t a = 0, b = (size_t)snprintf(json, jlen, "[");
    for (int i = 0; i < n && a < tlen && b < jlen; i++) {
        const char *name = telemetry_name(tel, which[i]);
        a += (size_t)snprintf(text + a, tlen - a, "%s%s (x%.1f)",
                              i ? ", " : "; update ratio jumped in ", name, f[i]);
        if (a < tlen)
            b += (size_t)snprintf(json + b, jlen - b,
                                  "%s{\"name\":\"%s\",\"factor\":%.3f,\"update_ratio\":%.6e}",
                                  i ? "," : "", name, f[i], telemetry_stats(tel, which[i])->update_ratio);
    }
    if (b < jlen) snprintf(json + b, jlen - b, "]");
    else snprintf(json, jlen, "[]");
}
