#!/usr/bin/env bash
# bench/dist.sh - data parallelism on one 2-core machine: one process of two
# threads (P=1) against two ranks of one thread each (P=2), the same global
# batch, for wesar (mpirun) and for PyTorch (DistributedDataParallel over
# gloo) in one run: tokens/s, wesar over PyTorch at the same P, P=2 over P=1,
# and wesar's communication share of the step (time inside MPI: the gradient
# all-reduce left after the backward, the parameter all-gather, the loss and
# norm sums, from log.jsonl's comm_ms).
#   usage: bench/dist.sh [STEPS]     (CONFIGS="tiny d384"; also gpt2-small)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-10}
CONFIGS=${CONFIGS:-"tiny d384"}
make -s build/release/wesar
grep -q -- -DWESAR_MPI build/release/flags || { echo "build/release has no MPI (apt-get install libopenmpi-dev openmpi-bin openssh-client; make)" >&2; exit 1; }
source bench/lib.sh
W=build/release/wesar
bench_setup_torch dist
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; torch $("$PY" -c 'import torch; print(torch.__version__)'); $(mpirun --version | head -1); $STEPS steps, median of steps 2.."
echo "P=1: one process, 2 threads; P=2: two processes (ranks), 1 thread each; same global batch"
printf '%-11s %3s %5s  %-6s %2s %9s %8s %8s %7s\n' config B T engine P "tok/s" "x torch" "x P=1" "comm"
for name in $CONFIGS; do
    bench_config "$name"
    V=$(echo "$cfg" | sed 's/.*"vocab_size":\([0-9]*\).*/\1/')
    mkdir -p "$TMP/$name"
    make_shard "$V" "$TMP/$name/bench_train.bin"
    declare -A ms=()
    for engine in torch wesar; do
        for P in 1 2; do
            threads=$((2 / P))
            comm=""
            if [ $engine = torch ]; then
                m=$("$PY" bench/torch_step.py "$cfg" "$B" "$T" "$STEPS" "$threads" "$P" | sed -n 's/ms_per_step //p')
            else
                rm -rf "$TMP/run"
                run=("$W" train $args --data "$TMP/$name" --out "$TMP/run" --batch-size "$B" --train-seq-len "$T"
                     --steps "$STEPS" --warmup 0 --threads "$threads" --ckpt-final 0 --val-every 0 --quiet)
                if [ $P = 1 ]; then "${run[@]}"; else mpirun -np 2 "${run[@]}"; fi
                m=$(median_ms "$TMP/run/log.jsonl")
                [ $P = 2 ] && comm=$(awk -v c="$(median_ms "$TMP/run/log.jsonl" comm_ms)" -v m="$m" \
                                     'BEGIN { printf "%.0f%%", 100 * c / m }')
            fi
            ms[$engine$P]=$m
            awk -v c="$name" -v b="$B" -v t="$T" -v e="$engine" -v p="$P" -v ms="$m" -v tms="${ms[torch$P]}" \
                -v one="${ms[${engine}1]}" -v comm="$comm" 'BEGIN {
                printf "%-11s %3d %5d  %-6s %2d %9.0f %7.2fx %7.2fx %7s\n", c, b, t, e, p, b * t / (ms / 1000),
                       tms / ms, one / ms, comm }'
        done
    done
done
