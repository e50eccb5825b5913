#!/usr/bin/env bash
# bench/step.sh - one training step of wesar and of the PyTorch reference
# (python3-torch, eager, same config, same thread count) in the same run;
# prints tokens/s of each and the ratio wesar/PyTorch.
#   usage: bench/step.sh [STEPS]          (THREADS=2 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-4}
THREADS=${THREADS:-2}
make -s build/release/wesar
W=build/release/wesar
TMP=$(mktemp -d /tmp/wesar_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
PY=""
for py in /usr/bin/python3 python3; do "$py" -c 'import torch' 2> /dev/null && { PY=$py; break; }; done
[ -n "$PY" ] || { echo "bench/step.sh needs python3-torch (apt-get install python3-torch)" >&2; exit 1; }

# random llm.c shard: 256 int32 header, uint16 tokens
make_shard() { # VOCAB FILE
    "$PY" -c '
import sys, numpy as np
v, path = int(sys.argv[1]), sys.argv[2]
n = 2_000_000
h = np.zeros(256, np.int32); h[0], h[1], h[2] = 20240520, 1, n
tok = np.random.default_rng(0).integers(0, v, n, dtype=np.uint16)
with open(path, "wb") as f: f.write(h.tobytes()); f.write(tok.tobytes())
' "$1" "$2"
}

printf '%-12s %5s %5s | %12s %12s | %7s\n' config B T "wesar tok/s" "torch tok/s" ratio
for spec in "tiny 16 256" "gpt2-small 2 1024"; do
    set -- $spec
    P=$1 B=$2 T=$3
    cfg=$("$W" info --preset "$P" | sed -n 's/^config: //p')
    V=$(echo "$cfg" | sed 's/.*"vocab_size":\([0-9]*\).*/\1/')
    mkdir -p "$TMP/$P"
    make_shard "$V" "$TMP/$P/bench_train.bin"
    "$W" train --preset "$P" --data "$TMP/$P" --out "$TMP/run_$P" --batch-size "$B" --train-seq-len "$T" \
        --steps "$STEPS" --warmup 0 --threads "$THREADS" --ckpt-final 0 --quiet
    # median step time, first step excluded (page faults, warm-up)
    wms=$(sed -n 's/.*"ms":\([0-9.]*\).*/\1/p' "$TMP/run_$P/log.jsonl" | tail -n +2 | sort -n |
          awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
    tms=$("$PY" bench/torch_step.py "$cfg" "$B" "$T" "$STEPS" "$THREADS" | sed -n 's/ms_per_step //p')
    awk -v c="$P" -v b="$B" -v t="$T" -v w="$wms" -v p="$tms" 'BEGIN {
        wt = b * t / (w / 1000); pt = b * t / (p / 1000);
        printf "%-12s %5d %5d | %12.0f %12.0f | %6.2fx\n", c, b, t, wt, pt, wt / pt }'
done
