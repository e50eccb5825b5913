/* attention.c - causal attention of the CPU backend (kernels.h): training's
 * flash-style forward and backward, and decoding over a KV cache.
 *
 * The tile products are serial OpenBLAS calls inside one OpenMP region.  Own
 * register-blocked loops (4 rows x 2 vectors, FMA, the masked triangle
 * skipped) were measured against them on the AVX2 Zen 3, fwd + bwd of one
 * layer: 1.4x slower at hd 64 (B16 T256), level at hd 32 (B8 T128); 128-row
 * tiles were 1.2x slower than 64 (bench/RESULTS.md, 2026-12-03). */
#include "kernels.h"
#include "mvec.h"
#include <cblas.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef WESAR_FP64
#define GEMM cblas_dgemm
#define R_EXP exp
#else
#define GEMM cblas_sgemm
#define R_EXP expf
#endif

/* Flash-attention style: a task takes ATT_QB query rows of one (batch, head)
 * and the keys up to its last row, so the score tile (ATT_QB x T) stays in
 * L2 and no T x T matrix is ever stored.  Each row's softmax is exact (not
 * online): the tile holds all its keys.  The backward recomputes the tile
 * from the saved log-sum-exp.  OpenBLAS runs serial inside the region. */
#define ATT_QB 64

size_t attention_scratch_len(int T) { return (size_t)2 * ATT_QB * T; }

static real *thread_scratch(real *scratch, int T) {
#ifdef _OPENMP
    return scratch + (size_t)omp_get_thread_num() * attention_scratch_len(T);
#else
    (void)T;
    return scratch;
#endif
}

/* S = scale * Q_blk K[0:n]^T, rows i0..i0+nq-1, turned into probabilities:
 * exp(S - lse_in) in the backward, or the row softmax in the forward, whose
 * log-sum-exp goes to lse_out (exactly one of the two is non-NULL).  Entries
 * above the diagonal are zero. */
static void att_probs(real *S, real *lse_out, const real *lse_in, const real *qh, const real *kb,
                      int i0, int nq, int n, int qs, int kvs, int hd, real scale) {
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, nq, n, hd, scale, qh + (size_t)i0 * qs, qs, kb,
         kvs, 0, S, n);
    for (int r = 0; r < nq; r++) {
        real *sr = S + (size_t)r * n;
        int last = i0 + r; /* keys 0..last */
        real ls;
        if (lse_in) {
            ls = lse_in[i0 + r];
        } else {
            real mx = sr[0];
            double sum = 0;
            for (int j = 1; j <= last; j++) mx = sr[j] > mx ? sr[j] : mx;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j <= last; j++) sum += R_EXP(sr[j] - mx);
            ls = mx + (real)log(sum);
            lse_out[i0 + r] = ls;
        }
#pragma omp simd
        for (int j = 0; j <= last; j++) sr[j] = R_EXP(sr[j] - ls);
        for (int j = last + 1; j < n; j++) sr[j] = 0;
    }
}

void attention_fwd(real *out, real *lse, real *scratch, const real *q, const real *k,
                   const real *v, int B, int T, int H, int Hkv, int hd) {
    int qs = H * hd, kvs = Hkv * hd, group = H / Hkv, nb = (T + ATT_QB - 1) / ATT_QB;
    real scale = 1 / real_sqrt((real)hd);
    /* last blocks first: they are the longest, so dynamic scheduling balances */
#pragma omp parallel for collapse(3) schedule(dynamic, 1)
    for (int ib = nb - 1; ib >= 0; ib--)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                real *S = thread_scratch(scratch, T);
                int kh = h / group, i0 = ib * ATT_QB, nq = T - i0 < ATT_QB ? T - i0 : ATT_QB;
                int n = i0 + nq;
                const real *qh = q + (size_t)b * T * qs + (size_t)h * hd;
                const real *kb = k + (size_t)b * T * kvs + (size_t)kh * hd;
                const real *vb = v + (size_t)b * T * kvs + (size_t)kh * hd;
                att_probs(S, lse + ((size_t)b * H + h) * T, NULL, qh, kb, i0, nq, n, qs, kvs, hd, scale);
                GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, n, 1, S, n, vb, kvs, 0,
                     out + ((size_t)b * T + i0) * qs + (size_t)h * hd, qs);
            }
}

void attention_cached(real *out, real *scores, const real *q, const real *kcache,
                      const real *vcache, int n, int p0, int H, int Hkv, int hd) {
    int qs = H * hd, kvs = Hkv * hd, group = H / Hkv, P = p0 + n;
    real scale = 1 / real_sqrt((real)hd);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int h = 0; h < H; h++)
        for (int i = 0; i < n; i++) {
            int last = p0 + i, kh = h / group;
            const real *qi = q + (size_t)i * qs + (size_t)h * hd;
            real *sc = scores + ((size_t)h * n + i) * P, mx = -INFINITY, sum = 0;
            for (int j = 0; j <= last; j++) {
                const real *kj = kcache + (size_t)j * kvs + (size_t)kh * hd;
                real dot = 0;
                for (int e = 0; e < hd; e++) dot += qi[e] * kj[e];
                sc[j] = dot * scale;
                mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int j = 0; j <= last; j++) { sc[j] = R_EXP(sc[j] - mx); sum += sc[j]; }
            real *o = out + (size_t)i * qs + (size_t)h * hd, inv = 1 / sum;
            for (int e = 0; e < hd; e++) o[e] = 0;
            for (int j = 0; j <= last; j++) {
                const real *vj = vcache + (size_t)j * kvs + (size_t)kh * hd;
                real w = sc[j] * inv;
                for (int e = 0; e < hd; e++) o[e] += w * vj[e];
            }
        }
}

void attention_bwd(real *dq, real *dk, real *dv, real *scratch, const real *dout,
                   const real *out, const real *lse, const real *q, const real *k,
                   const real *v, int B, int T, int H, int Hkv, int hd) {
    int qs = H * hd, kvs = Hkv * hd, group = H / Hkv;
    real scale = 1 / real_sqrt((real)hd);
    /* One task per (batch, kv head): it owns dk/dv of that head, so its query
     * heads and blocks accumulate there without races, in a fixed order. */
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int kh = 0; kh < Hkv; kh++) {
            real *P = thread_scratch(scratch, T), *dP = P + (size_t)ATT_QB * T;
            const real *kb = k + (size_t)b * T * kvs + (size_t)kh * hd;
            const real *vb = v + (size_t)b * T * kvs + (size_t)kh * hd;
            real *dkb = dk + (size_t)b * T * kvs + (size_t)kh * hd;
            real *dvb = dv + (size_t)b * T * kvs + (size_t)kh * hd;
            for (int t = 0; t < T; t++) {
                memset(dkb + (size_t)t * kvs, 0, (size_t)hd * sizeof(real));
                memset(dvb + (size_t)t * kvs, 0, (size_t)hd * sizeof(real));
            }
            for (int h = kh * group; h < (kh + 1) * group; h++) {
                size_t ho = (size_t)b * T * qs + (size_t)h * hd;
                const real *qh = q + ho, *doh = dout + ho, *oh = out + ho;
                const real *lh = lse + ((size_t)b * H + h) * T;
                for (int i0 = 0; i0 < T; i0 += ATT_QB) {
                    int nq = T - i0 < ATT_QB ? T - i0 : ATT_QB, n = i0 + nq;
                    const real *dob = doh + (size_t)i0 * qs;
                    att_probs(P, NULL, lh, qh, kb, i0, nq, n, qs, kvs, hd, scale);
                    /* dV += P^T dO ;  dP = dO V^T */
                    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, nq, 1, P, n, dob, qs, 1,
                         dvb, kvs);
                    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, nq, n, hd, 1, dob, qs, vb, kvs, 0,
                         dP, n);
                    /* dS = scale * P o (dP - D), D = rowsum(dO o O) = rowsum(P o dP) */
                    for (int r = 0; r < nq; r++) {
                        const real *o = oh + (size_t)(i0 + r) * qs, *g = dob + (size_t)r * qs;
                        real *pr = P + (size_t)r * n, *dr = dP + (size_t)r * n, D = 0;
                        for (int e = 0; e < hd; e++) D += g[e] * o[e];
#pragma omp simd
                        for (int j = 0; j < n; j++) dr[j] = scale * pr[j] * (dr[j] - D);
                    }
                    /* dQ = dS K ;  dK += dS^T Q */
                    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, hd, n, 1, dP, n, kb, kvs, 0,
                         dq + ho + (size_t)i0 * qs, qs);
                    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, nq, 1, dP, n,
                         qh + (size_t)i0 * qs, qs, 1, dkb, kvs);
                }
            }
        }
}
