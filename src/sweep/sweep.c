/* sweep.c - the grid's points: parse the sweep, build each point's job, run what is not done. */
#define _GNU_SOURCE
#include "sweep.h"
#include "../util/clock.h"
#include "points.h"
#include "table.h"
#include "../ckpt/rundir.h"
#include "../dist/dist.h"
#include "../train/job.h"
#include "../train/train.h"
#include "../util/fileio.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "1,2,3" -> values (strdup'd) */
static int split_list(const char *what, const char *list, char **out, int cap, char *err, size_t errlen) {
    int n = 0;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (!len || n == cap) {
            snprintf(err, errlen, "%s: expected up to %d comma-separated values, got '%s'", what, cap, list);
            for (int i = 0; i < n; i++) free(out[i]);
            return -1;
        }
        out[n++] = strndup(p, len);
        p += len + (c ? 1 : 0);
    }
    if (!n) snprintf(err, errlen, "%s: expected values, got nothing", what);
    return n ? n : -1;
}

static void free_values(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
}

/* why key (with its n values) cannot be the next axis, or NULL: what --grid and sweep.json share */
static const char *axis_problem(const sweep_spec *s, const char *key, char *const *vals, int n, char *why, size_t whylen) {
    if (s->n_axes == SWEEP_MAX_AXES) return snprintf(why, whylen, "at most %d axes", SWEEP_MAX_AXES), why;
    if (strpbrk(key, "=,/ ")) return "expected a config key (no '=', ',', '/' or space: they would make point names ambiguous)";
    if (!strcmp(key, "seed") || !strcmp(key, "out") || !strcmp(key, "resume"))
        return "not an axis (seeds come from --seeds, directories from --out)";
    for (int i = 0; i < s->n_axes; i++)
        if (!strcmp(s->axis[i].key, key)) return "given twice";
    int parts = 1;
    for (const char *c = key; *c; c++) parts += *c == '+';
    for (int k = 0; k < n; k++) { /* a joint axis: as many parts in each value as in the key */
        int vp = 1;
        for (const char *c = vals[k]; *c; c++) vp += *c == '+';
        if (vp != parts) return snprintf(why, whylen, "'%s' has %d part(s), expected %d joined by '+'", vals[k], vp, parts), why;
    }
    return NULL;
}

/* the next axis: key (its first keylen characters, '-' read as '_') and n strdup'd values, which
 * it owns from here on (freed on error) */
static int push_axis(sweep_spec *s, const char *key, size_t keylen, char **vals, int n, char *err, size_t errlen) {
    sweep_axis *a = &s->axis[s->n_axes < SWEEP_MAX_AXES ? s->n_axes : 0];
    char k[sizeof a->key], why[512];
    snprintf(k, sizeof k, "%.*s", (int)keylen, key);
    for (char *c = k; *c; c++)
        if (*c == '-') *c = '_';
    const char *bad = axis_problem(s, k, vals, n, why, sizeof why);
    if (bad) {
        snprintf(err, errlen, "--grid %s: %s", k, bad);
        free_values(vals, n);
        return -1;
    }
    memcpy(a->key, k, sizeof k);
    memcpy(a->vals, vals, (size_t)n * sizeof *vals);
    a->n = n;
    s->n_axes++;
    return 0;
}

/* --grid KEY=V1,V2,... */
static int add_axis(sweep_spec *s, const char *kv, char *err, size_t errlen) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof s->axis[0].key) {
        snprintf(err, errlen, "--grid: expected KEY=V1,V2,..., got '%s'", kv);
        return -1;
    }
    char *vals[SWEEP_MAX_VALUES];
    int n = split_list("--grid", eq + 1, vals, SWEEP_MAX_VALUES, err, errlen);
    return n < 0 ? -1 : push_axis(s, kv, (size_t)(eq - kv), vals, n, err, errlen);
}

static int set_seeds(sweep_spec *s, const char *list, char *err, size_t errlen) {
    char *v[SWEEP_MAX_VALUES];
    int n = split_list("--seeds", list, v, SWEEP_MAX_VALUES, err, errlen), rc = n < 0 ? -1 : 0;
    for (int i = 0; i < n; i++) {
        char *e;
        long x = strtol(v[i], &e, 10);
        if (*e || e == v[i] || x < 0) {
            snprintf(err, errlen, "--seeds: expected integers >= 0, got '%s'", v[i]);
            rc = -1;
        }
        s->seeds[i] = x;
        free(v[i]);
    }
    if (!rc) s->n_seeds = n;
    return rc;
}

/* one sweep option (from a flag or a file line); 1 when key is not one */
static int set_option(sweep_spec *s, const char *key, const char *val, char *err, size_t errlen) {
    char *e;
    if (!strcmp(key, "out")) snprintf(s->out, sizeof s->out, "%s", val);
    else if (!strcmp(key, "results")) snprintf(s->results, sizeof s->results, "%s", val);
    else if (!strcmp(key, "base")) {
        size_t a = s->base ? strlen(s->base) : 0, b = strlen(val);
        char *nb = realloc(s->base, a + b + 2); /* several --base add up */
        if (!nb) { snprintf(err, errlen, "out of memory"); return -1; }
        if (a) nb[a++] = ' ';
        memcpy(nb + a, val, b + 1);
        s->base = nb;
    } else if (!strcmp(key, "grid")) return add_axis(s, val, err, errlen);
    else if (!strncmp(key, "grid.", 5)) {
        char kv[4096];
        snprintf(kv, sizeof kv, "%s=%s", key + 5, val);
        return add_axis(s, kv, err, errlen);
    } else if (!strcmp(key, "seeds")) return set_seeds(s, val, err, errlen);
    else if (!strcmp(key, "tune_seed")) {
        s->tune_seed = strtol(val, &e, 10);
        if (*e || e == val || s->tune_seed < 0) { snprintf(err, errlen, "--tune-seed: expected an integer >= 0, got '%s'", val); return -1; }
    } else if (!strcmp(key, "diverge_factor")) {
        s->diverge_factor = strtod(val, &e);
        if (*e || e == val || !(s->diverge_factor == 0 || s->diverge_factor > 1)) {
            snprintf(err, errlen, "--diverge-factor: expected 0 (off) or a number > 1, got '%s'", val);
            return -1;
        }
    } else if (!strcmp(key, "threads")) {
        s->threads = (int)strtol(val, &e, 10);
        if (*e || e == val || s->threads < 0) { snprintf(err, errlen, "--threads: expected an integer >= 0, got '%s'", val); return -1; }
    } else return 1;
    return 0;
}

/* a sweep file: `key = value` lines (# comments): out, base, grid.KEY, seeds, ... */
static int load_file(sweep_spec *s, const char *path, char *err, size_t errlen) {
    char *text = read_file(path, 1 << 20, NULL, err, errlen), *save = NULL;
    if (!text) return -1;
    int line = 0, rc = 0;
    for (char *ln = strtok_r(text, "\n", &save); ln && !rc; ln = strtok_r(NULL, "\n", &save)) {
        line++;
        while (isspace((unsigned char)*ln)) ln++;
        if (!*ln || *ln == '#') continue;
        char *eq = strchr(ln, '='), msg[1024];
        if (!eq) { snprintf(err, errlen, "%s:%d: expected key = value", path, line); rc = -1; break; }
        char *k = ln, *v = eq + 1, *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1])) ke--;
        *ke = 0;
        while (isspace((unsigned char)*v)) v++;
        for (char *t = v + strlen(v); t > v && isspace((unsigned char)t[-1]);) *--t = 0;
        int r = set_option(s, k, v, msg, sizeof msg);
        if (r) snprintf(err, errlen, "%s:%d: %s", path, line, r == 1 ? "unknown key" : msg);
        if (r == 1) snprintf(err + strlen(err), errlen - strlen(err), " '%s' (expected out, base, grid.KEY, "
                             "seeds, tune_seed, diverge_factor, threads or results)", k);
        rc = r ? -1 : 0;
    }
    free(text);
    if (rc) err_printable(err);
    return rc;
}

int sweep_parse(sweep_spec *s, int argc, char **argv, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    s->tune_seed = -1;
    s->diverge_factor = 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        char key[64];
        if (strncmp(a, "--", 2)) { snprintf(err, errlen, "sweep: unexpected argument '%s' (see wesar sweep --help)", a); return -1; }
        job_flag_key(a, key, sizeof key);
        if (!strcmp(key, "dry_run") && !eq) { /* the one flag without a value */
            s->dry_run = 1;
            continue;
        }
        const char *val = eq && strcmp(key, "grid") ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (eq && !strcmp(key, "grid")) val = eq + 1; /* --grid=lr=1e-3,... */
        if (!val) { snprintf(err, errlen, "%s: missing value", a); return -1; }
        char msg[2048];
        int r = !strcmp(key, "file") ? load_file(s, val, msg, sizeof msg) : set_option(s, key, val, msg, sizeof msg);
        if (r == 1) { snprintf(err, errlen, "sweep: unknown option '%s' (see wesar sweep --help)", a); return -1; }
        if (r) { snprintf(err, errlen, "%s", msg); return -1; }
    }
    if (!s->out[0]) { snprintf(err, errlen, "sweep: expected --out DIR (the sweep's directory)"); return -1; }

    if (!s->n_seeds) s->seeds[s->n_seeds++] = 1337; /* train's default seed */
    return 0;
}

void sweep_free(sweep_spec *s) {
    for (int i = 0; i < s->n_axes; i++)
        for (int k = 0; k < s->axis[i].n; k++) free(s->axis[i].vals[k]);
    free(s->base);
    memset(s, 0, sizeof *s);
}

static int write_json(const char *path, cJSON *j, char *err, size_t errlen);

/* OUT/sweep.json: the grid as last run, for `wesar report OUT` */
static int save_spec(const sweep_spec *s, char *err, size_t errlen) {
    cJSON *j = cJSON_CreateObject(), *ax = cJSON_AddArrayToObject(j, "axes"), *sd = cJSON_AddArrayToObject(j, "seeds");
    cJSON_AddStringToObject(j, "base", s->base ? s->base : "");
    for (int a = 0; a < s->n_axes; a++) {
        cJSON *o = cJSON_CreateObject(), *v = cJSON_AddArrayToObject(o, "values");
        cJSON_AddStringToObject(o, "key", s->axis[a].key);
        for (int k = 0; k < s->axis[a].n; k++) cJSON_AddItemToArray(v, cJSON_CreateString(s->axis[a].vals[k]));
        cJSON_AddItemToArray(ax, o);
    }
    for (int k = 0; k < s->n_seeds; k++) cJSON_AddItemToArray(sd, cJSON_CreateNumber((double)s->seeds[k]));
    cJSON_AddNumberToObject(j, "tune_seed", (double)s->tune_seed);
    cJSON_AddNumberToObject(j, "diverge_factor", s->diverge_factor);
    cJSON_AddNumberToObject(j, "threads", s->threads);
    if (s->results[0]) cJSON_AddStringToObject(j, "results", s->results);
    char path[1100];
    snprintf(path, sizeof path, "%s/sweep.json", s->out);
    int rc = make_dir(s->out, err, errlen) || write_json(path, j, err, errlen) ? -1 : 0;
    cJSON_Delete(j);
    return rc;
}

/* One of sweep.json's axes, {"key": K, "values": [V, ...]}, checked as --grid K=V,... is (its
 * values are what a --grid list can hold: a ',' would make point names ambiguous). */
static int load_axis(sweep_spec *s, const cJSON *a, char *err, size_t errlen) {
    const cJSON *k = cJSON_GetObjectItem(a, "key"), *v = cJSON_GetObjectItem(a, "values");
    if (!cJSON_IsString(k) || !cJSON_IsArray(v)) { snprintf(err, errlen, "an axis without \"key\" and \"values\""); return -1; }
    size_t keylen = strlen(k->valuestring);
    if (!keylen || keylen >= sizeof s->axis[0].key) {
        snprintf(err, errlen, "axis '%.64s': expected a key of 1 to %zu characters", k->valuestring, sizeof s->axis[0].key - 1);
        return -1;
    }
    char *vals[SWEEP_MAX_VALUES];
    int n = 0;
    for (const cJSON *e = v->child; e; e = e->next) {
        if (n == SWEEP_MAX_VALUES || !cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, ',')) {
            snprintf(err, errlen, "axis %s: expected up to %d values, non-empty strings without ','", k->valuestring, SWEEP_MAX_VALUES);
            free_values(vals, n);
            return -1;
        }
        vals[n++] = strdup(e->valuestring);
    }
    if (!n) { snprintf(err, errlen, "axis %s: expected values, got none", k->valuestring); return -1; }
    return push_axis(s, k->valuestring, keylen, vals, n, err, errlen);
}

int sweep_load(sweep_spec *s, const char *dir, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    char path[1100];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    char *text = read_file(path, 1 << 20, NULL, err, errlen);
    cJSON *j = text ? cJSON_Parse(text) : NULL, *ax = cJSON_GetObjectItem(j, "axes"), *sd = cJSON_GetObjectItem(j, "seeds");
    const cJSON *b = cJSON_GetObjectItem(j, "base"), *rs = cJSON_GetObjectItem(j, "results");
    if (cJSON_IsString(rs)) snprintf(s->results, sizeof s->results, "%s", rs->valuestring);
    int had = text != NULL;
    free(text);
    int rc = j && cJSON_IsArray(ax) && cJSON_IsArray(sd) && cJSON_IsString(b) ? 0 : -1;
    snprintf(s->out, sizeof s->out, "%s", dir);
    if (!rc) s->base = strdup(b->valuestring);
    char why[1024] = "";
    for (cJSON *a = ax ? ax->child : NULL; a && !rc; a = a->next) rc = load_axis(s, a, why, sizeof why);
    for (cJSON *e = sd ? sd->child : NULL; e && !rc && s->n_seeds < SWEEP_MAX_VALUES; e = e->next)
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < 1e15)) rc = -1;
        else s->seeds[s->n_seeds++] = (long)e->valuedouble;
    double ts = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "tune_seed")),
           th = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "threads"));
    s->diverge_factor = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "diverge_factor"));
    /* numbers checked before they become integers (a cast of NaN or 1e300 is undefined) */
    if (!(ts >= -1 && ts < 1e15) || !(th >= 0 && th <= 1 << 20) || !(s->diverge_factor >= 0 && s->diverge_factor < 1e6))
        rc = -1;
    else s->tune_seed = (long)ts, s->threads = (int)th;
    if (rc || !s->n_seeds) {
        if (had) snprintf(err, errlen, "%s: not a sweep record as wesar sweep writes it%s%s", path, why[0] ? ": " : "", why);
        rc = -1;
    }
    cJSON_Delete(j);
    if (rc) sweep_free(s), err_printable(err);
    return rc;
}

/* --- running ------------------------------------------------------------ */

static int write_json(const char *path, cJSON *j, char *err, size_t errlen) {
    char *text = cJSON_PrintUnformatted(j);
    atomic_file af;
    int rc = !text || atomic_open(&af, path, err, errlen) ? -1 : 0;
    if (!rc) rc = atomic_commit(&af, atomic_write(&af, text, strlen(text)) || atomic_write(&af, "\n", 1), err, errlen);
    free(text);
    return rc;
}

/* The point's config as started (sweep_point.json, or its results line's
 * "requested") against the one the grid asks for now: 0 when they agree,
 * else -1 naming the key.  Threads, out, data and val_data are not compared:
 * a study may go on where paths and cores differ (bit-identity needs the
 * same thread count). */
static int check_recorded(const point *p, const cJSON *res, char *err, size_t errlen) {
    char path[2200];
    snprintf(path, sizeof path, "%s/sweep_point.json", p->dir);
    char why[1400], *text = read_file(path, 1 << 20, NULL, why, sizeof why);
    if (!text && !access(path, F_OK)) { snprintf(err, errlen, "%s", why); return -1; }
    const cJSON *line = res ? cJSON_GetObjectItemCaseSensitive(res, p->name) : NULL;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(line, "requested");
    if (!text && !req) return 0; /* never started, or a results line without the record */
    cJSON *old = text ? cJSON_Parse(text) : cJSON_Duplicate(req, 1), *now = point_config(p);
    free(text);
    int rc = old ? 0 : -1;
    if (!old) snprintf(err, errlen, "%s: not a JSON object", path);
    const char *parts[] = {"model", "train"};
    for (int k = 0; k < 2 && !rc; k++) {
        cJSON *a = cJSON_GetObjectItemCaseSensitive(old, parts[k]), *b = cJSON_GetObjectItemCaseSensitive(now, parts[k]);
        for (cJSON *it = b ? b->child : NULL; it && !rc; it = it->next) {
            cJSON *o = cJSON_GetObjectItemCaseSensitive(a, it->string);
            /* where things are may differ on the machine that goes on with a study */
            if (!strcmp(it->string, "threads") || !strcmp(it->string, "out") || !strcmp(it->string, "data") ||
                !strcmp(it->string, "val_data") || (o && cJSON_Compare(it, o, 1)))
                continue;
            char *va = o ? cJSON_PrintUnformatted(o) : NULL, *vb = cJSON_PrintUnformatted(it);
            snprintf(err, errlen, "%s: the base config changed since this point started: %s %s -> %s (give the sweep "
                     "another --out, or remove the point's directory to run it again)", p->name, it->string,
                     va ? va : "(unset)", vb ? vb : "?");
            free(va);
            free(vb);
            rc = -1;
        }
    }
    cJSON_Delete(old);
    cJSON_Delete(now);
    return rc;
}

static int point_done(const point *p, const cJSON *res) {
    char path[2200];
    snprintf(path, sizeof path, "%s/result.json", p->dir);
    return !access(path, F_OK) || (res && cJSON_GetObjectItemCaseSensitive(res, p->name));
}

/* result.json: how the point ended; its presence marks it done */
static int record_result(const point *p, int diverged, const train_result *r, const char *detail, char *err,
                         size_t errlen) {
    char path[2200];
    snprintf(path, sizeof path, "%s/result.json", p->dir);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", diverged ? "diverged" : "finished");
    cJSON_AddNumberToObject(j, "steps_done", (double)r->steps_done);
    if (diverged) {
        cJSON_AddNumberToObject(j, "diverged_step", (double)r->diverged_step);
        cJSON_AddStringToObject(j, "detail", detail);
    }
    int rc = write_json(path, j, err, errlen);
    cJSON_Delete(j);
    return rc;
}

/* Runs one point to its end (or resumes it); 1 when a stop signal ended it early. */
static int run_point(point *p, char *err, size_t errlen) {
    char path[2200], why[1400];
    if (make_dir(p->dir, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/sweep_point.json", p->dir);
    if (access(path, F_OK)) {
        cJSON *c = point_config(p);
        int rc = write_json(path, c, err, errlen);
        cJSON_Delete(c);
        if (rc) return -1;
    }
    job j = p->j;
    train_result r;
    memset(&r, 0, sizeof r);
    int rc = 0, found = !rundir_find_checkpoint(p->dir, -1, j.tc.resume_from, sizeof j.tc.resume_from, why,
                                                 sizeof why);
    if (!found) j.tc.resume_from[0] = 0;
    if (found && rundir_step(j.tc.resume_from) >= j.tc.steps) {
        r.steps_done = j.tc.steps; /* finished, but killed before its result.json */
    } else {
        dist_solo(1);
        rc = train_run(&j.mc, &j.tc, &r, err, errlen);
        dist_solo(0);
    }
    if (rc == TRAIN_DIVERGED) {
        fprintf(stderr, "sweep: %s diverged at step %ld: %s\n", p->name, r.diverged_step, err);
        return record_result(p, 1, &r, err, err, errlen);
    }
    if (rc) return -1;
    if (r.steps_done < j.tc.steps) return 1; /* SIGINT/SIGTERM: checkpointed, resumable */
    return record_result(p, 0, &r, "", err, errlen);
}

static void fmt_eta(char *buf, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

int sweep_run(const sweep_spec *s, char *err, size_t errlen) {
    point_list pl;
    if (points_build(s, &pl, err, errlen)) return -1;
    int rank = dist_rank(), P = dist_size(), rc = 0, stopped = 0;
    if (!rank) points_say(&pl);
    if (!rank && save_spec(s, err, errlen)) rc = -1;
    int todo = 0, done = 0, ran = 0;
    cJSON *res = rc ? NULL : results_load(s->results, err, errlen);
    if (!res) rc = -1;
    for (int i = 0; i < pl.n && !rc; i++) rc = check_recorded(&pl.p[i], res, err, errlen); /* before any runs */
    for (int i = 0; i < pl.n; i++) todo += !point_done(&pl.p[i], res);
    double t0 = now_sec();
    if (s->dry_run && !rank && !rc) printf("sweep: dry run: %d of %d points to do, none trained\n", todo, pl.n);
    for (int i = rank; i < pl.n && !rc && !stopped && !s->dry_run; i += P) {
        point *p = &pl.p[i];
        if (point_done(p, res)) continue;
        char eta[32] = "?", who[32] = "";
        if (ran) fmt_eta(eta, sizeof eta, (now_sec() - t0) / ran * ((todo - done) / (double)P));
        if (P > 1) snprintf(who, sizeof who, "rank %d ", rank);
        printf("sweep %s[%d/%d] %s | %d of %d points to do | ETA %s\n", who, i + 1, pl.n, p->name, todo - done,
               pl.n, eta);
        fflush(stdout);
        int r = run_point(p, err, errlen);
        if (r < 0) rc = -1;
        if (r > 0) stopped = 1;
        ran++;
        done += P;
        if (!rank && !rc && sweep_summarize(s, 0, err, errlen)) rc = -1;
    }
    /* every rank's points are done (or one failed): rank 0 writes the summary */
    if (!dist_agree(!rc, err, errlen)) rc = -1;
    double st = stopped;
    dist_sum(&st, 1, "the sweep's stop flag");
    if (!rc && !rank) rc = sweep_summarize(s, 1, err, errlen);
    if (!rc && st) {
        snprintf(err, errlen, "sweep stopped by a signal: run the same command again to resume it");
        rc = -1;
    }
    cJSON_Delete(res);
    points_free(&pl);
    return rc;
}
