/* main.c - the `wesar` command line: prepare, train, info, export, report, eval, generate. */
#include "../ckpt/ckpt.h"
#include "../ckpt/export.h"
#include "../data/prepare.h"
#include "../dist/dist.h"
#include "../model/config.h"
#include "../model/model.h"
#include "../report/report.h"
#include "../infer/eval.h"
#include "../infer/generate.h"
#include "../train/train.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE =
    "wesar - pre-train LLaMA-style language models without loss spikes\n"
    "\n"
    "usage:\n"
    "  wesar prepare [--tokenizer bytes|gpt2|sentencepiece] [--tokenizer-path P] [--val-fraction F]\n"
    "                [--shard-tokens N] INPUT... OUTDIR   (text files, folders, .jsonl; .xz streams)\n"
    "  wesar train --data DIR [--preset tiny|gpt2-small|1.3b] [--config FILE] [--KEY VALUE ...]\n"
    "  wesar train --resume RUNDIR [--KEY VALUE ...]   (newest valid checkpoint in RUNDIR)\n"
    "  wesar info [--preset NAME] [--config FILE] [--KEY VALUE ...]\n"
    "  wesar export CHECKPOINT OUTDIR     (merged Hugging Face model.safetensors + config.json)\n"
    "  wesar report RUNDIR... [-o report.html]   (loss curves, spikes, update ratios: one HTML page)\n"
    "  wesar eval MODEL [--wikitext FILE] [--lambada FILE] [--stride N] [--seq-len N] [--limit N]\n"
    "             (WikiText-2 token/word perplexity, LAMBADA accuracy and perplexity, as lm-eval)\n"
    "  wesar generate MODEL [--prompt TEXT] [--max-new N] [--temperature T] [--top-k K] [--top-p P]\n"
    "             [--seed S]   (KV cache, streams tokens, prints tokens/s)\n"
    "  MODEL: a checkpoint, a run directory (newest checkpoint) or an export directory;\n"
    "  eval and generate take --tokenizer NAME --tokenizer-path P when the training data's\n"
    "  meta.json does not say\n"
    "\n"
    "model keys:  vocab_size d_model n_layers n_heads n_kv_heads ffn_dim seq_len\n"
    "             mlp (gelu|swiglu) rope_theta norm_eps\n"
    "             init (he|small|gpt2)  reparam (none|wesar|weightnorm|sigmareparam|residual|plain)\n"
    "             sigma2 (common variance of stored matrices: wesar 4e-5, weightnorm and\n"
    "             sigmareparam 16e-5 by default)\n"
    "train keys:  data val_data out optim batch_size train_seq_len grad_accum steps warmup\n"
    "             lr min_lr_frac beta1 beta2 eps weight_decay grad_clip zloss\n"
    "             optim: adamw | adamw-nobc (no first-moment bias correction) | lion |\n"
    "               liona (RECONSTRUCTED: l2 step norm fixed) | lionar (RECONSTRUCTED: rotational)\n"
    "             --nesterov --inverse-bias-correction --rrc-correction (Lion family;\n"
    "               all three RECONSTRUCTED from the paper's description, see README)\n"
    "             log_every val_every val_batches ckpt_every ckpt_final keep seed threads\n"
    "             precision (fp32|bf16: bf16 operands, fp32 accumulation; AVX-512 BF16)\n"
    "             on_spike (log|rollback) on_nan (stop|rollback) spike_window spike_k\n"
    "             max_rollbacks (rollback: to the newest checkpoint before the failed step,\n"
    "             skipping the batches in between; give up after that many in a row)\n"
    "             telemetry_every (10; 0 = off: per-matrix update ratio, angle, RRC,\n"
    "             gradient norm and gate in OUT/telemetry.jsonl) rrc_tokens (0: auto)\n"
    "             dist_timeout (under mpirun: seconds a rank waits for the others\n"
    "             before it ends the job; 300, 0 = forever)\n"
    "Keys are given as flags (--d-model 256 or --d_model=256) or in a config file\n"
    "(key=value lines or a JSON object); flags override the file, which overrides\n"
    "the preset.  See README.md for every default.\n";

static void usage(FILE *f) {
    fputs(USAGE, f);
    fputs(dist_compiled() ? "Data parallel (MPI compiled in): mpirun -np P wesar train ... (see README)\n"
                          : "Data parallel: this build has no MPI (apt-get install libopenmpi-dev openmpi-bin; "
                            "make MPI=1)\n", f);
}

static int die(const char *msg) {
    fprintf(stderr, "wesar: error: %s\n", msg);
    return 1;
}

/* "--d-model" -> "d_model" */
static void flag_key(const char *flag, char *key, size_t n) {
    snprintf(key, n, "%s", flag + 2);
    char *eq = strchr(key, '=');
    if (eq) *eq = 0;
    for (char *p = key; *p; p++)
        if (*p == '-') *p = '_';
}

typedef struct {
    model_config mc;
    train_config tc;
    int with_train;
} job;

static int job_other(void *ctx, const char *key, const char *value, char *err, size_t n) {
    job *j = ctx;
    return j->with_train ? train_set(&j->tc, key, value, err, n) : 1;
}

/* preset, then config file, then every other flag in order; with --resume
 * RUNDIR, the newest valid checkpoint's model and training config instead of
 * preset and file (flags still override, e.g. a larger --steps). */
static int parse_job(job *j, int argc, char **argv, int with_train, char *err, size_t n) {
    const char *preset = "tiny", *config = NULL, *resume = NULL;
    j->with_train = with_train;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--resume") && i + 1 < argc && with_train) resume = argv[++i];
        else if (!strncmp(argv[i], "--resume=", 9) && with_train) resume = argv[i] + 9;
    }
    if (resume) {
        char path[1024], tj[4096];
        if (train_find_checkpoint(resume, -1, path, sizeof path, err, n)) return -1;
        if (ckpt_read_config(path, &j->mc, tj, sizeof tj, err, n)) return -1;
        train_defaults(&j->tc, NULL);
        if (config_load_text(&j->mc, tj, path, job_other, j, err, n)) return -1;
        snprintf(j->tc.resume_from, sizeof j->tc.resume_from, "%s", path);
        /* the run goes on where it is now, even if it was moved since */
        snprintf(j->tc.out_dir, sizeof j->tc.out_dir, "%s", resume);
    }
    for (int i = 0; i < argc && !resume; i++) {
        if (!strncmp(argv[i], "--preset", 8) && (argv[i][8] == 0 || argv[i][8] == '='))
            preset = argv[i][8] ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : "");
        else if (!strncmp(argv[i], "--config", 8) && (argv[i][8] == 0 || argv[i][8] == '='))
            config = argv[i][8] ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : "");
    }
    if (!resume) {
        if (config_preset(&j->mc, preset, err, n)) return -1;
        train_defaults(&j->tc, preset);
    } else if (config) {
        snprintf(err, n, "--resume takes the config from the checkpoint; --config is not allowed with it");
        return -1;
    }
    if (config && config_load_file(&j->mc, config, job_other, j, err, n)) return -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) { snprintf(err, n, "unexpected argument '%s'", a); return -1; }
        char key[64];
        flag_key(a, key, sizeof key);
        const char *eq = strchr(a, '='), *val;
        if (!strcmp(key, "quiet")) { j->tc.quiet = 1; continue; }
        int is_switch = !strcmp(key, "nesterov") || !strcmp(key, "inverse_bias_correction") ||
                        !strcmp(key, "rrc_correction");
        if (eq) val = eq + 1;
        else if (is_switch && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))) val = "1";
        else if (i + 1 < argc) val = argv[++i];
        else { snprintf(err, n, "%s: missing value", a); return -1; }
        if (!strcmp(key, "preset") || !strcmp(key, "config") || !strcmp(key, "resume")) continue;
        char msg[256];
        int r = config_set(&j->mc, key, val, msg, sizeof msg);
        if (r == 1) r = job_other(j, key, val, msg, sizeof msg);
        if (r == 1) {
            snprintf(err, n, "unknown option '%s' (see wesar --help)", a);
            return -1;
        }
        if (r) { snprintf(err, n, "--%s", msg); return -1; }
    }
    return config_finish(&j->mc, err, n);
}

static int cmd_info(int argc, char **argv) {
    char err[512];
    job j;
    if (parse_job(&j, argc, argv, 0, err, sizeof err)) return die(err);
    model *m = model_create(&j.mc, err, sizeof err);
    if (!m) return die(err);
    size_t np = model_num_params(m), mat = 0;
    for (int i = 0; i < model_num_tensors(m); i++)
        if (model_tensor(m, i)->is_matrix) mat += model_tensor(m, i)->numel;
    char cj[1024];
    config_to_json(&j.mc, cj, sizeof cj);
    printf("config: %s\n", cj);
    printf("parameters: %zu (%zu in matrices, %zu in norm gains), %d tensors\n", np, mat, np - mat,
           model_num_tensors(m));
    printf("fp32 memory: %.1f MiB parameters, %.1f MiB with gradients and AdamW state\n",
           np * 4 / 1048576.0, np * 16 / 1048576.0);
    model_free(m);
    return 0;
}

/* Under mpirun every rank runs this; rank 0 alone prints and writes (train.h). */
static int cmd_train(int argc, char **argv) {
    char err[1024];
    job j;
    if (dist_init(&argc, &argv, err, sizeof err)) return die(err);
    int rc = parse_job(&j, argc, argv, 1, err, sizeof err);
    if (!dist_agree(!rc, err, sizeof err)) rc = -1; /* same argv everywhere: rank 0 says it */
    train_result r;
    if (!rc) rc = train_run(&j.mc, &j.tc, &r, err, sizeof err);
    /* an error every rank shares is printed by rank 0 alone (dist_agree
     * leaves err empty on the others) */
    if (rc && err[0]) die(err);
    if (!rc && !j.tc.quiet && dist_rank() == 0)
        printf("done: %ld steps, final loss %.4f, val loss %.4f, %ld loss spike(s), %ld rollback(s)\n",
               r.steps_done, r.final_loss, r.final_val_loss, r.spikes, r.rollbacks);
    fflush(stdout);
    dist_finalize(rc ? 1 : 0);
    return rc ? 1 : 0;
}

static int cmd_export(int argc, char **argv) {
    if (argc != 2 || !strncmp(argv[0], "--", 2) || !strncmp(argv[1], "--", 2))
        return die("export: expected CHECKPOINT OUTDIR");
    char err[1024];
    model_config c;
    if (ckpt_read_config(argv[0], &c, NULL, 0, err, sizeof err)) return die(err);
    model *m = model_create(&c, err, sizeof err);
    if (!m || model_alloc(m, 0, 1, err, sizeof err)) { model_free(m); return die(err); }
    ckpt_extra x;
    int rc = ckpt_load(argv[0], m, &x, err, sizeof err) || export_hf(m, argv[1], err, sizeof err);
    ckpt_extra_free(&x);
    if (!rc)
        printf("exported %s (step %ld, %s, reparam %s merged) to %s/model.safetensors + config.json\n",
               argv[0], x.step, c.mlp == MLP_SWIGLU ? "LlamaForCausalLM" : "ArceeForCausalLM",
               c.reparam, argv[1]);
    model_free(m);
    return rc ? die(err) : 0;
}

static int cmd_report(int argc, char **argv) {
    const char *outp = "report.html";
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    int n = 0;
    if (!dirs) return die("out of memory");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) { free(dirs); return die("report: -o needs a file name"); }
            outp = argv[++i];
        } else if (!strncmp(argv[i], "-", 1)) {
            free(dirs);
            fprintf(stderr, "wesar: error: report: unknown option '%s' (expected RUNDIR... [-o FILE])\n", argv[i]);
            return 1;
        } else {
            dirs[n++] = argv[i];
        }
    }
    char err[1400];
    int rc = n ? report_write(dirs, n, outp, err, sizeof err) : -1;
    if (!n) snprintf(err, sizeof err, "report: expected one or more run directories (wesar report RUNDIR... -o report.html)");
    free(dirs);
    if (rc) return die(err);
    printf("wrote %s (%d run%s)\n", outp, n, n == 1 ? "" : "s");
    return 0;
}

static int cmd_prepare(int argc, char **argv) {
    prepare_opts o = {"bytes", NULL, 0.1, 100000000, 0};
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int np = 0;
    if (!pos) return die("out of memory");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        char *e;
        if (!strcmp(a, "--tokenizer") && i + 1 < argc) o.tokenizer = argv[++i];
        else if (!strcmp(a, "--tokenizer-path") && i + 1 < argc) o.tokenizer_path = argv[++i];
        else if (!strcmp(a, "--val-fraction") && i + 1 < argc) {
            o.val_fraction = strtod(argv[++i], &e);
            if (*e || e == argv[i]) { free(pos); return die("--val-fraction: expected a number in (0, 1)"); }
        } else if (!strcmp(a, "--shard-tokens") && i + 1 < argc) {
            double v = strtod(argv[++i], &e); /* 1e8 reads as it does in llm.c's scripts */
            if (*e || e == argv[i] || !(v >= 0 && v < 1e12)) { free(pos); return die("--shard-tokens: expected a token count such as 1e8"); }
            o.shard_tokens = (size_t)v;
        } else if (!strcmp(a, "--quiet")) o.quiet = 1;
        else if (!strncmp(a, "--", 2)) {
            fprintf(stderr, "wesar: error: prepare: unknown or incomplete option '%s'\n", a);
            free(pos);
            return 1;
        } else pos[np++] = a;
    }
    if (np < 2) { free(pos); return die("prepare: expected INPUT... OUTDIR (text files, folders, .jsonl, optionally .xz; see wesar --help)"); }
    char err[1400];
    int rc = prepare_text(pos, np - 1, pos[np - 1], &o, err, sizeof err);
    free(pos);
    return rc ? die(err) : 0;
}

/* flags shared by eval and generate; returns 1 if argv[*i] was one of them, -1 on a bad value */
typedef struct { const char *path, *tok, *tok_path; int seq_len; } infer_flags;

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *e;
    *out = strtod(v, &e);
    if (*e || e == v || !(*out >= lo && *out <= hi)) {
        fprintf(stderr, "wesar: error: %s: expected a number in [%g, %g], got '%s'\n", flag, lo, hi, v);
        return -1;
    }
    return 0;
}

static int infer_flag(infer_flags *f, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    double v;
    if (*i + 1 >= argc) return 0;
    if (!strcmp(a, "--tokenizer")) { f->tok = argv[++*i]; return 1; }
    if (!strcmp(a, "--tokenizer-path")) { f->tok_path = argv[++*i]; return 1; }
    if (!strcmp(a, "--seq-len")) {
        if (parse_num(a, argv[++*i], 1, 1 << 20, &v)) return -1;
        f->seq_len = (int)v;
        return 1;
    }
    return 0;
}

/* what is left of an eval/generate argument: MODEL, or an unknown option; 0 ok, 1 error */
static int infer_rest(infer_flags *f, const char *cmd, const char *a) {
    if (!strncmp(a, "--", 2)) {
        fprintf(stderr, "wesar: error: %s: unknown or incomplete option '%s'\n", cmd, a);
        return 1;
    }
    if (f->path) {
        fprintf(stderr, "wesar: error: %s: expected one MODEL\n", cmd);
        return 1;
    }
    f->path = a;
    return 0;
}

static int cmd_eval(int argc, char **argv) {
    infer_flags f = {0};
    eval_opts o = {0, 0, isatty(2)};
    const char *wiki = NULL, *lamb = NULL;
    int json_only = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        double v;
        int k = infer_flag(&f, argc, argv, &i);
        if (k < 0) return 1;
        if (k) continue;
        if (!strcmp(a, "--wikitext") && i + 1 < argc) wiki = argv[++i];
        else if (!strcmp(a, "--lambada") && i + 1 < argc) lamb = argv[++i];
        else if (!strcmp(a, "--stride") && i + 1 < argc) {
            if (parse_num(a, argv[++i], 1, 1 << 20, &v)) return 1;
            o.stride = (int)v;
        } else if (!strcmp(a, "--limit") && i + 1 < argc) {
            if (parse_num(a, argv[++i], 1, 1e12, &v)) return 1;
            o.limit = (long)v;
        } else if (!strcmp(a, "--json")) json_only = 1;
        else if (infer_rest(&f, "eval", a)) return 1;
    }
    if (!f.path) return die("eval: expected MODEL (a checkpoint, run directory or export directory)");
    if (!wiki && !lamb) return die("eval: nothing to evaluate: give --wikitext wiki.test.raw and/or --lambada lambada_test.jsonl");
    char err[1400];
    infer_model im;
    if (infer_open(&im, f.path, f.tok, f.tok_path, 1, f.seq_len, err, sizeof err)) return die(err);
    if (o.stride > im.T) {
        infer_close(&im);
        return die("--stride: expected at most the context (--seq-len)");
    }
    if (json_only) o.progress = 0;
    wikitext_result w = {0};
    lambada_result l = {0};
    int rc = 0;
    if (wiki) rc = eval_wikitext(&im, wiki, &o, &w, err, sizeof err);
    if (!rc && lamb) rc = eval_lambada(&im, lamb, &o, &l, err, sizeof err);
    if (rc) {
        infer_close(&im);
        return die(err);
    }
    int stride = o.stride ? o.stride : im.T;
    if (!json_only) {
        printf("model %s  (%s tokenizer, context %d, stride %d)\n", im.source, im.tk->name, im.T, stride);
        printf("%-10s %-22s %14s\n", "task", "metric", "value");
        if (wiki) {
            printf("%-10s %-22s %14.4f\n", "wikitext", "token_perplexity", exp(w.nll / w.tokens));
            printf("%-10s %-22s %14.4f\n", "", "word_perplexity", exp(w.nll / w.words));
            printf("%-10s %-22s %14.4f\n", "", "byte_perplexity", exp(w.nll / w.bytes));
            printf("%-10s %-22s %14.4f\n", "", "bits_per_byte", w.nll / w.bytes / log(2));
            char dt[64];
            snprintf(dt, sizeof dt, "%d / %zu", w.docs, w.tokens);
            printf("%-10s %-22s %14s\n", "", "documents / tokens", dt);
        }
        if (lamb) {
            printf("%-10s %-22s %14.4f\n", "lambada", "acc", (double)l.correct / l.n);
            printf("%-10s %-22s %14.4f\n", "", "perplexity", exp(l.nll / l.n));
            printf("%-10s %-22s %14d\n", "", "examples", l.n);
        }
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", im.source);
    cJSON_AddStringToObject(j, "tokenizer", im.tk->name);
    cJSON_AddNumberToObject(j, "seq_len", im.T);
    cJSON_AddNumberToObject(j, "stride", stride);
    if (wiki) {
        cJSON *x = cJSON_AddObjectToObject(j, "wikitext");
        cJSON_AddNumberToObject(x, "token_perplexity", exp(w.nll / w.tokens));
        cJSON_AddNumberToObject(x, "word_perplexity", exp(w.nll / w.words));
        cJSON_AddNumberToObject(x, "byte_perplexity", exp(w.nll / w.bytes));
        cJSON_AddNumberToObject(x, "bits_per_byte", w.nll / w.bytes / log(2));
        cJSON_AddNumberToObject(x, "nll", w.nll);
        cJSON_AddNumberToObject(x, "documents", w.docs);
        cJSON_AddNumberToObject(x, "tokens", (double)w.tokens);
        cJSON_AddNumberToObject(x, "words", (double)w.words);
        cJSON_AddNumberToObject(x, "bytes", (double)w.bytes);
    }
    if (lamb) {
        cJSON *x = cJSON_AddObjectToObject(j, "lambada");
        cJSON_AddNumberToObject(x, "acc", (double)l.correct / l.n);
        cJSON_AddNumberToObject(x, "perplexity", exp(l.nll / l.n));
        cJSON_AddNumberToObject(x, "nll", l.nll);
        cJSON_AddNumberToObject(x, "examples", l.n);
    }
    char *line = cJSON_PrintUnformatted(j);
    if (line) printf("%s\n", line);
    free(line);
    cJSON_Delete(j);
    infer_close(&im);
    return 0;
}

static int cmd_generate(int argc, char **argv) {
    infer_flags f = {0};
    gen_opts o = {0.8, 0, 0.95, 1337, 256};
    const char *prompt = "";
    int ids_out = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        double v;
        int k = infer_flag(&f, argc, argv, &i);
        if (k < 0) return 1;
        if (k) continue;
        if (!strcmp(a, "--prompt") && i + 1 < argc) prompt = argv[++i];
        else if (!strcmp(a, "--max-new") && i + 1 < argc) {
            if (parse_num(a, argv[++i], 1, 1 << 20, &v)) return 1;
            o.max_new = (int)v;
        } else if (!strcmp(a, "--temperature") && i + 1 < argc) {
            if (parse_num(a, argv[++i], 0, 100, &o.temperature)) return 1;
        } else if (!strcmp(a, "--top-k") && i + 1 < argc) {
            if (parse_num(a, argv[++i], 0, 1 << 24, &v)) return 1;
            o.top_k = (int)v;
        } else if (!strcmp(a, "--top-p") && i + 1 < argc) {
            if (parse_num(a, argv[++i], 1e-9, 1, &o.top_p)) return 1;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            if (parse_num(a, argv[++i], 0, 1.8e19, &v)) return 1;
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--ids")) ids_out = 1;
        else if (infer_rest(&f, "generate", a)) return 1;
    }
    if (!f.path) return die("generate: expected MODEL (a checkpoint, run directory or export directory)");
    char err[1400];
    infer_model im;
    if (infer_open(&im, f.path, f.tok, f.tok_path, 0, f.seq_len, err, sizeof err)) return die(err);
    gen_stats st;
    int32_t *ids = ids_out ? malloc((size_t)im.T * sizeof *ids) : NULL;
    int rc = generate(&im, prompt, &o, stdout, ids, im.T, &st, err, sizeof err);
    printf("\n");
    fflush(stdout); /* the text, then the speed on stderr */
    if (!rc && ids) { /* the ids, for tests: delimiter, prompt, new tokens */
        printf("ids:");
        for (int i = 0; i < 1 + st.prompt_tokens + st.new_tokens && i < im.T; i++) printf(" %d", ids[i]);
        printf("\n");
        fflush(stdout);
    }
    if (!rc)
        fprintf(stderr, "%d prompt tokens in %.3f s, %d new tokens in %.3f s: %.1f tokens/s\n", st.prompt_tokens,
                st.prefill_s, st.new_tokens, st.decode_s, st.decode_s > 0 ? st.new_tokens / st.decode_s : 0);
    free(ids);
    infer_close(&im);
    return rc ? die(err) : 0;
}

int main(int argc, char **argv) {
    /* a file-size limit then fails the write (EFBIG, reported) instead of killing us */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 2, argv + 2);
    if (dist_launcher_size() > 1) {
        fprintf(stderr, "wesar: error: only `wesar train` runs over MPI ranks; run `wesar %s` without "
                        "mpirun (or with -np 1)\n", argv[1]);
        return 2;
    }
    if (!strcmp(argv[1], "prepare")) return cmd_prepare(argc - 2, argv + 2);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(argv[1], "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "export")) return cmd_export(argc - 2, argv + 2);
    if (!strcmp(argv[1], "report")) return cmd_report(argc - 2, argv + 2);
    fprintf(stderr, "wesar: error: unknown command '%s' (expected prepare, train, info, export or report)\n", argv[1]);
    return 2;
}
