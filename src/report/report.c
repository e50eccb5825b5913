/* report.c - the HTML page that compares runs, or draws a sweep (see report.h). */
#include "report.h"
#include "runs.h"
#include "svg.h"
#include "../util/fileio.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLOR(i) svg_color(i)

static void legend(out *o, run *runs, int n) {
    emit(o, "<p class='legend'>");
    for (int i = 0; i < n; i++) {
        emit(o, "<span><svg width='22' height='10'><line x1='0' y1='5' x2='22' y2='5' stroke='%s' "
                "stroke-width='3'/></svg> ", COLOR(i));
        emit_escaped(o, runs[i].name);
        emit(o, "</span> ");
    }
    emit(o, "<span><svg width='12' height='12'><circle cx='6' cy='6' r='4.5' fill='none' stroke='#d00' "
            "stroke-width='2'/></svg> spike</span> <span>dashed: rollback</span></p>\n");
}

static void page(out *o, run *runs, int n) {
    emit(o, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>wesar report</title>\n"
            "<style>body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child"
            "{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:6px}.legend span{margin-right:14px}"
            "</style></head><body>\n<h1>wesar report</h1>\n");
    emit(o, "<table><tr><th>run</th><th>method</th><th>steps</th><th>final loss</th><th>final val loss</th>"
            "<th>spikes</th><th>rollbacks</th><th>telemetry</th></tr>\n");
    for (int i = 0; i < n; i++) {
        run *r = &runs[i];
        emit(o, "<tr><td><span style='color:%s'>&#9632;</span> ", COLOR(i));
        emit_escaped(o, r->name);
        emit(o, "</td><td>");
        emit_escaped(o, r->label);
        emit(o, "</td><td>%g / %ld</td><td>%.4f</td>", r->loss.x[r->loss.n - 1], r->steps,
             r->loss.y[r->loss.n - 1]);
        if (r->val.n) emit(o, "<td>%.4f</td>", r->val.y[r->val.n - 1]);
        else emit(o, "<td>-</td>");
        emit(o, "<td>%d</td><td>%d</td><td>%s</td></tr>\n", r->spikes.n, r->rollbacks.n,
             r->has_tel ? "yes" : "no");
    }
    emit(o, "</table>\n");
    legend(o, runs, n);

    trace *tr = malloc((size_t)(4 * n + 1) * sizeof *tr);
    if (!tr) { o->error = 1; return; }
    int nt = 0;
    for (int i = 0; i < n; i++) {
        tr[nt++] = (trace){&runs[i].rollbacks, COLOR(i), T_VLINES, NULL};
        tr[nt++] = (trace){&runs[i].loss, COLOR(i), T_LINE, NULL};
        tr[nt++] = (trace){&runs[i].spikes, COLOR(i), T_RINGS, NULL};
    }
    plot(o, "Training loss", "step", "loss (nats/token)", tr, nt, 1100, 420, 0);
    nt = 0;
    for (int i = 0; i < n; i++) {
        tr[nt++] = (trace){&runs[i].val, COLOR(i), T_LINE, NULL};
        tr[nt++] = (trace){&runs[i].val, COLOR(i), T_DOTS, NULL};
    }
    emit(o, "<br>\n");
    if (!plot(o, "Validation loss", "step", "loss (nats/token)", tr, nt, 1100, 300, 0))
        emit(o, "<p>No validation loss logged.</p>\n");

    for (int m = 0; m < N_MEASURES; m++) {
        emit(o, "<h2>%s</h2>\n", measure_title[m]);
        int any = 0;
        emit(o, "<div class='grid'>\n");
        for (int k = 0; k < N_KINDS; k++) {
            nt = 0;
            for (int i = 0; i < n; i++)
                if (runs[i].tel[m][k].n) tr[nt++] = (trace){&runs[i].tel[m][k], COLOR(i), T_LINE, NULL};
            if (!nt) continue;
            char title[64];
            const char *kind = kinds[k];
            if (!strcmp(kind, "W_e") || !strcmp(kind, "W_p")) snprintf(title, sizeof title, "%s", kind);
            else snprintf(title, sizeof title, "%s, last layer", kind);
            any |= plot(o, title, "step", measure_key[m], tr, nt, 360, 240, 0);
        }
        emit(o, "</div>\n");
        if (!any) emit(o, "<p>No telemetry.jsonl in these runs (train with --telemetry-every N).</p>\n");
    }
    free(tr);
    emit(o, "<p style='color:#777'>Written by <code>wesar report</code>. Update ratios and RRC are "
            "logged every telemetry_every steps; see README, \"Telemetry\".</p>\n</body></html>\n");
}

int report_write(const char *const *dirs, int n, const char *out_path, char *err, size_t errlen) {
    if (n < 1) return report_fail(err, errlen, "report: expected at least one run directory");
    for (int i = 0; i < n; i++)
        if (report_is_sweep(dirs[i])) {
            if (n > 1) return report_fail(err, errlen, "report: %s is a sweep: it is drawn alone", dirs[i]);
            return report_sweep(dirs[0], out_path, NULL, err, errlen);
        }
    run *runs = calloc((size_t)n, sizeof *runs);
    if (!runs) return report_fail(err, errlen, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = run_read(&runs[i], dirs[i], err, errlen);
    if (!rc) {
        /* the page is built in memory, then written atomically */
        char *buf = NULL;
        size_t len = 0;
        out o = {open_memstream(&buf, &len), 0};
        if (!o.f) rc = report_fail(err, errlen, "out of memory");
        else {
            page(&o, runs, n);
            if (fclose(o.f) || o.error) rc = report_fail(err, errlen, "out of memory while building the page");
            atomic_file af;
            if (!rc && !(rc = atomic_open(&af, out_path, err, errlen)))
                rc = atomic_commit(&af, atomic_write(&af, buf, len), err, errlen);
        }
        free(buf);
    }
    for (int i = 0; i < n; i++) run_free(&runs[i]);
    free(runs);
    return rc;
}
