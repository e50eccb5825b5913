/* summary.c - a sweep's summary.jsonl (one line per done point, from its own
 * files) and its table: final val loss, mean (std) over the reported seeds,
 * per method and lr, sigma2 chosen on the tuning seed. */
#define _GNU_SOURCE
#include "sweep.h"
#include "points.h"
#include "table.h"
#include "../kernels/kernels.h"
#include "../report/runs.h"
#include "../util/fileio.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_num(cJSON *j, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
    else cJSON_AddNullToObject(j, key);
}

/* the report's Figure-1 data and early loss curve, so they can be drawn from the line alone */
static void add_curves(cJSON *j, const char *dir) {
    run r;
    char err[256];
    memset(&r, 0, sizeof r);
    int ok = !run_read(&r, dir, err, sizeof err);
    cJSON *f = ok ? run_figure1_json(&r) : NULL, *e = ok ? run_early_loss_json(&r) : NULL;
    if (f) cJSON_AddItemToObject(j, "figure1", f);
    if (e) cJSON_AddItemToObject(j, "early_loss", e);
    run_free(&r);
}

/* one summary line: the point's full config (enough to rerun it alone), the
 * config the sweep asked for (to check a later grid against), and what it
 * measured; from the point's files, else its line in res (NULL: none) */
static cJSON *point_line(const point *p, const cJSON *res, outcome *o) {
    point_outcome(p, res, o);
    cJSON *cfg = o->done ? point_read_json(p->dir, "config.json") : NULL;
    if (!cfg) {
        const cJSON *old = res ? cJSON_GetObjectItemCaseSensitive(res, p->name) : NULL;
        return o->done && old ? cJSON_Duplicate(old, 1) : NULL;
    }
    cJSON *j = cJSON_CreateObject(), *req = point_read_json(p->dir, "sweep_point.json");
    cJSON_AddStringToObject(j, "point", p->name);
    cJSON_AddItemToObject(j, "config", cfg);
    if (req) cJSON_AddItemToObject(j, "requested", req);
    add_num(j, "final_val_loss", o->final_val);
    add_num(j, "best_val_loss", o->best_val);
    add_num(j, "train_loss_end", o->train_end);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "spikes_spec_rule", (double)o->spikes_spec);
    cJSON_AddNumberToObject(j, "spikes_detector", (double)o->spikes_detector);
    add_num(j, "max_rise", o->max_rise);
    cJSON_AddNumberToObject(j, "max_rise_step", (double)o->max_rise_step);
    cJSON_AddNumberToObject(j, "rollbacks", (double)o->rollbacks);
    cJSON_AddBoolToObject(j, "diverged", o->diverged);
    if (o->diverged) cJSON_AddNumberToObject(j, "diverged_step", (double)o->diverged_step);
    add_num(j, "clipped_fraction", o->clipped);
    add_num(j, "tokens_per_s", o->tok_s);
    add_curves(j, p->dir);
    /* the line is made right after the point ran, on its machine: what its numbers rerun the same on */
    cJSON_AddStringToObject(j, "gemm", kernels_gemm_name(p->j.tc.precision));
    cJSON_AddStringToObject(j, "simd", kernels_simd_name());
    return j;
}

/* A Markdown table: a row per method, a column per lr, each cell's text from text() */
static void grid(FILE *f, const sweep_spec *s, const table *t, const point_list *pl, const outcome *o,
                 void (*text)(const cell_stat *, char *, size_t), const char *what) {
    int nc = table_n_cols(s, t);
    fprintf(f, "| method |");
    for (int v = 0; v < nc; v++) fprintf(f, " %s%s |", t->lr >= 0 ? "lr=" : what, t->lr >= 0 ? table_col(s, t, v) : "");
    fprintf(f, "\n|---|");
    for (int v = 0; v < nc; v++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int r = 0; r < t->n_rows; r++) {
        fprintf(f, "| %s |", t->rows[r]);
        for (int v = 0; v < nc; v++) {
            cell_stat c;
            char buf[160];
            table_cell(s, t, pl, o, r, table_col(s, t, v), &c);
            text(&c, buf, sizeof buf);
            fprintf(f, " %s |", buf);
        }
        fprintf(f, "\n");
    }
}

/* the spikes table's cell: "0 / 12", the detector's and the spec rule's counts summed, then
 * "; rise 0.41 (0.05)" where the lines have max_rise (older lines do not) */
static void spikes_text(const cell_stat *c, char *buf, size_t n) {
    if (!c->tot) { snprintf(buf, n, "–"); return; }
    size_t at = (size_t)snprintf(buf, n, "%ld / %ld", c->spikes_detector, c->spikes_spec);
    if (c->rise_n > 1 && at < n) at += (size_t)snprintf(buf + at, n - at, "; rise %.2f (%.2f)", c->rise_mean, c->rise_sd);
    else if (c->rise_n && at < n) at += (size_t)snprintf(buf + at, n - at, "; rise %.2f (–)", c->rise_mean);
    if (c->div && at < n) snprintf(buf + at, n - at, " ×");
}

static int any_rise(const point_list *pl, const outcome *o) {
    for (int i = 0; i < pl->n; i++)
        if (o[i].done && !isnan(o[i].max_rise)) return 1;
    return 0;
}

/* The tuning seed's final val loss at every sigma2: what each cell's choice rests on */
static void tuning_table(FILE *f, const sweep_spec *s, const table *t, const point_list *pl, const outcome *o) {
    const sweep_axis *sg = &s->axis[t->sigma2];
    fprintf(f, "\n| seed %ld (tuning) |", t->tune);
    for (int k = 0; k < sg->n; k++) fprintf(f, " σ²=%s |", sg->vals[k]);
    fprintf(f, "\n|---|");
    for (int k = 0; k < sg->n; k++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int r = 0; r < t->n_rows; r++)
        for (int v = 0; v < table_n_cols(s, t); v++) {
            const char *lv = table_col(s, t, v);
            int at[SWEEP_MAX_VALUES], any = 0;
            for (int k = 0; k < sg->n; k++) any |= (at[k] = table_tune_point(s, t, pl, r, lv, sg->vals[k])) >= 0;
            if (!any) continue; /* a row without sigma2 (reparam=none) has nothing to tune */
            fprintf(f, "| %s%s%s |", t->rows[r], lv ? " lr=" : "", lv ? lv : "");
            for (int k = 0; k < sg->n; k++) {
                int i = at[k];
                if (i < 0 || !o[i].done) fprintf(f, " – |");
                else if (o[i].diverged || isnan(o[i].final_val)) fprintf(f, " diverged |");
                else fprintf(f, " %.4f |", o[i].final_val);
            }
            fprintf(f, "\n");
        }
    fprintf(f, "\nσ² tuning: the final val loss of seed %ld at each σ²; each cell of the first table uses the "
               "lowest.\n", t->tune);
}

/* The loss table, then the spikes table, with what they mean. */
static int write_table(const sweep_spec *s, const point_list *pl, const outcome *o, FILE *f) {
    table t;
    if (table_make(s, pl, &t)) return -1;
    char seeds[512] = "";
    for (int k = 0, at = 0; k < s->n_seeds; k++)
        if (s->seeds[k] != t.tune || t.report_tune)
            at += snprintf(seeds + at, sizeof seeds - (size_t)at, "%s%ld", at ? ", " : "", s->seeds[k]);
    grid(f, s, &t, pl, o, table_cell_text, "final val loss");
    fprintf(f, "\nFinal validation loss, mean (sample std) over seed%s %s", strchr(seeds, ',') ? "s" : "", seeds);
    if (t.report_tune && t.sigma2 >= 0) fprintf(f, "; one seed only: σ² is chosen and reported on the same seed, a hint, not a result.\n");
    else if (t.report_tune) fprintf(f, "; one seed only, so no spread: a hint, not a result.\n");
    else if (t.sigma2 >= 0 && s->axis[t.sigma2].n == 1)
        fprintf(f, "; σ² is the grid's one value, %s.\n", s->axis[t.sigma2].vals[0]);
    else if (t.sigma2 >= 0) fprintf(f, "; σ² chosen per cell by the final val loss of seed %ld, which is not among them.\n", t.tune);
    else fprintf(f, " (seed %ld, the tuning seed, is left out).\n", t.tune);
    fprintf(f, "Diverged: the loss went non-finite or above %g × step 1's. –: no finished point; (–): one value, no spread.\n", s->diverge_factor);
    if (t.sigma2 >= 0 && s->axis[t.sigma2].n > 1) tuning_table(f, s, &t, pl, o);
    fprintf(f, "\n");
    grid(f, s, &t, pl, o, spikes_text, "spikes");
    fprintf(f, "\nSpikes, summed over the same points: the detector's (the points' spike_window and spike_k) / the "
               "spec's rule (a loss above 1.1 × the lowest of the 100 steps before; a run of such steps counts once). "
               "×: a point diverged.\n");
    if (any_rise(pl, o))
        fprintf(f, "Rise: the largest climb of the training loss above its lowest so far, in nats (early spikes "
                   "included, which the detector's window misses), mean (sample std) over the points that did not "
                   "diverge.\n");
    table_free(&t);
    return 0;
}

static int write_lines(const char *path, cJSON *const *lines, int n, char *err, size_t errlen) {
    atomic_file af;
    if (atomic_open(&af, path, err, errlen)) return -1;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char *t = lines[i] ? cJSON_PrintUnformatted(lines[i]) : NULL;
        if (t) bad |= atomic_write(&af, t, strlen(t)) || atomic_write(&af, "\n", 1);
        free(t);
    }
    return atomic_commit(&af, bad, err, errlen);
}

/* The results file: this grid's lines, and the lines of points outside it as they were. */
static int write_results(const sweep_spec *s, const point_list *pl, cJSON **lines, const cJSON *res, char *err,
                         size_t errlen) {
    int n = 0, cap = pl->n + cJSON_GetArraySize(res) + 1;
    cJSON **all = calloc((size_t)cap, sizeof *all);
    if (!all) { snprintf(err, errlen, "out of memory"); return -1; }
    for (const cJSON *it = res->child; it; it = it->next) {
        int in_grid = 0;
        for (int i = 0; i < pl->n && !in_grid; i++) in_grid = !strcmp(pl->p[i].name, it->string);
        if (!in_grid) all[n++] = (cJSON *)it;
    }
    for (int i = 0; i < pl->n; i++) all[n++] = lines[i];
    int rc = write_lines(s->results, all, n, err, errlen);
    free(all);
    return rc;
}

int sweep_summarize(const sweep_spec *s, int print, char *err, size_t errlen) {
    point_list pl;
    if (points_build(s, &pl, err, errlen)) return -1;
    cJSON *res = results_load(s->results, err, errlen);
    outcome *o = calloc((size_t)pl.n + 1, sizeof *o);
    cJSON **lines = calloc((size_t)pl.n + 1, sizeof *lines);
    char path[1200];
    snprintf(path, sizeof path, "%s/summary.jsonl", s->out);
    int rc = !res || !o || !lines || make_dir(s->out, err, errlen) ? -1 : 0, done = 0;
    for (int i = 0; i < pl.n && !rc; i++) done += (lines[i] = point_line(&pl.p[i], res, &o[i])) != NULL;
    if (!rc) rc = write_lines(path, lines, pl.n, err, errlen);
    if (!rc && s->results[0] && !s->dry_run) rc = write_results(s, &pl, lines, res, err, errlen); /* a dry run only reads it */
    char *md = NULL;
    size_t mdn = 0;
    FILE *mf = rc ? NULL : open_memstream(&md, &mdn);
    if (mf) {
        write_table(s, &pl, o, mf);
        fclose(mf);
        atomic_file af;
        snprintf(path, sizeof path, "%s/summary.md", s->out);
        rc = atomic_open(&af, path, err, errlen) || atomic_commit(&af, atomic_write(&af, md, mdn), err, errlen);
        if (!rc && print) printf("sweep: %d of %d points done; %s/summary.jsonl%s%s, %s/summary.md:\n\n%s", done, pl.n,
                                 s->out, s->results[0] && !s->dry_run ? ", " : "", s->dry_run ? "" : s->results, s->out, md);
    }
    for (int i = 0; lines && i < pl.n; i++) cJSON_Delete(lines[i]);
    free(lines);
    free(md);
    free(o);
    cJSON_Delete(res);
    points_free(&pl);
    return rc ? -1 : 0;
}
