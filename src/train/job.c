/* job.c - preset, config file, flags and --resume into one model and training config (job.h). */
#include "job.h"
#include "../ckpt/ckpt.h"
#include "../ckpt/rundir.h"
#include "../reparam/reparam.h"
#include <stdio.h>
#include <string.h>

/* "--d-model" -> "d_model" */
void job_flag_key(const char *flag, char *key, size_t n) {
    snprintf(key, n, "%s", flag + 2);
    char *eq = strchr(key, '=');
    if (eq) *eq = 0;
    for (char *p = key; *p; p++)
        if (*p == '-') *p = '_';
}

static int job_other(void *ctx, const char *key, const char *value, char *err, size_t n) {
    return train_set(&((job *)ctx)->tc, key, value, err, n);
}

/* A key's error as the user typed the flag: "--batch-size: expected ..." */
static void flag_error(const char *flag, const char *key, const char *msg, char *err, size_t n) {
    size_t k = strlen(key), f = strcspn(flag, "=");
    if (!strncmp(msg, key, k) && msg[k] == ':') snprintf(err, n, "%.*s%s", (int)f, flag, msg + k);
    else snprintf(err, n, "%.*s: %s", (int)f, flag, msg);
}

/* --resume RUN: the checkpoint's model and training config (rundir.h); the
 * run goes on in the checkpoint's directory unless --out says otherwise. */
static int job_from_checkpoint(job *j, const char *resume, char *err, size_t n) {
    char path[1024], dir[1024], tj[4096];
    if (rundir_resolve(resume, path, sizeof path, dir, sizeof dir, err, n)) {
        char why[1024];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, n, "--resume %s", why); /* the flag the path came with */
        return -1;
    }
    if (ckpt_read_config(path, &j->mc, tj, sizeof tj, err, n)) return -1;
    train_defaults(&j->tc, NULL);
    if (config_load_text(&j->mc, tj, path, job_other, j, err, n)) return -1;
    snprintf(j->tc.resume_from, sizeof j->tc.resume_from, "%s", path);
    snprintf(j->tc.out_dir, sizeof j->tc.out_dir, "%s", dir); /* where it is now, even if moved */
    return 0;
}

/* an optimizer's on/off option (optim.h), given bare as --NAME */
static int is_switch(const char *key) {
    const optim_option *o = optim_option_at(optim_option_index(key));
    return o && o->is_switch;
}

/* preset, then config file, then every other flag in order; with --resume
 * RUN (or, for info, a positional RUN) the checkpoint's config instead of
 * preset and file, and flags may change training keys but no model key. */
int job_parse(job *j, int argc, char **argv, const char *resume, char *err, size_t n) {
    const char *preset = NULL, *config = NULL;
    memset(j, 0, sizeof *j);
    for (int i = 0; i < argc; i++) {
        char key[64];
        if (strncmp(argv[i], "--", 2)) continue;
        job_flag_key(argv[i], key, sizeof key);
        const char **slot = !strcmp(key, "resume") ? &resume : !strcmp(key, "preset") ? &preset
                          : !strcmp(key, "config") ? &config : NULL;
        if (!slot) continue;
        const char *eq = strchr(argv[i], '=');
        if (!eq && i + 1 >= argc) { snprintf(err, n, "%s: missing value", argv[i]); return -1; }
        *slot = eq ? eq + 1 : argv[++i];
    }
    if (resume && (preset || config)) {
        snprintf(err, n, "--%s: with --resume the model and training config come from the checkpoint; give "
                 "the training keys to change as flags", preset ? "preset" : "config");
        return -1;
    }
    if (resume && job_from_checkpoint(j, resume, err, n)) return -1;
    model_config ck = j->mc;
    if (!resume) {
        if (config_preset(&j->mc, preset ? preset : "tiny", err, n)) return -1;
        train_defaults(&j->tc, preset ? preset : "tiny");
    }
    if (config && config_load_file(&j->mc, config, job_other, j, err, n)) return -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) { snprintf(err, n, "unexpected argument '%s'", a); return -1; }
        char key[64], msg[512];
        job_flag_key(a, key, sizeof key);
        const char *eq = strchr(a, '='), *val;
        if (!strcmp(key, "quiet")) { j->tc.quiet = 1; continue; }
        if (eq) val = eq + 1;
        else if (is_switch(key) && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))) val = "1";
        else if (i + 1 < argc) val = argv[++i];
        else { snprintf(err, n, "%s: missing value", a); return -1; }
        if (!strcmp(key, "preset") || !strcmp(key, "config") || !strcmp(key, "resume")) continue;
        int r = config_set(&j->mc, key, val, msg, sizeof msg);
        if (r == 1) r = job_other(j, key, val, msg, sizeof msg);
        if (r == 1) {
            snprintf(err, n, "unknown option '%s' (see wesar %s --help)", a, "train");
            return -1;
        }
        if (r) { flag_error(a, key, msg, err, n); return -1; }
    }
    if (config_finish(&j->mc, err, n)) return -1;
    char d[256];
    if (resume && config_diff(&ck, &j->mc, d, sizeof d)) {
        snprintf(err, n, "--resume %s: a resumed run keeps its model, but the flags change %s (start a new run "
                 "to change the model)", resume, d);
        return -1;
    }
    return 0;
}


int job_key_applies(const job *j, const char *key) {
    if (!strcmp(key, "sigma2")) {
        const reparam_rule *r = reparam_find(j->mc.reparam);
        return r && r->default_sigma2 > 0;
    }
    if (optim_option_index(key) >= 0) return optim_rule_has(optim_find(j->tc.optim), key);
    return 1;
}
