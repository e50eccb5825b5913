/* blas_limit.c - fit OpenBLAS's start-up buffers into ulimit -v (see blas_limit.h). */
#include "blas_limit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Measured on this OpenBLAS (0.3.21, OpenMP build): 135266304 bytes per
 * thread, plus what the libraries map before it; wesar itself needs room
 * besides, so the floor is one thread plus 96 MiB. */
#define MIB (1024.0 * 1024.0)
#define PER_THREAD (130 * MIB)
#define BASE (96 * MIB)

static int fit;

int blas_limit_threads(void) { return fit; }

/* Runs before stdio is known to be ready: plain write(2) only. */
static void say(const char *msg) {
    if (write(2, msg, strlen(msg)) < 0) {}
}

/* getenv is not ready yet either (libc sets environ in its initializer) */
static int env_threads(char **envp, const char *name) {
    size_t k = strlen(name);
    for (int i = 0; envp[i]; i++)
        if (!strncmp(envp[i], name, k) && envp[i][k] == '=') {
            int n = atoi(envp[i] + k + 1);
            return n > 0 ? n : 0;
        }
    return 0;
}

void blas_limit_preinit(int argc, char **argv, char **envp) {
    (void)argc;
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) || r.rlim_cur == RLIM_INFINITY) return;
    double lim = (double)r.rlim_cur;
    char msg[512];
    if (lim < BASE + PER_THREAD) {
        snprintf(msg, sizeof msg, "wesar: error: the virtual memory limit (ulimit -v) is %.0f MiB; OpenBLAS "
                 "reserves %.0f MiB per thread at start-up and wesar needs at least %.0f MiB: raise the limit\n",
                 lim / MIB, PER_THREAD / MIB, (BASE + PER_THREAD) / MIB);
        say(msg);
        _exit(1);
    }
    fit = (int)((lim - BASE) / PER_THREAD);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int want = env_threads(envp, "OPENBLAS_NUM_THREADS");
    if (!want) want = env_threads(envp, "OMP_NUM_THREADS");
    if (!want) want = cores > 0 ? (int)cores : 1;
    if (want <= fit) return;
    snprintf(msg, sizeof msg, "note: the virtual memory limit (ulimit -v, %.0f MiB) fits %d OpenBLAS thread%s "
             "(%.0f MiB each): running %d instead of %d\n", lim / MIB, fit, fit == 1 ? "" : "s",
             PER_THREAD / MIB, fit, want);
    say(msg);
    /* setenv here would not last: libc's own initializer, which runs after
     * this, sets environ back to envp.  So: the same program again, with
     * the thread counts in its environment. */
    int n = 0;
    while (envp[n]) n++;
    char **env = malloc((size_t)(n + 3) * sizeof *env);
    static char omp[48], blas[48];
    if (!env) return;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(envp[i], "OMP_NUM_THREADS=", 16) && strncmp(envp[i], "OPENBLAS_NUM_THREADS=", 21)) env[k++] = envp[i];
    snprintf(omp, sizeof omp, "OMP_NUM_THREADS=%d", fit);
    snprintf(blas, sizeof blas, "OPENBLAS_NUM_THREADS=%d", fit);
    env[k++] = omp;
    env[k++] = blas;
    env[k] = NULL;
    execve("/proc/self/exe", argv, env);
    free(env); /* no /proc: go on, and OpenBLAS may not start */
}
