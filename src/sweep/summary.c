/* summary.c - a sweep's summary.jsonl (one line per done point, from its own
 * files) and its table: final val loss, mean (std) over the reported seeds,
 * per method and lr, sigma2 chosen on the tuning seed. */
#define _GNU_SOURCE
#include "sweep.h"
#include "points.h"
#include "../util/fileio.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one done point measured, read back from log.jsonl and result.json. */
typedef struct {
    int done, diverged;
    long diverged_step, steps;
    double final_val, best_val, train_end, clipped, tok_s;
    long spikes_spec, spikes_detector, rollbacks;
} outcome;

static cJSON *read_json(const char *dir, const char *name) {
    char path[1800], why[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = read_file(path, 1 << 24, NULL, why, sizeof why);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static double num(const cJSON *j, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* the spec's spike rule (wesar.md, reconstructed): loss_t above 1.1 x the
 * lowest of the 100 steps before it; a run of such steps is one spike */
#define SPEC_WINDOW 100
static long spec_spikes(const double *loss, long n) {
    long events = 0;
    int in = 0;
    for (long t = 1; t < n; t++) {
        double lo = INFINITY;
        for (long k = t > SPEC_WINDOW ? t - SPEC_WINDOW : 0; k < t; k++) lo = loss[k] < lo ? loss[k] : lo;
        int spike = loss[t] > 1.1 * lo;
        events += spike && !in;
        in = spike;
    }
    return events;
}

/* reads log.jsonl's step lines (event lines count as rollbacks) */
static int read_log(const char *dir, double clip, outcome *o) {
    char path[1800];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0, nl = 0, lcap = 0;
    double *loss = NULL, ms = 0, tokens = 0;
    long clipped = 0;
    int in_spike = 0;
    o->final_val = o->best_val = NAN;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        if (cJSON_GetObjectItem(j, "event")) o->rollbacks++;
        else if (cJSON_IsNumber(cJSON_GetObjectItem(j, "loss"))) {
            if (nl == lcap) {
                double *nlp = realloc(loss, (lcap = lcap ? 2 * lcap : 1024) * sizeof *loss);
                if (!nlp) break;
                loss = nlp;
            }
            loss[nl++] = num(j, "loss", NAN);
            double v = num(j, "val_loss", NAN);
            if (!isnan(v)) o->final_val = v, o->best_val = isnan(o->best_val) || v < o->best_val ? v : o->best_val;
            clipped += clip > 0 && num(j, "grad_norm", 0) > clip;
            ms += num(j, "ms", 0);
            tokens = num(j, "tokens", tokens);
            int spike = cJSON_IsTrue(cJSON_GetObjectItem(j, "spike"));
            o->spikes_detector += spike && !in_spike;
            in_spike = spike;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    long tail = nl < 10 ? (long)nl : 10;
    o->train_end = 0;
    for (long k = (long)nl - tail; k < (long)nl; k++) o->train_end += loss[k] / tail;
    o->steps = (long)nl;
    o->clipped = nl ? (double)clipped / nl : 0;
    o->tok_s = ms > 0 ? tokens / (ms / 1e3) : 0;
    o->spikes_spec = spec_spikes(loss, (long)nl);
    free(loss);
    return 0;
}

static void add_num(cJSON *j, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
    else cJSON_AddNullToObject(j, key);
}

/* one summary line: the point's full config (enough to rerun it alone) and what it measured */
static cJSON *point_line(const point *p, outcome *o) {
    memset(o, 0, sizeof *o);
    cJSON *res = read_json(p->dir, "result.json"), *cfg = read_json(p->dir, "config.json");
    if (!res || !cfg || read_log(p->dir, p->j.tc.grad_clip, o)) {
        cJSON_Delete(res);
        cJSON_Delete(cfg);
        return NULL;
    }
    o->done = 1;
    const cJSON *st = cJSON_GetObjectItem(res, "status");
    o->diverged = cJSON_IsString(st) && !strcmp(st->valuestring, "diverged");
    o->diverged_step = (long)num(res, "diverged_step", 0);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "point", p->name);
    cJSON_AddItemToObject(j, "config", cfg);
    add_num(j, "final_val_loss", o->final_val);
    add_num(j, "best_val_loss", o->best_val);
    add_num(j, "train_loss_end", o->train_end);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "spikes_spec_rule", (double)o->spikes_spec);
    cJSON_AddNumberToObject(j, "spikes_detector", (double)o->spikes_detector);
    cJSON_AddNumberToObject(j, "rollbacks", (double)o->rollbacks);
    cJSON_AddBoolToObject(j, "diverged", o->diverged);
    if (o->diverged) cJSON_AddNumberToObject(j, "diverged_step", (double)o->diverged_step);
    add_num(j, "clipped_fraction", o->clipped);
    add_num(j, "tokens_per_s", o->tok_s);
    cJSON_Delete(res);
    return j;
}

static int axis_of(const sweep_spec *s, const char *key) {
    for (int a = 0; a < s->n_axes; a++)
        if (!strcmp(s->axis[a].key, key)) return a;
    return -1;
}

/* the row label: every axis but lr and sigma2 */
static void row_label(const sweep_spec *s, const point *p, int lr, int sg, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
    for (int a = 0; a < s->n_axes; a++)
        if (a != lr && a != sg && p->val[a])
            at += (size_t)snprintf(buf + at, n - at, "%s%s=%s", at ? " " : "", s->axis[a].key, p->val[a]);
    if (!at) snprintf(buf, n, "all");
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* The cell of row `row` at lr value `lv`: sigma2 chosen on the tuning seed,
 * then mean (std) of the final val loss over the reported seeds. */
static void cell(const sweep_spec *s, const point_list *pl, const outcome *o, const char *row, const char *lv,
                 int lr, int sg, long tune, int report_tune, char *out, size_t n) {
    char lab[512];
    const char *best = NULL;
    double best_v = INFINITY;
    int any = 0;
    for (int i = 0; i < pl->n; i++) { /* the tuning seed's points of this cell, one per sigma2 */
        const point *p = &pl->p[i];
        row_label(s, p, lr, sg, lab, sizeof lab);
        if (strcmp(lab, row) || (lr >= 0 && !same(p->val[lr], lv)) || p->seed != tune || !o[i].done) continue;
        double v = o[i].diverged || isnan(o[i].final_val) ? INFINITY : o[i].final_val;
        if (!any || v < best_v) best = sg >= 0 ? p->val[sg] : NULL, best_v = v;
        any = 1;
    }
    if (!any && sg >= 0) { snprintf(out, n, "–"); return; }
    double sum = 0, sq = 0;
    int k = 0, div = 0, tot = 0;
    for (int i = 0; i < pl->n; i++) {
        const point *p = &pl->p[i];
        row_label(s, p, lr, sg, lab, sizeof lab);
        if (strcmp(lab, row) || (lr >= 0 && !same(p->val[lr], lv)) || (sg >= 0 && !same(p->val[sg], best)) ||
            (p->seed == tune && !report_tune) || !o[i].done)
            continue;
        tot++;
        if (o[i].diverged || isnan(o[i].final_val)) { div++; continue; }
        sum += o[i].final_val, sq += o[i].final_val * o[i].final_val, k++;
    }
    size_t at = 0;
    if (!tot) at = (size_t)snprintf(out, n, "–");
    else if (!k) at = (size_t)snprintf(out, n, "diverged (%d/%d)", div, tot);
    else {
        double m = sum / k, sd = k > 1 ? sqrt(fmax(0, (sq - k * m * m) / (k - 1))) : 0;
        at = (size_t)snprintf(out, n, "%.4f (%.4f)", m, sd);
        if (div) at += (size_t)snprintf(out + at, n - at, " [%d/%d diverged]", div, tot);
    }
    if (best && at < n) snprintf(out + at, n - at, " σ²=%s", best);
}

/* The Markdown table; rows in grid order. */
static int write_table(const sweep_spec *s, const point_list *pl, const outcome *o, FILE *f) {
    int lr = axis_of(s, "lr"), sg = axis_of(s, "sigma2");
    long tune = s->tune_seed >= 0 ? s->tune_seed : s->seeds[0];
    int report_tune = s->n_seeds == 1;
    char seeds[512] = "";
    for (int k = 0, at = 0; k < s->n_seeds; k++)
        if (s->seeds[k] != tune || report_tune)
            at += snprintf(seeds + at, sizeof seeds - (size_t)at, "%s%ld", at ? ", " : "", s->seeds[k]);
    fprintf(f, "| method |");
    for (int v = 0; v < (lr >= 0 ? s->axis[lr].n : 1); v++) fprintf(f, " %s%s |", lr >= 0 ? "lr=" : "final val loss", lr >= 0 ? s->axis[lr].vals[v] : "");
    fprintf(f, "\n|---|");
    for (int v = 0; v < (lr >= 0 ? s->axis[lr].n : 1); v++) fprintf(f, "---|");
    fprintf(f, "\n");
    char **rows = calloc((size_t)pl->n + 1, sizeof *rows), lab[512];
    int nr = 0;
    for (int i = 0; rows && i < pl->n; i++) {
        row_label(s, &pl->p[i], lr, sg, lab, sizeof lab);
        int dup = 0;
        for (int r = 0; r < nr; r++) dup |= !strcmp(rows[r], lab);
        if (!dup) rows[nr++] = strdup(lab);
    }
    for (int r = 0; r < nr; r++) {
        fprintf(f, "| %s |", rows[r]);
        for (int v = 0; v < (lr >= 0 ? s->axis[lr].n : 1); v++) {
            char c[160];
            cell(s, pl, o, rows[r], lr >= 0 ? s->axis[lr].vals[v] : NULL, lr, sg, tune, report_tune, c, sizeof c);
            fprintf(f, " %s |", c);
        }
        fprintf(f, "\n");
        free(rows[r]);
    }
    free(rows);
    fprintf(f, "\nFinal validation loss, mean (sample std) over seed%s %s", strchr(seeds, ',') ? "s" : "", seeds);
    if (report_tune) fprintf(f, "; one seed only: σ² is chosen and reported on the same seed, a hint, not a result.\n");
    else if (sg >= 0) fprintf(f, "; σ² chosen per cell by the final val loss of seed %ld, which is not among them.\n", tune);
    else fprintf(f, " (seed %ld, the tuning seed, is left out).\n", tune);
    fprintf(f, "Diverged: the loss went non-finite or above %g × step 1's. –: no finished point.\n",
            s->diverge_factor);
    return 0;
}

int sweep_summarize(const sweep_spec *s, int print, char *err, size_t errlen) {
    point_list pl;
    if (points_build(s, &pl, err, errlen)) return -1;
    outcome *o = calloc((size_t)pl.n + 1, sizeof *o);
    char path[1200];
    snprintf(path, sizeof path, "%s/summary.jsonl", s->out);
    atomic_file af;
    int rc = !o || make_dir(s->out, err, errlen) || atomic_open(&af, path, err, errlen) ? -1 : 0, bad = 0, done = 0;
    for (int i = 0; i < pl.n && !rc; i++) {
        cJSON *j = point_line(&pl.p[i], &o[i]);
        char *t = j ? cJSON_PrintUnformatted(j) : NULL;
        if (t) bad |= atomic_write(&af, t, strlen(t)) || atomic_write(&af, "\n", 1), done++;
        free(t);
        cJSON_Delete(j);
    }
    if (!rc) rc = atomic_commit(&af, bad, err, errlen);
    char *md = NULL;
    size_t mdn = 0;
    FILE *mf = rc ? NULL : open_memstream(&md, &mdn);
    if (mf) {
        write_table(s, &pl, o, mf);
        fclose(mf);
        snprintf(path, sizeof path, "%s/summary.md", s->out);
        rc = atomic_open(&af, path, err, errlen) || atomic_commit(&af, atomic_write(&af, md, mdn), err, errlen);
        if (!rc && print) printf("sweep: %d of %d points done; %s/summary.jsonl, %s/summary.md:\n\n%s", done, pl.n,
                                 s->out, s->out, md);
    }
    free(md);
    free(o);
    points_free(&pl);
    return rc ? -1 : 0;
}
