/* gemm_onednn.h - bf16-operand matrix product on oneDNN's matmul (internal to
 * src/kernels, like gemm_bf16.h, whose contract it keeps).
 *
 * C[M,N] = alpha * op(A) op(B) + beta * C, row-major, fp32 in and out: both
 * operands are rounded to bf16 (nearest even), A into a grow-only buffer, B
 * there too or, for a weight, into the copy it keeps (below), then
 * oneDNN multiplies them with fp32 accumulation (on AVX-512 BF16: its brgemm
 * kernels, about twice wesar's own kernel, bench/gemm.sh).  alpha is a
 * runtime output scale and beta a sum post-op, so one primitive per shape
 * serves every step; the primitives are kept in a small table.  Built in
 * where Debian's libdnnl-dev is (WESAR_ONEDNN); gemm_bf16.c otherwise. */
#ifndef WESAR_GEMM_ONEDNN_H
#define WESAR_GEMM_ONEDNN_H

int gemm_onednn_available(void); /* built in, engine made, CPU has AVX-512 BF16 */
/* 0, or -1 where oneDNN refused the shape or memory ran out (C untouched then).
 * b_is_weight: B is a model matrix (matmul's W), whose rounded copy is kept
 * and reused until gemm_onednn_weights_changed; its contents must not change
 * before then (activations and gradients pass 0). */
int gemm_onednn_bf16(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, int b_is_weight);
void gemm_onednn_weights_changed(void); /* every kept copy is stale */
const char *gemm_onednn_version(void); /* "onednn 2.6.3", or NULL */
#endif
