/* points.h - the points of a sweep's grid (sweep.h): each one's name,
 * directory and training job, built from the base words and its values. */
#ifndef WESAR_POINTS_H
#define WESAR_POINTS_H
#include "sweep.h"
#include "../train/job.h"
#include <cjson/cJSON.h>

typedef struct {
    char name[512];                 /* "reparam=wesar,lr=3e-3,seed=1": its directory under OUT */
    char dir[1600];
    const char *val[SWEEP_MAX_AXES];/* this point's value on each axis; NULL: the axis does not apply */
    long seed;
    job j;
} point;

typedef struct {
    point *p;
    int n;                          /* points to run, in grid order */
    char **notes;                   /* collapsed and skipped points, one line each */
    int n_notes;
} point_list;

int points_build(const sweep_spec *s, point_list *pl, char *err, size_t errlen);
void points_free(point_list *pl);
/* The notes, on stdout. */
void points_say(const point_list *pl);
/* {"model": ..., "train": ...} as the point will run (cJSON_Delete it). */
cJSON *point_config(const point *p);
#endif
