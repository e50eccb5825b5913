/* config.c - presets, parsing and validation of model_config. */
#include "config.h"
#include "../util/fileio.h"
#include "../util/parse.h"
#include "../reparam/reparam.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mlp_name(mlp_type t) { return t == MLP_SWIGLU ? "swiglu" : "gelu"; }

static const char *init_names[] = {"he", "small", "gpt2"};
const char *init_name(init_scheme s) { return init_names[s]; }

int config_preset(model_config *cfg, const char *name, char *err, size_t errlen) {
    model_config c = {0};
    c.mlp = MLP_GELU;
    c.rope_theta = 10000;
    c.norm_eps = 1e-5;
    c.init = INIT_HE;
    snprintf(c.reparam, sizeof c.reparam, "none");
    if (!strcmp(name, "tiny")) {
        /* byte vocabulary: 256 bytes + end-of-text */
        c.vocab_size = 257; c.d_model = 256; c.n_layers = 4; c.n_heads = 4; c.seq_len = 256;
    } else if (!strcmp(name, "gpt2-small")) {
        c.vocab_size = 50257; c.d_model = 768; c.n_layers = 12; c.n_heads = 12; c.seq_len = 1024;
    } else if (!strcmp(name, "1.3b")) {
        /* the WeSaR paper's 1.3B model (LLaMA-2 vocabulary) */
        c.vocab_size = 32000; c.d_model = 2048; c.n_layers = 24; c.n_heads = 16; c.seq_len = 2048;
    } else {
        snprintf(err, errlen, "unknown preset '%s' (expected tiny, gpt2-small or 1.3b)", name);
        return -1;
    }
    *cfg = c;
    return 0;
}

static int parse_int(const char *key, const char *v, int *out, char *err, size_t errlen) {
    long long x;
    if (parse_integer(v, 0, 1000000000LL, &x)) {
        snprintf(err, errlen, "%s: expected a non-negative integer, got '%s'", key, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int parse_double(const char *key, const char *v, double *out, char *err, size_t errlen) {
    double x;
    if (parse_real(v, 0, 1e30, &x) || !(x > 0)) {
        snprintf(err, errlen, "%s: expected a positive number, got '%s'", key, v);
        return -1;
    }
    *out = x;
    return 0;
}

int config_set(model_config *c, const char *key, const char *v, char *err, size_t errlen) {
    if (!strcmp(key, "vocab_size")) return parse_int(key, v, &c->vocab_size, err, errlen);
    if (!strcmp(key, "d_model")) return parse_int(key, v, &c->d_model, err, errlen);
    if (!strcmp(key, "n_layers")) return parse_int(key, v, &c->n_layers, err, errlen);
    if (!strcmp(key, "n_heads")) return parse_int(key, v, &c->n_heads, err, errlen);
    if (!strcmp(key, "n_kv_heads")) return parse_int(key, v, &c->n_kv_heads, err, errlen);
    if (!strcmp(key, "ffn_dim")) return parse_int(key, v, &c->ffn_dim, err, errlen);
    if (!strcmp(key, "seq_len")) return parse_int(key, v, &c->seq_len, err, errlen);
    if (!strcmp(key, "rope_theta")) return parse_double(key, v, &c->rope_theta, err, errlen);
    if (!strcmp(key, "norm_eps")) return parse_double(key, v, &c->norm_eps, err, errlen);
    if (!strcmp(key, "init")) {
        for (int i = 0; i < 3; i++)
            if (!strcmp(v, init_names[i])) { c->init = (init_scheme)i; return 0; }
        snprintf(err, errlen, "init: expected he, small or gpt2, got '%s'", v);
        return -1;
    }
    if (!strcmp(key, "reparam")) {
        if (!reparam_find(v)) {
            snprintf(err, errlen, "reparam: expected one of %s, got '%s'", reparam_names(), v);
            return -1;
        }
        snprintf(c->reparam, sizeof c->reparam, "%s", v);
        return 0;
    }
    if (!strcmp(key, "sigma2")) {
        if (!strcmp(v, "0")) { c->sigma2 = 0; return 0; } /* 0: the rule's default */
        return parse_double(key, v, &c->sigma2, err, errlen);
    }
    if (!strcmp(key, "mlp")) {
        if (!strcmp(v, "gelu")) c->mlp = MLP_GELU;
        else if (!strcmp(v, "swiglu")) c->mlp = MLP_SWIGLU;
        else { snprintf(err, errlen, "mlp: expected gelu or swiglu, got '%s'", v); return -1; }
        return 0;
    }
    return 1;
}

static int set_any(model_config *cfg, const char *key, const char *value,
                   config_other_fn other, void *ctx, char *err, size_t errlen) {
    int r = config_set(cfg, key, value, err, errlen);
    if (r == 1 && other) r = other(ctx, key, value, err, errlen);
    if (r == 1) snprintf(err, errlen, "unknown key '%s'", key);
    return r ? -1 : 0;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int config_load_file(model_config *cfg, const char *path, config_other_fn other,
                     void *ctx, char *err, size_t errlen) {
    char *text = read_file(path, 1 << 20, NULL, err, errlen);
    if (!text) return -1;
    int rc = config_load_text(cfg, text, path, other, ctx, err, errlen);
    free(text);
    return rc;
}

/* One JSON object's fields as keys. */
static int load_json_fields(model_config *cfg, const cJSON *obj, const char *path, config_other_fn other,
                            void *ctx, char *err, size_t errlen) {
    char msg[256];
    for (const cJSON *it = obj->child; it; it = it->next) {
        char val[1024];
        if (cJSON_IsString(it)) snprintf(val, sizeof val, "%s", it->valuestring);
        else if (cJSON_IsNumber(it)) snprintf(val, sizeof val, "%.17g", it->valuedouble);
        else if (cJSON_IsBool(it)) snprintf(val, sizeof val, "%d", cJSON_IsTrue(it));
        else {
            snprintf(err, errlen, "%s: field '%s': expected a string, number or boolean", path, it->string);
            return -1;
        }
        /* integers written as 256.0 still parse as integers */
        if (cJSON_IsNumber(it) && fabs(it->valuedouble) < 9e15 &&
            it->valuedouble == (double)(long long)it->valuedouble)
            snprintf(val, sizeof val, "%lld", (long long)it->valuedouble);
        if (set_any(cfg, it->string, val, other, ctx, msg, sizeof msg)) {
            snprintf(err, errlen, "%s: field %s", path, msg);
            return -1;
        }
    }
    return 0;
}

/* A run's own config.json, {"model": {...}, "train": {...}}, reads as its
 * fields: the run it describes can be started again from it. */
static int is_run_config(const cJSON *root) {
    int n = 0;
    for (const cJSON *it = root->child; it; it = it->next, n++)
        if (!cJSON_IsObject(it) || (strcmp(it->string, "model") && strcmp(it->string, "train"))) return 0;
    return n > 0;
}

static int load_text(model_config *cfg, char *text, const char *path, config_other_fn other,
                     void *ctx, char *err, size_t errlen) {
    char msg[256];
    int rc = 0;
    char *p = trim(text);
    if (*p == '{') {
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithOpts(p, &end, 1); /* 1: nothing may follow the object */
        if (!cJSON_IsObject(root)) {
            const char *at = cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : end;
            snprintf(err, errlen, "%s: invalid JSON at byte %ld near '%.20s'", path,
                     at ? (long)(at - text) : -1L, at ? at : "?");
            cJSON_Delete(root);
            return -1;
        }
        if (!is_run_config(root)) rc = load_json_fields(cfg, root, path, other, ctx, err, errlen);
        for (const cJSON *it = is_run_config(root) ? root->child : NULL; it && !rc; it = it->next)
            rc = load_json_fields(cfg, it, path, other, ctx, err, errlen);
        cJSON_Delete(root);
    } else {
        int line = 0;
        for (char *ln = p, *next; ln && !rc; ln = next) {
            next = strchr(ln, '\n');
            if (next) *next++ = 0;
            line++;
            char *s = trim(ln);
            if (!*s || *s == '#') continue;
            char *eq = strchr(s, '=');
            if (!eq) {
                snprintf(err, errlen, "%s:%d: expected key=value, got '%.40s'", path, line, s);
                rc = -1;
                break;
            }
            *eq = 0;
            if (set_any(cfg, trim(s), trim(eq + 1), other, ctx, msg, sizeof msg)) {
                snprintf(err, errlen, "%s:%d: %s", path, line, msg);
                rc = -1;
            }
        }
    }
    return rc;
}

/* Errors quote the file's text: keep them one printable line. */
int config_load_text(model_config *cfg, char *text, const char *path, config_other_fn other,
                     void *ctx, char *err, size_t errlen) {
    int rc = load_text(cfg, text, path, other, ctx, err, errlen);
    if (rc) err_printable(err);
    return rc;
}

int config_finish(model_config *c, char *err, size_t errlen) {
    if (c->n_kv_heads == 0) c->n_kv_heads = c->n_heads;
    if (!c->reparam[0]) snprintf(c->reparam, sizeof c->reparam, "none");
    const reparam_rule *rule = reparam_find(c->reparam);
    if (!rule) {
        snprintf(err, errlen, "reparam: expected one of %s, got '%s'", reparam_names(), c->reparam);
        return -1;
    }
    /* a common sigma only means something where the stored matrices are decoupled from sigma_i */
    if (c->sigma2 > 0 && !rule->default_sigma2) {
        snprintf(err, errlen, "sigma2: --reparam %s has no common sigma (use %s)", c->reparam, reparam_sigma_names());
        return -1;
    }
    if (!c->sigma2) c->sigma2 = rule->default_sigma2;
    if (c->d_model > (1 << 16)) {  /* before the products below */
        snprintf(err, errlen, "d_model: expected <= %d, got %d", 1 << 16, c->d_model);
        return -1;
    }
    if (c->ffn_dim == 0) {
        if (c->mlp == MLP_GELU) c->ffn_dim = 4 * c->d_model;
        else c->ffn_dim = ((8 * c->d_model / 3) + 63) / 64 * 64; /* Llama: 8d/3, rounded up to 64 */
    }
#define REQ(cond, ...) do { if (!(cond)) { snprintf(err, errlen, __VA_ARGS__); return -1; } } while (0)
    REQ(c->vocab_size >= 2, "vocab_size: expected >= 2, got %d", c->vocab_size);
    REQ(c->d_model >= 2, "d_model: expected >= 2, got %d", c->d_model);
    REQ(c->n_layers >= 1, "n_layers: expected >= 1, got %d", c->n_layers);
    REQ(c->n_heads >= 1, "n_heads: expected >= 1, got %d", c->n_heads);
    REQ(c->d_model % c->n_heads == 0, "n_heads: %d does not divide d_model %d", c->n_heads, c->d_model);
    REQ((c->d_model / c->n_heads) % 2 == 0, "head dim d_model/n_heads = %d must be even for RoPE",
        c->d_model / c->n_heads);
    REQ(c->n_kv_heads >= 1 && c->n_kv_heads <= c->n_heads && c->n_heads % c->n_kv_heads == 0,
        "n_kv_heads: expected a divisor of n_heads=%d, got %d", c->n_heads, c->n_kv_heads);
    REQ(c->ffn_dim >= 1, "ffn_dim: expected >= 1, got %d", c->ffn_dim);
    REQ(c->seq_len >= 1, "seq_len: expected >= 1, got %d", c->seq_len);
    /* upper bounds keep every size product far from overflow (and any real model fits) */
    REQ(c->vocab_size <= (1 << 24), "vocab_size: expected <= %d, got %d", 1 << 24, c->vocab_size);
    REQ(c->d_model <= (1 << 16), "d_model: expected <= %d, got %d", 1 << 16, c->d_model);
    REQ(c->n_layers <= 1024, "n_layers: expected <= 1024, got %d", c->n_layers);
    REQ(c->ffn_dim <= (1 << 20), "ffn_dim: expected <= %d, got %d", 1 << 20, c->ffn_dim);
    REQ(c->seq_len <= (1 << 20), "seq_len: expected <= %d, got %d", 1 << 20, c->seq_len);
    REQ(c->rope_theta > 0 && c->rope_theta < 1e30, "rope_theta: expected a positive number, got %g", c->rope_theta);
    REQ(c->norm_eps > 0 && c->norm_eps < 1, "norm_eps: expected a number in (0, 1), got %g", c->norm_eps);
    REQ(c->sigma2 >= 0 && c->sigma2 < 1e6, "sigma2: expected a non-negative number, got %g", c->sigma2);
#undef REQ
    return 0;
}

int config_to_json(const model_config *c, char *buf, size_t len) {
    return snprintf(buf, len,
                    "{\"vocab_size\":%d,\"d_model\":%d,\"n_layers\":%d,\"n_heads\":%d,"
                    "\"n_kv_heads\":%d,\"ffn_dim\":%d,\"seq_len\":%d,\"mlp\":\"%s\","
                    "\"rope_theta\":%.17g,\"norm_eps\":%.17g,\"init\":\"%s\",\"reparam\":\"%s\","
                    "\"sigma2\":%.17g}",
                    c->vocab_size, c->d_model, c->n_layers, c->n_heads, c->n_kv_heads,
                    c->ffn_dim, c->seq_len, mlp_name(c->mlp), c->rope_theta, c->norm_eps,
                    init_names[c->init], c->reparam, c->sigma2);
}

int config_diff(const model_config *a, const model_config *b, char *out, size_t n) {
    char ja[1024], jb[1024];
    config_to_json(a, ja, sizeof ja);
    config_to_json(b, jb, sizeof jb);
    cJSON *x = cJSON_Parse(ja), *y = cJSON_Parse(jb);
    int found = 0;
    for (cJSON *it = x ? x->child : NULL; it && !found; it = it->next) {
        cJSON *o = cJSON_GetObjectItemCaseSensitive(y, it->string);
        if (o && cJSON_Compare(it, o, 1)) continue;
        char *va = cJSON_PrintUnformatted(it), *vb = o ? cJSON_PrintUnformatted(o) : NULL;
        snprintf(out, n, "%s %s -> %s", it->string, va ? va : "?", vb ? vb : "?");
        free(va);
        free(vb);
        found = 1;
    }
    cJSON_Delete(x);
    cJSON_Delete(y);
    return found;
}
