/* table.h - what a sweep's points measured, and the numbers of its table:
 * per row (every axis but lr and sigma2) and lr, sigma2 chosen on the
 * tuning seed, then mean, sample std and spread of the final val loss over
 * the reported seeds.  summary.c prints it, the report draws it. */
#ifndef WESAR_TABLE_H
#define WESAR_TABLE_H
#include "points.h"

/* What one done point measured, read back from log.jsonl and result.json. */
typedef struct {
    int done, diverged;
    long diverged_step, steps;
    double final_val, best_val, train_end, clipped, tok_s;
    long spikes_spec, spikes_detector, rollbacks;
    double max_rise;    /* the largest climb of the training loss above its lowest so far, nats;
                           NaN in lines older than it */
    long max_rise_step;
} outcome;

/* A results file (sweep.h) as a JSON object: point name -> its summary line;
 * an empty object when there is none.  NULL with err on a damaged file. */
cJSON *results_load(const char *path, char *err, size_t errlen);
/* The point's outcome from its files, else from its line in res (NULL: none);
 * o->done 0 when it is not done. */
void point_outcome(const point *p, const cJSON *res, outcome *o);
cJSON *point_read_json(const char *dir, const char *name);

typedef struct {
    int lr, sigma2;     /* axis indices, -1 when the grid has none */
    long tune;          /* the tuning seed */
    int report_tune;    /* one seed only: tuned and reported on it */
    char **rows;        /* labels, in grid order */
    int n_rows;
    int lr_order[SWEEP_MAX_VALUES]; /* the lr values' indices, smallest lr first */
} table;

/* The table's columns: the lr values from the smallest, whatever the grid's
 * order (a study adds values as it goes); one NULL column without an lr axis. */
int table_n_cols(const sweep_spec *s, const table *t);
const char *table_col(const sweep_spec *s, const table *t, int v);

int table_make(const sweep_spec *s, const point_list *pl, table *t);
void table_free(table *t);
/* the row label of a point: "reparam=wesar optim=lion", or "all" */
void table_row_label(const sweep_spec *s, const table *t, const point *p, char *buf, size_t n);

typedef struct {
    const char *sigma2; /* chosen on the tuning seed; NULL without a sigma2 axis */
    int want;           /* reported points the grid has in the cell, done or not */
    int tot, n, div;    /* reported points done, finished with a val loss, diverged */
    double mean, sd, lo, hi;
    long spikes_detector, spikes_spec; /* summed over the done reported points */
    int rise_n;                       /* of those that did not diverge, how many have max_rise: */
    double rise_mean, rise_sd;        /* its mean and sample std */
    int best;           /* the first reported point in the cell, for its curves; -1 */
} cell_stat;

/* The cell of row r at lr value lv (NULL without an lr axis). */
void table_cell(const sweep_spec *s, const table *t, const point_list *pl, const outcome *o, int r, const char *lv,
                cell_stat *c);
/* The tuning seed's point of row r at lr value lv and sigma2 value sv, or -1. */
int table_tune_point(const sweep_spec *s, const table *t, const point_list *pl, int r, const char *lv, const char *sv);
/* "1.7470 (0.0123) σ²=4e-5", "diverged (3/3)", "–"; a cell still running
 * says how many of its seeds are done: "1.9194 (0.0080) [2 of 3 seeds]" */
void table_cell_text(const cell_stat *c, char *buf, size_t n);
#endif
