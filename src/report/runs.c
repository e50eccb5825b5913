/* runs.c - reading a run directory for the report (runs.h).  Not a hot
 * path: plain growable arrays and cJSON per line. */
#include "runs.h"
#include "../optim/optim.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

const char *measure_key[N_MEASURES] = {"update_ratio", "update_ratio_eff", "rrc"};
const char *measure_title[N_MEASURES] = {
    "Update ratio ||&#916;W|| / ||W|| of the stored matrices (what the optimizer sees)",
    "Update ratio of the effective matrices (gate&#183;W under WeSaR: what the model computes with)",
    "Relative representation change ||X&#916;E<sup>T</sup>|| / ||XE<sup>T</sup>|| (layer inputs X held fixed)"};
const char *kinds[N_KINDS] = {"W_u", "W_d", "W_q", "W_k", "W_v", "W_o", "W_gate", "W_e", "W_p"};

int series_add(series *s, double x, double y) {
    if (!isfinite(x) || !isfinite(y)) return 0; /* 1e999 parses as inf: not drawable */
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (!nx) return -1;
        s->x = nx;
        double *ny = realloc(s->y, (size_t)cap * sizeof *ny);
        if (!ny) return -1;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
    return 0;
}

void series_free(series *s) { free(s->x); free(s->y); }

void run_free(run *r) {
    series_free(&r->loss);
    series_free(&r->val);
    series_free(&r->spikes);
    series_free(&r->rollbacks);
    for (int m = 0; m < N_MEASURES; m++)
        for (int k = 0; k < N_KINDS; k++) series_free(&r->tel[m][k]);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* an integer field, or dflt when missing or out of range (never a cast of NaN) */
static long num_long(const cJSON *o, const char *key, long dflt) {
    double v = num(o, key);
    return v >= -1e15 && v <= 1e15 ? (long)v : dflt;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

int report_fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    err_printable(err);
    return -1;
}

static int read_config(run *r, const char *dir, char *err, size_t errlen) {
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = read_file(path, 1 << 20, NULL, err, errlen);
    if (!text) {
        size_t k = strlen(err);
        return report_fail(err + k, errlen - k, " (is %s a wesar run directory?)", dir);
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *mc = cJSON_GetObjectItem(j, "model"), *tc = cJSON_GetObjectItem(j, "train");
    if (!cJSON_IsObject(mc) || !cJSON_IsObject(tc) || !(num(mc, "n_layers") >= 1) ||
        !(num(mc, "n_layers") <= 1 << 20)) {
        cJSON_Delete(j);
        return report_fail(err, errlen, "%s: expected a JSON object with \"model\" (n_layers ...) and "
                    "\"train\" as wesar train writes it", path);
    }
    r->n_layers = (int)num(mc, "n_layers");
    snprintf(r->reparam, sizeof r->reparam, "%s", str(mc, "reparam"));
    snprintf(r->optim, sizeof r->optim, "%s", str(tc, "optim"));
    r->lr = num(tc, "lr");
    r->warmup = num_long(tc, "warmup", -1);
    r->steps = num_long(tc, "steps", -1);
    char ex[64] = "";
    for (int i = 0; i < optim_n_options(); i++) { /* the optimizer's own options, where not at their default */
        const optim_option *o = optim_option_at(i);
        double v = num(tc, o->name);
        size_t k = strlen(ex);
        if (isfinite(v) && v != o->def && o->is_switch) snprintf(ex + k, sizeof ex - k, "+%s", o->label);
        else if (isfinite(v) && v != o->def) snprintf(ex + k, sizeof ex - k, " %s=%g", o->label, v);
    }
    if (num(tc, "beta1") != 0.9 && isfinite(num(tc, "beta1"))) {
        size_t k = strlen(ex);
        snprintf(ex + k, sizeof ex - k, " b1=%g", num(tc, "beta1"));
    }
    snprintf(r->label, sizeof r->label, "%s, %s%s, lr %g, warmup %ld", r->reparam, r->optim, ex,
             r->lr, r->warmup);
    cJSON_Delete(j);
    return 0;
}

/* Calls line_fn for each line of path; a bad line is an error naming it. */
typedef int (*line_fn)(run *r, const cJSON *j);

static int read_lines(run *r, const char *path, line_fn fn, int optional, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        if (optional && errno == ENOENT) return 1;
        return report_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long no = 0;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) > 0) {
        no++;
        if (line[len - 1] != '\n') break; /* a run writing it right now: its last line is partial */
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j) || !cJSON_IsNumber(cJSON_GetObjectItem(j, "step")))
            rc = report_fail(err, errlen, "%s:%ld: expected a JSON object with a \"step\" number", path, no);
        else if (fn(r, j))
            rc = report_fail(err, errlen, "%s:%ld: unexpected content or out of memory", path, no);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return rc;
}

static int log_line(run *r, const cJSON *j) {
    double step = num(j, "step");
    const cJSON *ev = cJSON_GetObjectItem(j, "event");
    if (ev) return cJSON_IsString(ev) && !strcmp(ev->valuestring, "rollback")
                      ? series_add(&r->rollbacks, step, num(j, "failed_step")) : 0;
    double loss = num(j, "loss"), val = num(j, "val_loss");
    if (!isfinite(loss)) return -1;
    if (series_add(&r->loss, step, loss)) return -1;
    if (isfinite(val) && series_add(&r->val, step, val)) return -1;
    if (cJSON_IsTrue(cJSON_GetObjectItem(j, "spike")) && series_add(&r->spikes, step, loss)) return -1;
    return 0;
}

static int tel_line(run *r, const cJSON *j) {
    const cJSON *mats = cJSON_GetObjectItem(j, "matrices");
    if (!cJSON_IsObject(mats)) return -1;
    double step = num(j, "step");
    for (int k = 0; k < N_KINDS; k++) {
        char name[96];
        const char *kind = kinds[k];
        if (!strcmp(kind, "W_e")) snprintf(name, sizeof name, "embed.W_e");
        else if (!strcmp(kind, "W_p")) snprintf(name, sizeof name, "head.W_p");
        else snprintf(name, sizeof name, "layers.%d.%s.%s", r->n_layers - 1,
                      kind[2] == 'u' || kind[2] == 'd' || kind[2] == 'g' ? "mlp" : "attn", kind);
        const cJSON *e = cJSON_GetObjectItem(mats, name);
        if (!e) continue; /* W_gate exists with SwiGLU only */
        for (int m = 0; m < N_MEASURES; m++) {
            double v = num(e, measure_key[m]);
            if (v > 0 && series_add(&r->tel[m][k], step, v)) return -1;
        }
    }
    return 0;
}

int run_read(run *r, const char *dir, char *err, size_t errlen) {
    /* the directory's own name labels the run: "runs/a/" -> "a" */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t L = strlen(tmp);
    while (L > 1 && tmp[L - 1] == '/') tmp[--L] = 0;
    const char *base = strrchr(tmp, '/');
    snprintf(r->name, sizeof r->name, "%.255s", base && base[1] ? base + 1 : tmp);
    if (read_config(r, dir, err, errlen)) return -1;
    char path[1200];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    if (read_lines(r, path, log_line, 0, err, errlen)) return -1;
    if (!r->loss.n) return report_fail(err, errlen, "%s: no training steps logged yet", path);
    snprintf(path, sizeof path, "%s/telemetry.jsonl", dir);
    int rc = read_lines(r, path, tel_line, 1, err, errlen);
    if (rc < 0) return -1;
    r->has_tel = rc == 0;
    return 0;
}

enum { FIG1_KINDS = 2 }; /* kinds[0..1]: W_u, W_d */

/* [[x, y], ...] of s's points with x <= max_x; NULL when out of memory */
static cJSON *series_json(const series *s, double max_x) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < s->n && s->x[i] <= max_x; i++) {
        double xy[2] = {s->x[i], s->y[i]};
        cJSON *pt = cJSON_CreateDoubleArray(xy, 2);
        if (!pt || !cJSON_AddItemToArray(a, pt)) {
            cJSON_Delete(pt);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    return a;
}

/* s's points from [[x, y], ...]; -1 when it is not that or memory ran out */
static int series_from_json(series *s, const cJSON *a) {
    const cJSON *pt;
    if (!cJSON_IsArray(a)) return -1;
    cJSON_ArrayForEach(pt, a) {
        const cJSON *x = cJSON_GetArrayItem(pt, 0), *y = cJSON_GetArrayItem(pt, 1);
        if (cJSON_GetArraySize(pt) != 2 || !cJSON_IsNumber(x) || !cJSON_IsNumber(y)) return -1;
        if (series_add(s, x->valuedouble, y->valuedouble)) return -1;
    }
    return 0;
}

cJSON *run_figure1_json(const run *r) {
    if (!r->has_tel || !r->tel[M_RATIO][1].n) return NULL;
    cJSON *j = cJSON_CreateObject();
    for (int k = 0; j && k < FIG1_KINDS; k++) {
        cJSON *a = series_json(&r->tel[M_RATIO][k], INFINITY);
        if (!a || !cJSON_AddItemToObject(j, kinds[k], a)) {
            cJSON_Delete(a);
            cJSON_Delete(j);
            j = NULL;
        }
    }
    return j;
}

int run_figure1_from_json(run *r, const cJSON *j) {
    for (int k = 0; k < FIG1_KINDS; k++)
        if (series_from_json(&r->tel[M_RATIO][k], cJSON_GetObjectItemCaseSensitive(j, kinds[k]))) return -1;
    r->has_tel = 1;
    return 0;
}

cJSON *run_early_loss_json(const run *r) { return r->loss.n ? series_json(&r->loss, EARLY_STEPS) : NULL; }

int run_early_loss_from_json(run *r, const cJSON *j) { return series_from_json(&r->loss, j); }
