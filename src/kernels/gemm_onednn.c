/* gemm_onednn.c - --precision bf16's products on oneDNN (see gemm_onednn.h). */
#include "gemm_onednn.h"
#include "gemm_bf16.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(WESAR_ONEDNN) && !defined(WESAR_FP64) && defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 10
#include <immintrin.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* one primitive per (shape, transpositions, beta, threads): a run has a few
 * dozen.  oneDNN sizes its work split by the thread count at creation. */
typedef struct {
    int M, N, K, ta, tb, ldc, threads;
    float beta;
    dnnl_primitive_t p;
    dnnl_memory_t a, b, c, scale;
} prim;
enum { N_PRIMS = 64 };
static prim prims[N_PRIMS];
static int n_prims, next_evict, state; /* state: 0 not tried, 1 ready, -1 unavailable */
static dnnl_engine_t eng;
static dnnl_stream_t stream;
static uint16_t *a16, *b16; /* the rounded operands, grow-only */
static size_t a_cap, b_cap;

/* The weights' rounded copies: a matrix passed as W keeps its copy until
 * gemm_onednn_weights_changed (model_effective, before every forward), so a
 * forward and its backward round each W once, not once per product or per
 * head chunk, and decoding rounds them once per KV cache. */
typedef struct {
    const float *src;
    int rows, cols, ld;
    unsigned long version;
    uint16_t *bf;
} weight_copy;
enum { N_WEIGHTS = 512 };
static weight_copy weights[N_WEIGHTS];
static int n_weights;
static unsigned long version = 1;

void gemm_onednn_weights_changed(void) {
    /* a copy no product used since the last call belongs to a freed or idle
     * model (a sweep runs many in one process): let it go */
    int k = 0;
    for (int i = 0; i < n_weights; i++)
        if (weights[i].version == version) weights[k++] = weights[i];
        else free(weights[i].bf);
    n_weights = k;
    version++;
}

int gemm_onednn_available(void) {
    if (!state) {
        state = gemm_bf16_available() && !dnnl_engine_create(&eng, dnnl_cpu, 0) &&
                        !dnnl_stream_create(&stream, eng, dnnl_stream_default_flags) ? 1 : -1;
    }
    return state == 1;
}

const char *gemm_onednn_version(void) {
    static char v[32];
    const dnnl_version_t *d = dnnl_version();
    snprintf(v, sizeof v, "onednn %d.%d.%d", d->major, d->minor, d->patch);
    return v;
}

/* rows x cols of X (leading dimension ld) to bf16, compact, nearest even */
TGT static void to_bf16(uint16_t *dst, const float *X, int rows, int cols, int ld) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = X + (size_t)r * ld;
        uint16_t *d = dst + (size_t)r * cols;
        for (int c = 0; c < cols; c += 16) {
            __mmask16 m = (__mmask16)(cols - c >= 16 ? 0xffff : (1u << (cols - c)) - 1);
            __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + c));
            _mm256_mask_storeu_epi16(d + c, m, h);
        }
    }
}

static int grow(uint16_t **buf, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    uint16_t *nb = realloc(*buf, n * sizeof **buf);
    if (!nb) return -1;
    *buf = nb, *cap = n;
    return 0;
}

static int make(prim *q) {
    dnnl_dims_t ad = {q->M, q->K}, bd = {q->K, q->N}, cd = {q->M, q->N}, one = {1};
    dnnl_dims_t as = {q->ta ? 1 : q->K, q->ta ? q->M : 1}, bs = {q->tb ? 1 : q->N, q->tb ? q->K : 1},
                cs = {q->ldc, 1};
    dnnl_memory_desc_t amd, bmd, cmd, smd;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_post_ops_t po = NULL;
    float rt = DNNL_RUNTIME_F32_VAL;
    if (dnnl_primitive_attr_create(&attr)) return -1;
    int rc = dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_bf16, as) ||
             dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_bf16, bs) ||
             dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs) ||
             dnnl_memory_desc_init_by_tag(&smd, 1, one, dnnl_f32, dnnl_a) ||
             dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd) ||
             dnnl_primitive_attr_set_output_scales(attr, 1, 0, &rt);
    if (!rc && q->beta != 0) /* C = alpha A B + beta C: the sum post-op */
        rc = dnnl_post_ops_create(&po) || dnnl_post_ops_append_sum(po, q->beta) ||
             dnnl_primitive_attr_set_post_ops(attr, po);
    void *none = DNNL_MEMORY_NONE; /* the operands' addresses are set per call */
    rc = rc || dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL) || dnnl_primitive_create(&q->p, pd) ||
         dnnl_memory_create(&q->a, &amd, eng, none) || dnnl_memory_create(&q->b, &bmd, eng, none) ||
         dnnl_memory_create(&q->c, &cmd, eng, none) || dnnl_memory_create(&q->scale, &smd, eng, none);
    if (po) dnnl_post_ops_destroy(po);
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return rc ? -1 : 0;
}

static void drop(prim *q) {
    if (q->p) dnnl_primitive_destroy(q->p);
    dnnl_memory_t m[4] = {q->a, q->b, q->c, q->scale};
    for (int i = 0; i < 4; i++)
        if (m[i]) dnnl_memory_destroy(m[i]);
    memset(q, 0, sizeof *q);
}

static prim *find(int ta, int tb, int M, int N, int K, float beta, int ldc) {
    int threads = omp_get_max_threads();
    for (int i = 0; i < n_prims; i++) {
        prim *q = &prims[i];
        if (q->M == M && q->N == N && q->K == K && q->ta == ta && q->tb == tb && q->beta == beta && q->ldc == ldc &&
            q->threads == threads)
            return q;
    }
    prim *q = n_prims < N_PRIMS ? &prims[n_prims++] : &prims[next_evict++ % N_PRIMS];
    drop(q);
    *q = (prim){.M = M, .N = N, .K = K, .ta = ta, .tb = tb, .ldc = ldc, .threads = threads, .beta = beta};
    if (make(q)) {
        drop(q);
        return NULL;
    }
    return q;
}

/* B rounded: its kept copy where it is a weight (current, or made current), else the scratch */
static const uint16_t *rounded_b(const float *B, int rows, int cols, int ld, int is_weight) {
    weight_copy *w = NULL;
    for (int i = 0; is_weight && i < n_weights && !w; i++)
        if (weights[i].src == B && weights[i].rows == rows && weights[i].cols == cols && weights[i].ld == ld)
            w = &weights[i];
    if (w && w->version == version) return w->bf;
    if (!w && is_weight && n_weights < N_WEIGHTS) {
        uint16_t *bf = malloc((size_t)rows * cols * sizeof *bf); /* once per matrix: the first forward */
        if (bf) {
            w = &weights[n_weights++];
            *w = (weight_copy){.src = B, .rows = rows, .cols = cols, .ld = ld, .bf = bf};
        }
    }
    if (!w && grow(&b16, &b_cap, (size_t)rows * cols)) return NULL;
    uint16_t *dst = w ? w->bf : b16;
    to_bf16(dst, B, rows, cols, ld);
    if (w) w->version = version;
    return dst;
}

int gemm_onednn_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc, int b_is_weight) {
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N; /* as stored */
    prim *q = gemm_onednn_available() ? find(ta, tb, M, N, K, beta, ldc) : NULL;
    if (!q || grow(&a16, &a_cap, (size_t)ar * ac)) return -1;
    const uint16_t *bq = rounded_b(B, br, bc, ldb, b_is_weight);
    if (!bq) return -1;
    to_bf16(a16, A, ar, ac, lda);
    if (dnnl_memory_set_data_handle(q->a, a16) || dnnl_memory_set_data_handle(q->b, (void *)bq) ||
        dnnl_memory_set_data_handle(q->c, C) || dnnl_memory_set_data_handle(q->scale, &alpha))
        return -1;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, q->a}, {DNNL_ARG_WEIGHTS, q->b}, {DNNL_ARG_DST, q->c},
                               {DNNL_ARG_ATTR_OUTPUT_SCALES, q->scale}};
    return dnnl_primitive_execute(q->p, stream, 4, args) || dnnl_stream_wait(stream) ? -1 : 0;
}

#else /* built without oneDNN */
int gemm_onednn_available(void) { return 0; }
int gemm_onednn_bf16(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, int b_is_weight) {
    (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda;
    (void)B; (void)ldb; (void)beta; (void)C; (void)ldc; (void)b_is_weight;
    return -1;
}
void gemm_onednn_weights_changed(void) {}
const char *gemm_onednn_version(void) { return NULL; }
#endif
