/* kernels.h - the numeric kernels of one training step (CPU backend).
 *
 * The model calls nothing but these functions, so a CUDA backend can replace
 * kernels_cpu.c without touching the model or the methods.  Every function
 * works on row-major arrays of `real`; "M" is always the number of token rows
 * (B*T).  Backward functions ACCUMULATE into parameter gradients (dW, dg) and
 * WRITE (or, where noted, accumulate into) input gradients.
 *
 * `real` is float; building with -DWESAR_FP64 makes it double so that the
 * very same code can be checked against finite differences in float64.
 */
#ifndef WESAR_KERNELS_H
#define WESAR_KERNELS_H
#include <stddef.h>
#include <stdint.h>

#ifdef WESAR_FP64
typedef double real;
#define real_sqrt sqrt
#else
typedef float real;
#define real_sqrt sqrtf
#endif

/* out[M,N] = alpha * inp[M,K] . W[N,K]^T   (W stored out x in, like PyTorch) */
void matmul_fwd(real *out, const real *inp, const real *W, real alpha,
                int M, int K, int N);
/* dinp[M,K] (= or +=, per accumulate) alpha * dout . W ;
 * dW[N,K] += dout^T . inp, the gradient of the EFFECTIVE matrix alpha*W (the
 * reparameterization turns it into gradients of W and alpha).  dinp or dW may
 * be NULL to skip. */
void matmul_bwd(real *dinp, real *dW, const real *dout, const real *inp,
                const real *W, real alpha, int M, int K, int N, int accumulate);

/* The matrices passed as W above may have changed: under PRECISION_BF16 their
 * rounded copies are kept between products (a forward and its backward round
 * each W once) until this is called.  The model calls it whenever it makes
 * its effective matrices (model_effective: before every forward). */
void kernels_weights_changed(void);

/* out[m] = scale * W_e[tok[m]] */
void embed_fwd(real *out, const int32_t *tok, const real *W_e, real scale,
               int M, int d);
/* dW_e[tok[m]] += dout[m]: the gradient of the effective table scale*W_e */
void embed_bwd(real *dW_e, const real *dout, const int32_t *tok, int M, int d);

/* RMSNorm with learnable gain g: out = x * rstd * g, rstd = 1/sqrt(mean(x^2)+eps) */
void rmsnorm_fwd(real *out, real *rstd, const real *x, const real *g,
                 int M, int d, real eps);
void rmsnorm_bwd(real *dx, real *dg, const real *dout, const real *x,
                 const real *g, const real *rstd, int M, int d, int accumulate);

/* Rotary embedding, Hugging Face Llama convention (rotate_half over the two
 * halves of each head).  x is [B*T, nh*hd]; cos/sin are [T, hd/2].
 * rope_bwd applies the inverse rotation to a gradient, in place. */
void rope_fwd(real *x, const real *cos_t, const real *sin_t,
              int B, int T, int nh, int hd);
void rope_bwd(real *dx, const real *cos_t, const real *sin_t,
              int B, int T, int nh, int hd);

/* Causal softmax attention with grouped-query heads (H query heads share
 * Hkv key/value heads).  q [B*T, H*hd], k/v [B*T, Hkv*hd], out [B*T, H*hd].
 * Flash-attention style: only lse [B, H, T] (each row's log-sum-exp of the
 * scaled scores) is saved; the backward recomputes the probabilities from
 * it, q and k, and needs out.  scratch: attention_scratch_len(T) reals per
 * thread.  dk/dv are written. */
void attention_fwd(real *out, real *lse, real *scratch, const real *q, const real *k,
                   const real *v, int B, int T, int H, int Hkv, int hd);
void attention_bwd(real *dq, real *dk, real *dv, real *scratch, const real *dout,
                   const real *out, const real *lse, const real *q, const real *k,
                   const real *v, int B, int T, int H, int Hkv, int hd);
size_t attention_scratch_len(int T);

/* Causal attention of n new query rows (positions p0..p0+n-1) over a KV
 * cache holding positions 0..p0+n-1 (rows of Hkv*hd); scores: H*n*(p0+n). */
void attention_cached(real *out, real *scores, const real *q, const real *kcache,
                      const real *vcache, int n, int p0, int H, int Hkv, int hd);

/* Exact (erf) GELU. */
void gelu_fwd(real *out, const real *x, size_t n);
void gelu_bwd(real *dx, const real *dout, const real *x, size_t n);
/* SwiGLU: out = silu(g) * u */
void swiglu_fwd(real *out, const real *g, const real *u, size_t n);
void swiglu_bwd(real *dg, real *du, const real *dout, const real *g,
                const real *u, size_t n);

/* acc += x */
void add_inplace(real *acc, const real *x, size_t n);

/* Cross-entropy plus z-loss per row.  logits [M,V]; target < 0 means "ignore".
 * Writes lse[m] = log sum exp(logits[m]) and returns, via ce_sum/z_sum, the
 * sums over counted rows of -log p(target) and lse^2.  Returns rows counted. */
int xent_fwd(double *ce_sum, double *z_sum, real *lse, const real *logits,
             const int32_t *target, int M, int V);
/* In place: logits -> d(loss)/d(logits) for
 * loss = row_weight * sum_m [CE_m + zcoef * lse_m^2]; ignored rows get 0. */
void xent_bwd(real *logits, const real *lse, const int32_t *target, int M,
              int V, real row_weight, real zcoef);

/* sum of squares, accumulated in double */
double sumsq(const real *x, size_t n);
void scale_inplace(real *x, real s, size_t n);

/* Operand precision of matmul_fwd/matmul_bwd.  PRECISION_BF16 rounds both
 * operands to bf16 (nearest even) and accumulates in fp32 (oneDNN's bf16
 * matmul where built in, else the own AVX-512 BF16 kernel, gemm_bf16.c);
 * outputs, gradients and the parameters (master weights) stay fp32, and so
 * do the attention tiles.  Returns -1, changing
 * nothing, where the CPU or the build (fp64) has no bf16 kernel. */
enum { PRECISION_FP32, PRECISION_BF16 };
int kernels_set_precision(int precision);
int kernels_precision(void);

/* Threads used by the kernels (OpenMP + OpenBLAS).  Returns the count now
 * in effect: n, or less where OpenBLAS's build or ulimit -v allows fewer
 * (blas_limit.h). */
int kernels_set_threads(int n);
int kernels_threads(void);
/* What computes the products at a precision, as "openblas Haswell" (and
 * ", bf16 onednn 2.6.3" for the linear layers under PRECISION_BF16): float
 * results are bit-identical between runs only where this (and the thread
 * count) agree, so a sweep's summary line records it. */
const char *kernels_gemm_name(int precision);
/* The widest vector extension this build was compiled for (-march=native):
 * "avx512", "avx2", "sse2", "neon" or "scalar".  The element-wise kernels'
 * vector width and libmvec's expf/erff follow it, so bit-identical results
 * need it to agree as well; a summary line records it next to the GEMM. */
const char *kernels_simd_name(void);

#endif
