/* dist.c - MPI behind dist.h; without WESAR_MPI, one rank and no-ops. */
#include "dist.h"
#include "../util/clock.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef WESAR_MPI
#include <mpi.h>
#include <pthread.h>
#endif

static int g_rank = 0, g_size = 1, g_local = 1;
static double g_comm;         /* seconds inside MPI */
static _Atomic long g_step;

int dist_launcher_size(void) {
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    if (v) return atoi(v) > 0 ? atoi(v) : 1;
    return getenv("PMIX_RANK") ? 1 : 0;
}

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

/* solo: this rank alone, as if there were no others (wesar sweep runs whole
 * points per rank); every collective then returns at once, as with P = 1 */
static int g_world_rank, g_world_size = 1, g_solo;
void dist_solo(int on) {
    if (on && !g_solo) g_world_rank = g_rank, g_world_size = g_size, g_rank = 0, g_size = 1, g_solo = 1;
    else if (!on && g_solo) g_rank = g_world_rank, g_size = g_world_size, g_solo = 0;
}
int dist_local_size(void) { return g_local; }
double dist_comm_seconds(void) { return g_comm; }
void dist_set_step(long step) { atomic_store(&g_step, step); }


#ifndef WESAR_MPI
int dist_compiled(void) { return 0; }
int dist_init(int *argc, char ***argv, char *err, size_t errlen) {
    (void)argc, (void)argv;
    int n = dist_launcher_size();
    if (n > 1) {
        snprintf(err, errlen, "mpirun started %d copies, but this wesar was built without MPI: each would "
                 "train alone into the same directory (rebuild with MPI: apt-get install libopenmpi-dev "
                 "openmpi-bin, then make MPI=1)", n);
        return -1;
    }
    return 0;
}
void dist_finalize(int rc) { (void)rc; }
void dist_set_timeout(double seconds, const char *resume_dir) { (void)seconds, (void)resume_dir; }
void dist_note_signal(int sig) { (void)sig; }
int dist_agree(int ok, char *err, size_t errlen) { (void)err, (void)errlen; return ok; }
void dist_sum(double *x, int n, const char *what) { (void)x, (void)n, (void)what; }
void dist_bcast(void *buf, size_t bytes, const char *what) { (void)buf, (void)bytes, (void)what; }
void dist_iallreduce(real *x, size_t n) { (void)x, (void)n; }
void dist_poll(void) {}
void dist_wait(const char *what) { (void)what; }
void dist_allgatherv(real *x, const size_t *off, const size_t *n, const char *what) {
    (void)x, (void)off, (void)n, (void)what;
}
void dist_send(const real *x, size_t n, int to, const char *what) { (void)x, (void)n, (void)to, (void)what; }
void dist_recv(real *x, size_t n, int from, const char *what) { (void)x, (void)n, (void)from, (void)what; }
#else

#ifdef WESAR_FP64
#define MPI_REAL_T MPI_DOUBLE
#else
#define MPI_REAL_T MPI_FLOAT
#endif
#define CHUNK (1 << 30) /* MPI counts are int */
#define MAX_REQ 1024
/* A nonblocking sum gets a temporary buffer as large as its data from
 * OpenMPI (libnbc), held until it completes: with every layer in flight at
 * once that is a whole extra gradient, more than ZeRO-1 saves.  So sums go
 * in pieces of at most PIECE values, and at most INFLIGHT values are in
 * flight (16 MiB of fp32). */
#define PIECE ((size_t)1 << 21)
#define INFLIGHT ((size_t)1 << 22)

static int g_mpi;                      /* MPI_Init done */
static int g_agreed;                   /* a failure every rank knows about (dist_agree) */
static char g_hint[1400];              /* " The last checkpoint ..." for failure messages */
static _Atomic(const char *) g_what = "MPI";  /* the call we are blocked in */
static _Atomic double g_since;         /* when it began; 0 = not blocked */
static double g_timeout;
static MPI_Request g_req[MAX_REQ];
static int g_nreq;
static size_t g_inflight;
static int g_watchdog;

/* async-signal-safe pieces of a message */
static void put(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t k = write(2, s, n);
        if (k <= 0) return;
        s += k;
        n -= (size_t)k;
    }
}
static void put_long(long v) {
    char b[24];
    int i = 23;
    b[i] = 0;
    if (v < 0) v = 0;
    do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v && i);
    put(b + i);
}


int dist_compiled(void) { return 1; }

int dist_init(int *argc, char ***argv, char *err, size_t errlen) {
    if (!dist_launcher_size()) return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init failed");
        return -1;
    }
    g_mpi = 1;
    /* errors come back to us, so that we can say what was going on */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &g_local);
        MPI_Comm_free(&node);
    }
    return 0;
}

static _Noreturn void fail(const char *call, int code) {
    char s[MPI_MAX_ERROR_STRING] = "";
    int n = 0;
    MPI_Error_string(code, s, &n);
    fprintf(stderr, "wesar: rank %d of %d: %s failed in %s at step %ld: %s. A rank died or the connection "
                    "between ranks broke; ending the job.%s\n",
            g_rank, g_size, call, atomic_load(&g_what), atomic_load(&g_step) + 1, s, g_hint);
    MPI_Abort(MPI_COMM_WORLD, 3);
    _exit(3);
}

static double t_enter;
static void enter(const char *what) {
    atomic_store(&g_what, what);
    t_enter = now_sec();
    atomic_store(&g_since, t_enter);
}
static void leave(void) {
    atomic_store(&g_since, 0.0);
    g_comm += now_sec() - t_enter;
}
#define CHECK(call, expr) do { int rc_ = (expr); if (rc_ != MPI_SUCCESS) fail(call, rc_); } while (0)

void dist_finalize(int rc) {
    if (!g_mpi) return;
    if (rc && !g_agreed && g_size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
    g_mpi = 0;
}

/* A rank blocked longer than the timeout: the others are gone or hung. */
static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
        double since = atomic_load(&g_since);
        if (since > 0 && now_sec() - since > g_timeout) {
            fprintf(stderr, "wesar: rank %d of %d: no answer from the other ranks for %.0f s in %s at step "
                            "%ld: a rank died or hangs; ending the job (dist_timeout %.0f s).%s\n",
                    g_rank, g_size, now_sec() - since, atomic_load(&g_what), atomic_load(&g_step) + 1,
                    g_timeout, g_hint);
            fflush(stderr);
            _exit(3);
        }
    }
    return NULL;
}

void dist_set_timeout(double seconds, const char *resume_dir) {
    if (resume_dir && resume_dir[0])
        snprintf(g_hint, sizeof g_hint, " The last checkpoint in %s is intact: resume with wesar train "
                 "--resume %s (with any number of ranks).", resume_dir, resume_dir);
    g_timeout = seconds;
    if (g_size > 1 && seconds > 0 && !g_watchdog) {
        pthread_t th;
        if (!pthread_create(&th, NULL, watchdog, NULL)) {
            pthread_detach(th);
            g_watchdog = 1;
        }
    }
}

void dist_note_signal(int sig) {
    if (g_size < 2 || atomic_load(&g_since) <= 0) return;
    put("wesar: rank ");
    put_long(g_rank);
    put(": signal ");
    put_long(sig);
    put(" while waiting for the other ranks in ");
    put(atomic_load(&g_what));
    put(" at step ");
    put_long(atomic_load(&g_step) + 1);
    put("; if a rank died (see mpirun's message), the job ends here.");
    put(g_hint);
    put("\n");
}

int dist_agree(int ok, char *err, size_t errlen) {
    if (g_size < 2) return ok;
    int v[2] = {ok != 0, g_rank ? 1 : ok != 0};
    enter("agreeing on the setup");
    CHECK("MPI_Allreduce", MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    leave();
    if (v[0]) return 1;
    g_agreed = 1;
    if (ok || (g_rank && !v[1])) {
        if (errlen) err[0] = 0; /* rank 0 or the failing rank reports */
    } else if (g_rank) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "rank %d: %s", g_rank, tmp);
    }
    return 0;
}

void dist_sum(double *x, int n, const char *what) {
    if (g_size < 2) return;
    enter(what);
    CHECK("MPI_Reduce", MPI_Reduce(g_rank ? x : MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    CHECK("MPI_Bcast", MPI_Bcast(x, n, MPI_DOUBLE, 0, MPI_COMM_WORLD));
    leave();
}

void dist_bcast(void *buf, size_t bytes, const char *what) {
    if (g_size < 2) return;
    enter(what);
    for (size_t i = 0; i < bytes; i += CHUNK) {
        size_t k = bytes - i < CHUNK ? bytes - i : CHUNK;
        CHECK("MPI_Bcast", MPI_Bcast((char *)buf + i, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD));
    }
    leave();
}

void dist_wait(const char *what) {
    if (!g_nreq) return;
    enter(what);
    CHECK("MPI_Waitall", MPI_Waitall(g_nreq, g_req, MPI_STATUSES_IGNORE));
    leave();
    g_nreq = 0;
    g_inflight = 0;
}

void dist_iallreduce(real *x, size_t n) {
    if (g_size < 2) return;
    for (size_t i = 0; i < n; i += PIECE) {
        size_t k = n - i < PIECE ? n - i : PIECE;
        if (g_nreq == MAX_REQ || g_inflight + k > INFLIGHT) dist_wait("the gradient all-reduce");
        g_inflight += k;
        double t0 = now_sec();
        atomic_store(&g_what, "the gradient all-reduce");
        CHECK("MPI_Iallreduce",
              MPI_Iallreduce(MPI_IN_PLACE, x + i, (int)k, MPI_REAL_T, MPI_SUM, MPI_COMM_WORLD, &g_req[g_nreq]));
        g_nreq++;
        g_comm += now_sec() - t0;
    }
}

void dist_poll(void) {
    if (!g_nreq) return;
    double t0 = now_sec();
    int done = 0;
    atomic_store(&g_what, "the gradient all-reduce");
    CHECK("MPI_Testall", MPI_Testall(g_nreq, g_req, &done, MPI_STATUSES_IGNORE));
    if (done) g_nreq = 0, g_inflight = 0;
    g_comm += now_sec() - t0;
}

void dist_allgatherv(real *x, const size_t *off, const size_t *n, const char *what) {
    if (g_size < 2) return;
    int cnt[g_size], dsp[g_size];
    for (int r = 0; r < g_size; r++) {
        if (off[r] + n[r] > (size_t)INT32_MAX) {
            fprintf(stderr, "wesar: data-parallel training handles up to 2^31 parameters\n");
            MPI_Abort(MPI_COMM_WORLD, 3);
        }
        cnt[r] = (int)n[r];
        dsp[r] = (int)off[r];
    }
    enter(what);
    CHECK("MPI_Allgatherv", MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, cnt, dsp, MPI_REAL_T,
                                           MPI_COMM_WORLD));
    leave();
}

void dist_send(const real *x, size_t n, int to, const char *what) {
    enter(what);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        CHECK("MPI_Send", MPI_Send(x + i, (int)k, MPI_REAL_T, to, 7, MPI_COMM_WORLD));
    }
    leave();
}

void dist_recv(real *x, size_t n, int from, const char *what) {
    enter(what);
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        CHECK("MPI_Recv", MPI_Recv(x + i, (int)k, MPI_REAL_T, from, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    }
    leave();
}
#endif
