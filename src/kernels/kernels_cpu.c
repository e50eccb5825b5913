/* kernels_cpu.c - CPU backend: OpenBLAS for matrix products, OpenMP for the
 * element-wise rest (attention: attention.c). */
#include "kernels.h"
#include "blas_limit.h"
#include "gemm_bf16.h"
#include "gemm_onednn.h"
#include "mvec.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef WESAR_FP64
#define GEMM cblas_dgemm
#define R_EXP exp
#define R_SQRT sqrt
#define R_ERF erf
#define R_LOG log
#else
#define GEMM cblas_sgemm
#define R_EXP expf
#define R_SQRT sqrtf
#define R_ERF erff
#define R_LOG logf
#endif

void openblas_set_num_threads(int);
int openblas_get_num_threads(void);


static int precision = PRECISION_FP32;

const char *kernels_gemm_name(int prec) {
    static char name[64];
    snprintf(name, sizeof name, "openblas %s", openblas_get_corename());
    if (prec == PRECISION_BF16) /* the linear layers' products; attention stays on OpenBLAS */
        snprintf(name + strlen(name), sizeof name - strlen(name), ", bf16 %s",
                 gemm_onednn_available() ? gemm_onednn_version() : "wesar kernel");
    return name;
}

const char *kernels_simd_name(void) {
#if defined(__AVX512F__)
    return "avx512";
#elif defined(__AVX2__)
    return "avx2";
#elif defined(__SSE2__)
    return "sse2";
#elif defined(__ARM_NEON)
    return "neon";
#else
    return "scalar";
#endif
}

int kernels_set_threads(int n) {
    int fit = blas_limit_threads();
    if (n < 1) n = 1;
    if (fit && n > fit) n = fit;
    openblas_set_num_threads(n);
    n = openblas_get_num_threads(); /* at most its build's limit */
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    if (precision == PRECISION_BF16) gemm_bf16_reserve(n); /* best effort: see gemm_bf16.h */
    return n;
}

int kernels_set_precision(int p) {
    if (p == PRECISION_BF16 && (!gemm_bf16_available() || gemm_bf16_reserve(kernels_threads())))
        return -1;
    if (p != PRECISION_FP32 && p != PRECISION_BF16) return -1;
    precision = p;
    return 0;
}

int kernels_precision(void) { return precision; }

int kernels_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* This thread's share [lo, hi) of n items in a parallel region.  Reductions
 * keep one partial per thread and add them in thread order, and column splits
 * give each thread fixed columns, so a run is bit-reproducible for a given
 * thread count (exact resume). */
#define MAX_THREADS 256
static int thread_range(size_t n, size_t *lo, size_t *hi) {
#ifdef _OPENMP
    int nt = omp_get_num_threads(), it = omp_get_thread_num();
#else
    int nt = 1, it = 0;
#endif
    *lo = n * it / nt;
    *hi = n * (it + 1) / nt;
    return it;
}

/* The products of the linear layers and the head: OpenBLAS, or under
 * PRECISION_BF16 oneDNN's bf16 matmul (twice wesar's own kernel, bench/gemm.sh),
 * else (not built in, or it refused) the own kernel, which keeps the same
 * contract.  (Attention has its own tile loops, attention.c: fp32.) */
static void gemm(int ta, int tb, int M, int N, int K, real alpha, const real *A, int lda,
                 const real *B, int ldb, real beta, real *C, int ldc, int b_is_weight) {
#ifndef WESAR_FP64
    if (precision == PRECISION_BF16) {
        if (gemm_onednn_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, b_is_weight))
            gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
         alpha, A, lda, B, ldb, beta, C, ldc);
#ifdef WESAR_FP64
    (void)b_is_weight;
#endif
}

void matmul_fwd(real *out, const real *inp, const real *W, real alpha,
                int M, int K, int N) {
    gemm(0, 1, M, N, K, alpha, inp, K, W, K, 0, out, N, 1);
}

void matmul_bwd(real *dinp, real *dW, const real *dout, const real *inp,
                const real *W, real alpha, int M, int K, int N, int accumulate) {
    if (dinp) gemm(0, 0, M, K, N, alpha, dout, N, W, K, accumulate ? 1 : 0, dinp, K, 1);
    if (dW) gemm(1, 0, N, K, M, 1, dout, N, inp, K, 1, dW, K, 0);
}

void kernels_weights_changed(void) { gemm_onednn_weights_changed(); }

void embed_fwd(real *out, const int32_t *tok, const real *W_e, real scale,
               int M, int d) {
#pragma omp parallel for
    for (int m = 0; m < M; m++) {
        const real *row = W_e + (size_t)tok[m] * d;
        real *o = out + (size_t)m * d;
        for (int i = 0; i < d; i++) o[i] = scale * row[i];
    }
}

void embed_bwd(real *dW_e, const real *dout, const int32_t *tok, int M, int d) {
    /* Rows may repeat a token: split the columns among threads, not the rows. */
#pragma omp parallel
    {
        size_t c0, c1;
        thread_range((size_t)d, &c0, &c1);
        for (int m = 0; m < M; m++) {
            real *g = dW_e + (size_t)tok[m] * d;
            const real *o = dout + (size_t)m * d;
            for (size_t i = c0; i < c1; i++) g[i] += o[i];
        }
    }
}

void rmsnorm_fwd(real *out, real *rstd, const real *x, const real *g,
                 int M, int d, real eps) {
#pragma omp parallel for
    for (int m = 0; m < M; m++) {
        const real *xr = x + (size_t)m * d;
        real *o = out + (size_t)m * d;
        real ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < d; i++) ss += xr[i] * xr[i];
        real r = 1 / R_SQRT(ss / d + eps);
        rstd[m] = r;
        for (int i = 0; i < d; i++) o[i] = xr[i] * r * g[i];
    }
}

void rmsnorm_bwd(real *dx, real *dg, const real *dout, const real *x,
                 const real *g, const real *rstd, int M, int d, int accumulate) {
    /* dx = r*g*dy - r^3/d * x * sum(g*dy*x) */
#pragma omp parallel for
    for (int m = 0; m < M; m++) {
        const real *xr = x + (size_t)m * d, *dy = dout + (size_t)m * d;
        real *dxr = dx + (size_t)m * d;
        real r = rstd[m], dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < d; i++) dot += g[i] * dy[i] * xr[i];
        real c = r * r * r * dot / d;
        if (accumulate)
            for (int i = 0; i < d; i++) dxr[i] += r * g[i] * dy[i] - c * xr[i];
        else
            for (int i = 0; i < d; i++) dxr[i] = r * g[i] * dy[i] - c * xr[i];
    }
    /* dg reduction over rows: columns split among threads (deterministic). */
#pragma omp parallel
    {
        size_t c0, c1;
        thread_range((size_t)d, &c0, &c1);
        for (int m = 0; m < M; m++) {
            const real *xr = x + (size_t)m * d, *dy = dout + (size_t)m * d;
            real r = rstd[m];
            for (size_t i = c0; i < c1; i++) dg[i] += dy[i] * xr[i] * r;
        }
    }
}

static void rope_apply(real *x, const real *cos_t, const real *sin_t, int B,
                       int T, int nh, int hd, real sign) {
    int h2 = hd / 2;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const real *c = cos_t + (size_t)t * h2, *s = sin_t + (size_t)t * h2;
            real *row = x + ((size_t)b * T + t) * nh * hd;
            for (int h = 0; h < nh; h++) {
                real *v = row + (size_t)h * hd;
                for (int i = 0; i < h2; i++) {
                    real a = v[i], bb = v[i + h2], sn = sign * s[i];
                    v[i] = a * c[i] - bb * sn;
                    v[i + h2] = bb * c[i] + a * sn;
                }
            }
        }
}

void rope_fwd(real *x, const real *cos_t, const real *sin_t, int B, int T,
              int nh, int hd) {
    rope_apply(x, cos_t, sin_t, B, T, nh, hd, 1);
}

/* The rotation is orthogonal, so its gradient is the inverse rotation. */
void rope_bwd(real *dx, const real *cos_t, const real *sin_t, int B, int T,
              int nh, int hd) {
    rope_apply(dx, cos_t, sin_t, B, T, nh, hd, -1);
}

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT2PI 0.39894228040143267794

void gelu_fwd(real *out, const real *x, size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++)
        out[i] = (real)0.5 * x[i] * (1 + R_ERF(x[i] * (real)INV_SQRT2));
}

void gelu_bwd(real *dx, const real *dout, const real *x, size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        real xi = x[i];
        real cdf = (real)0.5 * (1 + R_ERF(xi * (real)INV_SQRT2));
        real pdf = (real)INV_SQRT2PI * R_EXP((real)-0.5 * xi * xi);
        dx[i] = dout[i] * (cdf + xi * pdf);
    }
}

void swiglu_fwd(real *out, const real *g, const real *u, size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        real s = 1 / (1 + R_EXP(-g[i]));
        out[i] = g[i] * s * u[i];
    }
}

void swiglu_bwd(real *dg, real *du, const real *dout, const real *g,
                const real *u, size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        real s = 1 / (1 + R_EXP(-g[i]));
        real d = dout[i], gi = g[i], ui = u[i]; /* du or dg may alias dout */
        du[i] = d * gi * s;
        dg[i] = d * ui * s * (1 + gi * (1 - s));
    }
}

void add_inplace(real *acc, const real *x, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) acc[i] += x[i];
}

int xent_fwd(double *ce_sum, double *z_sum, real *lse, const real *logits,
             const int32_t *target, int M, int V) {
    double ce_p[MAX_THREADS] = {0}, z_p[MAX_THREADS] = {0};
    int cnt_p[MAX_THREADS] = {0}, nt = 1;
#pragma omp parallel num_threads(kernels_threads() < MAX_THREADS ? kernels_threads() : MAX_THREADS)
    {
        size_t lo, hi;
        int it = thread_range((size_t)M, &lo, &hi);
#ifdef _OPENMP
        if (it == 0) nt = omp_get_num_threads();
#endif
        for (size_t m = lo; m < hi; m++) {
            const real *l = logits + m * V;
            real mx = l[0];
            for (int i = 1; i < V; i++) if (l[i] > mx) mx = l[i];
            double s = 0;
#pragma omp simd reduction(+ : s)
            for (int i = 0; i < V; i++) s += R_EXP(l[i] - mx);
            real ls = mx + (real)log(s);
            lse[m] = ls;
            if (target[m] >= 0) {
                ce_p[it] += (double)ls - l[target[m]];
                z_p[it] += (double)ls * ls;
                cnt_p[it]++;
            }
        }
    }
    double ce = 0, z = 0;
    int counted = 0;
    for (int i = 0; i < nt; i++) { ce += ce_p[i]; z += z_p[i]; counted += cnt_p[i]; }
    *ce_sum = ce;
    *z_sum = z;
    return counted;
}

void xent_bwd(real *logits, const real *lse, const int32_t *target, int M,
              int V, real row_weight, real zcoef) {
    /* d/dl_i [lse - l_t + zc*lse^2] = p_i (1 + 2 zc lse) - [i == t] */
#pragma omp parallel for
    for (int m = 0; m < M; m++) {
        real *l = logits + (size_t)m * V;
        if (target[m] < 0) { memset(l, 0, (size_t)V * sizeof(real)); continue; }
        real ls = lse[m], f = row_weight * (1 + 2 * zcoef * ls);
#pragma omp simd
        for (int i = 0; i < V; i++) l[i] = f * R_EXP(l[i] - ls);
        l[target[m]] -= row_weight;
    }
}

double sumsq(const real *x, size_t n) {
    double part[MAX_THREADS] = {0};
    int nt = 1;
#pragma omp parallel num_threads(kernels_threads() < MAX_THREADS ? kernels_threads() : MAX_THREADS)
    {
        size_t lo, hi;
        int it = thread_range(n, &lo, &hi);
#ifdef _OPENMP
        if (it == 0) nt = omp_get_num_threads();
#endif
        double s = 0;
        for (size_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
        part[it] = s;
    }
    double s = 0;
    for (int i = 0; i < nt; i++) s += part[i];
    return s;
}

void scale_inplace(real *x, real s, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) x[i] *= s;
}
