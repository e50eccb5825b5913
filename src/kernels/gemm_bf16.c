/* gemm_bf16.c - C = alpha * op(A) op(B) + beta * C with bf16 operands and
 * fp32 accumulation, on AVX-512 BF16 (vdpbf16ps), for `--precision bf16`.
 *
 * Debian's OpenBLAS 0.3.21 is built without sbgemm, so this is our own,
 * laid out as Goto's GEMM: B is packed KC x NC at a time (shared by the
 * threads), each thread packs an MC x KC block of A and runs a 16 x 16
 * micro-kernel whose B micro-panel (KC x 16) stays in L1.  Packing rounds
 * fp32 to bf16 (round to nearest even, vcvtne2ps2bf16) and interleaves k in
 * pairs, the layout vdpbf16ps multiplies.  Each element of C is summed by
 * one thread in a fixed order, so results are reproducible. */
#include "gemm_bf16.h"
#include <stdint.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && !defined(WESAR_FP64) && (defined(__GNUC__) && __GNUC__ >= 10)
#include <immintrin.h>
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

#define MR 16
#define NR 16
#define KC 256 /* k per block: even */
#define MC 128
#define NC 2048

static uint32_t *b_pack, *a_pack; /* workspace: one B block, one A block per thread */
static int a_threads;

static int omp_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int gemm_bf16_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}

int gemm_bf16_reserve(int threads) {
    if (threads < 1) threads = 1;
    if (!b_pack) b_pack = aligned_alloc(64, (size_t)KC / 2 * NC * sizeof(uint32_t));
    if (threads > a_threads) {
        free(a_pack);
        a_pack = aligned_alloc(64, (size_t)threads * KC / 2 * MC * sizeof(uint32_t));
        a_threads = a_pack ? threads : 0;
    }
    return b_pack && a_pack ? 0 : -1;
}

/* One panel of op(X): rows r0..r0+nr-1 (nr <= 16, the rest zero) and
 * k0..k0+kc-1 of op(X)[r][k] = trans ? X[k*ld + r] : X[r*ld + k], as
 * dst[p*16 + i] = bf16 pair (k0+2p, k0+2p+1) of row i. */
TGT static void pack_panel(uint32_t *dst, const float *X, int ld, int trans, int r0, int nr,
                           int k0, int kc) {
    int kp = (kc + 1) / 2;
    if (trans) { /* rows of X are k: two rows give 16 pairs at once */
        __mmask16 rm = (__mmask16)((1u << nr) - 1);
        for (int p = 0; p < kp; p++) {
            const float *x0 = X + (size_t)(k0 + 2 * p) * ld + r0;
            __m512 lo = _mm512_maskz_loadu_ps(rm, x0);
            __m512 hi = 2 * p + 1 < kc ? _mm512_maskz_loadu_ps(rm, x0 + ld) : _mm512_setzero_ps();
            __m512i l = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
            __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
            _mm512_store_si512(dst + (size_t)p * 16, _mm512_or_si512(l, _mm512_slli_epi32(h, 16)));
        }
        return;
    }
    for (int i = 0; i < 16; i++) { /* rows of X are r: 32 k at a time, scattered */
        if (i >= nr) {
            for (int p = 0; p < kp; p++) dst[(size_t)p * 16 + i] = 0;
            continue;
        }
        const float *x = X + (size_t)(r0 + i) * ld + k0;
        for (int k = 0; k < kc; k += 32) {
            int n = kc - k < 32 ? kc - k : 32;
            __mmask16 m0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
            __mmask16 m1 = (__mmask16)(n >= 32 ? 0xffff : n > 16 ? (1u << (n - 16)) - 1 : 0);
            __m512 a = _mm512_maskz_loadu_ps(m0, x + k), b = _mm512_maskz_loadu_ps(m1, x + k + 16);
            uint32_t pairs[16];
            _mm512_storeu_si512(pairs, (__m512i)_mm512_cvtne2ps_pbh(b, a)); /* a: low half */
            for (int q = 0; q < (n + 1) / 2; q++) dst[(size_t)(k / 2 + q) * 16 + i] = pairs[q];
        }
    }
}

/* C[mr x nr] (ldc) = alpha * a-panel . b-panel + beta * C; beta 0 never reads C */
TGT static void micro(int kp, const uint32_t *a, const uint32_t *b, float *c, int ldc, int mr,
                      int nr, float alpha, float beta) {
    __m512 acc[MR];
    for (int i = 0; i < MR; i++) acc[i] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        __m512bh bv = (__m512bh)_mm512_load_si512(b + (size_t)p * NR);
        const uint32_t *ap = a + (size_t)p * MR;
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)_mm512_set1_epi32((int)ap[i]), bv);
    }
    __mmask16 cm = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        __m512 r = _mm512_mul_ps(acc[i], va);
        if (beta != 0) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(cm, ci), r);
        _mm512_mask_storeu_ps(ci, cm, r);
    }
}

void gemm_bf16(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC, npan = (nc + NR - 1) / NR;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC, kp = (kc + 1) / 2;
            float bet = pc == 0 ? beta : 1;
            /* never more threads than there are A buffers */
#pragma omp parallel num_threads(a_threads < omp_threads() ? a_threads : omp_threads())
            {
#pragma omp for schedule(static)
                for (int jp = 0; jp < npan; jp++) {
                    int j0 = jc + jp * NR;
                    pack_panel(b_pack + (size_t)jp * kp * NR, B, ldb, !transB, j0,
                                       N - j0 < NR ? N - j0 : NR, pc, kc);
                }
#ifdef _OPENMP
                uint32_t *ap = a_pack + (size_t)omp_get_thread_num() * KC / 2 * MC;
#else
                uint32_t *ap = a_pack;
#endif
#pragma omp for schedule(dynamic, 1)
                for (int ic = 0; ic < M; ic += MC) {
                    int mc = M - ic < MC ? M - ic : MC, mpan = (mc + MR - 1) / MR;
                    for (int ip = 0; ip < mpan; ip++) {
                        int i0 = ic + ip * MR;
                        pack_panel(ap + (size_t)ip * kp * MR, A, lda, transA, i0,
                                           M - i0 < MR ? M - i0 : MR, pc, kc);
                    }
                    for (int jp = 0; jp < npan; jp++) {
                        int j0 = jc + jp * NR, nr = N - j0 < NR ? N - j0 : NR;
                        for (int ip = 0; ip < mpan; ip++) {
                            int i0 = ic + ip * MR, mr = M - i0 < MR ? M - i0 : MR;
                            micro(kp, ap + (size_t)ip * kp * MR, b_pack + (size_t)jp * kp * NR,
                                  C + (size_t)i0 * ldc + j0, ldc, mr, nr, alpha, bet);
                        }
                    }
                }
            }
        }
    }
}

#else /* no AVX-512 BF16 kernel in this build */
int gemm_bf16_available(void) { return 0; }
int gemm_bf16_reserve(int threads) { (void)threads; return -1; }
void gemm_bf16(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda;
    (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    abort(); /* unreachable: kernels_set_precision refuses bf16 here */
}
#endif
