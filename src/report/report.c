/* report.c - the HTML/SVG run comparison (see report.h).  Not a hot path:
 * plain growable arrays and cJSON per line. */
#include "report.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef struct { double *x, *y; int n, cap; } series;

enum { M_RATIO, M_RATIO_EFF, M_RRC, N_MEASURES };
static const char *measure_key[N_MEASURES] = {"update_ratio", "update_ratio_eff", "rrc"};
static const char *measure_title[N_MEASURES] = {
    "Update ratio ||&#916;W|| / ||W|| of the stored matrices (what the optimizer sees)",
    "Update ratio of the effective matrices (gate&#183;W under WeSaR: what the model computes with)",
    "Relative representation change ||X&#916;E<sup>T</sup>|| / ||XE<sup>T</sup>|| (layer inputs X held fixed)"};
#define N_KINDS 9
static const char *kinds[N_KINDS] = {"W_u", "W_d", "W_q", "W_k", "W_v", "W_o", "W_gate", "W_e", "W_p"};

typedef struct {
    char name[256], label[512];
    char reparam[32], optim[32];
    int n_layers;
    double lr;
    long warmup, steps;
    series loss, val, spikes, rollbacks; /* spikes: (step, loss); rollbacks: (to, failed) */
    int has_tel;
    series tel[N_MEASURES][N_KINDS];
} run;

/* tab10, then 10 darker or lighter companions: 20 runs before colours repeat */
static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                "#0b3d66", "#a65300", "#145214", "#7a1416", "#4b2d6b",
                                "#d6a28f", "#8a2a6b", "#000000", "#6b6b00", "#0a6b73"};
#define N_COLORS (int)(sizeof palette / sizeof *palette)
#define COLOR(i) palette[(i) % N_COLORS]

static int add(series *s, double x, double y) {
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

static void free_series(series *s) { free(s->x); free(s->y); }

static void free_run(run *r) {
    free_series(&r->loss);
    free_series(&r->val);
    free_series(&r->spikes);
    free_series(&r->rollbacks);
    for (int m = 0; m < N_MEASURES; m++)
        for (int k = 0; k < N_KINDS; k++) free_series(&r->tel[m][k]);
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

static int fail(char *err, size_t errlen, const char *fmt, ...) {
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
        return fail(err + k, errlen - k, " (is %s a wesar run directory?)", dir);
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *mc = cJSON_GetObjectItem(j, "model"), *tc = cJSON_GetObjectItem(j, "train");
    if (!cJSON_IsObject(mc) || !cJSON_IsObject(tc) || !(num(mc, "n_layers") >= 1) ||
        !(num(mc, "n_layers") <= 1 << 20)) {
        cJSON_Delete(j);
        return fail(err, errlen, "%s: expected a JSON object with \"model\" (n_layers ...) and "
                    "\"train\" as wesar train writes it", path);
    }
    r->n_layers = (int)num(mc, "n_layers");
    snprintf(r->reparam, sizeof r->reparam, "%s", str(mc, "reparam"));
    snprintf(r->optim, sizeof r->optim, "%s", str(tc, "optim"));
    r->lr = num(tc, "lr");
    r->warmup = num_long(tc, "warmup", -1);
    r->steps = num_long(tc, "steps", -1);
    const char *extras[] = {"nesterov", "inverse_bias_correction", "rrc_correction"};
    const char *short_names[] = {"nesterov", "ibc", "rrc"};
    char ex[64] = "";
    for (int i = 0; i < 3; i++)
        if (num(tc, extras[i]) == 1) {
            size_t k = strlen(ex);
            snprintf(ex + k, sizeof ex - k, "+%s", short_names[i]);
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
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
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
            rc = fail(err, errlen, "%s:%ld: expected a JSON object with a \"step\" number", path, no);
        else if (fn(r, j))
            rc = fail(err, errlen, "%s:%ld: unexpected content or out of memory", path, no);
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
                      ? add(&r->rollbacks, step, num(j, "failed_step")) : 0;
    double loss = num(j, "loss"), val = num(j, "val_loss");
    if (!isfinite(loss)) return -1;
    if (add(&r->loss, step, loss)) return -1;
    if (isfinite(val) && add(&r->val, step, val)) return -1;
    if (cJSON_IsTrue(cJSON_GetObjectItem(j, "spike")) && add(&r->spikes, step, loss)) return -1;
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
            if (v > 0 && add(&r->tel[m][k], step, v)) return -1;
        }
    }
    return 0;
}

static int read_run(run *r, const char *dir, char *err, size_t errlen) {
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
    if (!r->loss.n) return fail(err, errlen, "%s: no training steps logged yet", path);
    snprintf(path, sizeof path, "%s/telemetry.jsonl", dir);
    int rc = read_lines(r, path, tel_line, 1, err, errlen);
    if (rc < 0) return -1;
    r->has_tel = rc == 0;
    return 0;
}

/* ---- SVG ---- */

typedef struct { FILE *f; int error; } out;

static void emit(out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(o->f, fmt, ap) < 0) o->error = 1;
    va_end(ap);
}

static void emit_escaped(out *o, const char *s) {
    for (; *s; s++) {
        if (*s == '<') emit(o, "&lt;");
        else if (*s == '>') emit(o, "&gt;");
        else if (*s == '&') emit(o, "&amp;");
        else if (*s == '"') emit(o, "&quot;");
        else emit(o, "%c", *s);
    }
}

typedef enum { T_LINE, T_DOTS, T_RINGS, T_VLINES } trace_kind;
typedef struct { const series *s; const char *color; trace_kind kind; } trace;

typedef struct {
    int w, h, left, right, top, bottom;
    double x0, x1, y0, y1; /* y0, y1 in log10: every chart has a log y axis */
} frame;

static double px(const frame *fr, double x) {
    return fr->left + (x - fr->x0) / (fr->x1 - fr->x0) * (fr->w - fr->left - fr->right);
}
static double py(const frame *fr, double y) {
    return fr->h - fr->bottom - (log10(y) - fr->y0) / (fr->y1 - fr->y0) * (fr->h - fr->top - fr->bottom);
}

/* 1, 2 or 5 times a power of ten, giving about `want` intervals */
static double nice_step(double span, int want) {
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* a horizontal grid line and its label at value v */
static void ytick(out *o, const frame *fr, double v) {
    double Y = py(fr, v);
    emit(o, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#eee'/>", fr->left, Y, fr->w - fr->right, Y);
    emit(o, "<text x='%d' y='%.1f' text-anchor='end'>%g</text>\n", fr->left - 4, Y + 4, v);
}

static void axes(out *o, const frame *fr, const char *ylabel) {
    int W = fr->w, H = fr->h;
    emit(o, "<rect x='%d' y='%d' width='%d' height='%d' fill='#fff' stroke='#999'/>\n", fr->left,
         fr->top, W - fr->left - fr->right, H - fr->top - fr->bottom);
    double st = nice_step(fr->x1 - fr->x0, 6), xs = ceil(fr->x0 / st) * st;
    for (int i = 0; i < 20 && xs + i * st <= fr->x1 + 1e-9 * st; i++) { /* bounded: huge x, tiny st */
        double x = xs + i * st;
        double X = px(fr, x);
        emit(o, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#eee'/>", X, fr->top, X, H - fr->bottom);
        emit(o, "<text x='%.1f' y='%d' text-anchor='middle'>%g</text>\n", X, H - fr->bottom + 14, x);
    }
    if (fr->y1 - fr->y0 < 0.5) { /* under a factor 3: 1-2-5 steps of the value itself */
        double lo = pow(10, fr->y0), hi = pow(10, fr->y1), sy = nice_step(hi - lo, 5), ys = ceil(lo / sy) * sy;
        for (int i = 0; i < 20 && ys + i * sy <= hi; i++) ytick(o, fr, ys + i * sy);
    } else { /* decades; 1-2-5 within them when there are at most two */
        int decades = (int)ceil(fr->y1) - (int)floor(fr->y0);
        for (int e = (int)floor(fr->y0); e <= (int)ceil(fr->y1); e++)
            for (int k = 1; k <= 9; k++) {
                if (decades > 2 && k != 1) continue;
                if (decades > 1 && k != 1 && k != 2 && k != 5) continue;
                double v = k * pow(10, e), ly = log10(v);
                if (ly >= fr->y0 && ly <= fr->y1) ytick(o, fr, v);
            }
    }
    emit(o, "<text x='%d' y='%d' text-anchor='middle'>step</text>\n", (fr->left + W - fr->right) / 2, H - 4);
    emit(o, "<text transform='translate(12,%d) rotate(-90)' text-anchor='middle'>%s</text>\n",
         (fr->top + H - fr->bottom) / 2, ylabel);
}

/* One chart; returns 0 if it had nothing to draw. */
static int plot(out *o, const char *title, const char *ylabel, const trace *tr, int n, int w, int h) {
    frame fr = {w, h, 58, 12, 26, 34, INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < tr[i].s->n; k++) {
            double x = tr[i].s->x[k], y = tr[i].s->y[k];
            if (x < fr.x0) fr.x0 = x;
            if (x > fr.x1) fr.x1 = x;
            if (tr[i].kind == T_VLINES || !isfinite(y) || !(y > 0)) continue;
            if (log10(y) < fr.y0) fr.y0 = log10(y);
            if (log10(y) > fr.y1) fr.y1 = log10(y);
        }
    if (!(fr.x1 >= fr.x0) || !(fr.y1 >= fr.y0)) return 0;
    if (fr.x1 == fr.x0) { fr.x0 -= 1; fr.x1 += 1; }
    double pad = fr.y1 > fr.y0 ? 0.04 * (fr.y1 - fr.y0) : 0.1;
    fr.y0 -= pad;
    fr.y1 += pad;
    emit(o, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
            "font-family='sans-serif' font-size='11'>\n", w, h, w, h);
    emit(o, "<text x='%d' y='16' font-size='13' font-weight='bold'>%s</text>\n", fr.left, title);
    axes(o, &fr, ylabel);
    emit(o, "<svg x='%d' y='%d' width='%d' height='%d' viewBox='%d %d %d %d' overflow='hidden'>\n",
         fr.left, fr.top, w - fr.left - fr.right, h - fr.top - fr.bottom, fr.left, fr.top,
         w - fr.left - fr.right, h - fr.top - fr.bottom);
    for (int i = 0; i < n; i++) {
        const series *s = tr[i].s;
        if (tr[i].kind == T_LINE && s->n) {
            emit(o, "<polyline fill='none' stroke='%s' stroke-width='1.3' points='", tr[i].color);
            for (int k = 0; k < s->n; k++)
                if (s->y[k] > 0) emit(o, "%.1f,%.1f ", px(&fr, s->x[k]), py(&fr, s->y[k]));
            emit(o, "'/>\n");
        }
        for (int k = 0; k < s->n; k++) {
            double X = px(&fr, s->x[k]);
            if (tr[i].kind == T_VLINES)
                emit(o, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='%s' stroke-dasharray='4 3'>"
                        "<title>rollback to step %g (failed step %g)</title></line>\n",
                     X, fr.top, X, h - fr.bottom, tr[i].color, s->x[k], s->y[k]);
            else if (tr[i].kind == T_DOTS)
                emit(o, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n", X, py(&fr, s->y[k]), tr[i].color);
            else if (tr[i].kind == T_RINGS)
                emit(o, "<circle cx='%.1f' cy='%.1f' r='5' fill='none' stroke='#d00' stroke-width='2'>"
                        "<title>spike at step %g: loss %.4f</title></circle>\n",
                     X, py(&fr, s->y[k]), s->x[k], s->y[k]);
        }
    }
    emit(o, "</svg></svg>\n");
    return 1;
}

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
        tr[nt++] = (trace){&runs[i].rollbacks, COLOR(i), T_VLINES};
        tr[nt++] = (trace){&runs[i].loss, COLOR(i), T_LINE};
        tr[nt++] = (trace){&runs[i].spikes, COLOR(i), T_RINGS};
    }
    plot(o, "Training loss", "loss (nats/token)", tr, nt, 1100, 420);
    nt = 0;
    for (int i = 0; i < n; i++) {
        tr[nt++] = (trace){&runs[i].val, COLOR(i), T_LINE};
        tr[nt++] = (trace){&runs[i].val, COLOR(i), T_DOTS};
    }
    emit(o, "<br>\n");
    if (!plot(o, "Validation loss", "loss (nats/token)", tr, nt, 1100, 300))
        emit(o, "<p>No validation loss logged.</p>\n");

    for (int m = 0; m < N_MEASURES; m++) {
        emit(o, "<h2>%s</h2>\n", measure_title[m]);
        int any = 0;
        emit(o, "<div class='grid'>\n");
        for (int k = 0; k < N_KINDS; k++) {
            nt = 0;
            for (int i = 0; i < n; i++)
                if (runs[i].tel[m][k].n) tr[nt++] = (trace){&runs[i].tel[m][k], COLOR(i), T_LINE};
            if (!nt) continue;
            char title[64];
            const char *kind = kinds[k];
            if (!strcmp(kind, "W_e") || !strcmp(kind, "W_p")) snprintf(title, sizeof title, "%s", kind);
            else snprintf(title, sizeof title, "%s, last layer", kind);
            any |= plot(o, title, measure_key[m], tr, nt, 360, 240);
        }
        emit(o, "</div>\n");
        if (!any) emit(o, "<p>No telemetry.jsonl in these runs (train with --telemetry-every N).</p>\n");
    }
    free(tr);
    emit(o, "<p style='color:#777'>Written by <code>wesar report</code>. Update ratios and RRC are "
            "logged every telemetry_every steps; see README, \"Telemetry\".</p>\n</body></html>\n");
}

int report_write(const char *const *dirs, int n, const char *out_path, char *err, size_t errlen) {
    if (n < 1) return fail(err, errlen, "report: expected at least one run directory");
    run *runs = calloc((size_t)n, sizeof *runs);
    if (!runs) return fail(err, errlen, "out of memory");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = read_run(&runs[i], dirs[i], err, errlen);
    if (!rc) {
        /* the page is built in memory, then written atomically */
        char *buf = NULL;
        size_t len = 0;
        out o = {open_memstream(&buf, &len), 0};
        if (!o.f) rc = fail(err, errlen, "out of memory");
        else {
            page(&o, runs, n);
            if (fclose(o.f) || o.error) rc = fail(err, errlen, "out of memory while building the page");
            atomic_file af;
            if (!rc && !(rc = atomic_open(&af, out_path, err, errlen)))
                rc = atomic_commit(&af, atomic_write(&af, buf, len), err, errlen);
        }
        free(buf);
    }
    for (int i = 0; i < n; i++) free_run(&runs[i]);
    free(runs);
    return rc;
}
