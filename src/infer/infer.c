/* infer.c - loading MODEL (checkpoint, run directory or HF export) and its tokenizer. */
#include "infer.h"
#include "../ckpt/ckpt.h"
#include "../ckpt/import.h"
#include "../data/prepare.h"
#include "../ckpt/rundir.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The tokenizer a checkpoint's run recorded (train.h: tokenizer,
 * tokenizer_path), else the one its training data's meta.json names (for
 * checkpoints older than that record). */
int infer_recorded_tokenizer(const char *train_json, char *name, size_t nlen, char *tpath, size_t plen) {
    cJSON *t = cJSON_Parse(train_json), *j = NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(t, "data"), *src = t;
    char meta[1200];
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "tokenizer")) && cJSON_IsString(data))
        src = j = prepare_read_meta(data->valuestring, meta, sizeof meta);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(src, "tokenizer");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(src, "tokenizer_path");
    int rc = -1;
    if (cJSON_IsString(n)) {
        snprintf(name, nlen, "%s", n->valuestring);
        snprintf(tpath, plen, "%s", cJSON_IsString(p) ? p->valuestring : "");
        rc = 0;
    }
    cJSON_Delete(j);
    cJSON_Delete(t);
    return rc;
}

/* Long because of its one decision list: what MODEL is (checkpoint, run, export) and where its tokenizer
 * comes from (flags, the checkpoint's record, its data, an export's files, bytes), each with its error. */
int infer_open(infer_model *im, const char *path, const char *tok_name, const char *tok_path, int B,
               int T, char *err, size_t errlen) {
    memset(im, 0, sizeof *im);
    struct stat st;
    char file[1200], train_json[4096] = "";
    if (stat(path, &st)) {
        snprintf(err, errlen, "%s: cannot open: %s (expected a checkpoint, a run directory or an export)",
                 path, strerror(errno));
        return -1;
    }
    char cfg_file[1200], st_file[1200];
    struct stat cs;
    snprintf(cfg_file, sizeof cfg_file, "%s/config.json", path);
    snprintf(st_file, sizeof st_file, "%s/model.safetensors", path);
    if (S_ISDIR(st.st_mode) && !stat(cfg_file, &cs) && !stat(st_file, &cs)) { /* an export */
        snprintf(im->source, sizeof im->source, "%s", path);
        im->m = import_hf(path, B, T, err, errlen);
        if (!im->m) return -1;
    } else {
        if (S_ISDIR(st.st_mode)) {
            if (rundir_find_checkpoint(path, -1, file, sizeof file, err, errlen)) {
                snprintf(err, errlen, "%s: no valid checkpoint (ckpt_*.bin) and no export (config.json + "
                         "model.safetensors) in this directory", path);
                return -1;
            }
        } else {
            snprintf(file, sizeof file, "%s", path);
        }
        snprintf(im->source, sizeof im->source, "%s", file);
        model_config c;
        ckpt_extra x = {0};
        if (ckpt_read_config(file, &c, train_json, sizeof train_json, err, errlen)) return -1;
        if (T > c.seq_len) {
            snprintf(err, errlen, "--seq-len %d: the model's context is %d", T, c.seq_len);
            return -1;
        }
        im->m = model_create(&c, err, errlen);
        if (!im->m || model_alloc(im->m, B, T ? T : c.seq_len, err, errlen) ||
            ckpt_load(file, im->m, &x, err, errlen)) {
            ckpt_extra_free(&x);
            infer_close(im);
            return -1;
        }
        ckpt_extra_free(&x);
    }
    const model_config *c = model_cfg(im->m); /* model_alloc has checked T <= seq_len */
    im->T = T ? T : c->seq_len;
    char name[64] = "", tpath[1100] = "", rname[64] = "", rpath[1100] = "";
    int recorded = train_json[0] && !infer_recorded_tokenizer(train_json, rname, sizeof rname, rpath, sizeof rpath);
    if (!train_json[0] && S_ISDIR(st.st_mode)) { /* an export: the tokenizer files wesar export writes */
        char f[1300];
        snprintf(f, sizeof f, "%s/vocab.json", path);
        int gpt2 = !access(f, F_OK);
        snprintf(f, sizeof f, "%s/tokenizer.model", path);
        if (gpt2 || !access(f, F_OK)) {
            snprintf(rname, sizeof rname, "%s", gpt2 ? "gpt2" : "sentencepiece");
            snprintf(rpath, sizeof rpath, "%s", path);
            recorded = 1;
        }
    }
    if (tok_name && recorded && strcmp(tok_name, rname)) {
        snprintf(err, errlen, "--tokenizer %s: %s was trained on %s tokens (use that tokenizer, or leave "
                 "--tokenizer out)", tok_name, path, rname);
        infer_close(im);
        return -1;
    }
    if (tok_name) {
        snprintf(name, sizeof name, "%s", tok_name);
        snprintf(tpath, sizeof tpath, "%s", tok_path ? tok_path : rpath);
    } else if (recorded) {
        snprintf(name, sizeof name, "%s", rname);
        snprintf(tpath, sizeof tpath, "%s", tok_path ? tok_path : rpath);
    } else if (c->vocab_size == 257) {
        snprintf(name, sizeof name, "bytes");
    }
    if (!name[0]) {
        snprintf(err, errlen, "%s: which tokenizer? Its training data's meta.json is not at hand: give "
                 "--tokenizer gpt2 --tokenizer-path DIR (or sentencepiece with a tokenizer.model)", path);
        infer_close(im);
        return -1;
    }
    im->tk = tokenizer_open(name, tpath[0] ? tpath : NULL, err, errlen);
    if (!im->tk) { infer_close(im); return -1; }
    if (!tokenizer_vocab_fits(c->vocab_size, im->tk->vocab_size)) {
        snprintf(err, errlen, "%s: the %s tokenizer has %d tokens but the model %d: not the model's tokenizer "
                 "(a model may pad its vocabulary up to the next multiple of 128, no more)", path, name,
                 im->tk->vocab_size, c->vocab_size);
        infer_close(im);
        return -1;
    }
    return 0;
}

void infer_close(infer_model *im) {
    model_free(im->m);
    tokenizer_free(im->tk);
    im->m = NULL;
    im->tk = NULL;
}
