/* export.c - merged Hugging Face checkpoint: safetensors + config.json. */
#include "export.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *export_hf_name(const model *m, int i, char *buf, size_t len) {
    const tensor_info *t = model_tensor(m, i);
    static const char *leaf[K_COUNT] = {
        [K_ATTN_NORM] = "input_layernorm.weight", [K_WQ] = "self_attn.q_proj.weight",
        [K_WK] = "self_attn.k_proj.weight", [K_WV] = "self_attn.v_proj.weight",
        [K_WO] = "self_attn.o_proj.weight", [K_MLP_NORM] = "post_attention_layernorm.weight",
        [K_WGATE] = "mlp.gate_proj.weight", [K_WU] = "mlp.up_proj.weight",
        [K_WD] = "mlp.down_proj.weight"};
    switch (t->kind) {
    case K_EMBED: snprintf(buf, len, "model.embed_tokens.weight"); return buf;
    case K_FINAL_NORM: snprintf(buf, len, "model.norm.weight"); return buf;
    case K_WP: snprintf(buf, len, "lm_head.weight"); return buf;
    case K_GATE: case K_BUFFER: case K_COUNT: return NULL;
    default: snprintf(buf, len, "model.layers.%d.%s", t->layer, leaf[t->kind]); return buf;
    }
}

static int write_config(const model_config *c, const char *path, char *err, size_t errlen) {
    int swiglu = c->mlp == MLP_SWIGLU;
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(swiglu ? "LlamaForCausalLM" : "ArceeForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", swiglu ? "llama" : "arcee");
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "hidden_size", c->d_model);
    cJSON_AddNumberToObject(j, "intermediate_size", c->ffn_dim);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", c->d_model / c->n_heads);
    cJSON_AddStringToObject(j, "hidden_act", swiglu ? "silu" : "gelu"); /* HF "gelu" = exact erf */
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->seq_len);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->norm_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddNullToObject(j, "rope_scaling");
    cJSON_AddBoolToObject(j, "tie_word_embeddings", 0);
    cJSON_AddBoolToObject(j, "attention_bias", 0);
    cJSON_AddBoolToObject(j, "mlp_bias", 0);
    cJSON_AddNumberToObject(j, "attention_dropout", 0);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    cJSON_AddNumberToObject(j, "initializer_range", 0.02);
    cJSON_AddBoolToObject(j, "use_cache", 1);
    if (c->vocab_size == 257) cJSON_AddNumberToObject(j, "eos_token_id", 256); /* byte tokenizer */
    cJSON *w = cJSON_AddObjectToObject(j, "wesar");
    cJSON_AddStringToObject(w, "init", init_name(c->init));
    cJSON_AddStringToObject(w, "reparam", c->reparam);
    cJSON_AddStringToObject(w, "note", "gates and normalizations merged into plain weights");
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) { snprintf(err, errlen, "out of memory"); return -1; }
    atomic_file f;
    int rc = atomic_open(&f, path, err, errlen);
    if (!rc) rc = atomic_commit(&f, atomic_write(&f, text, strlen(text)) || atomic_write(&f, "\n", 1), err, errlen);
    free(text);
    return rc;
}

int export_hf(model *m, const char *out_dir, char *err, size_t errlen) {
    if (make_dir(out_dir, err, errlen)) return -1;
    model_effective(m);
    int nt = model_num_tensors(m);
    /* header: {"name": {"dtype":"F32","shape":[..],"data_offsets":[a,b]}, ...}, in table order */
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0, max_numel = 0;
    char name[96];
    for (int i = 0; i < nt; i++) {
        const tensor_info *t = model_tensor(m, i);
        if (!export_hf_name(m, i, name, sizeof name)) continue;
        cJSON *e = cJSON_AddObjectToObject(h, name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        if (t->is_matrix) cJSON_AddItemToArray(sh, cJSON_CreateNumber(t->rows));
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(t->cols));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += t->numel * 4;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        if (t->numel > max_numel) max_numel = t->numel;
    }
    char *hs = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    real *buf = malloc(max_numel * sizeof(real));
    float *f32 = malloc(max_numel * sizeof(float));
    if (!hs || !buf || !f32) {
        free(hs); free(buf); free(f32);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* the header is padded with spaces to a multiple of 8 bytes */
    size_t hl = strlen(hs), pad = (8 - hl % 8) % 8;
    uint64_t hlen = hl + pad;
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    atomic_file f;
    int rc = atomic_open(&f, path, err, errlen);
    if (!rc) {
        int bad = atomic_write(&f, &hlen, 8) || atomic_write(&f, hs, hl) || atomic_write(&f, "        ", pad);
        for (int i = 0; i < nt && !bad; i++) {
            const tensor_info *t = model_tensor(m, i);
            if (!export_hf_name(m, i, name, sizeof name)) continue;
            if (t->is_matrix) model_merged(m, i, buf);
            else memcpy(buf, model_params(m) + t->offset, t->numel * sizeof(real));
            for (size_t k = 0; k < t->numel; k++) f32[k] = (float)buf[k];
            bad = atomic_write(&f, f32, t->numel * sizeof(float));
        }
        rc = atomic_commit(&f, bad, err, errlen);
    }
    free(hs);
    free(buf);
    free(f32);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    return write_config(model_cfg(m), path, err, errlen);
}
