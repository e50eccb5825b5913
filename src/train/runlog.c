/* runlog.c - the run's JSON-lines logs (loop.h): cut back to a step on
 * resume and rollback, so that a log reads as one run. */
#include "loop.h"
#include "../util/fileio.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keeps the log's lines up to a step, so that the log reads as one run after
 * a resume or a rollback: every step once, in order.  keep_events: rollback
 * event lines stay whatever their step (on resume they are redone).  From
 * src into dst: the same file, or a branch's new log. */
int runlog_trim(const char *src, const char *dst, long step, int keep_events, char *err, size_t errlen) {
    FILE *f = fopen(src, "r");
    if (!f) return 0;
    atomic_file out;
    if (atomic_open(&out, dst, err, errlen)) { fclose(f); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int bad = 0;
    while (!bad && (n = getline(&line, &cap, f)) > 0) { /* telemetry lines are long */
        long s;
        if (sscanf(line, "{\"step\":%ld", &s) == 1 && line[n - 1] == '\n' &&
            (s <= step || (keep_events && strstr(line, "\"event\":"))))
            bad = atomic_write(&out, line, (size_t)n);
    }
    free(line);
    fclose(f);
    return atomic_commit(&out, bad, err, errlen);
}

/* (Re)opens a log of the run (closing *f first if open): cut >= 0 cuts it
 * back to that step (trim_log) and appends, on resume and rollback; cut < 0
 * starts it empty, for a fresh run. */
int runlog_open(FILE **f, const char *path, long cut, int keep_events, char *err, size_t errlen) {
    if (*f) fclose(*f);
    *f = NULL;
    if (cut >= 0 && runlog_trim(path, path, cut, keep_events, err, errlen)) return -1;
    *f = fopen(path, cut >= 0 ? "a" : "w");
    if (!*f) {
        snprintf(err, errlen, "%s: cannot %s: %s", path, cut >= 0 ? "open" : "create", strerror(errno));
        return -1;
    }
    return 0;
}
