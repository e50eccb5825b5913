/* ckpt.c - checkpoint writer and validating reader. */
#include "ckpt.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MAGIC[8] = {'W', 'E', 'S', 'A', 'R', 'C', 'K', 'P'};

/* Checkpoints are always float32, whatever `real` is. */
static int write_reals(atomic_file *f, const real *x, size_t n) {
    float buf[4096];
    for (size_t i = 0; i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) buf[j] = (float)x[i + j];
        if (atomic_write(f, buf, k * sizeof(float))) return -1;
    }
    return 0;
}

static int write_state(atomic_file *f, const ckpt_extra *x, size_t total) {
    if (!x->state_next) return write_reals(f, x->state, total);
    for (size_t done = 0; done < total;) {
        size_t n = 0;
        const real *p = x->state_next(x->state_ctx, &n);
        if (!p || !n || n > total - done || write_reals(f, p, n)) return -1;
        done += n;
    }
    return 0;
}

int ckpt_save(const char *path, model *m, const ckpt_extra *x, char *err, size_t errlen) {
    char cfgj[1024];
    config_to_json(model_cfg(m), cfgj, sizeof cfgj);
    cJSON *h = cJSON_CreateObject();
    cJSON_AddItemToObject(h, "model", cJSON_Parse(cfgj));
    cJSON_AddStringToObject(h, "dtype", "f32");
    cJSON_AddNumberToObject(h, "n_params", (double)model_num_params(m));
    cJSON_AddNumberToObject(h, "n_tensors", model_num_tensors(m));
    cJSON_AddStringToObject(h, "optim", x->optim);
    cJSON_AddNumberToObject(h, "n_state", x->n_state);
    cJSON_AddNumberToObject(h, "step", (double)x->step);
    cJSON *r = cJSON_AddArrayToObject(h, "data_rng");
    for (int i = 0; i < 4; i++) {
        char s[24];
        snprintf(s, sizeof s, "%" PRIu64, x->data_rng.s[i]); /* u64 does not fit a JSON double */
        cJSON_AddItemToArray(r, cJSON_CreateString(s));
    }
    cJSON *tj = cJSON_Parse(x->train_json[0] ? x->train_json : "{}");
    cJSON_AddItemToObject(h, "train", tj ? tj : cJSON_CreateObject());
    /* kept as a string: its numbers must come back bit for bit, and cJSON
     * prints numbers with only as many digits as it deems enough */
    if (x->run_json && x->run_json[0]) cJSON_AddStringToObject(h, "run", x->run_json);
    char *hs = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!hs) { snprintf(err, errlen, "out of memory"); return -1; }
    uint32_t ver = CKPT_VERSION, hl = (uint32_t)strlen(hs);
    atomic_file f;
    if (atomic_open(&f, path, err, errlen)) { free(hs); return -1; }
    int rc = atomic_write(&f, MAGIC, 8) || atomic_write(&f, &ver, 4) || atomic_write(&f, &hl, 4) ||
             atomic_write(&f, hs, hl) ||
             write_reals(&f, model_params(m), model_num_params(m)) ||
             write_reals(&f, model_scales(m), (size_t)model_num_tensors(m)) ||
             (x->n_state && write_state(&f, x, (size_t)x->n_state * model_num_params(m)));
    uint32_t crc = f.crc;
    if (!rc) rc = atomic_write(&f, &crc, 4);
    free(hs);
    return atomic_commit(&f, rc, err, errlen);
}

typedef struct {
    FILE *f;
    uint32_t crc;
    cJSON *header;
    long size;
} reader;

static int rd(reader *r, void *buf, size_t n) {
    if (fread(buf, 1, n, r->f) != n) return -1;
    r->crc = crc32_update(r->crc, buf, n);
    return 0;
}

static int open_header(reader *r, const char *path, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->f = fopen(path, "rb");
    if (!r->f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    fseek(r->f, 0, SEEK_END);
    r->size = ftell(r->f);
    fseek(r->f, 0, SEEK_SET);
    char magic[8];
    uint32_t ver, hl;
    if (rd(r, magic, 8) || memcmp(magic, MAGIC, 8)) {
        snprintf(err, errlen, "%s: not a wesar checkpoint (bad magic)", path);
        return -1;
    }
    if (rd(r, &ver, 4) || ver != CKPT_VERSION) {
        snprintf(err, errlen, "%s: checkpoint version %u, expected %d", path, ver, CKPT_VERSION);
        return -1;
    }
    if (rd(r, &hl, 4) || hl > (1u << 20) || (long)hl > r->size) {
        snprintf(err, errlen, "%s: truncated or corrupt header", path);
        return -1;
    }
    char *hs = malloc((size_t)hl + 1);
    if (!hs || rd(r, hs, hl)) {
        free(hs);
        snprintf(err, errlen, "%s: truncated header", path);
        return -1;
    }
    hs[hl] = 0;
    r->header = cJSON_Parse(hs);
    free(hs);
    if (!cJSON_IsObject(r->header)) {
        snprintf(err, errlen, "%s: corrupt header (not a JSON object)", path);
        return -1;
    }
    return 0;
}

static void close_reader(reader *r) {
    if (r->f) fclose(r->f);
    cJSON_Delete(r->header);
}

static int header_config(reader *r, const char *path, model_config *cfg, char *err, size_t errlen) {
    cJSON *mj = cJSON_GetObjectItem(r->header, "model");
    if (!cJSON_IsObject(mj)) { snprintf(err, errlen, "%s: header has no field 'model'", path); return -1; }
    memset(cfg, 0, sizeof *cfg);
    for (cJSON *it = mj->child; it; it = it->next) {
        char val[64], msg[200];
        if (cJSON_IsString(it)) snprintf(val, sizeof val, "%s", it->valuestring);
        else if (cJSON_IsNumber(it)) snprintf(val, sizeof val, "%.17g", it->valuedouble);
        else {
            snprintf(err, errlen, "%s: header field model.%s: bad type", path, it->string);
            err_printable(err);
            return -1;
        }
        if (config_set(cfg, it->string, val, msg, sizeof msg)) {
            snprintf(err, errlen, "%s: header field model.%s: %s", path, it->string, msg);
            err_printable(err);
            return -1;
        }
    }
    return config_finish(cfg, err, errlen);
}

static double num_field(cJSON *h, const char *k) {
    cJSON *v = cJSON_GetObjectItem(h, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* The header's sizes must account for the file exactly: this bounds what a
 * reader allocates by the file's own size, whatever the header claims. */
static int check_sizes(reader *r, const char *path, char *err, size_t errlen) {
    double np = num_field(r->header, "n_params"), nt = num_field(r->header, "n_tensors"),
           ns = num_field(r->header, "n_state");
    if (!(np >= 1 && np <= 1e15 && nt >= 1 && nt <= 1e6 && ns >= 0 && ns <= 8) ||
        np != (double)(size_t)np || nt != (int)nt || ns != (int)ns) {
        snprintf(err, errlen, "%s: header fields n_params/n_tensors/n_state missing or invalid", path);
        return -1;
    }
    double want = (double)ftell(r->f) + 4 * (np + nt + ns * np) + 4;
    if (want != (double)r->size) {
        snprintf(err, errlen, "%s: file is %ld bytes, expected %.0f from its header (truncated?)",
                 path, r->size, want);
        return -1;
    }
    return 0;
}

int ckpt_read_config(const char *path, model_config *cfg, char *train_json, size_t tjlen,
                     char *err, size_t errlen) {
    reader r;
    int rc = open_header(&r, path, err, errlen);
    if (!rc) rc = check_sizes(&r, path, err, errlen);
    if (!rc) rc = header_config(&r, path, cfg, err, errlen);
    if (!rc) {  /* the config must describe the tensors the file holds */
        model *m = model_create(cfg, err, errlen);
        if (!m) rc = -1;
        else if (num_field(r.header, "n_params") != (double)model_num_params(m) ||
                 num_field(r.header, "n_tensors") != model_num_tensors(m)) {
            snprintf(err, errlen, "%s: header n_params/n_tensors do not match its model config", path);
            rc = -1;
        }
        model_free(m);
    }
    if (!rc && train_json) {
        cJSON *tj = cJSON_GetObjectItem(r.header, "train");
        char *ts = cJSON_IsObject(tj) ? cJSON_PrintUnformatted(tj) : NULL;
        snprintf(train_json, tjlen, "%s", ts ? ts : "{}");
        free(ts);
    }
    close_reader(&r);
    return rc;
}

int ckpt_verify(const char *path, char *err, size_t errlen) {
    reader r;
    int rc = open_header(&r, path, err, errlen);
    if (!rc) {
        long left = r.size - ftell(r.f) - 4;
        char buf[1 << 16];
        while (left > 0 && !rc) {
            size_t k = left < (long)sizeof buf ? (size_t)left : sizeof buf;
            rc = rd(&r, buf, k);
            left -= (long)k;
        }
        uint32_t want = r.crc, got;
        if (rc || left < 0 || fread(&got, 1, 4, r.f) != 4 || got != want) {
            snprintf(err, errlen, "%s: checksum mismatch or truncated (file corrupted)", path);
            rc = -1;
        }
    }
    close_reader(&r);
    return rc;
}

static int read_reals(reader *r, real *x, size_t n) {
    float buf[4096];
    for (size_t i = 0; i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        if (rd(r, buf, k * sizeof(float))) return -1;
        if (x) for (size_t j = 0; j < k; j++) x[i + j] = buf[j];
    }
    return 0;
}

int ckpt_load(const char *path, model *m, ckpt_extra *x, char *err, size_t errlen) {
    reader r;
    model_config cfg;
    size_t want_lo = x->state_lo, want_n = x->state_n;
    memset(x, 0, sizeof *x);
    /* checksum first: a damaged file never touches the model */
    if (ckpt_verify(path, err, errlen)) return -1;
    int rc = open_header(&r, path, err, errlen);
    if (!rc) rc = check_sizes(&r, path, err, errlen);
    if (!rc) rc = header_config(&r, path, &cfg, err, errlen);
    if (rc) { close_reader(&r); return -1; }
    char a[1024], b[1024];
    config_to_json(&cfg, a, sizeof a);
    config_to_json(model_cfg(m), b, sizeof b);
    size_t np = model_num_params(m);
    double step = num_field(r.header, "step"), ns = num_field(r.header, "n_state");
    cJSON *opt = cJSON_GetObjectItem(r.header, "optim"), *rngj = cJSON_GetObjectItem(r.header, "data_rng");
    if (strcmp(a, b)) {
        char d[256];
        config_diff(&cfg, model_cfg(m), d, sizeof d);
        snprintf(err, errlen, "%s: the checkpoint's model differs from the one it is loaded into: %s", path, d);
        rc = -1;
    } else if (num_field(r.header, "n_params") != (double)np ||
               num_field(r.header, "n_tensors") != model_num_tensors(m)) {
        snprintf(err, errlen, "%s: header n_params/n_tensors do not match the model", path);
        rc = -1;
    } else if (step < 0 || step > 1e15 || ns < 0 || ns > 8 || !cJSON_IsString(opt) ||
               cJSON_GetArraySize(rngj) != 4) {
        snprintf(err, errlen, "%s: header fields step/n_state/optim/data_rng missing or invalid", path);
        rc = -1;
    }
    if (!rc) {
        x->step = (long)step;
        x->n_state = (int)ns;
        snprintf(x->optim, sizeof x->optim, "%s", opt->valuestring);
        for (int i = 0; i < 4; i++) {
            cJSON *e = cJSON_GetArrayItem(rngj, i);
            x->data_rng.s[i] = cJSON_IsString(e) ? strtoull(e->valuestring, NULL, 10) : 0;
        }
        cJSON *tj = cJSON_GetObjectItem(r.header, "train");
        char *ts = cJSON_IsObject(tj) ? cJSON_PrintUnformatted(tj) : NULL;
        if (ts) snprintf(x->train_json, sizeof x->train_json, "%s", ts);
        free(ts);
        cJSON *rj = cJSON_GetObjectItem(r.header, "run");
        if (cJSON_IsString(rj) && !(x->run_json = strdup(rj->valuestring))) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (!want_n || want_lo + want_n > np) want_lo = 0, want_n = np;
    if (!rc && x->n_state) {
        x->state = malloc((size_t)x->n_state * want_n * sizeof(real));
        if (!x->state) { snprintf(err, errlen, "out of memory"); rc = -1; }
    }
    int bad = !rc && (read_reals(&r, model_params(m), np) ||
                      read_reals(&r, model_scales(m), (size_t)model_num_tensors(m)));
    for (int k = 0; !rc && !bad && k < x->n_state; k++)
        bad = read_reals(&r, NULL, want_lo) || read_reals(&r, x->state + (size_t)k * want_n, want_n) ||
              read_reals(&r, NULL, np - want_lo - want_n);
    if (bad) {
        snprintf(err, errlen, "%s: truncated data", path);
        rc = -1;
    }
    if (!rc) {
        uint32_t want_crc = r.crc, got;
        if (fread(&got, 1, 4, r.f) != 4 || got != want_crc) {
            snprintf(err, errlen, "%s: checksum mismatch (file corrupted)", path);
            rc = -1;
        }
    }
    if (rc) ckpt_extra_free(x);
    close_reader(&r);
    return rc;
}

void ckpt_extra_free(ckpt_extra *x) {
    free(x->state);
    free(x->run_json);
    x->state = NULL;
    x->run_json = NULL;
}
