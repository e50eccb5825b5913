#!/usr/bin/env bash
# bench/methods.sh - the WeSaR paper's Table 2 in miniature, as one `wesar sweep`:
# the tiny preset on tinyshakespeare with each method at a Rapid-style setting
# (high peak lr, short warmup), same data, over SEEDS; prints the sweep's table
# (final val loss, mean (std) over the seeds) and writes OUT/report.html.
# Killed, it resumes where it was when started again.
#   usage: bench/methods.sh [extra wesar train flags]   (LR, WARMUP, STEPS, SEEDS, OUT env)
set -euo pipefail
cd "$(dirname "$0")/.."
LR=${LR:-5e-3} WARMUP=${WARMUP:-10} STEPS=${STEPS:-300} SEEDS=${SEEDS:-1337}
OUT=${OUT:-runs/methods}
source bench/common.sh
# the paper's six methods: (init, reparameterization) pairs, one joint axis
"$W" sweep --out "$OUT/sweep" --seeds "$SEEDS" \
    --base "--preset tiny --data $OUT/data --lr $LR --warmup $WARMUP --steps $STEPS --log-every 50 $*" \
    --grid init+reparam=small+none,he+none,he+wesar,he+weightnorm,he+sigmareparam,small+residual
"$W" report "$OUT/sweep" -o "$OUT/report.html"
