/* export.h - Hugging Face export: every gate and normalization merged into
 * plain weights (the WeSaR paper's "library compatibility"), written as
 * model.safetensors + config.json, with the tokenizer files (export_tok.c).
 *
 * swiglu models are LlamaForCausalLM; the ungated gelu MLP is
 * ArceeForCausalLM with hidden_act "gelu" (Llama with an up/down MLP).  Our
 * RoPE already is HF's rotate_half convention, so q/k need no permutation.
 * The embedding output scale is folded into embed_tokens. */
#ifndef WESAR_EXPORT_H
#define WESAR_EXPORT_H
#include "../data/tokenizer.h"
#include "../model/model.h"
#include <stddef.h>

/* Writes OUT_DIR/model.safetensors and OUT_DIR/config.json (atomically). */
int export_hf(model *m, const char *out_dir, char *err, size_t errlen);
/* The tokenizer files Hugging Face's AutoTokenizer loads, in OUT_DIR beside
 * the model: gpt2 vocab.json + merges.txt (GPT-2's encoder.json and
 * vocab.bpe, byte for byte), sentencepiece tokenizer.model (the same file),
 * with tokenizer_config.json and special_tokens_map.json; and for every
 * tokenizer generation_config.json with bos/eos.  The byte tokenizer has no
 * Hugging Face form: its export has the ids only.  Tokenizer files of an
 * earlier export in OUT_DIR are removed first; tk NULL writes none. */
int export_tokenizer(const char *out_dir, const tokenizer *tk, const char *tok_path, int seq_len, char *err,
                     size_t errlen);
/* GGUF (gguf.c), as llama.cpp reads it: architecture "llama" (the swiglu
 * MLP only: llama.cpp has no GELU one), the hyperparameters, the tokenizer
 * embedded (sentencepiece as "llama", gpt2 as "gpt2" BPE with its merges;
 * the byte tokenizer has no GGUF form), the merged weights with W_q and W_k
 * permuted to llama.cpp's interleaved RoPE.  Matrices in dt, norms in F32. */
typedef struct {
    const char *name; /* "f32", "f16", "bf16" */
    int ggml_type;    /* the tensors' ggml type */
    int file_type;    /* general.file_type: ALL_F32, MOSTLY_F16, MOSTLY_BF16 */
    int bytes;        /* per element */
} export_dtype;
extern const export_dtype EXPORT_DTYPES[]; /* f32 first; ends with a NULL name */
int export_gguf(model *m, const tokenizer *tk, const char *path, const export_dtype *dt, char *err, size_t errlen);
/* The Hugging Face name of tensor i ("model.layers.3.self_attn.o_proj.weight"),
 * or NULL for tensors that do not exist there (gates, buffers). */
const char *export_hf_name(const model *m, int i, char *buf, size_t len);
#endif
