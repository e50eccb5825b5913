/* rundir.c - checkpoints in a run directory: list, find, prune, resolve --resume. */
#include "rundir.h"
#include "ckpt.h"
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* zero-padded steps: reverse name order is newest first */
static int newest_first(const void *a, const void *b) {
    return strcmp(*(char *const *)b, *(char *const *)a);
}

static int is_ckpt_name(const char *s) {
    if (strlen(s) != 17 || strncmp(s, "ckpt_", 5) || strcmp(s + 13, ".bin")) return 0;
    for (int i = 5; i < 13; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

int rundir_list(const char *dir, char ***names) {
    DIR *d = opendir(dir);
    int n = 0;
    *names = NULL;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_ckpt_name(e->d_name)) continue;
        char **nn = realloc(*names, (size_t)(n + 1) * sizeof *nn);
        if (!nn) break;
        *names = nn;
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(*names, (size_t)n, sizeof **names, newest_first); /* qsort(NULL, 0) is UB */
    return n;
}

void rundir_free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

long rundir_step(const char *name) {
    const char *base = strrchr(name, '/');
    return atol((base ? base + 1 : name) + 5);
}

int rundir_find_checkpoint(const char *dir, long max_step, char *path, size_t len, char *err,
                           size_t errlen) {
    char **names;
    int n = rundir_list(dir, &names), rc = -1;
    for (int i = 0; i < n && rc; i++) {
        char why[1400];
        if (max_step >= 0 && rundir_step(names[i]) > max_step) continue;
        snprintf(path, len, "%s/%s", dir, names[i]);
        rc = ckpt_verify(path, why, sizeof why);
        if (rc) fprintf(stderr, "warning: skipping %s\n", why);
    }
    rundir_free_names(names, n);
    if (rc) snprintf(err, errlen, "%s: no valid checkpoint (ckpt_*.bin) to resume from", dir);
    return rc;
}

void rundir_prune(const char *dir, int keep, long max_step) {
    char **names, path[1200];
    int n = rundir_list(dir, &names);
    for (int i = 0; i < n; i++) {
        if ((keep <= 0 || i < keep) && (max_step < 0 || rundir_step(names[i]) <= max_step)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rundir_free_names(names, n);
}

int rundir_resolve(const char *arg, char *ckpt, size_t clen, char *dir, size_t dlen, char *err,
                   size_t errlen) {
    struct stat st;
    if (stat(arg, &st)) {
        snprintf(err, errlen, "%s: cannot open: %s (expected a run directory or a checkpoint "
                 "file)", arg, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(dir, dlen, "%s", arg);
        return rundir_find_checkpoint(arg, -1, ckpt, clen, err, errlen);
    }
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", arg);
    snprintf(dir, dlen, "%s", dirname(tmp));
    snprintf(ckpt, clen, "%s", arg); /* loading it checks it */
    return 0;
}

int rundir_same(const char *a, const char *b) {
    struct stat x, y;
    return !stat(a, &x) && !stat(b, &y) && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}
