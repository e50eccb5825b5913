/* runs.h - a run directory read back for the report: its config, its loss
 * curves, spikes and rollbacks (log.jsonl), and the last layer's telemetry
 * per matrix type (telemetry.jsonl). */
#ifndef WESAR_RUNS_H
#define WESAR_RUNS_H
#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct { double *x, *y; int n, cap; } series;

enum { M_RATIO, M_RATIO_EFF, M_RRC, N_MEASURES };
extern const char *measure_key[N_MEASURES];
extern const char *measure_title[N_MEASURES];
#define N_KINDS 9
extern const char *kinds[N_KINDS];

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

/* a point appended (non-finite ones are skipped); -1 when out of memory */
int series_add(series *s, double x, double y);
void series_free(series *s);
/* 0, or -1 with err naming the file, the line and what was wrong */
int run_read(run *r, const char *dir, char *err, size_t errlen);
void run_free(run *r);
/* Figure 1's data, the last layer's W_u and W_d update_ratio, as a sweep's
 * summary line keeps it ({"W_u": [[step, value], ...], "W_d": ...}) so the
 * report draws the panel where the run directory is gone (a fresh machine).
 * NULL without telemetry or memory; from_json: 0, or -1 (bad or no memory). */
cJSON *run_figure1_json(const run *r);
int run_figure1_from_json(run *r, const cJSON *j);
/* The training loss of the first EARLY_STEPS steps, where early spikes show
 * (a summary line's "early_loss": [[step, loss], ...]); the same contract. */
#define EARLY_STEPS 60
cJSON *run_early_loss_json(const run *r);
int run_early_loss_from_json(run *r, const cJSON *j);
/* err from a format, made one printable line; returns -1 */
int report_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
