/* infer.h - a trained model and its tokenizer, ready for eval and generate.
 *
 * MODEL is a checkpoint file (ckpt_*.bin), a run directory (its newest valid
 * checkpoint) or a Hugging Face export directory (config.json +
 * model.safetensors, as `wesar export` writes).  The tokenizer is the one
 * named by --tokenizer/--tokenizer-path, else the one the checkpoint records
 * (or its training data's meta.json), or an export's own tokenizer files,
 * else bytes for a 257-token vocabulary; anything else is an error that says
 * which flags to give. */
#ifndef WESAR_INFER_H
#define WESAR_INFER_H
#include "../data/tokenizer.h"
#include "../model/model.h"
#include <stddef.h>

typedef struct {
    model *m;
    tokenizer *tk;
    int T;                 /* the context: the model's seq_len unless asked for less */
    char source[1200];     /* the file or directory loaded */
} infer_model;

/* B: sequences per forward (eval), or 0 for generate's KV-cache path only.
 * T: 0 = the model's seq_len. */
int infer_open(infer_model *im, const char *path, const char *tok_name, const char *tok_path, int B,
               int T, char *err, size_t errlen);
void infer_close(infer_model *im);
/* The tokenizer a checkpoint's training config records (train.h: tokenizer,
 * tokenizer_path), else the one its training data's meta.json names; 0 when
 * one is found. */
int infer_recorded_tokenizer(const char *train_json, char *name, size_t nlen, char *tpath, size_t plen);
#endif
