/* job.h - a training job from the words of a command line: the model and
 * training config that `wesar train`, `info` and `sweep` build alike.
 *
 * Order: the preset (tiny unless --preset), then --config FILE, then every
 * other --KEY VALUE (or --KEY=VALUE) in order.  With --resume RUN the
 * checkpoint's config replaces preset and file (both are then refused), and
 * the flags may change training keys but no model key (rundir.h). */
#ifndef WESAR_JOB_H
#define WESAR_JOB_H
#include "../model/config.h"
#include "train.h"
#include <stddef.h>

typedef struct {
    model_config mc;
    train_config tc;
} job;

/* 0, or -1 with err naming the flag as typed (err empty: already said). */
int job_parse(job *j, int argc, char **argv, const char *resume, char *err, size_t n);

/* "--d-model" or "--d_model=256" -> "d_model" */
void job_flag_key(const char *flag, char *key, size_t n);

/* 0 when a key set on j has no effect there, so a grid over it collapses
 * (sigma2 without a common sigma, the Lion options under AdamW); 1 otherwise. */
int job_key_applies(const job *j, const char *key);
#endif
