/* sweep_page.c - `wesar report SWEEPDIR`: a sweep drawn as the papers draw it
 * (report.h): the table, the LR-sensitivity chart (final val loss against
 * lr, a line per method through the mean over the reported seeds, their
 * spread as a band, diverged points as crosses at the top), the sigma2
 * tuning chart (the tuning seed's final val loss against sigma2), and the
 * Figure-1 panels (last layer's W_d and W_u update ratio) for the best cell
 * of each method. */
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
} sweep_data;

static double value(const char *v) { return v ? strtod(v, NULL) : NAN; }

static void html_table(out *o, const sweep_data *d) {
    const sweep_spec *s = &d->s;
    int nc = d->t.lr >= 0 ? s->axis[d->t.lr].n : 1;
    emit(o, "<table><tr><th>method</th>");
    for (int v = 0; v < nc; v++) emit(o, "<th>%s%s</th>", d->t.lr >= 0 ? "lr=" : "final val loss", d->t.lr >= 0 ? s->axis[d->t.lr].vals[v] : "");
    emit(o, "</tr>\n");
    for (int r = 0; r < d->t.n_rows; r++) {
        emit(o, "<tr><td><span style='color:%s'>&#9632;</span> ", svg_color(r));
        emit_escaped(o, d->t.rows[r]);
        emit(o, "</td>");
        for (int v = 0; v < nc; v++) {
            cell_stat c;
            char text[160];
            table_cell(s, &d->t, &d->pl, d->o, r, d->t.lr >= 0 ? s->axis[d->t.lr].vals[v] : NULL, &c);
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
static void lr_chart(out *o, const sweep_data *d) {
    const sweep_spec *s = &d->s;
    int R = d->t.n_rows, nt = 0, lr = d->t.lr;
    series *mean = calloc((size_t)R * 4 + 1, sizeof *mean), *lo = mean + R, *hi = lo + R, *top = hi + R;
    trace *tr = calloc((size_t)R * 4 + 1, sizeof *tr);
    for (int r = 0; mean && tr && r < R; r++) {
        for (int v = 0; v < s->axis[lr].n; v++) {
            cell_stat c;
            double x = value(s->axis[lr].vals[v]);
            table_cell(s, &d->t, &d->pl, d->o, r, s->axis[lr].vals[v], &c);
            if (c.n && (series_add(&mean[r], x, c.mean) || series_add(&lo[r], x, c.lo) || series_add(&hi[r], x, c.hi)))
                o->error = 1;
            if (c.div && series_add(&top[r], x, r)) o->error = 1;
        }
        tr[nt++] = (trace){&lo[r], svg_color(r), T_BAND, &hi[r]};
        tr[nt++] = (trace){&mean[r], svg_color(r), T_LINE, NULL};
        tr[nt++] = (trace){&mean[r], svg_color(r), T_DOTS, NULL};
        tr[nt++] = (trace){&top[r], svg_color(r), T_TOP, NULL};
    }
    if (!mean || !tr) o->error = 1;
    else if (!plot(o, "LR sensitivity: final val loss against lr (band: the reported seeds' range; &#215;: diverged)",
                   "learning rate", "final val loss (nats/token)", tr, nt, 1100, 420, 1))
        emit(o, "<p>No finished point to draw yet.</p>\n");
    for (int k = 0; mean && k < 4 * R; k++) series_free(&mean[k]);
    free(mean);
    free(tr);
}

/* the tuning seed's final val against sigma2, one line per method and lr */
static void sigma2_chart(out *o, const sweep_data *d) {
    const sweep_spec *s = &d->s;
    int sg = d->t.sigma2, lr = d->t.lr, nl = lr >= 0 ? s->axis[lr].n : 1, nser = d->t.n_rows * nl, nt = 0;
    series *line = calloc((size_t)nser * 2 + 1, sizeof *line), *top = line + nser;
    trace *tr = calloc((size_t)nser * 3 + 1, sizeof *tr);
    char lab[512];
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
    emit(o, "<p class='legend'>");
    for (int k = 0, drawn = 0; line && tr && k < nser; k++) { /* a colour per method and lr */
        if (!line[k].n && !top[k].n) continue;
        for (int m = 0; m < top[k].n; m++) top[k].y[m] = drawn; /* crosses of each line on a row of their own */
        drawn++;
        tr[nt++] = (trace){&line[k], svg_color(k), T_LINE, NULL};
        tr[nt++] = (trace){&line[k], svg_color(k), T_DOTS, NULL};
        tr[nt++] = (trace){&top[k], svg_color(k), T_TOP, NULL};
        emit(o, "<span style='margin-right:14px'><span style='color:%s'>&#9632;</span> ", svg_color(k));
        emit_escaped(o, d->t.rows[k / nl]);
        if (lr >= 0) emit(o, ", lr=%s", s->axis[lr].vals[k % nl]);
        emit(o, "</span>");
    }
    emit(o, "</p>\n");
    char title[160];
    snprintf(title, sizeof title, "σ² tuning: final val loss of seed %ld against σ² (a line per method and lr)", d->t.tune);
    if (!line || !tr) o->error = 1;
    else if (!plot(o, title, "σ² (common variance of the stored matrices)", "final val loss", tr, nt, 1100, 360, 1))
        emit(o, "<p>No finished tuning point to draw yet.</p>\n");
    for (int k = 0; line && k < 2 * nser; k++) series_free(&line[k]);
    free(line);
    free(tr);
}

/* Figure 1: W_d and W_u of the last layer, the best cell's first reported point per method */
static void figure1(out *o, const sweep_data *d, char *err, size_t errlen) {
    const sweep_spec *s = &d->s;
    int R = d->t.n_rows, nl = d->t.lr >= 0 ? s->axis[d->t.lr].n : 1;
    run *runs = calloc((size_t)R + 1, sizeof *runs);
    int *have = calloc((size_t)R + 1, sizeof *have);
    for (int r = 0; runs && have && r < R; r++) {
        cell_stat best = {0}, c;
        best.best = -1;
        for (int v = 0; v < nl; v++) {
            table_cell(s, &d->t, &d->pl, d->o, r, d->t.lr >= 0 ? s->axis[d->t.lr].vals[v] : NULL, &c);
            if (c.n && (best.best < 0 || c.mean < best.mean)) best = c;
        }
        if (best.best >= 0 && !run_read(&runs[r], d->pl.p[best.best].dir, err, errlen)) have[r] = 1;
    }
    emit(o, "<h2>Figure 1: the last layer's update ratio ||&#916;W|| / ||W||, best cell of each method</h2>\n"
            "<div class='grid'>\n");
    int any = 0;
    for (int kind = 0; kind < 2; kind++) {
        const char *name = kind ? "W_u" : "W_d";
        int k = kind ? 0 : 1; /* kinds[]: W_u first, W_d second */
        trace *tr = calloc((size_t)R + 1, sizeof *tr);
        int nt = 0;
        for (int r = 0; tr && r < R; r++)
            if (have[r] && runs[r].tel[M_RATIO][k].n) tr[nt++] = (trace){&runs[r].tel[M_RATIO][k], svg_color(r), T_LINE, NULL};
        char title[64];
        snprintf(title, sizeof title, "%s, last layer", name);
        if (nt) any |= plot(o, title, "step", "update_ratio", tr, nt, 540, 300, 0);
        free(tr);
    }
    emit(o, "</div>\n");
    if (!any) emit(o, "<p>No telemetry.jsonl in the best points (sweep with --telemetry-every N in --base).</p>\n");
    for (int r = 0; runs && r < R; r++)
        if (have[r]) run_free(&runs[r]);
    free(runs);
    free(have);
}

static void sweep_page(out *o, const sweep_data *d, char *err, size_t errlen) {
    emit(o, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>wesar sweep</title>\n"
            "<style>body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child"
            "{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:6px}</style></head><body>\n<h1>wesar sweep: ");
    emit_escaped(o, d->s.out);
    emit(o, "</h1>\n<p>base: <code>");
    emit_escaped(o, d->s.base ? d->s.base : "");
    emit(o, "</code></p>\n");
    html_table(o, d);
    if (d->t.lr >= 0) lr_chart(o, d);
    else emit(o, "<p>No lr axis: no LR-sensitivity chart.</p>\n");
    if (d->t.sigma2 >= 0) sigma2_chart(o, d);
    figure1(o, d, err, errlen);
    emit(o, "<p style='color:#777'>Written by <code>wesar report</code> from the points' own files; the numbers "
            "are those of summary.md.</p>\n</body></html>\n");
}

int report_is_sweep(const char *dir) {
    char path[1100];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    FILE *f = fopen(path, "r");
    if (f) fclose(f);
    return f != NULL;
}

int report_sweep(const char *dir, const char *out_path, char *err, size_t errlen) {
    sweep_data d;
    memset(&d, 0, sizeof d);
    if (sweep_load(&d.s, dir, err, errlen)) return -1;
    int rc = points_build(&d.s, &d.pl, err, errlen);
    if (!rc) {
        d.o = calloc((size_t)d.pl.n + 1, sizeof *d.o);
        rc = !d.o || table_make(&d.s, &d.pl, &d.t) ? report_fail(err, errlen, "out of memory") : 0;
    }
    cJSON *res = rc ? NULL : results_load(d.s.results, err, errlen);
    if (!res) rc = -1;
    for (int i = 0; !rc && i < d.pl.n; i++) point_outcome(&d.pl.p[i], res, &d.o[i]);
    cJSON_Delete(res);
    char *buf = NULL;
    size_t len = 0;
    out o = {rc ? NULL : open_memstream(&buf, &len), 0};
    if (!rc && !o.f) rc = report_fail(err, errlen, "out of memory");
    if (!rc) {
        sweep_page(&o, &d, err, errlen);
        if (fclose(o.f) || o.error) rc = report_fail(err, errlen, "out of memory while building the page");
        atomic_file af;
        if (!rc && !(rc = atomic_open(&af, out_path, err, errlen)))
            rc = atomic_commit(&af, atomic_write(&af, buf, len), err, errlen);
    }
    free(buf);
    table_free(&d.t);
    free(d.o);
    points_free(&d.pl);
    sweep_free(&d.s);
    return rc;
}
