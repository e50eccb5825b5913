/* main.c - the `wesar` command line: a table of commands (COMMANDS, at the
 * end) and the glue from their flags to the modules that do the work. */
#ifndef WESAR_VERSION
#define WESAR_VERSION "0.9"
#endif
#include "../ckpt/ckpt.h"
#include "../ckpt/export.h"
#include "../ckpt/rundir.h"
#include "../kernels/blas_limit.h"
#include "../kernels/gemm_bf16.h"
#include "../kernels/kernels.h"
#include "../optim/optim.h"
#include "../data/prepare.h"
#include "../dist/dist.h"
#include "../model/config.h"
#include "../model/model.h"
#include "../report/report.h"
#include "../reparam/reparam.h"
#include "../sweep/sweep.h"
#include "../infer/eval.h"
#include "../infer/generate.h"
#include "../infer/infer.h"
#include "../train/job.h"
#include "../train/train.h"
#include "../util/parse.h"
#include "../util/utf8.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each command's flags, printed by `wesar NAME --help`; the first lines of
 * `wesar --help` are the commands' synopses (the table at the end). */
static const char KEYS_HELP[] =
    "model keys:  vocab_size d_model n_layers n_heads n_kv_heads ffn_dim seq_len\n"
    "             mlp (gelu|swiglu) rope_theta norm_eps\n"
    "             init (he|small|gpt2)\n";
/* here keys_help prints the reparameterizations, from reparam.h's table */
static const char KEYS_HELP_TRAIN[] =
    "train keys:  data val_data out (default runs/<date>-<time>, runs/latest links to it)\n"
    "             tokenizer tokenizer_path (from the data's meta.json; recorded in checkpoints)\n"
    "             optim batch_size train_seq_len grad_accum steps warmup\n"
    "             decay_steps (the cosine reaches min_lr there and stays; default steps, kept on resume)\n"
    "             lr min_lr_frac beta1 beta2 eps weight_decay grad_clip zloss\n";
/* here keys_help prints the optimizers and their options, from optim.h's table */
static const char KEYS_HELP_REST[] =
    "             log_every val_every val_batches ckpt_every (500) ckpt_final keep seed threads\n"
    "             precision (fp32|bf16: bf16 operands, fp32 accumulation; AVX-512 BF16)\n"
    "             on_spike (log|rollback) on_nan (stop|rollback) spike_window spike_k\n"
    "             max_rollbacks (rollback: to the newest checkpoint before the failed step,\n"
    "             skipping the batches in between; give up after that many in a row)\n"
    "             telemetry_every (10; 0 = off: per-matrix update ratio, angle, RRC,\n"
    "             gradient norm and gate in OUT/telemetry.jsonl) rrc_tokens (0: auto)\n"
    "             dist_timeout (under mpirun: seconds a rank waits for the others\n"
    "             before it ends the job; 300, 0 = forever)\n"
    "             --quiet: no progress lines\n"
    "Keys are given as flags (--d-model 256 or --d_model=256) or in a config file\n"
    "(key=value lines, a JSON object, or a run's own config.json); flags override the\n"
    "file, which overrides the preset.  See README.md for every default.\n";

static const char TRAIN_HELP[] =
    "  --resume RUN: a run directory (its newest valid checkpoint) or one checkpoint file;\n"
    "  the model and training config come from the checkpoint (flags may change training\n"
    "  keys, never model keys); the run goes on in its directory, or with --out NEWDIR in a\n"
    "  branch that starts with a copy of its log.  A run directory is locked while it runs.\n";

static const char PREPARE_HELP[] =
    "  --tokenizer bytes|gpt2|sentencepiece (bytes)\n"
    "  --tokenizer-path P    gpt2: a directory with encoder.json and vocab.bpe;\n"
    "                        sentencepiece: a tokenizer.model or a directory holding one\n"
    "  --val-fraction F      the last fraction of the tokens becomes val (0.1)\n"
    "  --shard-tokens N      train tokens per shard file (1e8)\n"
    "  --doc-boundary RE     split text files into documents where this PCRE2 pattern matches\n"
    "                        (multiline; the match is dropped), e.g. '^</?doc[^>]*>\\n' for WikiExtractor\n"
    "                        output, '\\n\\n(?=[^\\n]+\\n\\n)' for the Wikipedia sample's blank-title-blank\n"
    "  --quiet               no progress bar, no summary\n"
    "  INPUT: text files, folders of them, .jsonl (one document per line, its \"text\"),\n"
    "  each optionally .xz, .gz or .zst.  OUTDIR's earlier shards are replaced; OUTDIR inside an\n"
    "  input folder is skipped.\n";

static const char INFER_HELP[] =
    "  MODEL: a checkpoint, a run directory (newest checkpoint) or an export directory\n"
    "  --tokenizer NAME --tokenizer-path P   when the checkpoint does not record its tokenizer\n"
    "  --seq-len N           the context (the model's by default)\n"
    "  --threads N           kernel threads (all cores)\n"
    "  --precision fp32|bf16 matmul operands (bf16: rounded to bf16, fp32 accumulation; AVX-512 BF16)\n";

static const char EVAL_HELP[] =
    "  --wikitext FILE       WikiText-2 token/word/byte perplexity (rolling windows, as lm-eval)\n"
    "  --lambada FILE        LAMBADA last-word accuracy and perplexity (JSON lines)\n"
    "  --stride N            window stride (the context)\n"
    "  --limit N             the first N documents / examples\n"
    "  --json                only the JSON line\n"
    "  --logprobs FILE       FILE as one document after the delimiter: one JSON line per token\n"
    "                        {\"pos\",\"id\",\"piece\",\"logprob\"}, then {\"tokens\",\"sum_logprob\"}\n";

static const char EXPORT_HELP[] =
    "  CHECKPOINT: a checkpoint file or a run directory (its newest valid checkpoint)\n"
    "  --format hf (default)  OUT is a directory: model.safetensors, config.json and the\n"
    "                        tokenizer files Hugging Face's AutoTokenizer loads\n"
    "  --format gguf          OUT is one .gguf file for llama.cpp (swiglu models with a gpt2\n"
    "                        or sentencepiece tokenizer): the tokenizer embedded, q/k permuted\n"
    "  --dtype f32|f16|bf16   the matrices' type in the GGUF file (f32); norms stay f32\n";

static const char GENERATE_HELP[] =
    "  --prompt TEXT (\"\")   --max-new N (256)   --temperature T (0.8; 0 = greedy)\n"
    "  --top-k K (0 = off)   --top-p P (0.95)    --seed S (1337)   --ids (print the ids)\n"
    "  Stops at max_new tokens, at the end-of-text token, or when the context is full\n"
    "  (then it says so).\n";

static const char SWEEP_HELP[] =
    "  --out DIR             the sweep's directory: one run directory per point, summary.jsonl, summary.md\n"
    "  --base \"FLAGS\"       the training flags every point shares (--data, --preset, --steps, ...)\n"
    "  --grid KEY=V1,V2,...  an axis: any training or model key; repeat for more (their product)\n"
    "  --seeds 1,2,3         seeds of every point (1337)\n"
    "  --tune-seed S         the seed sigma2 is chosen on, left out of the reported mean (the first)\n"
    "  --diverge-factor F    a loss above F x step 1's ends a point as diverged (2; 0 = off)\n"
    "  --threads N           threads per point (the cores / the ranks on this node)\n"
    "  --results FILE        summary lines kept apart from OUT (a study in parts): a point with a line is done\n"
    "  --dry-run             train nothing: say how many points are to do, write the table from what is done\n"
    "  --file F              the same as key = value lines: out, base, grid.KEY, seeds, tune_seed, ...\n"
    "  Killed and started again with the same command, it resumes where it was.  Under mpirun\n"
    "  -np P the points are dealt out among the ranks.\n";

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;   /* its line in wesar --help */
    const char *help[3];    /* wesar NAME --help, after the synopsis */
} command;
static const command *find_command(const char *name);
static void usage(FILE *f);

static int die(const char *msg) {
    fprintf(stderr, "wesar: error: %s\n", msg);
    return 1;
}

/* argv[*i] as the option NAME ("--top-k"; --top_k and --top-k=V alike):
 * 1 with *val its value (*i advanced past it), -1 when the value is
 * missing (said on stderr), 0 when argv[*i] is something else. */
static int opt(int argc, char **argv, int *i, const char *name, const char **val) {
    char a[64], b[64];
    if (strncmp(argv[*i], "--", 2)) return 0;
    job_flag_key(argv[*i], a, sizeof a);
    job_flag_key(name, b, sizeof b);
    if (strcmp(a, b)) return 0;
    const char *eq = strchr(argv[*i], '=');
    if (eq) { *val = eq + 1; return 1; }
    if (*i + 1 < argc) { *val = argv[++*i]; return 1; }
    fprintf(stderr, "wesar: error: %s: missing value\n", name);
    return -1;
}

/* wesar info [RUN] [--resume RUN] [--preset P] [--config F] [--KEY V ...]:
 * the model (and, for a run or with training keys, the training config). */
static int cmd_info(int argc, char **argv) {
    char err[1024];
    job j;
    const char *run = NULL;
    if (argc && strncmp(argv[0], "--", 2)) run = argv[0], argc--, argv++;
    if (job_parse(&j, argc, argv, run, err, sizeof err)) return err[0] ? die(err) : 1;
    model *m = model_create(&j.mc, err, sizeof err);
    if (!m) return die(err);
    size_t np = model_num_params(m), mat = 0;
    for (int i = 0; i < model_num_tensors(m); i++)
        if (model_tensor(m, i)->is_matrix) mat += model_tensor(m, i)->numel;
    char cj[1024], tj[4096];
    config_to_json(&j.mc, cj, sizeof cj);
    train_to_json(&j.tc, tj, sizeof tj);
    const optim_rule *rule = optim_find(j.tc.optim);
    int ns = rule ? rule->n_state : 2;
    if (j.tc.resume_from[0]) printf("checkpoint: %s\n", j.tc.resume_from);
    printf("config: %s\n", cj);
    printf("train: %s\n", tj);
    printf("parameters: %zu (%zu in matrices, %zu in norm gains), %d tensors\n", np, mat, np - mat,
           model_num_tensors(m));
    printf("fp32 memory: %.1f MiB parameters, %.1f MiB with gradients and %s state (%d slab%s)\n",
           np * 4 / 1048576.0, np * 4.0 * (2 + ns) / 1048576.0, j.tc.optim, ns, ns == 1 ? "" : "s");
    model_free(m);
    return 0;
}

/* Under mpirun every rank runs this; rank 0 alone prints and writes (train.h). */
static int cmd_train(int argc, char **argv) {
    char err[1024] = "";
    job j;
    if (dist_init(&argc, &argv, err, sizeof err)) return die(err);
    int rc = job_parse(&j, argc, argv, NULL, err, sizeof err);
    if (!dist_agree(!rc, err, sizeof err)) rc = -1; /* same argv everywhere: rank 0 says it */
    train_result r;
    if (!rc) rc = train_run(&j.mc, &j.tc, &r, err, sizeof err);
    /* an error every rank shares is printed by rank 0 alone (dist_agree
     * leaves err empty on the others) */
    if (rc && err[0]) die(err);
    char val[48] = "no validation";
    if (!isnan(r.final_val_loss)) snprintf(val, sizeof val, "val loss %.4f", r.final_val_loss);
    if (!rc && !j.tc.quiet && dist_rank() == 0)
        printf("done: %ld steps, final loss %.4f, %s, %ld loss spike(s), %ld rollback(s)\n",
               r.steps_done, r.final_loss, val, r.spikes, r.rollbacks);
    fflush(stdout);
    dist_finalize(rc ? 1 : 0);
    return rc ? 1 : 0;
}

/* CHECKPOINT, or a run directory's newest valid one */
static int checkpoint_arg(const char *arg, char *path, size_t len, char *err, size_t errlen) {
    char dir[1024];
    return rundir_resolve(arg, path, len, dir, sizeof dir, err, errlen);
}

/* an option the command does not know, or a second positional argument */
static int bad_arg(const char *cmd, const char *a) {
    if (!strncmp(a, "--", 2))
        fprintf(stderr, "wesar: error: %s: unknown option '%s' (see wesar %s --help)\n", cmd, a, cmd);
    else
        fprintf(stderr, "wesar: error: %s: unexpected argument '%s' (see wesar %s --help)\n", cmd, a, cmd);
    return 1;
}

/* the tokenizer a checkpoint's run recorded (or its data's meta.json); bytes for a 257-token vocabulary */
static int recorded_tokenizer(const ckpt_extra *x, int vocab, tokenizer **tk, char *tpath, size_t plen, char *err,
                              size_t errlen) {
    char name[64] = "";
    *tk = NULL;
    tpath[0] = 0;
    if (infer_recorded_tokenizer(x->train_json, name, sizeof name, tpath, plen) && vocab == 257)
        snprintf(name, sizeof name, "bytes");
    return name[0] && !(*tk = tokenizer_open(name, tpath[0] ? tpath : NULL, err, errlen)) ? -1 : 0;
}

static const char *tokenizer_files(const tokenizer *tk) {
    return !tk ? "no tokenizer (none recorded: eval and generate need --tokenizer)"
           : !strcmp(tk->name, "gpt2") ? "gpt2 tokenizer (vocab.json, merges.txt)"
           : !strcmp(tk->name, "sentencepiece") ? "sentencepiece tokenizer (tokenizer.model)"
           : "byte tokenizer ids (generation_config.json; Hugging Face has no byte tokenizer)";
}

static int cmd_export(int argc, char **argv) {
    const char *format = "hf", *dtype = NULL, *pos[2] = {NULL, NULL}, *v;
    int np = 0, k = 0;
    for (int i = 0; i < argc && k >= 0; i++) {
        if ((k = opt(argc, argv, &i, "--format", &v)) > 0) format = v;
        else if (!k && (k = opt(argc, argv, &i, "--dtype", &v)) > 0) dtype = v;
        else if (!k && argv[i][0] != '-' && np < 2) pos[np++] = argv[i];
        else if (!k) k = -1, bad_arg("export", argv[i]);
    }
    if (k < 0) return 1;
    int gguf = !strcmp(format, "gguf");
    if (!gguf && strcmp(format, "hf")) return die("export: --format: expected hf or gguf");
    if (np != 2)
        return die(gguf ? "export: expected CHECKPOINT OUT.gguf (a checkpoint file or a run directory)"
                        : "export: expected CHECKPOINT OUTDIR (a checkpoint file or a run directory)");
    const export_dtype *dt = &EXPORT_DTYPES[0];
    if (dtype && !gguf) return die("export: --dtype: only with --format gguf (the Hugging Face export is F32)");
    while (dtype && dt->name && strcmp(dt->name, dtype)) dt++;
    if (!dt->name) return die("export: --dtype: expected f32, f16 or bf16");
    char err[1400], ck[1024], tpath[1100];
    model_config c;
    if (checkpoint_arg(pos[0], ck, sizeof ck, err, sizeof err) || ckpt_read_config(ck, &c, NULL, 0, err, sizeof err))
        return die(err);
    model *m = model_create(&c, err, sizeof err);
    if (!m || model_alloc(m, 0, 1, err, sizeof err)) { model_free(m); return die(err); }
    ckpt_extra x;
    tokenizer *tk = NULL;
    int rc = ckpt_load(ck, m, &x, err, sizeof err) ||
             recorded_tokenizer(&x, c.vocab_size, &tk, tpath, sizeof tpath, err, sizeof err);
    if (!rc && gguf) rc = export_gguf(m, tk, pos[1], dt, err, sizeof err);
    if (!rc && !gguf) rc = export_hf(m, pos[1], err, sizeof err) || export_tokenizer(pos[1], tk, tpath, c.seq_len, err, sizeof err);
    ckpt_extra_free(&x);
    if (!rc && gguf)
        printf("exported %s (step %ld, reparam %s merged) to %s: GGUF v3, llama, %s, %s tokenizer\n", ck, x.step,
               c.reparam, pos[1], dt->name, tk->name);
    else if (!rc)
        printf("exported %s (step %ld, %s, reparam %s merged) to %s: model.safetensors, config.json, %s\n", ck,
               x.step, c.mlp == MLP_SWIGLU ? "LlamaForCausalLM" : "ArceeForCausalLM", c.reparam, pos[1],
               tokenizer_files(tk));
    tokenizer_free(tk);
    model_free(m);
    return rc ? die(err) : 0;
}

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    if (parse_real(v, lo, hi, out)) {
        fprintf(stderr, "wesar: error: %s: expected a number in [%.15g, %.15g], got '%s'\n", flag, lo, hi, v);
        return -1;
    }
    return 0;
}

static int cmd_report(int argc, char **argv) {
    const char *outp = "report.html", *charts = NULL, *v;
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    int n = 0, k = 0;
    if (!dirs) return die("out of memory");
    for (int i = 0; i < argc && k >= 0; i++) {
        if (!strcmp(argv[i], "-o")) k = i + 1 < argc ? (outp = argv[++i], 1) : -1;
        else if ((k = opt(argc, argv, &i, "--out", &v)) > 0) outp = v;
        else if (!k && (k = opt(argc, argv, &i, "--charts", &v)) > 0) charts = v;
        else if (!k && !strncmp(argv[i], "-", 1)) k = -1, bad_arg("report", argv[i]);
        else if (!k) dirs[n++] = argv[i];
        if (k < 0 && !strcmp(argv[i], "-o")) fprintf(stderr, "wesar: error: report: -o needs a file name\n");
    }
    char err[1400];
    int rc = k < 0 ? -1 : !n ? -1 : !charts ? report_write(dirs, n, outp, err, sizeof err)
           : n == 1 && report_is_sweep(dirs[0]) ? report_sweep(dirs[0], outp, charts, err, sizeof err)
           : (snprintf(err, sizeof err, "report --charts: expected one sweep directory (it holds sweep.json), got %s",
                       dirs[0]), -1);
    if (!n && k >= 0) snprintf(err, sizeof err, "report: expected one or more run directories (wesar report RUNDIR... -o report.html)");
    if (!rc && n == 1 && report_is_sweep(dirs[0])) printf("wrote %s (the sweep %s)\n", outp, dirs[0]);
    else if (!rc) printf("wrote %s (%d run%s)\n", outp, n, n == 1 ? "" : "s");
    free(dirs);
    if (k < 0) return 1;
    return rc ? die(err) : 0;
}

static int cmd_prepare(int argc, char **argv) {
    prepare_opts o = {"bytes", NULL, 0.1, 100000000, 0, NULL};
    const char **pos = calloc((size_t)argc + 1, sizeof *pos), *v;
    int np = 0, k = 0;
    double x;
    if (!pos) return die("out of memory");
    for (int i = 0; i < argc && k >= 0; i++) {
        if ((k = opt(argc, argv, &i, "--tokenizer", &v)) > 0) o.tokenizer = v;
        else if (!k && (k = opt(argc, argv, &i, "--tokenizer-path", &v)) > 0) o.tokenizer_path = v;
        else if (!k && (k = opt(argc, argv, &i, "--val-fraction", &v)) > 0) {
            if (parse_num("--val-fraction", v, 1e-9, 1 - 1e-9, &o.val_fraction)) k = -1;
        } else if (!k && (k = opt(argc, argv, &i, "--shard-tokens", &v)) > 0) {
            /* 1e8 reads as it does in llm.c's scripts */
            if (parse_num("--shard-tokens", v, 1024, 2147483647, &x)) k = -1;
            o.shard_tokens = (size_t)x;
        } else if (!k && (k = opt(argc, argv, &i, "--doc-boundary", &v)) > 0) o.doc_boundary = v;
        else if (!k && !strcmp(argv[i], "--quiet")) o.quiet = 1;
        else if (!k && !strncmp(argv[i], "--", 2)) k = -1, bad_arg("prepare", argv[i]);
        else if (!k) pos[np++] = argv[i];
    }
    if (k < 0) { free(pos); return 1; }
    if (np < 2) { free(pos); return die("prepare: expected INPUT... OUTDIR (text files, folders, .jsonl, optionally .xz, .gz or .zst; see wesar prepare --help)"); }
    char err[1400];
    int rc = prepare_text(pos, np - 1, pos[np - 1], &o, err, sizeof err);
    free(pos);
    return rc ? die(err) : 0;
}

/* the flags eval and generate share, and MODEL */
typedef struct { const char *path, *tok, *tok_path; int seq_len, threads, bf16; } infer_flags;

/* 1: argv[*i] was one of the shared flags or MODEL; -1: a bad value; 0: neither */
static int infer_arg(infer_flags *f, int argc, char **argv, int *i) {
    const char *v;
    double x;
    int k;
    if ((k = opt(argc, argv, i, "--tokenizer", &v)) > 0) f->tok = v;
    else if (!k && (k = opt(argc, argv, i, "--tokenizer-path", &v)) > 0) f->tok_path = v;
    else if (!k && (k = opt(argc, argv, i, "--seq-len", &v)) > 0) {
        if (parse_num("--seq-len", v, 1, 1 << 20, &x)) return -1;
        f->seq_len = (int)x;
    } else if (!k && (k = opt(argc, argv, i, "--threads", &v)) > 0) {
        if (parse_num("--threads", v, 1, 1 << 20, &x)) return -1;
        f->threads = (int)x;
    } else if (!k && (k = opt(argc, argv, i, "--precision", &v)) > 0) {
        f->bf16 = !strcmp(v, "bf16");
        if (!f->bf16 && strcmp(v, "fp32")) {
            fprintf(stderr, "wesar: error: --precision: expected fp32 or bf16, got '%s'\n", v);
            return -1;
        }
    } else if (!k && strncmp(argv[*i], "--", 2) && !f->path) f->path = argv[*i], k = 1;
    return k;
}

static int infer_start(infer_flags *f, infer_model *im, const char *cmd, int B, char *err, size_t errlen) {
    if (!f->path) {
        snprintf(err, errlen, "%s: expected MODEL (a checkpoint, run directory or export directory)", cmd);
        return -1;
    }
    if (f->threads && kernels_set_threads(f->threads) < f->threads) {
        snprintf(err, errlen, "--threads: %d asked for, but at most %d run here", f->threads, kernels_threads());
        return -1;
    }
    if (f->bf16 && kernels_set_precision(PRECISION_BF16)) {
        snprintf(err, errlen, "--precision bf16: needs a CPU with AVX-512 BF16 (avx512_bf16 in /proc/cpuinfo) and "
                 "the fp32 build; use --precision fp32");
        return -1;
    }
    return infer_open(im, f->path, f->tok, f->tok_path, B, f->seq_len, err, errlen);
}

/* the table, read from the JSON line's objects */
static void eval_print(const infer_model *im, int stride, const cJSON *j) {
    printf("model %s  (%s tokenizer, context %d, stride %d)\n", im->source, im->tk->name, im->T, stride);
    printf("%-10s %-22s %14s\n", "task", "metric", "value");
    const char *task = "";
    for (const cJSON *t = j->child; t; t = t->next) {
        if (!cJSON_IsObject(t)) continue;
        task = t->string;
        for (const cJSON *x = t->child; x; x = x->next) {
            if (!strcmp(x->string, "nll") || !strcmp(x->string, "words") || !strcmp(x->string, "bytes")) continue;
            int whole = !strcmp(x->string, "documents") || !strcmp(x->string, "tokens") || !strcmp(x->string, "examples");
            if (whole) printf("%-10s %-22s %14.0f\n", task, x->string, x->valuedouble);
            else printf("%-10s %-22s %14.4f\n", task, x->string, x->valuedouble);
            task = "";
        }
    }
}

/* the metrics, computed once: the JSON line, and the table read from it */
static cJSON *eval_json(const infer_model *im, int stride, const wikitext_result *w, const lambada_result *l) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", im->source);
    cJSON_AddStringToObject(j, "tokenizer", im->tk->name);
    cJSON_AddNumberToObject(j, "seq_len", im->T);
    cJSON_AddNumberToObject(j, "stride", stride);
    if (w) {
        cJSON *x = cJSON_AddObjectToObject(j, "wikitext");
        cJSON_AddNumberToObject(x, "token_perplexity", exp(w->nll / w->tokens));
        cJSON_AddNumberToObject(x, "word_perplexity", exp(w->nll / w->words));
        cJSON_AddNumberToObject(x, "byte_perplexity", exp(w->nll / w->bytes));
        cJSON_AddNumberToObject(x, "bits_per_byte", w->nll / w->bytes / log(2));
        cJSON_AddNumberToObject(x, "nll", w->nll);
        cJSON_AddNumberToObject(x, "documents", w->docs);
        cJSON_AddNumberToObject(x, "tokens", (double)w->tokens);
        cJSON_AddNumberToObject(x, "words", (double)w->words);
        cJSON_AddNumberToObject(x, "bytes", (double)w->bytes);
    }
    if (l) {
        cJSON *x = cJSON_AddObjectToObject(j, "lambada");
        cJSON_AddNumberToObject(x, "acc", (double)l->correct / l->n);
        cJSON_AddNumberToObject(x, "perplexity", exp(l->nll / l->n));
        cJSON_AddNumberToObject(x, "nll", l->nll);
        cJSON_AddNumberToObject(x, "examples", l->n);
    }
    return j;
}

/* --logprobs: each token's log-probability, for comparing with another engine */
static int print_logprobs(infer_model *im, const char *path) {
    char err[1400], piece[256];
    tok_buf ids;
    double *lp, sum = 0;
    if (eval_logprobs(im, path, &ids, &lp, err, sizeof err)) return die(err);
    for (size_t i = 1; i < ids.n; i++) {
        int at = 0, k = tokenizer_decode(im->tk, ids.ids[i], &at, piece, sizeof piece - 1);
        piece[k > 0 ? k : 0] = 0;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "pos", (double)(i - 1));
        cJSON_AddNumberToObject(j, "id", ids.ids[i]);
        cJSON_AddStringToObject(j, "piece", utf8_invalid_at(piece, strlen(piece)) < strlen(piece) ? "" : piece);
        cJSON_AddNumberToObject(j, "logprob", lp[i - 1]);
        char *line = cJSON_PrintUnformatted(j);
        if (line) printf("%s\n", line);
        free(line);
        cJSON_Delete(j);
        sum += lp[i - 1];
    }
    printf("{\"tokens\":%zu,\"sum_logprob\":%.17g}\n", ids.n - 1, sum);
    tok_buf_free(&ids);
    free(lp);
    return 0;
}

static int cmd_eval(int argc, char **argv) {
    infer_flags f = {0};
    eval_opts o = {0, 0, isatty(2)};
    const char *wiki = NULL, *lamb = NULL, *lprobs = NULL, *v;
    int json_only = 0, k = 0;
    double x;
    for (int i = 0; i < argc && k >= 0; i++) {
        if ((k = infer_arg(&f, argc, argv, &i))) continue;
        if ((k = opt(argc, argv, &i, "--wikitext", &v)) > 0) wiki = v;
        else if (!k && (k = opt(argc, argv, &i, "--lambada", &v)) > 0) lamb = v;
        else if (!k && (k = opt(argc, argv, &i, "--logprobs", &v)) > 0) lprobs = v;
        else if (!k && (k = opt(argc, argv, &i, "--stride", &v)) > 0) {
            if (parse_num("--stride", v, 1, 1 << 20, &x)) k = -1;
            o.stride = (int)x;
        } else if (!k && (k = opt(argc, argv, &i, "--limit", &v)) > 0) {
            if (parse_num("--limit", v, 1, 1e12, &x)) k = -1;
            o.limit = (long)x;
        } else if (!k && !strcmp(argv[i], "--json")) json_only = 1;
        else if (!k) k = -1, bad_arg("eval", argv[i]);
    }
    if (k < 0) return 1;
    char err[1400];
    if (!f.path) return die("eval: expected MODEL (a checkpoint, run directory or export directory)");
    if (!wiki && !lamb && !lprobs)
        return die("eval: nothing to evaluate: give --wikitext wiki.test.raw and/or --lambada lambada_test.jsonl, "
                   "or --logprobs FILE");
    if (lprobs && (wiki || lamb)) return die("eval: --logprobs goes alone (not with --wikitext or --lambada)");
    infer_model im;
    if (infer_start(&f, &im, "eval", 1, err, sizeof err)) return die(err);
    if (o.stride > im.T) {
        infer_close(&im);
        return die("--stride: expected at most the context (--seq-len)");
    }
    if (lprobs) {
        int rc = print_logprobs(&im, lprobs);
        infer_close(&im);
        return rc;
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
    cJSON *j = eval_json(&im, stride, wiki ? &w : NULL, lamb ? &l : NULL);
    if (!json_only) eval_print(&im, stride, j);
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
    const char *prompt = "", *v;
    int ids_out = 0, k = 0;
    double x;
    for (int i = 0; i < argc && k >= 0; i++) {
        if ((k = infer_arg(&f, argc, argv, &i))) continue;
        if ((k = opt(argc, argv, &i, "--prompt", &v)) > 0) prompt = v;
        else if (!k && (k = opt(argc, argv, &i, "--max-new", &v)) > 0) {
            if (parse_num("--max-new", v, 1, 1 << 20, &x)) k = -1;
            o.max_new = (int)x;
        } else if (!k && (k = opt(argc, argv, &i, "--temperature", &v)) > 0) {
            if (parse_num("--temperature", v, 0, 100, &o.temperature)) k = -1;
        } else if (!k && (k = opt(argc, argv, &i, "--top-k", &v)) > 0) {
            if (parse_num("--top-k", v, 0, 1 << 24, &x)) k = -1;
            o.top_k = (int)x;
        } else if (!k && (k = opt(argc, argv, &i, "--top-p", &v)) > 0) {
            if (parse_num("--top-p", v, 1e-9, 1, &o.top_p)) k = -1;
        } else if (!k && (k = opt(argc, argv, &i, "--seed", &v)) > 0) {
            if (parse_num("--seed", v, 0, 1.8e19, &x)) k = -1;
            o.seed = (uint64_t)x;
        } else if (!k && !strcmp(argv[i], "--ids")) ids_out = 1;
        else if (!k) k = -1, bad_arg("generate", argv[i]);
    }
    if (k < 0) return 1;
    char err[1400];
    infer_model im;
    if (infer_start(&f, &im, "generate", 0, err, sizeof err)) return die(err);
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
    if (!rc && st.context_full)
        fprintf(stderr, "note: stopped after %d of the %d new tokens asked for: the context of %d tokens is full\n",
                st.new_tokens, o.max_new, im.T);
    free(ids);
    infer_close(&im);
    return rc ? die(err) : 0;
}

/* Under mpirun every rank runs this: rank r runs points r, r + P, ... (sweep.h). */
static int cmd_sweep(int argc, char **argv) {
    char err[2048] = "";
    sweep_spec sp;
    if (dist_init(&argc, &argv, err, sizeof err)) return die(err);
    int rc = sweep_parse(&sp, argc, argv, err, sizeof err);
    if (!dist_agree(!rc, err, sizeof err)) rc = -1;
    if (!rc) rc = sweep_run(&sp, err, sizeof err);
    if (rc && err[0]) die(err);
    sweep_free(&sp);
    fflush(stdout);
    dist_finalize(rc ? 1 : 0);
    return rc ? 1 : 0;
}

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    /* fp32 products, and bf16's where this CPU has AVX-512 BF16 */
    printf("wesar %s (%s MPI; products: %s%s; built for %s)\n", WESAR_VERSION, dist_compiled() ? "with" : "without",
           kernels_gemm_name(gemm_bf16_available() ? PRECISION_BF16 : PRECISION_FP32),
           gemm_bf16_available() ? "" : ", no bf16 (no AVX-512 BF16)", kernels_simd_name());
    return 0;
}

static const command COMMANDS[] = {
    {"prepare", cmd_prepare, "[--tokenizer bytes|gpt2|sentencepiece] [--tokenizer-path P] INPUT... OUTDIR",
     {PREPARE_HELP, NULL, NULL}},
    {"train", cmd_train, "--data DIR [--preset tiny|gpt2-small|1.3b] [--config FILE] [--KEY VALUE ...]\n"
     "  wesar train --resume RUN [--out NEWDIR] [--KEY VALUE ...]   (continue a run, or branch it)",
     {TRAIN_HELP, KEYS_HELP, NULL}},
    {"info", cmd_info, "[RUN | --preset NAME | --config FILE] [--KEY VALUE ...]   (shape, parameters, memory)",
     {"  RUN: a run directory or checkpoint: its model and training config\n", KEYS_HELP, NULL}},
    {"export", cmd_export, "[--format hf|gguf] [--dtype f32|f16|bf16] CHECKPOINT OUT   (merged weights)",
     {EXPORT_HELP, NULL, NULL}},
    {"report", cmd_report, "RUNDIR... [-o report.html]   (loss curves, spikes, update ratios: one HTML page)",
     {"  -o FILE, --out FILE   the page to write (report.html)\n"
      "  --charts DIR          a sweep's charts, each also as DIR/NAME.svg with its legend (for a README)\n", NULL, NULL}},
    {"eval", cmd_eval, "MODEL [--wikitext FILE] [--lambada FILE] [--stride N] [--limit N] [--json]",
     {INFER_HELP, EVAL_HELP, NULL}},
    {"generate", cmd_generate, "MODEL [--prompt TEXT] [--max-new N] [--temperature T] [--top-k K] [--top-p P]",
     {INFER_HELP, GENERATE_HELP, NULL}},
    {"sweep", cmd_sweep, "--out DIR --base \"TRAIN FLAGS\" [--grid KEY=V1,V2,...]... [--seeds 1,2,3] [--file F]",
     {SWEEP_HELP, NULL, NULL}},
    {"version", cmd_version, "   (also --version)", {NULL, NULL, NULL}},
};
#define N_COMMANDS ((int)(sizeof COMMANDS / sizeof *COMMANDS))

static const command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

static void command_names(char *buf, size_t n) {
    size_t at = 0;
    for (int i = 0; i < N_COMMANDS && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? (i + 1 == N_COMMANDS ? " or " : ", ") : "",
                               COMMANDS[i].name);
}

static void usage(FILE *f) {
    fputs("wesar - pre-train LLaMA-style language models without loss spikes\n\nusage:\n", f);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  wesar %s %s\n", COMMANDS[i].name, COMMANDS[i].synopsis);
    fputs("  MODEL: a checkpoint, a run directory (newest checkpoint) or an export directory\n"
          "  wesar COMMAND --help: that command's flags (train --help: every key)\n", f);
    fputs(dist_compiled() ? "Data parallel (MPI compiled in): mpirun -np P wesar train ... (see README)\n"
                          : "Data parallel: this build has no MPI (apt-get install libopenmpi-dev openmpi-bin; "
                            "make MPI=1)\n", f);
}

static void command_help(const command *c) {
    printf("usage: wesar %s %s\n", c->name, c->synopsis);
    for (int i = 0; i < 3 && c->help[i]; i++) {
        fputs(c->help[i], stdout);
        if (c->help[i] == KEYS_HELP) { /* the keys, with the rules' tables where they belong */
            reparam_help(stdout);
            fputs(KEYS_HELP_TRAIN, stdout);
            optim_help(stdout);
            fputs(KEYS_HELP_REST, stdout);
        }
    }
}

/* OpenBLAS's start-up must fit ulimit -v: checked before any library's
 * initializer runs (blas_limit.h). */
__attribute__((section(".preinit_array"), used))
static void (*const preinit)(int, char **, char **) = blas_limit_preinit;

int main(int argc, char **argv) {
    /* a file-size limit then fails the write (EFBIG, reported) instead of killing us */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    const command *c = find_command(argv[1]);
    if (!c) {
        char names[256];
        command_names(names, sizeof names);
        fprintf(stderr, "wesar: error: unknown command '%s' (expected %s; see wesar --help)\n", argv[1], names);
        return 2;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { command_help(c); return 0; }
    if (c->run != cmd_train && c->run != cmd_sweep && dist_launcher_size() > 1) {
        fprintf(stderr, "wesar: error: only `wesar train` and `wesar sweep` run over MPI ranks; run `wesar %s` without "
                        "mpirun (or with -np 1)\n", argv[1]);
        return 2;
    }
    return c->run(argc - 2, argv + 2);
}
