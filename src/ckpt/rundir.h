/* rundir.h - a run directory: the checkpoints ckpt_<step>.bin in it (eight
 * digits, so name order is step order), found, listed and pruned here for
 * train, resume, eval, generate and export alike.
 *
 * Resuming names a run directory (its newest valid checkpoint) or one
 * checkpoint file.  The run goes on in its own directory unless --out names
 * another: a branch, which must hold no checkpoints of its own and starts
 * with a copy of the run's log up to the checkpoint's step. */
#ifndef WESAR_RUNDIR_H
#define WESAR_RUNDIR_H
#include <stddef.h>

/* ckpt_XXXXXXXX.bin names in dir (not paths), newest first; free with
 * rundir_free_names.  0 when there are none or dir does not exist. */
int rundir_list(const char *dir, char ***names);
void rundir_free_names(char **names, int n);
/* The step in a "ckpt_XXXXXXXX.bin" name or a path ending in one. */
long rundir_step(const char *name);

/* The newest checkpoint in dir whose checksum verifies and, if max_step >=
 * 0, at most at that step; damaged ones are reported on stderr and skipped. */
int rundir_find_checkpoint(const char *dir, long max_step, char *path, size_t len, char *err,
                           size_t errlen);

/* Removes all but the newest `keep` checkpoints (keep 0: no limit) and every
 * one after max_step (max_step < 0: no limit). */
void rundir_prune(const char *dir, int keep, long max_step);

/* What --resume ARG names: the checkpoint to load into ckpt, its directory
 * into dir.  ARG is a run directory (its newest valid checkpoint) or a
 * file (checked when it is loaded); a missing ARG is an error that says
 * what was expected. */
int rundir_resolve(const char *arg, char *ckpt, size_t clen, char *dir, size_t dlen, char *err,
                   size_t errlen);

/* 1 when a and b name the same existing directory. */
int rundir_same(const char *a, const char *b);
#endif
