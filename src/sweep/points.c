/* points.c - the grid's product: one training job per point, collapsed where a value does not apply. */
#define _GNU_SOURCE
#include "points.h"
#include "../dist/dist.h"
#include "../util/fileio.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The base words, split as a shell would split a line without expansions:
 * whitespace between words, 'single' and "double" quotes around spaces. */
static int split_words(const char *line, char ***out, char *err, size_t errlen) {
    int n = 0, cap = 16;
    char **w = malloc((size_t)cap * sizeof *w), *buf = malloc(strlen(line ? line : "") + 1);
    const char *p = line ? line : "";
    while (w && buf && *p) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        size_t k = 0;
        char q = 0;
        for (; *p && (q || !isspace((unsigned char)*p)); p++) {
            if (!q && (*p == '\'' || *p == '"')) q = *p;
            else if (q && *p == q) q = 0;
            else buf[k++] = *p;
        }
        if (q) {
            snprintf(err, errlen, "--base: unmatched %c quote in '%s'", q, line);
            for (int i = 0; i < n; i++) free(w[i]);
            free(w), free(buf);
            return -1;
        }
        if (n + 1 >= cap) {
            char **nw = realloc(w, (size_t)(cap *= 2) * sizeof *w);
            if (!nw) break;
            w = nw;
        }
        w[n++] = strndup(buf, k);
    }
    free(buf);
    *out = w;
    return w ? n : -1;
}

/* the job of the point's words: base, then each applying axis, seed, out */
enum { POINT_MAX_WORDS = 480, POINT_MAX_KEYS = 64 }; /* the base's words, the axes' keys (joint ones count each) */

static int point_job(const sweep_spec *s, point *p, char **base, int nb, char *err, size_t errlen) {
    char *words[POINT_MAX_WORDS + 2 * POINT_MAX_KEYS + 4], seed[32]; /* base, the axes' keys and values, seed and out */
    int n = 0;
    for (int i = 0; i < nb; i++) words[n++] = base[i]; /* points_build checked nb and the keys */
    char flags[POINT_MAX_KEYS][80], vals[POINT_MAX_KEYS][256];
    int nf = 0;
    for (int a = 0; a < s->n_axes; a++) { /* a joint axis "k1+k2" sets each key from "v1+v2" */
        if (!p->val[a]) continue;
        const char *k = s->axis[a].key, *v = p->val[a];
        while (*k) {
            size_t kl = strcspn(k, "+"), vl = strcspn(v, "+");
            snprintf(flags[nf], sizeof flags[nf], "--%.*s", (int)kl, k);
            snprintf(vals[nf], sizeof vals[nf], "%.*s", (int)vl, v);
            words[n++] = flags[nf];
            words[n++] = vals[nf++];
            k += kl + (k[kl] == '+');
            v += vl + (v[vl] == '+');
        }
    }
    snprintf(seed, sizeof seed, "%ld", p->seed);
    words[n++] = "--seed";
    words[n++] = seed;
    words[n++] = "--out";
    words[n++] = p->dir;
    return job_parse(&p->j, n, words, NULL, err, errlen);
}

static void point_name(const sweep_spec *s, point *p) {
    size_t at = 0;
    for (int a = 0; a < s->n_axes; a++)
        if (p->val[a])
            at += (size_t)snprintf(p->name + at, sizeof p->name - at, "%s=%s,", s->axis[a].key, p->val[a]);
    snprintf(p->name + at, sizeof p->name - at, "seed=%ld", p->seed);
    snprintf(p->dir, sizeof p->dir, "%s/%s", s->out, p->name);
}

static int note(point_list *pl, const char *text) {
    char **nn = realloc(pl->notes, (size_t)(pl->n_notes + 1) * sizeof *nn);
    if (!nn) return -1;
    pl->notes = nn;
    pl->notes[pl->n_notes++] = strdup(text);
    return 0;
}

static int seen(const point_list *pl, const char *name) {
    for (int i = 0; i < pl->n; i++)
        if (!strcmp(pl->p[i].name, name)) return 1;
    return 0;
}

/* Builds one combination: a value that does not apply is dropped (the
 * point collapses into the one without it); an invalid config is skipped;
 * both are noted.  Returns 0, or -1 on an error of the base itself. */
static int add_point(const sweep_spec *s, point_list *pl, const int *idx, int seed_k, char **base, int nb,
                     int threads, char *err, size_t errlen) {
    long seed = s->seeds[seed_k];
    point p, q;
    memset(&p, 0, sizeof p);
    p.seed = seed;
    for (int a = 0; a < s->n_axes; a++) p.val[a] = s->axis[a].vals[idx[a]];
    point_name(s, &p);
    char why[1024], line[2048], full[512], dropped[256] = "";
    snprintf(full, sizeof full, "%s", p.name);
    /* a value that does not apply, judged on the point without it */
    int drop[SWEEP_MAX_AXES] = {0};
    for (int a = 0; a < s->n_axes; a++) {
        q = p;
        q.val[a] = NULL;
        point_name(s, &q);
        if (strchr(s->axis[a].key, '+')) continue; /* a joint axis names its combinations on purpose */
        if (point_job(s, &q, base, nb, why, sizeof why) || job_key_applies(&q.j, s->axis[a].key)) continue;
        size_t k = strlen(dropped);
        snprintf(dropped + k, sizeof dropped - k, "%s%s", k ? ", " : "", s->axis[a].key);
        drop[a] = 1;
    }
    for (int a = 0; a < s->n_axes; a++)
        if (drop[a]) p.val[a] = NULL;
    point_name(s, &p);
    if (point_job(s, &p, base, nb, why, sizeof why)) {
        snprintf(line, sizeof line, "skipped %s: %s", full, why);
        return note(pl, line);
    }
    if (dropped[0] && !seen(pl, p.name) && !seed_k) { /* said once, for the first seed */
        snprintf(line, sizeof line, "%s does not apply to %s: run once as %s%s", dropped, full, p.name,
                 s->n_seeds > 1 ? " (and so for every seed)" : "");
        if (note(pl, line)) return -1;
    }
    if (seen(pl, p.name)) return 0;
    path_absolute(p.j.tc.data, p.j.tc.data, sizeof p.j.tc.data); /* the record must not depend on the cwd */
    if (p.j.tc.val_data[0]) path_absolute(p.j.tc.val_data, p.j.tc.val_data, sizeof p.j.tc.val_data);
    if (!p.j.tc.threads) p.j.tc.threads = threads;
    if (!p.j.tc.diverge_factor) p.j.tc.diverge_factor = s->diverge_factor;
    point *np = realloc(pl->p, (size_t)(pl->n + 1) * sizeof *np);
    if (!np) { snprintf(err, errlen, "out of memory"); return -1; }
    pl->p = np;
    pl->p[pl->n++] = p;
    return 0;
}

/* Keys become flags and values name directories: both must be fit for it. */
static int check_axes(const sweep_spec *s, char *err, size_t errlen) {
    for (int a = 0; a < s->n_axes; a++) {
        const char *key = s->axis[a].key;
        if (!*key || strlen(key) > 60 || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_+") != strlen(key)) {
            snprintf(err, errlen, "--grid: '%s' is not a key (expected letters, digits, '_', and '+' between joint keys)", key);
            return -1;
        }
        for (int k = 0; k < s->axis[a].n; k++) {
            const char *v = s->axis[a].vals[k];
            int bad = !*v || !strcmp(v, ".") || !strcmp(v, "..") || strlen(v) > 100;
            for (const char *c = v; *c; c++) bad |= *c == '/' || (unsigned char)*c < 32 || *c == 127;
            if (bad) {
                snprintf(err, errlen, "--grid %s: the value '%s' cannot name a point's directory (expected 1 to 100 "
                         "characters, no '/' or control characters)", key, v);
                return -1;
            }
        }
    }
    return 0;
}

/* What the fixed buffers hold: a job's words, its keys, a point's name and directory, the points. */
static int check_sizes(const sweep_spec *s, int nb, char *err, size_t errlen) {
    int n_keys = 0;
    size_t name_len = strlen("seed=") + 20; /* the longest point name: every axis at its longest value */
    double total = s->n_seeds;
    for (int a = 0; a < s->n_axes; a++) {
        size_t longest = 0;
        for (const char *c = s->axis[a].key; *c; c++) n_keys += c == s->axis[a].key || *c == '+';
        for (int k = 0; k < s->axis[a].n; k++)
            if (strlen(s->axis[a].vals[k]) > longest) longest = strlen(s->axis[a].vals[k]);
        name_len += strlen(s->axis[a].key) + longest + 2;
        total *= s->axis[a].n;
    }
    point *np = NULL;
    if (nb > POINT_MAX_WORDS || n_keys > POINT_MAX_KEYS)
        snprintf(err, errlen, "sweep: --base has %d words and the grid %d keys, expected at most %d and %d", nb, n_keys,
                 POINT_MAX_WORDS, POINT_MAX_KEYS);
    else if (name_len >= sizeof np->name || strlen(s->out) + 1 + name_len >= sizeof np->dir)
        snprintf(err, errlen, "--grid: a point's directory name can reach %zu characters (with --out, %zu), more than "
                 "%zu (%zu): shorten the keys' values or --out", name_len, strlen(s->out) + 1 + name_len,
                 sizeof np->name - 1, sizeof np->dir - 1);
    else if (total > SWEEP_MAX_POINTS)
        snprintf(err, errlen, "sweep: the grid has %.0f points, more than %d", total, SWEEP_MAX_POINTS);
    else return 0;
    return -1;
}

int points_build(const sweep_spec *s, point_list *pl, char *err, size_t errlen) {
    memset(pl, 0, sizeof *pl);
    char **base;
    int nb = split_words(s->base, &base, err, errlen), rc = 0;
    if (nb < 0) {
        err_printable(err); /* the base is the user's text: from sweep.json it may hold newlines */
        return -1;
    }
    rc = check_axes(s, err, errlen) || check_sizes(s, nb, err, errlen) ? -1 : 0;
    /* the base alone must be a valid training config: its errors are the user's, not a point's */
    point b;
    memset(&b, 0, sizeof b);
    snprintf(b.dir, sizeof b.dir, "%s", s->out);
    char why[1024];
    if (!rc && point_job(&(sweep_spec){.n_axes = 0}, &b, base, nb, why, sizeof why)) {
        snprintf(err, errlen, "--base: %s", why);
        rc = -1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = s->threads ? s->threads : (int)(cores > 0 ? cores : 1) / dist_local_size();
    if (threads < 1) threads = 1;
    int idx[SWEEP_MAX_AXES] = {0};
    for (int more = !rc; more && !rc;) {
        for (int k = 0; k < s->n_seeds && !rc; k++)
            rc = add_point(s, pl, idx, k, base, nb, threads, err, errlen);
        int a = s->n_axes - 1; /* the next combination, last axis fastest */
        while (a >= 0 && ++idx[a] == s->axis[a].n) idx[a--] = 0;
        more = a >= 0;
    }
    for (int i = 0; i < nb; i++) free(base[i]);
    free(base);
    if (!rc && !pl->n) {
        snprintf(err, errlen, "sweep: no point of the grid makes a valid run%s%s", pl->n_notes ? ": " : "",
                 pl->n_notes ? pl->notes[0] : "");
        rc = -1;
    }
    if (rc) {
        err_printable(err); /* the base's words and the values are the user's text */
        points_free(pl);
    }
    return rc;
}

void points_free(point_list *pl) {
    for (int i = 0; i < pl->n_notes; i++) free(pl->notes[i]);
    free(pl->notes);
    free(pl->p);
    memset(pl, 0, sizeof *pl);
}

void points_say(const point_list *pl) {
    for (int i = 0; i < pl->n_notes; i++) printf("sweep: %s\n", pl->notes[i]);
    printf("sweep: %d point%s\n", pl->n, pl->n == 1 ? "" : "s");
    fflush(stdout);
}

cJSON *point_config(const point *p) {
    char mj[1024], tj[4096];
    config_to_json(&p->j.mc, mj, sizeof mj);
    train_to_json(&p->j.tc, tj, sizeof tj);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "model", cJSON_Parse(mj));
    cJSON_AddItemToObject(j, "train", cJSON_Parse(tj));
    return j;
}
