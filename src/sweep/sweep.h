/* sweep.h - grids of runs as one resumable command (wesar sweep).
 *
 * A sweep is a base training config (the words of a `wesar train` command
 * line), axes (a training or model key and its values; a joint axis
 * "init+reparam=small+none,he+wesar" sets several keys per value) and seeds.  Each
 * point of the product is an ordinary run directory OUT/<key=value,...,
 * seed=S>: report, eval and export work on it as on any run.
 *
 *  - An axis value that does not apply to a point (sigma2 under reparam
 *    none, the Lion options under AdamW: job_key_applies) is dropped from
 *    it, so those points collapse into one run without the key, listed.  A
 *    point whose config is invalid otherwise is skipped and listed.
 *  - Resumable: a point with OUT/POINT/result.json is finished and never
 *    runs again; one with checkpoints resumes from the newest (bit-identical
 *    for the same thread count); the rest start.  Each point records the
 *    config it was started with (sweep_point.json): a base that changed since
 *    is an error naming the key.  New axis values add points; dropped ones
 *    leave their directories alone.
 *  - Divergence is data: a loss that goes non-finite, or above
 *    diverge_factor (default 2) times step 1's, ends the point as diverged,
 *    with its step, and the sweep goes on.
 *  - Under mpirun, rank r runs points r, r + P, ... whole (no data
 *    parallelism inside a point) on its share of the cores; rank 0 writes
 *    the summary.
 *  - OUT/summary.jsonl: one line per finished point of the current grid, made
 *    from the point's own files (so it is rebuilt, never lost); OUT/summary.md:
 *    the table of final val loss, mean (std) over the reported seeds per
 *    method and lr, sigma2 chosen on the tuning seed, which is not reported.
 *  - --results FILE keeps the summary lines apart from the run directories,
 *    for a study run in parts on machines that do not keep OUT: a point with
 *    a line there counts as done (its config checked like a started one's),
 *    the table and the report are made from the lines where the directories
 *    are gone, and lines of points outside the current grid stay. */
#ifndef WESAR_SWEEP_H
#define WESAR_SWEEP_H
#include <stddef.h>

#define SWEEP_MAX_AXES 12
#define SWEEP_MAX_VALUES 64
#define SWEEP_MAX_POINTS 100000

typedef struct {
    char key[64];                    /* as given: lr, sigma2, reparam, ... */
    int n;
    char *vals[SWEEP_MAX_VALUES];
} sweep_axis;

typedef struct {
    char out[1024];
    char *base;                      /* training words, split like a shell line */
    sweep_axis axis[SWEEP_MAX_AXES];
    int n_axes;
    long seeds[SWEEP_MAX_VALUES];
    int n_seeds;
    long tune_seed;                  /* the seed sigma2 is chosen on; -1: the first */
    double diverge_factor;
    int threads;                     /* per point; 0: the cores / the ranks on this node */
    char results[1024];              /* optional: a JSON-lines file of summary lines kept apart from
                                        OUT (committed, say): a point with a line there is done */
    int dry_run;                     /* --dry-run: train nothing; say what is to do, write the table */
} sweep_spec;

/* From `wesar sweep` flags (--out, --base, --grid KEY=V1,V2, --seeds, --tune-seed,
 * --diverge-factor, --threads, --file F with the same as key = value lines). */
int sweep_parse(sweep_spec *s, int argc, char **argv, char *err, size_t errlen);
void sweep_free(sweep_spec *s);
/* Runs what is not done yet, then writes the summary and prints the table.
 * 0 when every point of the grid is finished, diverged or skipped. */
int sweep_run(const sweep_spec *s, char *err, size_t errlen);
/* The sweep that last ran in dir (its sweep.json), with out = dir. */
int sweep_load(sweep_spec *s, const char *dir, char *err, size_t errlen);
/* The summary and the table from what OUT holds now (rank 0, or no MPI). */
int sweep_summarize(const sweep_spec *s, int print, char *err, size_t errlen);
#endif
