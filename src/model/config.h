/* config.h - the model's shape: presets, key=value / JSON files, flags.
 *
 * A config is plain data.  config_set() is the one place that knows the keys;
 * files and command-line flags both go through it, so every key works in both.
 */
#ifndef WESAR_CONFIG_H
#define WESAR_CONFIG_H
#include <stddef.h>

typedef enum { MLP_GELU = 0, MLP_SWIGLU = 1 } mlp_type;
/* Initialization criteria of the WeSaR paper's Table 1 (+ GPT-2's 0.02). */
typedef enum { INIT_HE = 0, INIT_SMALL = 1, INIT_GPT2 = 2 } init_scheme;

typedef struct {
    int vocab_size;   /* V */
    int d_model;      /* d */
    int n_layers;     /* N */
    int n_heads;      /* H */
    int n_kv_heads;   /* Hkv <= H, H % Hkv == 0 (grouped-query attention) */
    int ffn_dim;      /* MLP hidden size (gelu: 4d, swiglu: ~8d/3) */
    int seq_len;      /* T, the context length */
    mlp_type mlp;
    double rope_theta;
    double norm_eps;
    init_scheme init;  /* sigma_i of every effective matrix */
    char reparam[16];  /* none | wesar | weightnorm | sigmareparam | residual */
    double sigma2;     /* common variance of stored matrices (reparams that use one); 0 = the rule's default */
} model_config;

/* Fills cfg from a preset name ("tiny", "gpt2-small", "1.3b").  0 on success. */
int config_preset(model_config *cfg, const char *name, char *err, size_t errlen);
/* Sets one key ("d_model", "mlp", ...) from its text value.  0 on success;
 * 1 if the key is not a model key; -1 (with err) if the value is bad. */
int config_set(model_config *cfg, const char *key, const char *value, char *err,
               size_t errlen);
/* Reads a JSON object or key=value lines; unknown keys are passed to `other`
 * (if non-NULL), which returns the same codes as config_set. */
typedef int (*config_other_fn)(void *ctx, const char *key, const char *value,
                               char *err, size_t errlen);
int config_load_file(model_config *cfg, const char *path, config_other_fn other,
                     void *ctx, char *err, size_t errlen);
/* The same from text (modified in place); path names the source in errors. */
int config_load_text(model_config *cfg, char *text, const char *path, config_other_fn other,
                     void *ctx, char *err, size_t errlen);
/* Fills defaults that depend on other fields (ffn_dim, n_kv_heads) and checks
 * every constraint.  0 if valid. */
int config_finish(model_config *cfg, char *err, size_t errlen);
/* Writes the config as a JSON object (no trailing newline). */
int config_to_json(const model_config *cfg, char *buf, size_t len);
const char *mlp_name(mlp_type t);
const char *init_name(init_scheme s);

/* The first key whose value differs from a to b, as "KEY A -> B" in out;
 * 0 when they are the same config. */
int config_diff(const model_config *a, const model_config *b, char *out, size_t n);
#endif
