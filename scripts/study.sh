#!/usr/bin/env bash
# scripts/study.sh - the study of issue 17 (results/study/README.md), as `wesar sweep`s.
# Each part keeps its finished points' summary lines in results/study/PART.jsonl: a point
# with a line is not run again, so the study goes on in parts, on fresh machines, and with
# every line present this command trains nothing and only rebuilds the tables
# (runs/study/PART/summary.md, printed) from results/.
#   usage: scripts/study.sh [PART...]      parts: sigma2 lr long kosson (default: all, in this order)
#   THREADS (1): threads per point; the numbers do not depend on it.
set -euo pipefail
cd "$(dirname "$0")/.."
W=build/wesar
THREADS=${THREADS:-1}
[ -x "$W" ] || make -s build/wesar
DATA=data/tinyshakespeare/bytes
[ -f "$DATA/meta.json" ] || "$W" prepare ../shared/data/tinyshakespeare/input.txt "$DATA" > /dev/null

# The proxy (README "The proxy"): d 128, N 24 keeps the 1.3B model's sigma_bulk/sigma_resid;
# lr 4e-3 matches its relative steps.  Rapid-style schedule: warmup 10, 300 steps.
PROXY="--preset tiny --data $DATA --d-model 128 --n-layers 24 --n-heads 4 --seq-len 128 --batch-size 8"
SHORT="--steps 300 --warmup 10 --val-every 100 --val-batches 8 --log-every 100 --quiet"
# the seven methods as (init, reparameterization) pairs; sigma2 applies to the three
# with a common std and collapses for the others
METHODS=he+wesar,he+none,small+none,he+weightnorm,small+residual,gpt2+none,he+sigmareparam
SIGMA2_BEST=256e-5 # part sigma2's best on the paper's grid for WeSaR, WN and sigmaReparam (seed 1)

part() { # NAME SWEEP-ARGS...: run what is missing; the sweep prints the table
    local name=$1; shift
    echo "== results/study/$name.jsonl (table: runs/study/$name/summary.md)"
    "$W" sweep --out "runs/study/$name" --results "results/study/$name.jsonl" --threads "$THREADS" "$@"
}

sigma2() { # part 1: sigma2 on the paper's grid, on the tuning seed 1
    part sigma2-tuning --seeds 1 --base "$PROXY $SHORT --lr 4e-3" \
        --grid reparam=wesar,weightnorm,sigmareparam --grid sigma2=1e-5,4e-5,16e-5,64e-5,256e-5
}

lr() { # part 2: every method at three fresh seeds, lr from below the matched 4e-3 into instability
    part lr-range --seeds 2,3,4 --tune-seed 1 --base "$PROXY $SHORT" \
        --grid lr=4e-3,1.6e-2,1e-3,6.4e-2 --grid init+reparam=$METHODS --grid sigma2=$SIGMA2_BEST
}

long() { # part 3: long enough for the gates to move (sum of lr over the steps >= 2: 1000 steps at 4e-3)
    part long --seeds 2,3,4 --tune-seed 1 \
        --base "$PROXY --steps 1000 --warmup 10 --val-every 100 --val-batches 8 --log-every 100 --quiet --lr 4e-3" \
        --grid init+reparam=he+wesar,he+none,he+weightnorm --grid sigma2=$SIGMA2_BEST
}

kosson() { # part 4: Kosson et al.'s optimizers, warmup 0 and 5 %, He init.  LionA at a tenth of
    # AdamW's lr (Lion's usual ratio), LionAR at an angle of 1e-2 per step (README: Optimizers); the
    # paper's own lrs were not retrieved (see the spec).  The last is LionAR with high momentum
    # (beta 0.98), Nesterov and the inverse bias correction.
    part kosson --seeds 2,3,4 --tune-seed 1 --base "$PROXY $SHORT" --grid warmup=0,15 \
        --grid optim+lr+beta1+nesterov+inverse_bias_correction=adamw+4e-3+0.9+0+0,adamw-nobc+4e-3+0.9+0+0,liona+4e-4+0.9+0+0,lionar+1e-2+0.9+0+0,lionar+1e-2+0.98+1+1
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(sigma2 lr long kosson)
for p in "${parts[@]}"; do
    case $p in
        sigma2 | lr | long | kosson) "$p" ;;
        *) echo "study.sh: unknown part '$p' (expected sigma2, lr, long or kosson)" >&2; exit 2 ;;
    esac
done
