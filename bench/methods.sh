#!/usr/bin/env bash
# bench/methods.sh - the WeSaR paper's Table 2 in miniature: the tiny preset on
# tinyshakespeare with each method at a Rapid-style setting (high peak lr,
# short warmup), same seed and data; prints final val loss, val perplexity,
# loss spikes and step time relative to Small Init.
#   usage: bench/methods.sh [extra wesar train flags]     (LR, WARMUP, STEPS env)
set -euo pipefail
cd "$(dirname "$0")/.."
LR=${LR:-5e-3} WARMUP=${WARMUP:-10} STEPS=${STEPS:-300}
OUT=${OUT:-runs/methods}
source bench/common.sh
METHODS=("Small Init|--init small --reparam none"
         "He Init|--init he --reparam none"
         "WeSaR|--init he --reparam wesar"
         "Weight Normalization|--init he --reparam weightnorm"
         "sigma-Reparam|--init he --reparam sigmareparam"
         "Residual Scaling|--init small --reparam residual")
for m in "${METHODS[@]}"; do
    name=${m%%|*} flags=${m#*|}
    dir="$OUT/$(echo "$name" | tr 'A-Z -' 'a-z__')"
    if [ "$(cat "$dir/log.jsonl" 2> /dev/null | wc -l)" != "$STEPS" ]; then
        echo "== $name: wesar train --preset tiny $flags --lr $LR --warmup $WARMUP --steps $STEPS" >&2
        # shellcheck disable=SC2086
        "$W" train --preset tiny $flags --lr "$LR" --warmup "$WARMUP" --steps "$STEPS" --ckpt-final 0 \
            --data "$OUT/data" --out "$dir" --log-every 50 "$@" >&2  # progress on stderr, table on stdout
    fi
    echo "$name|$dir"
done > "$OUT/runs.txt"
# Step time from short runs made back to back, two rounds, so that every
# method is timed under the same machine load; the faster round counts.
for round in 1 2; do
    while IFS='|' read -r name dir; do
        for m in "${METHODS[@]}"; do [ "${m%%|*}" = "$name" ] && flags=${m#*|}; done
        echo "== timing $name (round $round)" >&2
        # shellcheck disable=SC2086
        "$W" train --preset tiny $flags --steps 25 --warmup 0 --ckpt-final 0 --val-every 0 \
            --data "$OUT/data" --out "$dir/timing$round" --quiet "$@" < /dev/null
    done < "$OUT/runs.txt"
done
python3 - "$OUT/runs.txt" << 'PYEOF'
import json, math, statistics, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
def stats(d):
    log = [json.loads(l) for l in open(d + "/log.jsonl")]
    losses = [r["loss"] for r in log]
    # a spike: the loss exceeds 1.1x the lowest loss of the previous 100 steps
    # (the rule the WeSaR spec proposes; consecutive spiking steps count once)
    spikes, prev = 0, False
    for i in range(1, len(losses)):
        s = losses[i] > 1.1 * min(losses[max(0, i - 100):i])
        spikes += s and not prev
        prev = s
    val = [r["val_loss"] for r in log if "val_loss" in r][-1]
    ms = min(statistics.median(json.loads(l)["ms"] for l in list(open(f"{d}/timing{k}/log.jsonl"))[1:])
             for k in (1, 2))
    return val, spikes, ms
res = [(n,) + stats(d) for n, d in rows]
base = res[0][3]
print("| Method | val loss (nats/byte) | val perplexity | loss spikes | step time vs Small |")
print("|---|---|---|---|---|")
for n, v, s, ms in res:
    print(f"| {n} | {v:.4f} | {math.exp(v):.3f} | {s} | {ms / base - 1:+.1%} |".replace("+0.0%", "±0.0%"))
PYEOF
