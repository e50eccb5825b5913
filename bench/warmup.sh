#!/usr/bin/env bash
# bench/warmup.sh - Kosson, Messmer & Jaggi's question in miniature: which
# optimizer needs warmup?  The tiny preset on tinyshakespeare, same seed and
# data, at a high learning rate, each optimizer with no warmup and with 5% of
# the steps; prints final val loss and loss spikes per run and renders
# runs/warmup/report.html (wesar report).
#   usage: bench/warmup.sh [extra wesar train flags]     (STEPS env, default 300)
#
# The learning rates are ours, not tuned (the paper's values for these runs
# were not retrieved): AdamW at 5x the tiny preset's 2e-3; LionA at 1e-3,
# per element (Lion-type steps are sign-sized, so ~10x below AdamW); LionAR
# at 2e-2 radians per step, twice what trains the tiny model well.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-300}
WARM=$((STEPS >= 40 ? STEPS / 20 : 2))  # 5% of the steps
OUT=${OUT:-runs/warmup}
source bench/common.sh
RUNS=("adamw|--optim adamw --lr 1e-2"
      "adamw-nobc|--optim adamw-nobc --lr 1e-2"
      "liona|--optim liona --lr 1e-3"
      "lionar|--optim lionar --lr 2e-2"
      "lionar+rrc|--optim lionar --lr 2e-2 --rrc-correction"
      "lionar+rrc+b0.98+nesterov+ibc|--optim lionar --lr 2e-2 --rrc-correction --beta1 0.98 --nesterov --inverse-bias-correction")
dirs=()
for r in "${RUNS[@]}"; do
    for warm in 0 "$WARM"; do
        name=${r%%|*} flags=${r#*|}
        dir="$OUT/${name}_w$warm"
        dirs+=("$dir")
        [ -f "$dir.err" ] && [ -s "$dir/log.jsonl" ] && continue  # done before (or diverged)
        rm -rf "$dir"
        echo "== $name, warmup $warm: wesar train --preset tiny $flags --warmup $warm --steps $STEPS" >&2
        # shellcheck disable=SC2086
        "$W" train --preset tiny $flags --warmup "$warm" --steps "$STEPS" --ckpt-final 0 \
            --data "$OUT/data" --out "$dir" --log-every 50 "$@" >&2 2> "$dir.err" ||
            tail -1 "$dir.err" >&2  # a diverged run is a result: progress on stderr, table on stdout
    done
done
python3 - "${dirs[@]}" << 'PYEOF'
import json, sys
print("| optimizer | warmup | final val loss | best val loss | loss spikes |")
print("|---|---:|---:|---:|---:|")
for d in sys.argv[1:]:
    rows = [json.loads(l) for l in open(d + "/log.jsonl")]
    cfg = json.load(open(d + "/config.json"))["train"]
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    spikes = sum(1 for r in rows if r.get("spike"))
    name = d.rsplit("/", 1)[1].rsplit("_w", 1)[0]
    steps = [r["step"] for r in rows if "event" not in r]
    if steps[-1] < cfg["steps"]:  # stopped early: non-finite loss
        print(f"| {name} | {cfg['warmup']} | diverged at step {steps[-1] + 1} | {min(val, default=float('nan')):.4f} | {spikes} |")
    else:
        print(f"| {name} | {cfg['warmup']} | {val[-1]:.4f} | {min(val):.4f} | {spikes} |")
PYEOF
"$W" report "${dirs[@]}" -o "$OUT/report.html"
