/* svg.h - the report's charts: inline SVG with a log y axis, x linear
 * (steps) or log (learning rates, sigma2), lines, dots, rings, dashed
 * vertical lines, seed-spread bands and marks at the top edge. */
#ifndef WESAR_SVG_H
#define WESAR_SVG_H
#include "runs.h"
#include <stdio.h>

typedef struct { FILE *f; int error; } out;
void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emit_escaped(out *o, const char *s);

/* tab10, then 10 darker or lighter companions: 20 colours before they repeat */
const char *svg_color(int i);

/* T_BAND: s holds (x, lo) and band_hi (x, hi); T_TOP: a cross at the top edge at each x,
 * y rows below it (0..8), so that the crosses of several lines stay apart */
typedef enum { T_LINE, T_DOTS, T_RINGS, T_VLINES, T_BAND, T_TOP } trace_kind;
typedef struct { const series *s; const char *color; trace_kind kind; const series *band_hi; } trace;

/* One chart; returns 0 if it had nothing to draw.  logx: a log x axis. */
int plot(out *o, const char *title, const char *xlabel, const char *ylabel, const trace *tr, int n, int w, int h,
         int logx);
/* The same with a legend (label, colour) in the top-right corner, so that the
 * chart reads alone as an .svg file (the README's study charts). */
typedef struct { const char *label, *color; } legend_item;
int plot_legend(out *o, const char *title, const char *xlabel, const char *ylabel, const trace *tr, int n, int w,
                int h, int logx, const legend_item *lg, int n_lg);
#endif
