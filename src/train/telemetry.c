/* telemetry.c - per-matrix update sizes (see telemetry.h). */
#include "telemetry.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RRC_CHUNK 64   /* token rows per GEMM: keeps the output scratch small */
#define EMA_BETA 0.9   /* about ten steps of memory: short enough to follow warmup */

struct telemetry {
    model *m;
    int n;              /* matrices */
    int *tensor;        /* their tensor indices */
    matrix_stats *st;
    int rrc_tokens;
    real *prev;         /* parameters before the step */
    const double *gsq;  /* per tensor, from telemetry_before */
    real *A, *D;        /* E_t and dE of one matrix */
    real *xbuf, *ybuf;  /* RRC_CHUNK rows of inputs and outputs */
    double *row;        /* per-row partial results (summed serially: deterministic) */
};

telemetry *telemetry_create(model *m, int rrc_tokens, char *err, size_t errlen) {
    telemetry *t = calloc(1, sizeof *t);
    int nt = model_num_tensors(m);
    size_t max_numel = 1, max_rows = 1, max_cols = 1;
    if (t) {
        t->tensor = malloc((size_t)nt * sizeof *t->tensor);
        t->st = calloc((size_t)nt, sizeof *t->st);
    }
    if (!t || !t->tensor || !t->st) goto oom;
    t->m = m;
    t->rrc_tokens = rrc_tokens > 0 ? rrc_tokens : 1;
    for (int i = 0; i < nt; i++) {
        const tensor_info *ti = model_tensor(m, i);
        if (!ti->is_matrix) continue;
        t->tensor[t->n++] = i;
        if (ti->numel > max_numel) max_numel = ti->numel;
        if ((size_t)ti->rows > max_rows) max_rows = (size_t)ti->rows;
        if ((size_t)ti->cols > max_cols) max_cols = (size_t)ti->cols;
    }
    t->prev = malloc(model_num_params(m) * sizeof(real));
    t->A = malloc(max_numel * sizeof(real));
    t->D = malloc(max_numel * sizeof(real));
    t->xbuf = malloc(RRC_CHUNK * max_cols * sizeof(real));
    t->ybuf = malloc(RRC_CHUNK * max_rows * sizeof(real));
    t->row = malloc(3 * (max_rows > RRC_CHUNK ? max_rows : RRC_CHUNK) * sizeof(double));
    if (!t->prev || !t->A || !t->D || !t->xbuf || !t->ybuf || !t->row) goto oom;
    telemetry_reset(t);
    return t;
oom:
    telemetry_free(t);
    snprintf(err, errlen, "out of memory for telemetry (a copy of the %zu parameters)",
             model_num_params(m));
    return NULL;
}

void telemetry_free(telemetry *t) {
    if (!t) return;
    free(t->tensor);
    free(t->st);
    free(t->prev);
    free(t->A);
    free(t->D);
    free(t->xbuf);
    free(t->ybuf);
    free(t->row);
    free(t);
}

void telemetry_reset(telemetry *t) {
    for (int k = 0; k < t->n; k++) {
        matrix_stats *s = &t->st[k];
        memset(s, 0, sizeof *s);
        s->norm_eff = s->update_ratio_eff = s->rrc = s->gate = NAN;
        s->recent[0] = s->recent[1] = s->mean = NAN;
    }
}

int telemetry_count(const telemetry *t) { return t->n; }
const char *telemetry_name(const telemetry *t, int k) { return model_tensor(t->m, t->tensor[k])->name; }
const matrix_stats *telemetry_stats(const telemetry *t, int k) { return &t->st[k]; }

void telemetry_before(telemetry *t, const double *grad_sumsq) {
    memcpy(t->prev, model_params(t->m), model_num_params(t->m) * sizeof(real));
    t->gsq = grad_sumsq;
}

static double sum_rows(const double *x, int n, int stride) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[(size_t)i * stride];
    return s;
}

/* ||dW||, ||W_t|| and the mean row angle, one row per iteration. */
static void stored_measures(telemetry *t, const tensor_info *ti, matrix_stats *s) {
    const real *W0 = t->prev + ti->offset, *W1 = model_params(t->m) + ti->offset;
    int rows = ti->rows, cols = ti->cols;
    double *r = t->row;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) {
        const real *a = W0 + (size_t)i * cols, *b = W1 + (size_t)i * cols;
        double aa = 0, bb = 0, dd = 0;
        for (int j = 0; j < cols; j++) {
            double x = a[j], y = b[j];
            aa += x * x;
            bb += y * y;
            dd += (y - x) * (y - x);
        }
        double angle = NAN;
        if (aa > 0 && bb > 0) { /* theta = 2 atan2(|a^ - b^|, |a^ + b^|) */
            double ia = 1 / sqrt(aa), ib = 1 / sqrt(bb), minus = 0, plus = 0;
            for (int j = 0; j < cols; j++) {
                double x = a[j] * ia, y = b[j] * ib;
                minus += (x - y) * (x - y);
                plus += (x + y) * (x + y);
            }
            angle = 2 * atan2(sqrt(minus), sqrt(plus));
        }
        r[3 * (size_t)i] = aa;
        r[3 * (size_t)i + 1] = dd;
        r[3 * (size_t)i + 2] = angle;
    }
    double aa = sum_rows(r, rows, 3), dd = sum_rows(r + 1, rows, 3), asum = 0;
    int valid = 0;
    for (int i = 0; i < rows; i++)
        if (!isnan(r[3 * (size_t)i + 2])) { asum += r[3 * (size_t)i + 2]; valid++; }
    s->norm = sqrt(aa);
    s->update_ratio = aa > 0 ? sqrt(dd / aa) : NAN;
    s->angle = valid ? asum / valid : NAN;
}

/* update_ratio_eff and rrc: E_t into A, dE into D, then the layer's inputs
 * through both in chunks of RRC_CHUNK rows. */
static void effective_measures(telemetry *t, int i, const tensor_info *ti, matrix_stats *s) {
    model *m = t->m;
    size_t n = ti->numel;
    int rows = ti->rows, cols = ti->cols;
    model_merged_at(m, t->prev, i, t->A);
    model_merged_at(m, model_params(m), i, t->D);
    for (size_t j = 0; j < n; j++) t->D[j] -= t->A[j];
    double ee = sumsq(t->A, n), de = sumsq(t->D, n);
    s->norm_eff = sqrt(ee);
    s->update_ratio_eff = ee > 0 ? sqrt(de / ee) : NAN;

    int M;
    const real *X = model_input_of(m, i, &M);
    int stride = M > t->rrc_tokens ? M / t->rrc_tokens : 1;
    int count = M < t->rrc_tokens ? M : t->rrc_tokens;
    double y0 = 0, dy = 0;
    if (ti->kind == K_EMBED) { /* a lookup: X is one-hot, X E^T picks rows */
        const int32_t *tok = model_last_tokens(m, &M);
        for (int k = 0; tok && k < count; k++) {
            size_t row = (size_t)tok[(size_t)k * stride] * cols;
            y0 += sumsq(t->A + row, (size_t)cols);
            dy += sumsq(t->D + row, (size_t)cols);
        }
    } else if (X) {
        for (int k0 = 0; k0 < count; k0 += RRC_CHUNK) {
            int c = count - k0 < RRC_CHUNK ? count - k0 : RRC_CHUNK;
            for (int k = 0; k < c; k++)
                memcpy(t->xbuf + (size_t)k * cols, X + (size_t)(k0 + k) * stride * cols,
                       (size_t)cols * sizeof(real));
            matmul_fwd(t->ybuf, t->xbuf, t->A, 1, c, cols, rows);
            y0 += sumsq(t->ybuf, (size_t)c * rows);
            matmul_fwd(t->ybuf, t->xbuf, t->D, 1, c, cols, rows);
            dy += sumsq(t->ybuf, (size_t)c * rows);
        }
    }
    s->rrc = y0 > 0 ? sqrt(dy / y0) : NAN;
}

static double gate_value(const model *m, const tensor_info *ti) {
    if (ti->gate < 0) return NAN;
    const tensor_info *g = model_tensor(m, ti->gate);
    const real *p = model_params((model *)m) + g->offset;
    if (g->numel == 1) return p[0];
    return sqrt(sumsq(p, g->numel) / (double)g->numel);
}

void telemetry_after(telemetry *t, double lr, int full) {
    model *m = t->m;
    for (int k = 0; k < t->n; k++) {
        int i = t->tensor[k];
        const tensor_info *ti = model_tensor(m, i);
        matrix_stats *s = &t->st[k];
        stored_measures(t, ti, s);
        s->grad_norm = t->gsq ? sqrt(t->gsq[i]) : NAN;
        s->gate = gate_value(m, ti);
        if (full) effective_measures(t, i, ti, s);
        else s->norm_eff = s->update_ratio_eff = s->rrc = NAN;
        /* attribution: the oldest of the two recent steps joins the mean */
        if (!(lr > 0) || !isfinite(s->update_ratio)) continue;
        if (!isnan(s->recent[0]))
            s->mean = isnan(s->mean) ? s->recent[0]
                                     : EMA_BETA * s->mean + (1 - EMA_BETA) * s->recent[0];
        s->recent[0] = s->recent[1];
        s->recent[1] = s->update_ratio / lr;
        s->n++;
    }
}

int telemetry_write(const telemetry *t, FILE *f, long step, double loss, double lr) {
    if (fprintf(f, "{\"step\":%ld,\"lr\":%.6e,\"loss\":%.6f,\"rrc_tokens\":%d,\"matrices\":{", step,
                lr, loss, t->rrc_tokens) < 0)
        return -1;
    for (int k = 0; k < t->n; k++) {
        const matrix_stats *s = &t->st[k];
        struct { const char *key; double v; } fields[] = {
            {"update_ratio", s->update_ratio}, {"update_ratio_eff", s->update_ratio_eff},
            {"angle", s->angle}, {"rrc", s->rrc}, {"grad_norm", s->grad_norm},
            {"norm", s->norm}, {"norm_eff", s->norm_eff}, {"gate", s->gate}};
        fprintf(f, "%s\"%s\":{", k ? "," : "", telemetry_name(t, k));
        int first = 1;
        for (size_t j = 0; j < sizeof fields / sizeof *fields; j++) {
            if (!isfinite(fields[j].v)) continue;
            fprintf(f, "%s\"%s\":%.6e", first ? "" : ",", fields[j].key, fields[j].v);
            first = 0;
        }
        fputc('}', f);
    }
    return fprintf(f, "}}\n") < 0 || ferror(f) ? -1 : 0;
}

int telemetry_jumped(const telemetry *t, double factor, int max, int *which, double *factors) {
    int n = 0;
    for (int k = 0; k < t->n; k++) { /* insertion into the top max, largest first */
        const matrix_stats *s = &t->st[k];
        if (!(s->mean > 0)) continue; /* NAN: fewer than three steps of history */
        double r = isnan(s->recent[0]) || s->recent[1] > s->recent[0] ? s->recent[1] : s->recent[0];
        double f = r / s->mean;
        if (!(f > factor)) continue;
        int pos = n < max ? n++ : max;
        while (pos > 0 && factors[pos - 1] < f) {
            if (pos < max) { factors[pos] = factors[pos - 1]; which[pos] = which[pos - 1]; }
            pos--;
        }
        if (pos < max) { factors[pos] = f; which[pos] = k; }
    }
    return n;
}

/* [[recent0, recent1, mean, n], ...] per matrix; NAN written as null */
size_t telemetry_state_len(const telemetry *t) { return 16 + (size_t)t->n * 4 * 26; }

static int put_double(char *buf, size_t len, double v, const char *sep) {
    return isfinite(v) ? snprintf(buf, len, "%.17g%s", v, sep) : snprintf(buf, len, "null%s", sep);
}

int telemetry_state_to_json(const telemetry *t, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int k = 0; k < t->n && used < len; k++) {
        const matrix_stats *s = &t->st[k];
        used += (size_t)snprintf(buf + used, len - used, "%s[", k ? "," : "");
        if (used < len) used += (size_t)put_double(buf + used, len - used, s->recent[0], ",");
        if (used < len) used += (size_t)put_double(buf + used, len - used, s->recent[1], ",");
        if (used < len) used += (size_t)put_double(buf + used, len - used, s->mean, ",");
        if (used < len) used += (size_t)snprintf(buf + used, len - used, "%ld]", s->n);
    }
    if (used < len) used += (size_t)snprintf(buf + used, len - used, "]");
    return used < len ? 0 : -1;
}

static double get_double(const cJSON *x) { return cJSON_IsNumber(x) ? x->valuedouble : NAN; }

void telemetry_state_from_json(telemetry *t, const void *item) {
    const cJSON *a = item;
    telemetry_reset(t);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != t->n) return;
    for (int k = 0; k < t->n; k++) {
        const cJSON *e = cJSON_GetArrayItem(a, k);
        const cJSON *nn = cJSON_GetArrayItem(e, 3);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 4 || !cJSON_IsNumber(nn) ||
            !(nn->valuedouble >= 0 && nn->valuedouble < 1e15)) {
            telemetry_reset(t);
            return;
        }
        matrix_stats *s = &t->st[k];
        s->recent[0] = get_double(cJSON_GetArrayItem(e, 0));
        s->recent[1] = get_double(cJSON_GetArrayItem(e, 1));
        s->mean = get_double(cJSON_GetArrayItem(e, 2));
        s->n = (long)nn->valuedouble;
    }
}
