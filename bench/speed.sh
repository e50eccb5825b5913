#!/usr/bin/env bash
# bench/speed.sh - training-step throughput of wesar (fp32 and bf16) and of
# the PyTorch reference (python3-torch, eager, same config and threads) in one
# run: tokens/s, the ratio to PyTorch, achieved GFLOP/s, MFU against the sgemm
# ceiling measured here, and peak resident memory of each process.
#   usage: bench/speed.sh [STEPS]     (THREADS=2; CONFIGS="tiny d384 gpt2-small")
# FLOPs per token: flops_per_token in bench/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-4}
THREADS=${THREADS:-2}
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
peaks=$(build/release/gemm_peak "$THREADS")
SGEMM=$(echo "$peaks" | sed -n 's/^sgemm_gflops //p')
BF16=$(echo "$peaks" | sed -n 's/^bf16_gflops //p')
echo "ceilings, $THREADS threads, 2048^3: OpenBLAS sgemm $SGEMM GFLOP/s, wesar bf16 kernel $BF16 GFLOP/s"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; torch $("$PY" -c 'import torch; print(torch.__version__)'); $STEPS steps, median of steps 2.."
printf '%-11s %3s %5s  %-10s %9s %8s %8s %10s %9s\n' config B T engine "tok/s" "x torch" "GFLOP/s" "MFU sgemm" "peak MiB"
for name in $CONFIGS; do
    bench_config "$name"
    fpt=$(flops_per_token "$cfg" "$T")
    V=$(echo "$cfg" | sed 's/.*"vocab_size":\([0-9]*\).*/\1/')
    mkdir -p "$TMP/$name"
    make_shard "$V" "$TMP/$name/bench_train.bin"
    tms=""
    for engine in torch "wesar fp32" "wesar bf16"; do
        if [ "$engine" = torch ]; then
            rss=$(peak_rss "$PY" bench/torch_step.py "$cfg" "$B" "$T" "$STEPS" "$THREADS")
            ms=$(sed -n 's/ms_per_step //p' "$TMP/out")
            tms=$ms
        else
            prec=${engine#wesar }
            [ "$prec" = bf16 ] && [ "${BF16%.*}" = 0 ] && { echo "$name: no bf16 kernel on this machine"; continue; }
            rm -rf "$TMP/run"
            rss=$(peak_rss "$W" train $args --data "$TMP/$name" --out "$TMP/run" --batch-size "$B" \
                  --train-seq-len "$T" --steps "$STEPS" --warmup 0 --threads "$THREADS" --ckpt-final 0 \
                  --precision "$prec" --quiet)
            ms=$(median_ms "$TMP/run/log.jsonl")
        fi
        awk -v c="$name" -v b="$B" -v t="$T" -v e="$engine" -v ms="$ms" -v tms="$tms" -v f="$fpt" \
            -v peak="$SGEMM" -v rss="$rss" 'BEGIN {
            tps = b * t / (ms / 1000); g = tps * f / 1e9;
            printf "%-11s %3d %5d  %-10s %9.0f %7.2fx %8.1f %9.0f%% %9d\n", c, b, t, e, tps, tms / ms, g, 100 * g / peak, rss }'
    done
done
