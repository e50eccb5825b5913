/* import.c - Hugging Face config.json + model.safetensors -> a plain model. */
#include "import.h"
#include "../util/fileio.h"
#include "export.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* config.json key -> our key; required unless noted */
static const struct { const char *hf, *ours; int required; } KEYS[] = {
    {"vocab_size", "vocab_size", 1}, {"hidden_size", "d_model", 1},
    {"intermediate_size", "ffn_dim", 1}, {"num_hidden_layers", "n_layers", 1},
    {"num_attention_heads", "n_heads", 1}, {"num_key_value_heads", "n_kv_heads", 0},
    {"max_position_embeddings", "seq_len", 1}, {"rms_norm_eps", "norm_eps", 0},
    {"rope_theta", "rope_theta", 0}};

static int read_config(const char *path, model_config *c, char *err, size_t errlen) {
    char *text = read_file(path, 1 << 20, NULL, err, errlen);
    if (!text) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: expected a JSON object (a Hugging Face config.json)", path);
        goto done;
    }
    config_preset(c, "tiny", err, errlen);
    for (size_t i = 0; i < sizeof KEYS / sizeof *KEYS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, KEYS[i].hf);
        if (!v && !KEYS[i].required) continue;
        if (!cJSON_IsNumber(v)) {
            snprintf(err, errlen, "%s: \"%s\": expected a number", path, KEYS[i].hf);
            goto done;
        }
        char val[64], why[512];
        snprintf(val, sizeof val, "%.17g", v->valuedouble);
        if (config_set(c, KEYS[i].ours, val, why, sizeof why)) {
            snprintf(err, errlen, "%s: \"%s\": %s", path, KEYS[i].hf, why);
            goto done;
        }
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    const char *a = cJSON_IsString(act) ? act->valuestring : "silu";
    if (strcmp(a, "silu") && strcmp(a, "gelu")) {
        snprintf(err, errlen, "%s: \"hidden_act\": expected \"silu\" (Llama, SwiGLU) or \"gelu\" (Arcee), got \"%s\"",
                 path, a);
        goto done;
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(j, "attention_bias");
    if ((rs && !cJSON_IsNull(rs)) || cJSON_IsTrue(tie) || cJSON_IsTrue(bias)) {
        snprintf(err, errlen, "%s: %s is not supported", path,
                 rs && !cJSON_IsNull(rs) ? "\"rope_scaling\"" : cJSON_IsTrue(tie) ? "\"tie_word_embeddings\": true"
                                                                                  : "\"attention_bias\": true");
        goto done;
    }
    char why[512];
    if (config_set(c, "mlp", strcmp(a, "silu") ? "gelu" : "swiglu", why, sizeof why) ||
        config_set(c, "reparam", "plain", why, sizeof why) || config_finish(c, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* One tensor of model.safetensors, checked against what config.json implies
 * (dtype F32 or BF16, shape, offsets inside the file), into the model. */
static int load_tensor(model *m, int i, const char *name, const cJSON *h, const char *body, size_t body_len,
                       const char *path, char *err, size_t errlen) {
    const tensor_info *t = model_tensor(m, i);
    real *params = model_params(m);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(h, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!e) { snprintf(err, errlen, "%s: no tensor \"%s\"", path, name); return -1; }
    int f32 = cJSON_IsString(dt) && !strcmp(dt->valuestring, "F32");
    int bf16 = cJSON_IsString(dt) && !strcmp(dt->valuestring, "BF16");
    if (!f32 && !bf16) { snprintf(err, errlen, "%s: \"%s\": dtype: expected F32 or BF16", path, name); return -1; }
    int is_vec = t->rows == 1;
    int n_dims = cJSON_GetArraySize(sh);
    double r0 = n_dims > 0 ? cJSON_GetArrayItem(sh, 0)->valuedouble : -1;
    double r1 = n_dims > 1 ? cJSON_GetArrayItem(sh, 1)->valuedouble : -1;
    int ok = is_vec ? n_dims == 1 && r0 == t->cols : n_dims == 2 && r0 == t->rows && r1 == t->cols;
    if (!ok) {
        if (is_vec) snprintf(err, errlen, "%s: \"%s\": shape: expected [%d] as config.json implies", path, name, t->cols);
        else snprintf(err, errlen, "%s: \"%s\": shape: expected [%d, %d] as config.json implies", path, name,
                      t->rows, t->cols);
        return -1;
    }
    size_t width = f32 ? 4 : 2;
    double a = cJSON_GetArraySize(off) == 2 ? cJSON_GetArrayItem(off, 0)->valuedouble : -1;
    double b = cJSON_GetArraySize(off) == 2 ? cJSON_GetArrayItem(off, 1)->valuedouble : -1;
    if (!(a >= 0 && b == a + (double)(t->numel * width) && b <= (double)body_len)) {
        snprintf(err, errlen, "%s: \"%s\": data_offsets: expected %zu bytes inside the file", path, name,
                 t->numel * width);
        return -1;
    }
    const char *src = body + (size_t)a;
    real *dst = params + t->offset;
    for (size_t k = 0; k < t->numel; k++) {
        if (f32) {
            float f;
            memcpy(&f, src + 4 * k, 4);
            dst[k] = (real)f;
        } else {
            uint16_t u;
            memcpy(&u, src + 2 * k, 2);
            dst[k] = (real)bf16_to_f32(u);
        }
    }
    return 0;
}

static model *import_dir(const char *dir, int B, int T, char *err, size_t errlen) {
    char path[1200];
    model_config c;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (read_config(path, &c, err, errlen)) return NULL;
    model *m = model_create(&c, err, errlen);
    if (!m) return NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    /* mapped, not read: the weights are copied once, into the model */
    cJSON *h = NULL;
    char *data = MAP_FAILED;
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    /* the file must be able to hold the parameters config.json describes (BF16 at least)
     * before anything of that size is allocated */
    if ((double)size < 2.0 * (double)model_num_params(m)) {
        snprintf(err, errlen, "%s: %lld bytes, too few for the %zu parameters config.json describes", path,
                 (long long)st.st_size, model_num_params(m));
        goto fail;
    }
    if (model_alloc(m, B, T ? T : c.seq_len, err, errlen)) goto fail;
    data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap failed: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t hl = 0;
    if (size >= 8) memcpy(&hl, data, 8);
    if (size < 8 || hl < 2 || hl > size - 8) {
        snprintf(err, errlen, "%s: not a safetensors file (header length %llu of %zu bytes)", path,
                 (unsigned long long)hl, size);
        goto fail;
    }
    h = cJSON_ParseWithLength(data + 8, hl);
    if (!cJSON_IsObject(h)) { snprintf(err, errlen, "%s: the header is not a JSON object", path); goto fail; }
    const char *body = data + 8 + hl;
    size_t body_len = size - 8 - hl;
    for (int i = 0; i < model_num_tensors(m); i++) {
        char name[128];
        if (export_hf_name(m, i, name, sizeof name) && load_tensor(m, i, name, h, body, body_len, path, err, errlen))
            goto fail;
    }
    real *sc = model_scales(m);
    for (int i = 0; i < model_num_tensors(m); i++) sc[i] = 1;
    model_effective(m);
    cJSON_Delete(h);
    munmap(data, size);
    close(fd);
    return m;
fail:
    cJSON_Delete(h);
    if (data != MAP_FAILED) munmap(data, size);
    if (fd >= 0) close(fd);
    model_free(m);
    return NULL;
}

model *import_hf(const char *dir, int B, int T, char *err, size_t errlen) {
    err[0] = 0;
    model *m = import_dir(dir, B, T, err, errlen);
    if (!m && !err[0]) snprintf(err, errlen, "%s: cannot load the export", dir);
    if (!m) err_printable(err); /* values from config.json are quoted in the messages */
    return m;
}
