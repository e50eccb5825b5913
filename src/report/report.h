/* report.h - `wesar report`: one self-contained HTML page (inline SVG, no
 * scripts, no network) that compares training runs:
 *   - a table: method, optimizer, lr, warmup, steps, final train and val
 *     loss, spikes, rollbacks;
 *   - the training loss of every run overlaid (log scale), validation
 *     points, spikes marked, rollbacks as dashed lines;
 *   - per matrix type, the update ratio over steps of every run (the WeSaR
 *     paper's Figure 1: W_u and W_d of the last layer; also W_q, W_k, W_v,
 *     W_o, W_gate, W_e, W_p), for the stored matrices (what the optimizer
 *     sees) and the effective ones (what the model computes with), and the
 *     relative representation change.
 * It reads RUNDIR/{config.json, log.jsonl, telemetry.jsonl}; a run without
 * telemetry.jsonl contributes its loss curve only. */
#ifndef WESAR_REPORT_H
#define WESAR_REPORT_H
#include <stddef.h>

/* Writes the page to out_path (atomically).  0 on success, else -1 with err
 * naming the file, the line and what was wrong. */
int report_write(const char *const *run_dirs, int n_runs, const char *out_path, char *err,
                 size_t errlen);

/* A sweep's directory (it holds sweep.json, see sweep.h) is drawn on a page
 * of its own (sweep_page.c): the table, LR sensitivity, sigma2 tuning and
 * the Figure-1 panels of each method's best cell.  charts_dir (NULL: none)
 * also gets each chart as a standalone .svg (lr-sensitivity, sigma2-tuning,
 * figure1-W_d, figure1-W_u), legends inside, for a README. */
int report_is_sweep(const char *dir);
int report_sweep(const char *sweep_dir, const char *out_path, const char *charts_dir, char *err, size_t errlen);
#endif
