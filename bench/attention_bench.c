/* attention_bench.c - the attention kernel alone (attention.c): forward and
 * backward of one layer at a given shape, against OpenBLAS's sgemm ceiling
 * measured in the same round, rounds interleaved so that a busy machine
 * shows as spread.  The README's profile puts 13.5 % of the tiny step here.
 *   usage: attention_bench THREADS ROUNDS B T H HD [B T H HD ...]
 * GFLOP/s counts the causal products the kernel must do: 2 in the forward
 * (QK^T, PV), 5 in the backward (QK^T again, dO V^T, P^T dO, dS K, dS^T Q),
 * each B*H*T*(T+1)/2*HD multiply-adds. */
#include "kernels/kernels.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double sgemm_gflops(void) { /* best of 3 on 1024^3 */
    int n = 1024;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double best = 1e9;
    for (int r = 0; r < 4; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        if (r && now() - t0 < best) best = now() - t0;
    }
    free(a); free(b); free(c);
    return 2.0 * n * n * n / best / 1e9;
}

/* fastest forward and backward of `reps`, in seconds */
static void time_shape(int B, int T, int H, int hd, int reps, double *tf, double *tb) {
    size_t n = (size_t)B * T * H * hd;
    float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *o = malloc(n * 4), *R = malloc(n * 4);
    float *dq = malloc(n * 4), *dk = malloc(n * 4), *dv = malloc(n * 4), *lse = malloc((size_t)B * H * T * 4);
    float *s = malloc(attention_scratch_len(T) * kernels_threads() * 4);
    uint64_t st = 1;
    for (size_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1;
        float x = (float)((st >> 40) / 16777216.0 - 0.5);
        q[i] = x, k[i] = 0.5f * x * x, v[i] = x + 0.25f, R[i] = 1 - x;
    }
    *tf = *tb = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        attention_fwd(o, lse, s, q, k, v, B, T, H, H, hd);
        double t1 = now();
        attention_bwd(dq, dk, dv, s, R, o, lse, q, k, v, B, T, H, H, hd);
        double t2 = now();
        if (t1 - t0 < *tf) *tf = t1 - t0;
        if (t2 - t1 < *tb) *tb = t2 - t1;
    }
    free(q); free(k); free(v); free(o); free(R); free(dq); free(dk); free(dv); free(lse); free(s);
}

int main(int argc, char **argv) {
    if (argc < 7 || (argc - 3) % 4) {
        fprintf(stderr, "usage: attention_bench THREADS ROUNDS B T H HD [B T H HD ...]\n");
        return 2;
    }
    int threads = kernels_set_threads(atoi(argv[1])), rounds = atoi(argv[2]), ns = (argc - 3) / 4;
    printf("%d threads, %d rounds; fastest of 10 passes per round; GFLOP/s of the causal products\n", threads, rounds);
    printf("round  B    T   H  hd   fwd ms  bwd ms  fwd GFLOP/s  bwd GFLOP/s  sgemm GFLOP/s\n");
    for (int r = 1; r <= rounds; r++) {
        double ceiling = sgemm_gflops();
        for (int i = 0; i < ns; i++) {
            int B = atoi(argv[3 + 4 * i]), T = atoi(argv[4 + 4 * i]), H = atoi(argv[5 + 4 * i]),
                hd = atoi(argv[6 + 4 * i]);
            double tf, tb, mac = (double)B * H * T * (T + 1) / 2 * hd;
            time_shape(B, T, H, hd, 10, &tf, &tb);
            printf("%5d %2d %4d %3d %3d %8.2f %7.2f %12.1f %12.1f %14.1f\n", r, B, T, H, hd, tf * 1e3, tb * 1e3,
                   2 * 2 * mac / tf / 1e9, 5 * 2 * mac / tb / 1e9, ceiling);
        }
    }
    return 0;
}
