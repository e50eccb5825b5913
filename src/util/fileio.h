/* fileio.h - nothing half-written: every output goes to PATH.tmp.PID, is
 * fsync'd, then renamed over PATH (and the directory fsync'd), so a reader
 * sees either the old file or the whole new one. */
#ifndef WESAR_FILEIO_H
#define WESAR_FILEIO_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char path[1024], tmp[1100];
    uint32_t crc;      /* CRC-32 of everything written so far */
    int error;         /* errno of the first failed write, 0 if none */
} atomic_file;

int atomic_open(atomic_file *a, const char *path, char *err, size_t errlen);
/* 0 on success; on failure the file is marked failed (commit then cleans up) */
int atomic_write(atomic_file *a, const void *buf, size_t n);
/* rc != 0: abandon (remove the temporary file).  Otherwise flush, fsync,
 * rename, fsync the directory.  Returns 0 only if PATH now holds the data. */
int atomic_commit(atomic_file *a, int rc, char *err, size_t errlen);

/* CRC-32 (IEEE): zlib's crc32() */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t n);

/* Removes temporary files (NAME.tmp.PID) in dir left by processes that no
 * longer run (a run killed mid-write); returns how many. */
int atomic_cleanup(const char *dir);

/* Replaces control characters in an error message built from untrusted
 * input with '?', so that it stays one printable line. */
void err_printable(char *s);

int make_dir(const char *path, char *err, size_t errlen);

/* A whole file of at most max bytes as a NUL-terminated string (free() it);
 * regular files, pipes and /proc files, never a directory;
 * its length in *len if len is non-NULL; NULL with err naming the file.
 * With len NULL the file must be text: a NUL byte in it is an error. */
char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* in made absolute (realpath; for a glob, of its directory); in and out may
 * be the same buffer.  Left as it is when even the directory is missing. */
void path_absolute(const char *in, char *out, size_t len);

/* Takes DIR/.lock (flock, so it goes with the process, SIGKILL included)
 * for as long as the returned descriptor stays open; -1 with err naming the
 * directory (and the holder's pid) when another process has it. */
int dir_lock(const char *dir, char *err, size_t errlen);
#endif
