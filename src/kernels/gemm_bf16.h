/* gemm_bf16.h - bf16-operand matrix product of the CPU backend (internal to
 * src/kernels: the model only sees kernels_set_precision).
 *
 * C[M,N] = alpha * op(A) op(B) + beta * C, row-major, fp32 in and out: the
 * operands are rounded to bf16 (nearest even) as they are packed, products
 * are accumulated in fp32.  op(A)[i][k] = transA ? A[k*lda+i] : A[i*lda+k];
 * op(B)[k][j] = transB ? B[j*ldb+k] : B[k*ldb+j].  M, N, K >= 1.  Runs on the
 * OpenMP threads, at most as many as gemm_bf16_reserve(threads) has packing
 * buffers for; a reserve must have succeeded first (buffers only grow). */
#ifndef WESAR_GEMM_BF16_H
#define WESAR_GEMM_BF16_H

int gemm_bf16_available(void); /* CPU has AVX-512 BF16 and this build has the kernel */
int gemm_bf16_reserve(int threads);
void gemm_bf16(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);
#endif
