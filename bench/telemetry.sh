#!/usr/bin/env bash
# bench/telemetry.sh - what per-matrix telemetry costs: the same training run
# (tiny preset and a d=384 N=6 model, tinyshakespeare, WeSaR) with telemetry
# off, at the default interval (every 10 steps) and on every step; prints the
# mean step time of each, the difference against "off" (end to end, but
# subject to the machine's drift between runs) and telemetry's share of the
# step time as the run itself measures it (log.jsonl "telemetry_ms": the
# figure to trust).  Target: < 5% at the default interval.  Runs alternate
# over two rounds; the faster round counts.
#   usage: bench/telemetry.sh            (STEPS env, default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-40}
OUT=${OUT:-runs/bench_telemetry}
source bench/common.sh
MODELS=("tiny|--preset tiny"
        "d384 N6 T256|--preset tiny --d-model 384 --n-layers 6 --n-heads 6 --batch-size 8")
SETTINGS=("off|0" "every 10 (default)|10" "every step|1")
for round in 1 2; do
    for mm in "${MODELS[@]}"; do
        for s in "${SETTINGS[@]}"; do
            dir="$OUT/r$round-$(echo "${mm%%|*}" | tr ' ' _)-${s#*|}"
            rm -rf "$dir"
            echo "== ${mm%%|*}, telemetry ${s%%|*} (round $round)" >&2
            # shellcheck disable=SC2086
            "$W" train ${mm#*|} --reparam wesar --steps "$STEPS" --warmup 5 --val-every 0 --ckpt-final 0 \
                --telemetry-every "${s#*|}" --data "$OUT/data" --out "$dir" --quiet
        done
    done
done
python3 - "$OUT" "$STEPS" << 'PYEOF'
import json, sys
out, steps = sys.argv[1], int(sys.argv[2])
models = ["tiny", "d384_N6_T256"]
settings = [("off", "0"), ("every 10 (default)", "10"), ("every step", "1")]
def load(d):
    rows = [json.loads(l) for l in open(f"{out}/{d}/log.jsonl")]
    return [r for r in rows if r["step"] > 1]  # step 1 warms the caches
def step_ms(d):
    rows = load(d)
    return sum(r["ms"] for r in rows) / len(rows)
def share(d):  # measured inside the step: immune to the machine's drift between runs
    rows = load(d)
    return 100 * sum(r.get("telemetry_ms", 0) for r in rows) / sum(r["ms"] for r in rows)
print("| model | telemetry | ms/step | vs off | telemetry's share of the step |")
print("|---|---|---:|---:|---:|")
for m in models:
    base = None
    for name, every in settings:
        runs = [f"r{r}-{m}-{every}" for r in (1, 2)]
        t = min(step_ms(d) for d in runs)
        base = base or t
        sh = min(share(d) for d in runs)
        print(f"| {m.replace('_', ' ')} | {name} | {t:.1f} | {100 * (t / base - 1):+.1f}% | {sh:.2f}% |")
PYEOF
