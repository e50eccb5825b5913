/* export_tok.c - the tokenizer of a Hugging Face export (export.h): the files
 * AutoTokenizer loads, copied byte for byte from the tokenizer the model was
 * trained with, and its special ids. */
#include "export.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* every tokenizer file an export may hold: each one is written anew or removed */
static const char *const TOKENIZER_FILES[] = {"vocab.json", "merges.txt", "tokenizer.model", "tokenizer.json",
                                              "tokenizer_config.json", "special_tokens_map.json",
                                              "generation_config.json", "added_tokens.json"};

static int put(const char *dir, const char *name, const void *data, size_t n, char *err, size_t errlen) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    atomic_file f;
    if (atomic_open(&f, path, err, errlen)) return -1;
    return atomic_commit(&f, atomic_write(&f, data, n), err, errlen);
}

static int put_json(const char *dir, const char *name, cJSON *j, char *err, size_t errlen) {
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) { snprintf(err, errlen, "out of memory"); return -1; }
    size_t n = strlen(text);
    char *t2 = realloc(text, n + 2);
    if (t2) text = t2, text[n++] = '\n';
    int rc = put(dir, name, text, n, err, errlen);
    free(text);
    return rc;
}

static int copy(const char *from, const char *dir, const char *name, char *err, size_t errlen) {
    size_t n;
    char *data = read_file(from, (size_t)1 << 28, &n, err, errlen);
    int rc = data ? put(dir, name, data, n, err, errlen) : -1;
    free(data);
    return rc;
}

/* bos/eos/unk as tokenizer_config.json and special_tokens_map.json spell them */
static int special(const char *dir, const char *cls, const char *bos, const char *eos, const char *unk, int seq_len,
                   int spm, char *err, size_t errlen) {
    cJSON *c = cJSON_CreateObject(), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "tokenizer_class", cls);
    const char *keys[] = {"bos_token", "eos_token", "unk_token"}, *vals[] = {bos, eos, unk};
    for (int i = 0; i < 3; i++) {
        cJSON_AddStringToObject(c, keys[i], vals[i]);
        cJSON_AddStringToObject(m, keys[i], vals[i]);
    }
    cJSON_AddNumberToObject(c, "model_max_length", seq_len);
    if (spm) { /* LLaMA's: <s> before every sequence, as wesar's documents have it */
        cJSON_AddBoolToObject(c, "add_bos_token", 1);
        cJSON_AddBoolToObject(c, "add_eos_token", 0);
    } else {
        cJSON_AddBoolToObject(c, "add_prefix_space", 0);
    }
    return put_json(dir, "tokenizer_config.json", c, err, errlen) || put_json(dir, "special_tokens_map.json", m, err, errlen);
}

int export_tokenizer(const char *dir, const tokenizer *tk, const char *tok_path, int seq_len, char *err,
                     size_t errlen) {
    char path[1200];
    for (size_t i = 0; i < sizeof TOKENIZER_FILES / sizeof *TOKENIZER_FILES; i++) { /* none of an earlier export's */
        snprintf(path, sizeof path, "%s/%s", dir, TOKENIZER_FILES[i]);
        unlink(path);
    }
    if (!tk) return 0;
    int rc = 0;
    if (!strcmp(tk->name, "gpt2")) {
        snprintf(path, sizeof path, "%s/encoder.json", tok_path);
        if (access(path, F_OK)) snprintf(path, sizeof path, "%s/vocab.json", tok_path); /* from an export */
        rc = copy(path, dir, "vocab.json", err, errlen);
        snprintf(path, sizeof path, "%s/vocab.bpe", tok_path);
        if (access(path, F_OK)) snprintf(path, sizeof path, "%s/merges.txt", tok_path);
        if (!rc) rc = copy(path, dir, "merges.txt", err, errlen);
        if (!rc) rc = special(dir, "GPT2Tokenizer", "<|endoftext|>", "<|endoftext|>", "<|endoftext|>", seq_len, 0, err, errlen);
    } else if (!strcmp(tk->name, "sentencepiece")) {
        struct stat st;
        snprintf(path, sizeof path, "%s", tok_path);
        if (!stat(path, &st) && S_ISDIR(st.st_mode)) snprintf(path, sizeof path, "%s/tokenizer.model", tok_path);
        rc = copy(path, dir, "tokenizer.model", err, errlen);
        if (!rc) rc = special(dir, "LlamaTokenizer", "<s>", "</s>", "<unk>", seq_len, 1, err, errlen);
    } /* bytes: Hugging Face has no such tokenizer; only the ids below */
    cJSON *g = cJSON_CreateObject();
    cJSON_AddNumberToObject(g, "bos_token_id", tk->eot);
    cJSON_AddNumberToObject(g, "eos_token_id", tk->eos);
    return rc ? -1 : put_json(dir, "generation_config.json", g, err, errlen);
}
