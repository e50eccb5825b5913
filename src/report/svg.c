/* svg.c - inline SVG charts (svg.h). */
#include "svg.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>

/* tab10, then 10 darker or lighter companions: 20 runs before colours repeat */
static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                "#0b3d66", "#a65300", "#145214", "#7a1416", "#4b2d6b",
                                "#d6a28f", "#8a2a6b", "#000000", "#6b6b00", "#0a6b73"};
#define N_COLORS (int)(sizeof palette / sizeof *palette)
const char *svg_color(int i) { return palette[i % N_COLORS]; }

void emit(out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(o->f, fmt, ap) < 0) o->error = 1;
    va_end(ap);
}

void emit_escaped(out *o, const char *s) {
    for (; *s; s++) {
        if (*s == '<') emit(o, "&lt;");
        else if (*s == '>') emit(o, "&gt;");
        else if (*s == '&') emit(o, "&amp;");
        else if (*s == '"') emit(o, "&quot;");
        else emit(o, "%c", *s);
    }
}

typedef struct {
    int w, h, left, right, top, bottom;
    double x0, x1, y0, y1; /* y0, y1 in log10: every chart has a log y axis; x0, x1 too with logx */
    int logx;
} frame;

static double xval(const frame *fr, double x) { return fr->logx ? log10(x) : x; }
static double px(const frame *fr, double x) {
    return fr->left + (xval(fr, x) - fr->x0) / (fr->x1 - fr->x0) * (fr->w - fr->left - fr->right);
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

/* a vertical grid line and its label at x */
static void xtick(out *o, const frame *fr, double x) {
    double X = px(fr, x);
    emit(o, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#eee'/>", X, fr->top, X, fr->h - fr->bottom);
    emit(o, "<text x='%.1f' y='%d' text-anchor='middle'>%g</text>\n", X, fr->h - fr->bottom + 14, x);
}

static void axes(out *o, const frame *fr, const char *xlabel, const char *ylabel) {
    int W = fr->w, H = fr->h;
    emit(o, "<rect x='%d' y='%d' width='%d' height='%d' fill='#fff' stroke='#999'/>\n", fr->left,
         fr->top, W - fr->left - fr->right, H - fr->top - fr->bottom);
    if (fr->logx) { /* 1-2-5 in each decade, or the decades alone over more than three */
        int decades = (int)ceil(fr->x1) - (int)floor(fr->x0);
        for (int e = (int)floor(fr->x0); e <= (int)ceil(fr->x1) && e < 400; e++)
            for (int k = 1; k <= 5; k += k == 1 ? 1 : 3) {
                double v = k * pow(10, e);
                if ((decades <= 3 || k == 1) && log10(v) >= fr->x0 - 1e-9 && log10(v) <= fr->x1 + 1e-9) xtick(o, fr, v);
            }
    } else {
        double st = nice_step(fr->x1 - fr->x0, 6), xs = ceil(fr->x0 / st) * st;
        for (int i = 0; i < 20 && xs + i * st <= fr->x1 + 1e-9 * st; i++) xtick(o, fr, xs + i * st); /* bounded */
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
    emit(o, "<text x='%d' y='%d' text-anchor='middle'>%s</text>\n", (fr->left + W - fr->right) / 2, H - 4, xlabel);
    emit(o, "<text transform='translate(12,%d) rotate(-90)' text-anchor='middle'>%s</text>\n",
         (fr->top + H - fr->bottom) / 2, ylabel);
}

/* the legend's box: one row per entry, right-aligned in the plot area */
static void legend_box(out *o, const frame *fr, const legend_item *lg, int n) {
    size_t longest = 0;
    for (int i = 0; i < n; i++) longest = strlen(lg[i].label) > longest ? strlen(lg[i].label) : longest;
    int bw = 26 + 6 * (int)longest, bh = 6 + 14 * n, x = fr->w - fr->right - bw - 4, y = fr->top + 4;
    emit(o, "<rect x='%d' y='%d' width='%d' height='%d' fill='white' fill-opacity='0.85' stroke='#ccc'/>\n", x, y, bw, bh);
    for (int i = 0; i < n; i++) {
        emit(o, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d'>", x + 6, y + 5 + 14 * i,
             lg[i].color, x + 20, y + 14 + 14 * i);
        emit_escaped(o, lg[i].label);
        emit(o, "</text>\n");
    }
}

/* One chart; returns 0 if it had nothing to draw. */
int plot(out *o, const char *title, const char *xlabel, const char *ylabel, const trace *tr, int n, int w, int h,
         int logx) {
    return plot_legend(o, title, xlabel, ylabel, tr, n, w, h, logx, NULL, 0);
}

/* over 60 lines: the frame's extent, then each trace kind's marks, in one pass
 * each; split further it would pass the frame and the traces around for nothing */
int plot_legend(out *o, const char *title, const char *xlabel, const char *ylabel, const trace *tr, int n, int w,
                int h, int logx, const legend_item *lg, int n_lg) {
    frame fr = {w, h, 58, 12, 26, 34, INFINITY, -INFINITY, INFINITY, -INFINITY, logx};
    for (int i = 0; i < n; i++)
        for (int side = 0; side < 2; side++) {
            const series *s = side ? tr[i].band_hi : tr[i].s;
            for (int k = 0; s && k < s->n; k++) {
                double x = s->x[k], y = s->y[k];
                if (logx && !(x > 0)) continue;
                if (xval(&fr, x) < fr.x0) fr.x0 = xval(&fr, x);
                if (xval(&fr, x) > fr.x1) fr.x1 = xval(&fr, x);
                if (tr[i].kind == T_VLINES || tr[i].kind == T_TOP || !isfinite(y) || !(y > 0)) continue;
                if (log10(y) < fr.y0) fr.y0 = log10(y);
                if (log10(y) > fr.y1) fr.y1 = log10(y);
            }
        }
    if (!(fr.x1 >= fr.x0) || !(fr.y1 >= fr.y0)) return 0;
    if (fr.x1 == fr.x0) { fr.x0 -= logx ? 0.5 : 1; fr.x1 += logx ? 0.5 : 1; }
    else if (logx) { double m = 0.05 * (fr.x1 - fr.x0); fr.x0 -= m; fr.x1 += m; }
    double pad = fr.y1 > fr.y0 ? 0.04 * (fr.y1 - fr.y0) : 0.1;
    fr.y0 -= pad;
    fr.y1 += pad;
    emit(o, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
            "font-family='sans-serif' font-size='11'>\n", w, h, w, h);
    emit(o, "<text x='%d' y='16' font-size='13' font-weight='bold'>%s</text>\n", fr.left, title);
    axes(o, &fr, xlabel, ylabel);
    emit(o, "<svg x='%d' y='%d' width='%d' height='%d' viewBox='%d %d %d %d' overflow='hidden'>\n",
         fr.left, fr.top, w - fr.left - fr.right, h - fr.top - fr.bottom, fr.left, fr.top,
         w - fr.left - fr.right, h - fr.top - fr.bottom);
    for (int i = 0; i < n; i++) {
        const series *s = tr[i].s, *hi = tr[i].band_hi;
        if (tr[i].kind == T_BAND && hi && s->n && s->n == hi->n) { /* lo forward, hi back */
            emit(o, "<polygon fill='%s' fill-opacity='0.18' stroke='none' points='", tr[i].color);
            for (int k = 0; k < s->n; k++) emit(o, "%.1f,%.1f ", px(&fr, s->x[k]), py(&fr, s->y[k]));
            for (int k = hi->n - 1; k >= 0; k--) emit(o, "%.1f,%.1f ", px(&fr, hi->x[k]), py(&fr, hi->y[k]));
            emit(o, "'/>\n");
            continue;
        }
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
            else if (tr[i].kind == T_TOP)
                emit(o, "<text x='%.1f' y='%.0f' text-anchor='middle' font-size='15' font-weight='bold' fill='%s'>&#215;"
                        "<title>diverged at %g</title></text>\n", X, fr.top + 14 + 12 * fmin(fmax(s->y[k], 0), 8),
                     tr[i].color, s->x[k]);
            else if (tr[i].kind == T_RINGS)
                emit(o, "<circle cx='%.1f' cy='%.1f' r='5' fill='none' stroke='#d00' stroke-width='2'>"
                        "<title>spike at step %g: loss %.4f</title></circle>\n",
                     X, py(&fr, s->y[k]), s->x[k], s->y[k]);
        }
    }
    emit(o, "</svg>\n");
    if (n_lg) legend_box(o, &fr, lg, n_lg);
    emit(o, "</svg>\n");
    return 1;
}

