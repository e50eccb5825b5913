/* table.c - a sweep's points read back, and its table's numbers (table.h). */
#define _GNU_SOURCE
#include "table.h"
#include "../util/fileio.h"
#include <errno.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *point_read_json(const char *dir, const char *name) {
    char path[1800], why[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = read_file(path, 1 << 24, NULL, why, sizeof why);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

/* a number field, dflt when missing or out of any sane range (casts to long follow) */
static double num(const cJSON *j, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) && fabs(v->valuedouble) < 1e15 ? v->valuedouble : dflt;
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

/* The largest climb of the loss above its lowest so far (nats) and the step it peaks at (1-based):
 * a spike's size, early ones included, which the detector's window is not full for yet and the
 * spec's rule counts as often as batch noise (README, "The study").  Non-finite losses are left out. */
static void max_rise(const double *loss, long n, outcome *o) {
    double lo = INFINITY;
    o->max_rise = n ? 0 : NAN, o->max_rise_step = 0;
    for (long t = 0; t < n; t++) {
        if (!isfinite(loss[t])) continue;
        if (loss[t] - lo > o->max_rise) o->max_rise = loss[t] - lo, o->max_rise_step = t + 1;
        lo = loss[t] < lo ? loss[t] : lo;
    }
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
    max_rise(loss, (long)nl, o);
    free(loss);
    return 0;
}


cJSON *results_load(const char *path, char *err, size_t errlen) {
    cJSON *res = cJSON_CreateObject();
    if (!path || !path[0] || access(path, F_OK)) return res;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        cJSON_Delete(res);
        return NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    long no = 0;
    while (res && getline(&line, &cap, f) > 0) {
        no++;
        cJSON *j = cJSON_Parse(line);
        const cJSON *name = cJSON_GetObjectItem(j, "point");
        if (!cJSON_IsString(name) || !cJSON_IsObject(cJSON_GetObjectItem(j, "config"))) {
            snprintf(err, errlen, "%s:%ld: expected a summary line as wesar sweep writes it", path, no);
            cJSON_Delete(j);
            cJSON_Delete(res);
            res = NULL;
            break;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(res, name->valuestring); /* the last line of a point counts */
        cJSON_AddItemToObject(res, name->valuestring, j);
    }
    free(line);
    fclose(f);
    return res;
}

static void outcome_from_line(const cJSON *j, outcome *o) {
    o->done = 1;
    o->diverged = cJSON_IsTrue(cJSON_GetObjectItem(j, "diverged"));
    o->diverged_step = (long)num(j, "diverged_step", 0);
    o->final_val = num(j, "final_val_loss", NAN);
    o->best_val = num(j, "best_val_loss", NAN);
    o->train_end = num(j, "train_loss_end", NAN);
    o->steps = (long)num(j, "steps", 0);
    o->spikes_spec = (long)num(j, "spikes_spec_rule", 0);
    o->spikes_detector = (long)num(j, "spikes_detector", 0);
    o->rollbacks = (long)num(j, "rollbacks", 0);
    o->max_rise = num(j, "max_rise", NAN);
    o->max_rise_step = (long)num(j, "max_rise_step", 0);
    o->clipped = num(j, "clipped_fraction", NAN);
    o->tok_s = num(j, "tokens_per_s", NAN);
}

void point_outcome(const point *p, const cJSON *res, outcome *o) {
    memset(o, 0, sizeof *o);
    cJSON *r = point_read_json(p->dir, "result.json");
    if (r && !read_log(p->dir, p->j.tc.grad_clip, o)) {
        const cJSON *st = cJSON_GetObjectItem(r, "status");
        o->done = 1;
        o->diverged = cJSON_IsString(st) && !strcmp(st->valuestring, "diverged");
        o->diverged_step = (long)num(r, "diverged_step", 0);
    } else {
        memset(o, 0, sizeof *o);
        const cJSON *line = res ? cJSON_GetObjectItemCaseSensitive(res, p->name) : NULL;
        if (line) outcome_from_line(line, o);
    }
    cJSON_Delete(r);
}

static int axis_of(const sweep_spec *s, const char *key) {
    for (int a = 0; a < s->n_axes; a++)
        if (!strcmp(s->axis[a].key, key)) return a;
    return -1;
}

void table_row_label(const sweep_spec *s, const table *t, const point *p, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
    for (int a = 0; a < s->n_axes; a++)
        if (a != t->lr && a != t->sigma2 && p->val[a])
            at += (size_t)snprintf(buf + at, n - at, "%s%s=%s", at ? " " : "", s->axis[a].key, p->val[a]);
    if (!at) snprintf(buf, n, "all");
}

int table_make(const sweep_spec *s, const point_list *pl, table *t) {
    memset(t, 0, sizeof *t);
    t->lr = axis_of(s, "lr");
    t->sigma2 = axis_of(s, "sigma2");
    t->tune = s->tune_seed >= 0 ? s->tune_seed : s->seeds[0];
    t->report_tune = s->n_seeds == 1 && s->seeds[0] == t->tune; /* else the tuning seed is not in this sweep */
    for (int v = 0; t->lr >= 0 && v < s->axis[t->lr].n; v++) { /* insertion sort by value */
        double x = strtod(s->axis[t->lr].vals[v], NULL);
        int k = v;
        for (; k > 0 && strtod(s->axis[t->lr].vals[t->lr_order[k - 1]], NULL) > x; k--) t->lr_order[k] = t->lr_order[k - 1];
        t->lr_order[k] = v;
    }
    t->rows = calloc((size_t)pl->n + 1, sizeof *t->rows);
    if (!t->rows) return -1;
    char lab[512];
    for (int i = 0; i < pl->n; i++) {
        table_row_label(s, t, &pl->p[i], lab, sizeof lab);
        int dup = 0;
        for (int r = 0; r < t->n_rows; r++) dup |= !strcmp(t->rows[r], lab);
        if (!dup) t->rows[t->n_rows++] = strdup(lab);
    }
    return 0;
}

int table_n_cols(const sweep_spec *s, const table *t) { return t->lr >= 0 ? s->axis[t->lr].n : 1; }

const char *table_col(const sweep_spec *s, const table *t, int v) {
    return t->lr >= 0 ? s->axis[t->lr].vals[t->lr_order[v]] : NULL;
}

void table_free(table *t) {
    for (int r = 0; r < t->n_rows; r++) free(t->rows[r]);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int in_cell(const sweep_spec *s, const table *t, const point *p, int r, const char *lv) {
    char lab[512];
    table_row_label(s, t, p, lab, sizeof lab);
    return !strcmp(lab, t->rows[r]) && (t->lr < 0 || same(p->val[t->lr], lv));
}

int table_tune_point(const sweep_spec *s, const table *t, const point_list *pl, int r, const char *lv, const char *sv) {
    for (int i = 0; t->sigma2 >= 0 && i < pl->n; i++)
        if (pl->p[i].seed == t->tune && in_cell(s, t, &pl->p[i], r, lv) && same(pl->p[i].val[t->sigma2], sv)) return i;
    return -1;
}

/* mean and sample std of n values from their sum and sum of squares: NaN and 0 where n is 0, std 0 for one */
static void mean_sd(double sum, double sq, int n, double *mean, double *sd) {
    *mean = n ? sum / n : NAN;
    *sd = n > 1 ? sqrt(fmax(0, (sq - n * *mean * *mean) / (n - 1))) : 0;
}

void table_cell(const sweep_spec *s, const table *t, const point_list *pl, const outcome *o, int r, const char *lv,
                cell_stat *c) {
    memset(c, 0, sizeof *c);
    c->best = -1;
    double best_v = INFINITY;
    int any = 0;
    for (int i = 0; i < pl->n; i++) { /* the tuning seed's points of this cell: one per sigma2 */
        const point *p = &pl->p[i];
        if (!in_cell(s, t, p, r, lv) || p->seed != t->tune || !o[i].done) continue;
        double v = o[i].diverged || isnan(o[i].final_val) ? INFINITY : o[i].final_val;
        if (!any || v < best_v) c->sigma2 = t->sigma2 >= 0 ? p->val[t->sigma2] : NULL, best_v = v;
        any = 1;
    }
    /* one sigma2 on the grid (a study that tuned it before, on another seed): nothing to choose */
    for (int i = 0; i < pl->n && !any && t->sigma2 >= 0 && s->axis[t->sigma2].n == 1; i++)
        if (in_cell(s, t, &pl->p[i], r, lv) && pl->p[i].val[t->sigma2]) c->sigma2 = pl->p[i].val[t->sigma2], any = 1;
    if (!any && t->sigma2 >= 0) {
        for (int i = 0; i < pl->n && !c->sigma2; i++) /* a row without sigma2 (collapsed) needs no tuning */
            if (in_cell(s, t, &pl->p[i], r, lv) && !pl->p[i].val[t->sigma2]) any = 1;
        if (!any) return;
    }
    double sum = 0, sq = 0, rsum = 0, rsq = 0;
    c->lo = INFINITY, c->hi = -INFINITY;
    for (int i = 0; i < pl->n; i++) {
        const point *p = &pl->p[i];
        if (!in_cell(s, t, p, r, lv) || (t->sigma2 >= 0 && !same(p->val[t->sigma2], c->sigma2)) ||
            (p->seed == t->tune && !t->report_tune))
            continue;
        c->want++;
        if (!o[i].done) continue;
        c->tot++;
        c->spikes_detector += o[i].spikes_detector, c->spikes_spec += o[i].spikes_spec;
        if (c->best < 0) c->best = i;
        if (o[i].diverged || isnan(o[i].final_val)) { c->div++; continue; }
        double v = o[i].final_val, rise = o[i].max_rise;
        sum += v, sq += v * v, c->n++;
        c->lo = v < c->lo ? v : c->lo, c->hi = v > c->hi ? v : c->hi;
        if (!isnan(rise)) rsum += rise, rsq += rise * rise, c->rise_n++;
    }
    mean_sd(sum, sq, c->n, &c->mean, &c->sd);
    mean_sd(rsum, rsq, c->rise_n, &c->rise_mean, &c->rise_sd);
}

void table_cell_text(const cell_stat *c, char *buf, size_t n) {
    size_t at;
    if (!c->tot) at = (size_t)snprintf(buf, n, "–");
    else if (!c->n) at = (size_t)snprintf(buf, n, "diverged (%d/%d)", c->div, c->tot);
    else {
        /* one value has no sample std: "(–)", not a spread of 0 */
        at = c->n > 1 ? (size_t)snprintf(buf, n, "%.4f (%.4f)", c->mean, c->sd) : (size_t)snprintf(buf, n, "%.4f (–)", c->mean);
        if (c->div && at < n) at += (size_t)snprintf(buf + at, n - at, " [%d/%d diverged]", c->div, c->tot);
    }
    if (c->tot && c->tot < c->want && at < n) at += (size_t)snprintf(buf + at, n - at, " [%d of %d seeds]", c->tot, c->want);
    if (c->sigma2 && at < n) snprintf(buf + at, n - at, " σ²=%s", c->sigma2);
}
