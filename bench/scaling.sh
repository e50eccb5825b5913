#!/usr/bin/env bash
# bench/scaling.sh - wesar training throughput against model width and
# sequence length (fp32 and bf16), 4096 tokens per step, byte vocabulary (so
# the layers, not the 257-row head, set the cost).  If the time were linear in
# the FLOPs, GFLOP/s would stay flat: where it falls, something other than the
# matrix products (memory-bound element-wise work, attention's softmax,
# small-matrix overhead) is taking over.  Telemetry is off (--telemetry-every 0):
# bench/telemetry.sh measures it.
#   usage: bench/scaling.sh [STEPS]     (THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-4}
THREADS=${THREADS:-2}
make -s build/release/wesar build/release/gemm_peak
source bench/lib.sh
W=build/release/wesar
TMP=$(mktemp -d /tmp/wesar_scaling.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
python3 -c '
import struct, random
r = random.Random(0); n = 1_000_000
open("'"$TMP"'/s_train.bin", "wb").write(struct.pack("<256i", 20240520, 1, n, *[0] * 253) +
    bytes(b for _ in range(n) for b in (r.randrange(256), 0)))'
SGEMM=$(build/release/gemm_peak "$THREADS" | sed -n 's/^sgemm_gflops //p')
echo "sgemm ceiling $SGEMM GFLOP/s ($THREADS threads); $STEPS steps, median of steps 2.."
printf '%-6s %5s %3s %5s %5s  %-5s %8s %8s %6s\n' d T N B heads prec "tok/s" "GFLOP/s" MFU
one() { # D T N PREC
    local d=$1 T=$2 N=$3 prec=$4 B=$((4096 / $2)) H=$(($1 / 64))
    rm -rf "$TMP/run"
    local args=(--preset tiny --d-model "$d" --n-layers "$N" --n-heads "$H" --n-kv-heads "$H"
                --ffn-dim $((4 * d)) --seq-len "$T")
    "$W" train "${args[@]}" --data "$TMP" --out "$TMP/run" --batch-size "$B" --steps "$STEPS" --warmup 0 \
        --threads "$THREADS" --ckpt-final 0 --val-every 0 --telemetry-every 0 --precision "$prec" --quiet
    local ms f
    ms=$(median_ms "$TMP/run/log.jsonl")
    f=$(flops_per_token "$("$W" info "${args[@]}" | sed -n 's/^config: //p')" "$T")
    awk -v d="$d" -v t="$T" -v n="$N" -v b="$B" -v h="$H" -v p="$prec" -v ms="$ms" -v f="$f" -v peak="$SGEMM" 'BEGIN {
        tps = b * t / (ms / 1000); g = tps * f / 1e9;
        printf "%-6d %5d %3d %5d %5d  %-5s %8.0f %8.1f %5.0f%%\n", d, t, n, b, h, p, tps, g, 100 * g / peak }'
}
echo "-- width (T=256, 4 layers)"
for d in 128 256 512 1024; do for p in fp32 bf16; do one "$d" 256 4 "$p"; done; done
echo "-- sequence length (d=512, 4 layers)"
for T in 128 1024 2048; do for p in fp32 bf16; do one 512 "$T" 4 "$p"; done; done
