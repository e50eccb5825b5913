/* gemm_shapes.c - the products of a training step, on every GEMM this machine has, side by
 * side: OpenBLAS sgemm (what wesar links), BLIS sgemm (Debian's libblis, loaded with dlopen so
 * its cblas_sgemm does not clash with OpenBLAS's), oneDNN's sgemm and its bf16 matmul primitive
 * (Debian's libdnnl, the one PyTorch uses for bf16), and wesar's own bf16 kernel (gemm_bf16.c).
 *
 * A shape is one matmul of the step as kernels.h calls it: fwd out = inp . W^T, bwd-data
 * dinp = dout . W, bwd-weight dW = dout^T . inp.  In each of ROUNDS rounds every engine runs
 * every shape in turn (best of 3 calls after a warm-up), so a busy moment hits all engines
 * alike; a row is the median over rounds and the spread (max - min) / median.  oneDNN's bf16
 * is timed on operands converted beforehand (its API takes bf16), which favours it: wesar's
 * kernel rounds fp32 to bf16 while packing, inside its time.
 *   usage: gemm_shapes [THREADS] [ROUNDS]   (2, 3) -> one line per shape and engine */
#define _GNU_SOURCE
#include "kernels/gemm_bf16.h"
#include "kernels/kernels.h"
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const char *name; int M, N, K, ta, tb; } shape;
/* tiny: B*T 4096, d 256, ffn 1024; d384: B*T 2048, V 50257 (the head runs in chunks of about
 * 640 rows); gpt2-small: B*T 2048, d 768, ffn 3072 */
static const shape shapes[] = {
    {"2048^3", 2048, 2048, 2048, 0, 1},
    {"tiny fwd W_u", 4096, 1024, 256, 0, 1},
    {"tiny fwd W_d", 4096, 256, 1024, 0, 1},
    {"tiny fwd W_q", 4096, 256, 256, 0, 1},
    {"tiny bwd-data W_u", 4096, 256, 1024, 0, 0},
    {"tiny bwd-weight W_u", 1024, 256, 4096, 1, 0},
    {"d384 fwd W_u", 2048, 1536, 384, 0, 1},
    {"d384 fwd head", 640, 50257, 384, 0, 1},
    {"d384 bwd-weight head", 50257, 384, 640, 1, 0},
    {"gpt2 fwd W_u", 2048, 3072, 768, 0, 1},
    {"gpt2 bwd-data W_u", 2048, 768, 3072, 0, 0},
    {"gpt2 bwd-weight W_u", 3072, 768, 2048, 1, 0},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0], N_ENGINES = 5, MAX_ROUNDS = 15 };
static const char *engines[N_ENGINES] = {"openblas sgemm", "blis sgemm", "onednn sgemm", "onednn bf16",
                                         "wesar bf16"};

typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                               float, float *, int);
static cblas_sgemm_fn blis_sgemm;
static dnnl_engine_t eng;
static dnnl_stream_t stream;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint16_t to_bf16(float x) { /* round to nearest even, as gemm_bf16.c packs */
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* oneDNN bf16 matmul of one shape, built once: A [M,K] or its transpose, B likewise, C fp32 */
typedef struct { dnnl_primitive_t p; dnnl_memory_t a, b, c; } dnnl_mm;

static int dnnl_mm_make(dnnl_mm *m, const shape *s, uint16_t *a, uint16_t *b, float *c) {
    dnnl_dims_t ad = {s->M, s->K}, bd = {s->K, s->N}, cd = {s->M, s->N};
    dnnl_dims_t as = {s->ta ? 1 : s->K, s->ta ? s->M : 1}, bs = {s->tb ? 1 : s->N, s->tb ? s->K : 1},
                cs = {s->N, 1};
    dnnl_memory_desc_t amd, bmd, cmd;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    if (dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_bf16, as) ||
        dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_bf16, bs) ||
        dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs) ||
        dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd) || dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL))
        return -1;
    int rc = dnnl_primitive_create(&m->p, pd) || dnnl_memory_create(&m->a, &amd, eng, a) ||
             dnnl_memory_create(&m->b, &bmd, eng, b) || dnnl_memory_create(&m->c, &cmd, eng, c);
    dnnl_primitive_desc_destroy(pd);
    return rc ? -1 : 0;
}

static void dnnl_mm_run(dnnl_mm *m) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m->a}, {DNNL_ARG_WEIGHTS, m->b}, {DNNL_ARG_DST, m->c}};
    dnnl_primitive_execute(m->p, stream, 3, args);
    dnnl_stream_wait(stream);
}

static void dnnl_mm_free(dnnl_mm *m) {
    dnnl_primitive_destroy(m->p);
    dnnl_memory_destroy(m->a), dnnl_memory_destroy(m->b), dnnl_memory_destroy(m->c);
}

/* one engine on one shape: best GFLOP/s of 3 calls after a warm-up (0: not available) */
static double run(int e, const shape *s, const float *a, const float *b, float *c, uint16_t *a16, uint16_t *b16) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
    dnnl_mm m;
    if (e == 1 && !blis_sgemm) return 0;
    if (e == 3 && dnnl_mm_make(&m, s, a16, b16, c)) return 0;
    if (e == 4 && kernels_set_precision(PRECISION_BF16)) return 0;
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t = now();
        if (e == 0) cblas_sgemm(CblasRowMajor, ta, tb, s->M, s->N, s->K, 1, a, lda, b, ldb, 0, c, s->N);
        if (e == 1) blis_sgemm(CblasRowMajor, ta, tb, s->M, s->N, s->K, 1, a, lda, b, ldb, 0, c, s->N);
        if (e == 2)
            dnnl_sgemm(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, 1, a, lda, b, ldb, 0, c, s->N);
        if (e == 3) dnnl_mm_run(&m);
        if (e == 4) gemm_bf16(s->ta, s->tb, s->M, s->N, s->K, 1, a, lda, b, ldb, 0, c, s->N);
        t = now() - t;
        if (r && 2.0 * s->M * s->N * s->K / t > best) best = 2.0 * s->M * s->N * s->K / t;
    }
    if (e == 3) dnnl_mm_free(&m);
    if (e == 4) kernels_set_precision(PRECISION_FP32);
    return best / 1e9;
}

static int cmp(const void *x, const void *y) { return (*(const double *)x > *(const double *)y) - (*(const double *)x < *(const double *)y); }

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (threads < 1 || rounds < 1 || rounds > MAX_ROUNDS) { fprintf(stderr, "usage: gemm_shapes [THREADS] [ROUNDS <= 15]\n"); return 2; }
    kernels_set_threads(threads);
    omp_set_num_threads(threads);
    void *h = dlopen("/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (h) {
        blis_sgemm = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
        void (*set)(long) = (void (*)(long))dlsym(h, "bli_thread_set_num_threads");
        if (set) set(threads);
    }
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) || dnnl_stream_create(&stream, eng, dnnl_stream_default_flags)) return 1;
    size_t big = 0;
    for (int i = 0; i < N_SHAPES; i++) {
        size_t m = (size_t)shapes[i].M, n = (size_t)shapes[i].N, k = (size_t)shapes[i].K;
        big = m * k > big ? m * k : big, big = k * n > big ? k * n : big, big = m * n > big ? m * n : big;
    }
    float *a = malloc(big * 4), *b = malloc(big * 4), *c = malloc(big * 4);
    uint16_t *a16 = malloc(big * 2), *b16 = malloc(big * 2);
    if (!a || !b || !c || !a16 || !b16 || gemm_bf16_reserve(threads)) return 1;
    srand(1);
    for (size_t i = 0; i < big; i++) {
        a[i] = (float)rand() / RAND_MAX - 0.5f, b[i] = (float)rand() / RAND_MAX - 0.5f;
        a16[i] = to_bf16(a[i]), b16[i] = to_bf16(b[i]);
    }
    char *bv = NULL;
    char *(*blis_version)(void) = h ? (char *(*)(void))dlsym(h, "bli_info_get_version_str") : NULL;
    if (blis_version) bv = blis_version();
    const dnnl_version_t *dv = dnnl_version();
    printf("%d threads, %d rounds; OpenBLAS %s kernels, BLIS %s, oneDNN %d.%d.%d\n", threads, rounds,
           openblas_get_corename(), bv ? bv : "(not found)", dv->major, dv->minor, dv->patch);
    static double g[N_SHAPES][N_ENGINES][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < N_SHAPES; i++)
            for (int e = 0; e < N_ENGINES; e++) g[i][e][r] = run(e, &shapes[i], a, b, c, a16, b16);
    printf("%-22s %6s %6s %6s %-3s  %-15s %8s %7s %9s\n", "shape", "M", "N", "K", "op", "engine", "GFLOP/s",
           "spread", "x sgemm");
    for (int i = 0; i < N_SHAPES; i++) {
        double ref[MAX_ROUNDS];
        memcpy(ref, g[i][0], sizeof ref);
        for (int e = 0; e < N_ENGINES; e++) {
            double v[MAX_ROUNDS], x[MAX_ROUNDS];
            for (int r = 0; r < rounds; r++) v[r] = g[i][e][r], x[r] = ref[r] > 0 ? g[i][e][r] / ref[r] : 0;
            qsort(v, (size_t)rounds, sizeof *v, cmp);
            qsort(x, (size_t)rounds, sizeof *x, cmp);
            double med = v[rounds / 2], spread = med > 0 ? (v[rounds - 1] - v[0]) / med : 0;
            const shape *s = &shapes[i];
            if (med == 0) { printf("%-22s %6d %6d %6d %c%c   %-15s %8s\n", s->name, s->M, s->N, s->K, "NT"[s->ta], "NT"[s->tb], engines[e], "n/a"); continue; }
            printf("%-22s %6d %6d %6d %c%c   %-15s %8.1f %6.0f%% %8.2fx%s\n", s->name, s->M, s->N, s->K,
                   "NT"[s->ta], "NT"[s->tb], engines[e], med, 100 * spread, x[rounds / 2], spread > 0.1 ? "  (spread > 10 %)" : "");
        }
    }
    return 0;
}
