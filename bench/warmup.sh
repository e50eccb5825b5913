#!/usr/bin/env bash
# bench/warmup.sh - Kosson, Messmer & Jaggi's question in miniature, as one
# `wesar sweep`: which optimizer needs warmup?  The tiny preset on
# tinyshakespeare at a high learning rate, each optimizer with no warmup and
# with 5% of the steps, over SEEDS; prints the sweep's table (final val loss)
# and writes OUT/report.html.  A diverged run is a result, recorded as such.
#   usage: bench/warmup.sh [extra wesar train flags]   (STEPS, SEEDS, OUT env)
#
# The learning rates are ours, not tuned (the paper's values for these runs
# were not retrieved): AdamW at 5x the tiny preset's 2e-3; LionA at 1e-3,
# per element (Lion-type steps are sign-sized, so ~10x below AdamW); LionAR
# at 2e-2 radians per step, twice what trains the tiny model well.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-300} SEEDS=${SEEDS:-1337}
WARM=$((STEPS >= 40 ? STEPS / 20 : 2))  # 5% of the steps
OUT=${OUT:-runs/warmup}
source bench/common.sh
# one joint axis: optimizer, lr, RRC correction, beta1, Nesterov, inverse bias correction
"$W" sweep --out "$OUT/sweep" --seeds "$SEEDS" \
    --base "--preset tiny --data $OUT/data --steps $STEPS --log-every 50 $*" \
    --grid optim+lr+rrc_correction+beta1+nesterov+inverse_bias_correction=adamw+1e-2+0+0.9+0+0,adamw-nobc+1e-2+0+0.9+0+0,liona+1e-3+0+0.9+0+0,lionar+2e-2+0+0.9+0+0,lionar+2e-2+1+0.9+0+0,lionar+2e-2+1+0.98+1+1 \
    --grid warmup=0,$WARM
"$W" report "$OUT/sweep" -o "$OUT/report.html"
