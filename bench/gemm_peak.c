/* gemm_peak.c - the ceilings bench/speed.sh measures MFU against: OpenBLAS
 * sgemm, and wesar's bf16 products (matmul_fwd under PRECISION_BF16: oneDNN
 * where built in, else the own kernel) on 2048^3 products, best of 5.  As in
 * a training step, the weight operand is rounded to bf16 once and kept (see
 * kernels_weights_changed); the activation operand is rounded every call.
 *   usage: gemm_peak [THREADS] [N]  -> "sgemm_gflops X" and "bf16_gflops Y" (0: no bf16 here) */
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

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, n = argc > 2 ? atoi(argv[2]) : 2048;
    kernels_set_threads(threads);
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < nn; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double flop = 2.0 * n * n * n;
    for (int kind = 0; kind < 2; kind++) {
        double best = 0;
        if (kind == 1 && kernels_set_precision(PRECISION_BF16)) { printf("bf16_gflops 0\n"); break; }
        for (int r = 0; r < 6; r++) { /* the first is a warm-up */
            double t = now();
            if (kind == 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
            else
                matmul_fwd(c, a, b, 1, n, n, n); /* c = a . b^T, as the sgemm */
            t = now() - t;
            if (r && flop / t > best) best = flop / t;
        }
        printf("%s_gflops %.1f\n", kind ? "bf16" : "sgemm", best / 1e9);
    }
    free(a);
    free(b);
    free(c);
    return 0;
}
