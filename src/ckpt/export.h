/* export.h - Hugging Face export: every gate and normalization merged into
 * plain weights (the WeSaR paper's "library compatibility"), written as
 * model.safetensors + config.json.
 *
 * swiglu models are LlamaForCausalLM; the ungated gelu MLP is
 * ArceeForCausalLM with hidden_act "gelu" (Llama with an up/down MLP).  Our
 * RoPE already is HF's rotate_half convention, so q/k need no permutation.
 * The embedding output scale is folded into embed_tokens. */
#ifndef WESAR_EXPORT_H
#define WESAR_EXPORT_H
#include "../model/model.h"
#include <stddef.h>

/* Writes OUT_DIR/model.safetensors and OUT_DIR/config.json (atomically). */
int export_hf(model *m, const char *out_dir, char *err, size_t errlen);
/* The Hugging Face name of tensor i ("model.layers.3.self_attn.o_proj.weight"),
 * or NULL for tensors that do not exist there (gates, buffers). */
const char *export_hf_name(const model *m, int i, char *buf, size_t len);
#endif
