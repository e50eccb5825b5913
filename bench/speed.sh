#!/usr/bin/env bash
# bench/speed.sh - training-step throughput of wesar (fp32 and bf16) and of the
# PyTorch reference (python3-torch, eager, same config and threads), measured so
# that it holds still on a shared machine:
#   - ROUNDS rounds (3); in each, the sgemm and bf16-products ceilings are measured
#     first, then every config runs every engine in turn (torch, fp32, bf16, ...);
#   - each row reports the median over rounds and the spread (max - min) / median,
#     with a warning past 10 %; ratios to PyTorch and MFU are taken within a round
#     (against that round's ceiling), then their median;
#   - peak resident memory of each process (the largest over rounds).
#   usage: bench/speed.sh [STEPS]     (THREADS=2; ROUNDS=3; CONFIGS="tiny d384 gpt2-small")
# A step's time is the median of steps 2.. of a run; FLOPs per token: flops_per_token in bench/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-4}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-"tiny d384 gpt2-small"}
make -s build/release/wesar build/release/gemm_peak
source bench/lib.sh
W=build/release/wesar
bench_setup_torch speed

# peak RSS (MiB) of a command, which runs with its output to $TMP/out
peak_rss() {
    "$PY" -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as out: subprocess.run(sys.argv[2:], check=True, stdout=out)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' "$TMP/out" "$@"
}

echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; torch" \
     "$("$PY" -c 'import torch; print(torch.__version__)'); $THREADS threads; $STEPS steps a run," \
     "median of steps 2..; $ROUNDS rounds"
for name in $CONFIGS; do # the shards once
    bench_config "$name"
    mkdir -p "$TMP/$name"
    make_shard "$(echo "$cfg" | sed 's/.*"vocab_size":\([0-9]*\).*/\1/')" "$TMP/$name/bench_train.bin"
done
# one line per measurement: round config B T flops_per_token engine ms rss sgemm bf16
: > "$TMP/rows"
for round in $(seq "$ROUNDS"); do
    peaks=$(build/release/gemm_peak "$THREADS")
    SGEMM=$(echo "$peaks" | sed -n 's/^sgemm_gflops //p')
    BF16=$(echo "$peaks" | sed -n 's/^bf16_gflops //p')
    echo "round $round: ceilings at 2048^3: OpenBLAS sgemm $SGEMM GFLOP/s, wesar bf16 products $BF16 GFLOP/s"
    for name in $CONFIGS; do
        bench_config "$name"
        fpt=$(flops_per_token "$cfg" "$T")
        for engine in torch fp32 bf16; do
            if [ "$engine" = torch ]; then
                rss=$(peak_rss "$PY" bench/torch_step.py "$cfg" "$B" "$T" "$STEPS" "$THREADS")
                ms=$(sed -n 's/ms_per_step //p' "$TMP/out")
            else
                [ "$engine" = bf16 ] && [ "${BF16%.*}" = 0 ] && continue # no bf16 kernel here
                rm -rf "$TMP/run"
                rss=$(peak_rss "$W" train $args --data "$TMP/$name" --out "$TMP/run" --batch-size "$B" \
                      --train-seq-len "$T" --steps "$STEPS" --warmup 0 --threads "$THREADS" --ckpt-final 0 \
                      --precision "$engine" --quiet)
                ms=$(median_ms "$TMP/run/log.jsonl")
            fi
            echo "$round $name $B $T $fpt $engine $ms $rss $SGEMM $BF16" >> "$TMP/rows"
        done
    done
done
"$PY" - "$TMP/rows" "$CONFIGS" << 'EOF'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
configs = sys.argv[2].split()
ms = {(r[0], r[1], r[5]): float(r[6]) for r in rows}
print("%-11s %3s %5s  %-10s %9s %7s %8s %8s %10s %9s %9s %9s" % ("config", "B", "T", "engine", "tok/s", "spread",
      "x torch", "GFLOP/s", "MFU sgemm", "MFU bf16", "x fp32", "peak MiB"))
warn = []
for c in configs:
    for e in ("torch", "fp32", "bf16"):
        mine = [r for r in rows if r[1] == c and r[5] == e]
        if not mine:
            continue
        B, T, fpt = int(mine[0][2]), int(mine[0][3]), float(mine[0][4])
        tps = [B * T / (float(r[6]) / 1000) for r in mine]
        med = st.median(tps)
        spread = (max(tps) - min(tps)) / med
        ratio = st.median(ms[(r[0], c, "torch")] / float(r[6]) for r in mine if (r[0], c, "torch") in ms)
        mfu = st.median(B * T / (float(r[6]) / 1000) * fpt / 1e9 / float(r[8]) for r in mine)
        # bf16 rows: MFU against the bf16 products' own ceiling, and the speed-up over fp32 in the same round
        mfu16 = st.median(B * T / (float(r[6]) / 1000) * fpt / 1e9 / float(r[9]) for r in mine) if e == "bf16" else None
        x32 = st.median(ms[(r[0], c, "fp32")] / float(r[6]) for r in mine if (r[0], c, "fp32") in ms) if e == "bf16" else None
        name = "wesar " + e if e != "torch" else e
        print("%-11s %3d %5d  %-10s %9.0f %6.1f%% %7.2fx %8.1f %9.0f%% %9s %9s %9d" % (c, B, T, name, med, 100 * spread, ratio,
              med * fpt / 1e9, 100 * mfu, "%.0f%%" % (100 * mfu16) if mfu16 else "", "%.2fx" % x32 if x32 else "",
              max(int(r[7]) for r in mine)))
        if spread > 0.10:
            warn.append("%s %s: the rounds spread %.0f%% (over 10%%): something else ran, or the machine throttles; "
                        "do not read this row" % (c, name, 100 * spread))
for w in warn:
    print("warning: " + w)
EOF
