#!/usr/bin/env bash
# scripts/main-job.sh - the WeSaR paper in miniature, on real text, in about 15 minutes on 2 cores:
#   1. the 100 MB Wikipedia sample in LLaMA-2's SentencePiece tokens, split into its articles;
#   2. a LLaMA-style model (SwiGLU, RMSNorm, RoPE) trained twice at a Rapid-style setting (high
#      peak lr, 10 warmup steps): He init (the baseline) and WeSaR (He's stds as gates, one common
#      sigma^2 for the stored matrices), same seed, same data, as one `wesar sweep`;
#   3. both evaluated on WikiText-2 (the paper's metric; its first 10 articles) and LAMBADA (the first
#      500 examples), as lm-evaluation-harness does (without --limit: minutes more);
#   4. a sample from the one with the lower WikiText perplexity;
#   5. runs/main/report.html: both loss curves and the Figure-1 panels (update ratio per matrix);
#      the better model also as runs/main/best.gguf, for llama.cpp.
# Killed, it goes on where it was when started again; run again when done, it trains nothing.
# Data and tokenizer come from $WESAR_DATA, else ../shared/data.  Extra arguments go to every
# training run (e.g. --steps 50 for a quick look; a changed setting needs another OUT).
#   OUT (runs/main)   STEPS (150)   LR (5e-3)   SIGMA2 (256e-5, see results/study/README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/main} STEPS=${STEPS:-150} LR=${LR:-5e-3} SIGMA2=${SIGMA2:-256e-5}
data=""
for d in "${WESAR_DATA:-}" ../shared/data; do
    [ -n "$d" ] && [ -f "$d/llama2-tokenizer/tokenizer.model" ] && { data=$d; break; }
done
wiki=enwiki-2015-sample/enwiki_2015_AA.txt.xz
for f in llama2-tokenizer/tokenizer.model $wiki wikitext-2-raw/wiki.test.raw lambada/lambada_test.jsonl; do
    if [ -z "$data" ] || [ ! -f "$data/$f" ]; then
        echo "error: ${data:-\$WESAR_DATA}/$f not found: put the data of ../shared/data/README.md in" >&2
        echo "  \$WESAR_DATA (llama2-tokenizer, enwiki-2015-sample, wikitext-2-raw, lambada) and run again." >&2
        exit 1
    fi
done
make -s build/wesar
W=build/wesar
t0=$SECONDS

# 1. the articles of the sample are separated by a blank line before a title line
if [ ! -f data/enwiki-llama2/meta.json ]; then
    "$W" prepare --tokenizer sentencepiece --tokenizer-path "$data/llama2-tokenizer" \
        --doc-boundary '\n\n(?=[^\n]+\n\n)' "$data/$wiki" data/enwiki-llama2
fi

# 2. He against WeSaR: the tiny preset's shape as a LLaMA (SwiGLU, LLaMA-2's 32000 tokens, 12M
# parameters); 150 steps of 8 x 128 tokens at peak lr 5e-3 after 10 warmup steps
"$W" sweep --out "$OUT" --seeds 1 --grid reparam=none,wesar --grid sigma2="$SIGMA2" \
    --base "--preset tiny --mlp swiglu --vocab-size 32000 --seq-len 128 --batch-size 8 --steps $STEPS
            --warmup 10 --lr $LR --val-every 50 --log-every 50 --data data/enwiki-llama2 $*"
he="$OUT/reparam=none,seed=1" wesar="$OUT/reparam=wesar,sigma2=$SIGMA2,seed=1"

# 3. the first 10 WikiText-2 test articles and the first 500 LAMBADA examples
for run in "$he" "$wesar"; do
    [ -f "$run/eval_lambada.json" ] && continue
    "$W" eval "$run" --wikitext "$data/wikitext-2-raw/wiki.test.raw" --limit 10 --json > "$run/eval_wikitext.json"
    "$W" eval "$run" --lambada "$data/lambada/lambada_test.jsonl" --limit 500 --json > "$run/eval_lambada.json.tmp"
    mv "$run/eval_lambada.json.tmp" "$run/eval_lambada.json"
done

# the table, and which one samples
best=$(python3 - "$he" "$wesar" <<'EOF'
import json, sys
rows = []
for name, run in zip(("He (baseline)", "WeSaR"), sys.argv[1:]):
    e = json.load(open(run + "/eval_wikitext.json"))
    e.update(json.load(open(run + "/eval_lambada.json")))
    log = [json.loads(l) for l in open(run + "/log.jsonl")]
    val = [r["val_loss"] for r in log if "val_loss" in r]
    spikes = sum(1 for r in log if r.get("spike"))
    rows.append((e["wikitext"]["word_perplexity"], name, run, val[-1], e, spikes))
print("method          val loss  WikiText-2 word ppl  token ppl  LAMBADA acc  LAMBADA ppl  spikes",
      file=sys.stderr)
for wp, name, run, val, e, spikes in rows:
    print("%-15s %8.4f  %19.2f  %9.2f  %11.4f  %11.2f  %6d" % (name, val, wp, e["wikitext"]["token_perplexity"],
          e["lambada"]["acc"], e["lambada"]["perplexity"], spikes), file=sys.stderr)
print(min(rows)[2])
EOF
)
# 4. a sample from the better one
echo "sample from $best:"
"$W" generate "$best" --prompt "The history of" --max-new 60 --seed 1
# and as one GGUF file for llama.cpp (README: GGUF for llama.cpp)
"$W" export --format gguf "$best" "$OUT/best.gguf"
# 5. one page with both runs
"$W" report "$he" "$wesar" -o "$OUT/report.html"
echo "report: $OUT/report.html  (main job: $((SECONDS - t0)) s)"
