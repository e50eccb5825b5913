/* dist.h - data parallelism over MPI: who this process is, and the few
 * collectives the trainer needs.
 *
 * MPI is compiled in with -DWESAR_MPI (the Makefile does so when it finds
 * mpicc, or with MPI=1) and initialised only when a launcher started us
 * (mpirun sets OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK): a plain
 * `wesar train` never touches MPI and is rank 0 of 1, where every call below
 * is a no-op.  A build without MPI started by mpirun with more than one
 * process refuses (dist_init), since each copy would train alone into the
 * same directory.
 *
 * Failures never return.  A collective that fails (a rank died, a link
 * dropped: MPI_ERRORS_RETURN), or that stays blocked longer than the timeout
 * (a rank that hangs: a watchdog thread), prints what it was doing at which
 * step and ends the whole job, since the others could only wait forever.
 * Rank 0 alone writes files, and writes them atomically, so the last
 * checkpoint it committed stays valid; the message says how to resume.
 *
 * Only the main thread calls MPI (MPI_THREAD_FUNNELED); the watchdog calls
 * nothing but write and _exit.
 */
#ifndef WESAR_DIST_H
#define WESAR_DIST_H
#include "../kernels/kernels.h"
#include <stddef.h>

/* 0, or -1 with err set (MPI_Init failed, or mpirun without MPI built in). */
int dist_init(int *argc, char ***argv, char *err, size_t errlen);
/* Ends MPI: MPI_Finalize, or MPI_Abort when this rank failed on its own
 * (rc != 0 that dist_agree did not see), since the others may be blocked
 * in a collective that this rank will never join. */
void dist_finalize(int rc);
int dist_rank(void);
/* 1: from now on this rank acts alone (rank 0 of 1: collectives return at
 * once) until dist_solo(0) gives it back its rank among the others. */
void dist_solo(int on);
int dist_size(void);
int dist_local_size(void);  /* ranks on this node (for the default thread count) */
int dist_compiled(void);    /* 1 when built with MPI */
/* How many processes a launcher started us among, from its environment,
 * whether or not MPI is built in (0: no launcher). */
int dist_launcher_size(void);

/* Watchdog: seconds a blocking call may wait for the other ranks (0: no
 * limit).  resume_dir goes into the failure message. */
void dist_set_timeout(double seconds, const char *resume_dir);
/* The step the failure message names. */
void dist_set_step(long step);
/* For a SIGTERM/SIGINT handler (async-signal-safe): if we are blocked
 * waiting for the other ranks, says so on stderr with the resume hint (when
 * a rank died, mpirun tears the others down this way, and this is their
 * last word).  A healthy job stops after the step as usual. */
void dist_note_signal(int sig);

/* Every rank passes its own ok; returns 1 when all are ok.  Otherwise 0,
 * and err is left to the rank that should report: rank 0's error if it
 * failed, a failing rank's own (prefixed "rank r: ") if rank 0 did not;
 * the others get an empty err (nothing to print). */
int dist_agree(int ok, char *err, size_t errlen);
/* x[0..n) summed over ranks; every rank gets rank 0's result bit for bit
 * (reduce, then broadcast), so decisions taken from it agree. */
void dist_sum(double *x, int n, const char *what);
void dist_bcast(void *buf, size_t bytes, const char *what);  /* from rank 0 */

/* Gradients: starts an in-place sum of x[0..n) over ranks and returns at
 * once; dist_poll lets the started ones progress (call it between pieces of
 * work), dist_wait completes them all. */
void dist_iallreduce(real *x, size_t n);
void dist_poll(void);
void dist_wait(const char *what);
/* ZeRO-1: rank r's x[off[r] .. off[r]+n[r]) to every rank, in place. */
void dist_allgatherv(real *x, const size_t *off, const size_t *n, const char *what);
/* Point to point, for streaming sharded state to rank 0. */
void dist_send(const real *x, size_t n, int to, const char *what);
void dist_recv(real *x, size_t n, int from, const char *what);

/* Seconds spent inside MPI so far (blocked or driving progress). */
double dist_comm_seconds(void);
#endif
