/* sweep_page.c - `wesar report SWEEPDIR`: a sweep drawn as the papers draw it
 * (report.h): the table, the LR-sensitivity chart (final val loss against
 * lr, a line per method through the mean over the reported seeds, their
 * spread as a band, diverged points as crosses at the top), the sigma2
 * tuning chart (the tuning seed's final val loss against sigma2), the
 * early training loss and the Figure-1 panels (last layer's W_d and W_u
 * update ratio) for the best cell of each method. */
#include "report.h"
#include "runs.h"
#include "svg.h"
#include "../sweep/table.h"
#include "../util/fileio.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sweep_spec s;
    point_list pl;
    outcome *o;
    table t;
    cJSON *res; /* the summary lines, for points whose directory is gone */
    run *runs;  /* per row: Figure 1's run, where have[r] */
    int *have;
} sweep_data;

static double value(const char *v) { return v ? strtod(v, NULL) : NAN; }

static void html_table(out *o, const sweep_data *d) {
    const sweep_spec *s = &d->s;
    int nc = table_n_cols(s, &d->t);
    emit(o, "<table><tr><th>method</th>");
    for (int v = 0; v < nc; v++) emit(o, "<th>%s%s</th>", d->t.lr >= 0 ? "lr=" : "final val loss", d->t.lr >= 0 ? table_col(s, &d->t, v) : "");
    emit(o, "</tr>\n");
    for (int r = 0; r < d->t.n_rows; r++) {
        emit(o, "<tr><td><span style='color:%s'>&#9632;</span> ", svg_color(r));
        emit_escaped(o, d->t.rows[r]);
        emit(o, "</td>");
        for (int v = 0; v < nc; v++) {
            cell_stat c;
            char text[160];
            table_cell(s, &d->t, &d->pl, d->o, r, table_col(s, &d->t, v), &c);
            table_cell_text(&c, text, sizeof text);
            emit(o, "<td>");
            emit_escaped(o, text);
            emit(o, "</td>");
        }
        emit(o, "</tr>\n");
    }
    emit(o, "</table>\n<p>Final validation loss, mean (sample std) over the reported seeds; ");
    if (d->t.report_tune) emit(o, "one seed only, so σ² is chosen and reported on the same seed.</p>\n");
    else emit(o, "σ² chosen per cell on seed %ld, which is not reported.</p>\n", d->t.tune);
}

/* final val against lr: mean line, seed band, crosses where a reported point diverged */
static int lr_chart(out *o, const sweep_data *d) {
    const sweep_spec *s = &d->s;
    int R = d->t.n_rows, nt = 0, lr = d->t.lr, drawn = 0;
    series *mean = calloc((size_t)R * 4 + 1, sizeof *mean), *lo = mean + R, *hi = lo + R, *top = hi + R;
    trace *tr = calloc((size_t)R * 4 + 1, sizeof *tr);
    legend_item *lg = calloc((size_t)R + 1, sizeof *lg);
    for (int r = 0; mean && tr && lg && r < R; r++) {
        for (int v = 0; v < s->axis[lr].n; v++) { /* smallest lr first: the line runs left to right */
            cell_stat c;
            double x = value(table_col(s, &d->t, v));
            table_cell(s, &d->t, &d->pl, d->o, r, table_col(s, &d->t, v), &c);
            if (c.n && (series_add(&mean[r], x, c.mean) || series_add(&lo[r], x, c.lo) || series_add(&hi[r], x, c.hi)))
                o->error = 1;
            if (c.div && series_add(&top[r], x, r)) o->error = 1;
        }
        tr[nt++] = (trace){&lo[r], svg_color(r), T_BAND, &hi[r]};
        tr[nt++] = (trace){&mean[r], svg_color(r), T_LINE, NULL};
        tr[nt++] = (trace){&mean[r], svg_color(r), T_DOTS, NULL};
        tr[nt++] = (trace){&top[r], svg_color(r), T_TOP, NULL};
        lg[r] = (legend_item){d->t.rows[r], svg_color(r)};
    }
    if (!mean || !tr || !lg) o->error = 1;
    else drawn = plot_legend(o, "LR sensitivity: final val loss against lr (band: the reported seeds' range; &#215;: diverged)",
                             "learning rate", "final val loss (nats/token)", tr, nt, 1100, 420, 1, lg, R);
    for (int k = 0; mean && k < 4 * R; k++) series_free(&mean[k]);
    free(mean);
    free(tr);
    free(lg);
    return drawn;
}

/* the tuning seed's final val against sigma2, one line per method and lr */
static int sigma2_chart(out *o, const sweep_data *d) {
    const sweep_spec *s = &d->s;
    int sg = d->t.sigma2, lr = d->t.lr, nl = lr >= 0 ? s->axis[lr].n : 1, nser = d->t.n_rows * nl, nt = 0, nlg = 0;
    series *line = calloc((size_t)nser * 2 + 1, sizeof *line), *top = line + nser;
    trace *tr = calloc((size_t)nser * 3 + 1, sizeof *tr);
    legend_item *lg = calloc((size_t)nser + 1, sizeof *lg);
    char (*names)[600] = calloc((size_t)nser + 1, sizeof *names), lab[512];
    for (int i = 0; line && tr && i < d->pl.n; i++) {
        const point *p = &d->pl.p[i];
        if (p->seed != d->t.tune || !d->o[i].done || !p->val[sg]) continue;
        table_row_label(s, &d->t, p, lab, sizeof lab);
        int r = 0, v = 0;
        while (r < d->t.n_rows && strcmp(d->t.rows[r], lab)) r++;
        while (lr >= 0 && v < nl && strcmp(s->axis[lr].vals[v], p->val[lr])) v++;
        int k = r * nl + v;
        if (d->o[i].diverged || isnan(d->o[i].final_val)) o->error |= series_add(&top[k], value(p->val[sg]), k) != 0;
        else o->error |= series_add(&line[k], value(p->val[sg]), d->o[i].final_val) != 0;
    }
    for (int k = 0; line && tr && lg && names && k < nser; k++) { /* a colour per method and lr */
        if (!line[k].n && !top[k].n) continue;
        for (int m = 0; m < top[k].n; m++) top[k].y[m] = nlg; /* crosses of each line on a row of their own */
        tr[nt++] = (trace){&line[k], svg_color(k), T_LINE, NULL};
        tr[nt++] = (trace){&line[k], svg_color(k), T_DOTS, NULL};
        tr[nt++] = (trace){&top[k], svg_color(k), T_TOP, NULL};
        snprintf(names[nlg], sizeof names[nlg], "%s%s%s", d->t.rows[k / nl], lr >= 0 ? ", lr=" : "",
                 lr >= 0 ? s->axis[lr].vals[k % nl] : "");
        lg[nlg] = (legend_item){names[nlg], svg_color(k)};
        nlg++;
    }
    char title[160];
    snprintf(title, sizeof title, "σ² tuning: final val loss of seed %ld against σ² (a line per method and lr)", d->t.tune);
    int drawn = 0;
    if (!line || !tr || !lg || !names) o->error = 1;
    else drawn = plot_legend(o, title, "σ² (common variance of the stored matrices)", "final val loss", tr, nt, 1100,
                             360, 1, lg, nlg);
    for (int k = 0; line && k < 2 * nser; k++) series_free(&line[k]);
    free(line);
    free(tr);
    free(lg);
    free(names);
    return drawn;
}

/* 1 when the point's curves are there: its own files, else its summary line's
 * "figure1" and "early_loss", either or both (a study in parts, on a fresh machine) */
static int best_run(const sweep_data *d, const point *p, run *r, char *err, size_t errlen) {
    if (!run_read(r, p->dir, err, errlen)) return 1;
    run_free(r);
    memset(r, 0, sizeof *r);
    const cJSON *line = cJSON_GetObjectItemCaseSensitive(d->res, p->name);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(line, "figure1");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(line, "early_loss");
    if (f && run_figure1_from_json(r, f)) f = NULL, run_free(r), memset(r, 0, sizeof *r);
    if (e && run_early_loss_from_json(r, e)) e = NULL, series_free(&r->loss);
    if (f || e) return 1;
    run_free(r);
    memset(r, 0, sizeof *r);
    return 0;
}

/* Figure 1's runs: per method, the first reported point of its best cell */
static void best_runs(sweep_data *d, char *err, size_t errlen) {
    const sweep_spec *s = &d->s;
    int R = d->t.n_rows, nl = d->t.lr >= 0 ? s->axis[d->t.lr].n : 1;
    d->runs = calloc((size_t)R + 1, sizeof *d->runs);
    d->have = calloc((size_t)R + 1, sizeof *d->have);
    for (int r = 0; d->runs && d->have && r < R; r++) {
        cell_stat best = {0}, c;
        best.best = -1;
        for (int v = 0; v < nl; v++) {
            table_cell(s, &d->t, &d->pl, d->o, r, table_col(s, &d->t, v), &c);
            if (c.n && (best.best < 0 || c.mean < best.mean)) best = c;
        }
        if (best.best >= 0) d->have[r] = best_run(d, &d->pl.p[best.best], &d->runs[r], err, errlen);
    }
}

/* Figure 1: the last layer's W_d (which = 1) or W_u (0), a line per method */
static int figure1(out *o, const sweep_data *d, int which) {
    int R = d->t.n_rows, nt = 0, drawn = 0;
    trace *tr = calloc((size_t)R + 1, sizeof *tr);
    legend_item *lg = calloc((size_t)R + 1, sizeof *lg);
    for (int r = 0; tr && lg && d->have && r < R; r++)
        if (d->have[r] && d->runs[r].tel[M_RATIO][which].n) {
            lg[nt] = (legend_item){d->t.rows[r], svg_color(r)};
            tr[nt++] = (trace){&d->runs[r].tel[M_RATIO][which], svg_color(r), T_LINE, NULL};
        }
    char title[96];
    snprintf(title, sizeof title, "Figure 1: %s of the last layer, update ratio ||&#916;W|| / ||W||", kinds[which]);
    if (!tr || !lg) o->error = 1;
    else if (nt) drawn = plot_legend(o, title, "step", "update_ratio", tr, nt, 700, 340, 0, lg, nt);
    free(tr);
    free(lg);
    return drawn;
}

/* The first EARLY_STEPS steps' training loss, a line per method (the runs of Figure 1), where
 * early spikes show: the paper's Figure 2 in miniature */
static int early_loss(out *o, const sweep_data *d, int arg) {
    (void)arg;
    int R = d->t.n_rows, nt = 0, drawn = 0;
    trace *tr = calloc((size_t)R + 1, sizeof *tr);
    legend_item *lg = calloc((size_t)R + 1, sizeof *lg);
    series *early = calloc((size_t)R + 1, sizeof *early); /* views of the runs' first steps, not copies */
    for (int r = 0; tr && lg && early && d->have && r < R; r++) {
        const series *l = &d->runs[r].loss;
        early[r] = (series){l->x, l->y, 0, 0};
        while (d->have[r] && early[r].n < l->n && l->x[early[r].n] <= EARLY_STEPS) early[r].n++;
        if (!early[r].n) continue;
        lg[nt] = (legend_item){d->t.rows[r], svg_color(r)};
        tr[nt++] = (trace){&early[r], svg_color(r), T_LINE, NULL};
    }
    char title[96];
    snprintf(title, sizeof title, "Training loss, the first %d steps", EARLY_STEPS);
    if (!tr || !lg || !early) o->error = 1;
    else if (nt) drawn = plot_legend(o, title, "step", "training loss", tr, nt, 700, 340, 0, lg, nt);
    free(early);
    free(tr);
    free(lg);
    return drawn;
}

/* the charts by name: the page draws them all, --charts DIR writes each to DIR/NAME.svg */
typedef struct {
    const char *name;
    int (*draw)(out *o, const sweep_data *d, int arg);
    int arg;
    const char *none;   /* the page's line when there is nothing to draw */
    const char *before; /* the page's HTML before it */
} chart;
static int draw_lr(out *o, const sweep_data *d, int arg) { (void)arg; return d->t.lr >= 0 && lr_chart(o, d); }
static int draw_sigma2(out *o, const sweep_data *d, int arg) { (void)arg; return d->t.sigma2 >= 0 && sigma2_chart(o, d); }
static const chart charts[] = {
    {"lr-sensitivity", draw_lr, 0, "No LR-sensitivity chart: no lr axis, or no finished point yet.", NULL},
    {"sigma2-tuning", draw_sigma2, 0, NULL, NULL},
    {"early-loss", early_loss, 0, "No early loss curves in the best points' files or summary lines (lines older than "
                                  "\"early_loss\" have none).",
     "<h2>Early training loss, best cell of each method (its first reported seed)</h2>\n"},
    {"figure1-W_d", figure1, 1, "No update-ratio telemetry in the best points, in their files or summary lines "
                                "(sweep with --telemetry-every N in --base).",
     "<h2>Figure 1: the last layer's update ratio, best cell of each method</h2>\n<div class='grid'>\n"},
    {"figure1-W_u", figure1, 0, NULL, NULL},
};
enum { N_CHARTS = sizeof charts / sizeof charts[0] };

static void sweep_page(out *o, const sweep_data *d) {
    emit(o, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>wesar sweep</title>\n"
            "<style>body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child"
            "{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:6px}</style></head><body>\n<h1>wesar sweep: ");
    emit_escaped(o, d->s.out);
    emit(o, "</h1>\n<p>base: <code>");
    emit_escaped(o, d->s.base ? d->s.base : "");
    emit(o, "</code></p>\n");
    html_table(o, d);
    for (int k = 0; k < N_CHARTS; k++) {
        if (charts[k].before) emit(o, "%s", charts[k].before);
        if (!charts[k].draw(o, d, charts[k].arg) && charts[k].none) emit(o, "<p>%s</p>\n", charts[k].none);
    }
    emit(o, "</div>\n<p style='color:#777'>Written by <code>wesar report</code> from the points' own files and "
            "summary lines; the numbers are those of summary.md.</p>\n</body></html>\n");
}

/* each chart that has something to draw as DIR/NAME.svg, written whole or not at all */
static int write_charts(const sweep_data *d, const char *dir, char *err, size_t errlen) {
    if (make_dir(dir, err, errlen)) return -1;
    for (int k = 0; k < N_CHARTS; k++) {
        char *buf = NULL, path[1200];
        size_t len = 0;
        out o = {open_memstream(&buf, &len), 0};
        if (!o.f) return report_fail(err, errlen, "out of memory");
        emit(&o, "<?xml version='1.0' encoding='UTF-8'?>\n");
        int drawn = charts[k].draw(&o, d, charts[k].arg), rc = fclose(o.f) || o.error ? -1 : 0;
        snprintf(path, sizeof path, "%s/%s.svg", dir, charts[k].name);
        atomic_file af;
        if (rc) report_fail(err, errlen, "out of memory while drawing %s", path);
        else if (drawn && !(rc = atomic_open(&af, path, err, errlen))) rc = atomic_commit(&af, atomic_write(&af, buf, len), err, errlen);
        free(buf);
        if (rc) return -1;
    }
    return 0;
}

int report_is_sweep(const char *dir) {
    char path[1100];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    FILE *f = fopen(path, "r");
    if (f) fclose(f);
    return f != NULL;
}

int report_sweep(const char *dir, const char *out_path, const char *charts_dir, char *err, size_t errlen) {
    sweep_data d;
    memset(&d, 0, sizeof d);
    if (sweep_load(&d.s, dir, err, errlen)) return -1;
    int rc = points_build(&d.s, &d.pl, err, errlen);
    if (!rc) {
        d.o = calloc((size_t)d.pl.n + 1, sizeof *d.o);
        rc = !d.o || table_make(&d.s, &d.pl, &d.t) ? report_fail(err, errlen, "out of memory") : 0;
    }
    d.res = rc ? NULL : results_load(d.s.results, err, errlen);
    if (!d.res) rc = -1;
    for (int i = 0; !rc && i < d.pl.n; i++) point_outcome(&d.pl.p[i], d.res, &d.o[i]);
    if (!rc) best_runs(&d, err, errlen);
    char *buf = NULL;
    size_t len = 0;
    out o = {rc ? NULL : open_memstream(&buf, &len), 0};
    if (!rc && !o.f) rc = report_fail(err, errlen, "out of memory");
    if (!rc) {
        sweep_page(&o, &d);
        if (fclose(o.f) || o.error) rc = report_fail(err, errlen, "out of memory while building the page");
        atomic_file af;
        if (!rc && !(rc = atomic_open(&af, out_path, err, errlen)))
            rc = atomic_commit(&af, atomic_write(&af, buf, len), err, errlen);
    }
    if (!rc && charts_dir) rc = write_charts(&d, charts_dir, err, errlen);
    free(buf);
    for (int r = 0; d.runs && d.have && r < d.t.n_rows; r++)
        if (d.have[r]) run_free(&d.runs[r]);
    free(d.runs);
    free(d.have);
    cJSON_Delete(d.res);
    table_free(&d.t);
    free(d.o);
    points_free(&d.pl);
    sweep_free(&d.s);
    return rc;
}
