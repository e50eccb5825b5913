#!/usr/bin/env bash
# bench/precision.sh - the tiny preset's default run on tinyshakespeare (bytes)
# in fp32 and in bf16, and once more in fp32 with another data-order seed (the
# noise to compare with): loss every 50 steps, final validation loss, step time.
#   usage: bench/precision.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp -d /tmp/wesar_precision.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
source bench/common.sh
for run in "fp32 1337" "bf16 1337" "fp32 7"; do
    set -- $run
    "$W" train --preset tiny --data "$OUT/data" --out "$OUT/$1_$2" --precision "$1" --seed "$2" --quiet
done
python3 - "$OUT" << 'OUTER'
import json, statistics, sys
out = sys.argv[1]
runs = {name: [json.loads(l) for l in open(f"{out}/{name}/log.jsonl") if '"step"' in l]
        for name in ("fp32_1337", "bf16_1337", "fp32_7")}
steps = [50, 100, 150, 200, 250, 300]
print("%-22s" % "run" + "".join("%9s" % f"step {s}" for s in steps) + "%10s%10s" % ("val", "ms/step"))
for name, log in runs.items():
    by = {r["step"]: r for r in log}
    # loss: mean of the 10 steps up to s (single-step losses are noisy)
    row = ["%9.4f" % statistics.mean(by[t]["loss"] for t in range(s - 9, s + 1)) for s in steps]
    val = [r["val_loss"] for r in log if "val_loss" in r][-1]
    ms = statistics.median(r["ms"] for r in log[1:])
    label = {"fp32_1337": "fp32 (seed 1337)", "bf16_1337": "bf16 (seed 1337)", "fp32_7": "fp32 (seed 7: noise)"}[name]
    print("%-22s" % label + "".join(row) + "%10.4f%10.1f" % (val, ms))
OUTER
