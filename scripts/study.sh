#!/usr/bin/env bash
# scripts/study.sh - the study of issue 17 (results/study/README.md), as `wesar sweep`s.
# Each part keeps its finished points' summary lines in results/study/PART.jsonl: a point
# with a line is not run again, so the study goes on in parts, on fresh machines, and with
# every line present this command trains nothing and only rebuilds the tables
# (runs/study/PART/summary.md, printed) from results/.
#   usage: scripts/study.sh [PART...]      parts: sigma2 lr lr-wesar long kosson spikes spikes-wesar (default: all, in this order)
#          scripts/study.sh --tables [PART...]   train nothing: from results/ alone, rebuild each
#              part's table (runs/study-tables/PART/summary.md), its report
#              (results/study/PART.html) and charts (results/study/charts/PART/*.svg), and the
#              README's tables between <!-- study:PART --> and <!-- /study:PART -->
#          scripts/study.sh --check [PART...]    the same, but only say whether README and
#              results/study/ agree with results/ (exit 1 where they do not; the tests run it)
#          scripts/study.sh --rerun PART POINT   rerun one line's config alone, in
#              runs/study-rerun/, and compare what it measured with the line
#   THREADS (1): threads per point; the numbers do not depend on it.
#   LAUNCH: what the training sweeps run under, e.g. LAUNCH="mpirun -np 2" deals a part's points
#              among two processes (the lines are the same as from one; README, "Sweeps")
set -euo pipefail
cd "$(dirname "$0")/.."
W=${W:-build/wesar}
RERUN_THREADS=${THREADS:-} # a rerun keeps the line's own thread count unless THREADS is given
THREADS=${THREADS:-1}
# OpenBLAS picks its kernels by CPU, and 300 steps of training amplify their rounding into
# differences as large as the seed spread (README, "The study": 0.0084 between two CPUs).
# Haswell's run on any x86 with AVX2; every line records what computed it ("gemm").
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
[ -x "$W" ] || make -s build/wesar
DATA=data/tinyshakespeare/bytes
[ -f "$DATA/meta.json" ] || "$W" prepare "${WESAR_DATA:-../shared/data}/tinyshakespeare/input.txt" "$DATA" > /dev/null

# The proxy (README "The proxy"): d 128, N 24 keeps the 1.3B model's sigma_bulk/sigma_resid;
# lr 4e-3 matches its relative steps.  Rapid-style schedule: warmup 10, 300 steps.
PROXY="--preset tiny --data $DATA --d-model 128 --n-layers 24 --n-heads 4 --seq-len 128 --batch-size 8"
SHORT="--steps 300 --warmup 10 --val-every 100 --val-batches 8 --log-every 100 --quiet"
# the seven methods as (init, reparameterization) pairs; sigma2 applies to the three
# with a common std and collapses for the others
METHODS=he+wesar,he+none,small+none,he+weightnorm,small+residual,gpt2+none,he+sigmareparam
SIGMA2_BEST=256e-5 # part sigma2's best on the paper's grid for WeSaR, WN and sigmaReparam (seed 1)
SIGMA2_WESAR=1024e-5 # WeSaR's best past that grid (part sigma2: 1.8821, against 1.9095 at 256e-5, 1.9350 at 4096e-5)

MODE=run # run, tables, check
part() { # NAME SWEEP-ARGS...: run what is missing and print the table, or (--tables, --check) only the table
    local name=$1; shift
    if [ "$MODE" = run ]; then
        echo "== results/study/$name.jsonl (table: runs/study/$name/summary.md)"
        ${LAUNCH:-} "$W" sweep --out "runs/study/$name" --results "results/study/$name.jsonl" --threads "$THREADS" "$@"
        return
    fi
    local out=runs/study-tables/$name gen=runs/study-tables/gen/$name
    rm -rf "$out" "$gen" && mkdir -p "$gen"
    "$W" sweep --out "$out" --results "results/study/$name.jsonl" --threads "$THREADS" --dry-run "$@" > "$gen/sweep.log"
    "$W" report "$out" -o "$gen/$name.html" --charts "$gen/charts" > /dev/null
    python3 scripts/study_readme.py "$name" "$out/summary.md" "$gen" "$MODE"
}

sigma2() { # part 1: sigma2 on the paper's grid, on the tuning seed 1, and one value past its top
    # (1024e-5 and 4096e-5: the paper's best, 256e-5, sat at the edge, so the optimum was not bracketed)
    part sigma2-tuning --seeds 1 --base "$PROXY $SHORT --lr 4e-3" \
        --grid reparam=wesar,weightnorm,sigmareparam --grid sigma2=1e-5,4e-5,16e-5,64e-5,256e-5,1024e-5,4096e-5
}

# part 2's learning rates, in the order they run: the matched 4e-3, up into instability (6.4e-2
# trained the methods it had reached without a divergence, so 2.56e-1 was added and put ahead of
# 6.4e-2's remaining points), then one below
LRS=4e-3,1.6e-2,2.56e-1,6.4e-2,1e-3
lr() { # part 2: every method at three fresh seeds, lr from the matched 4e-3 into instability, then below it
    part lr-range --seeds 2,3,4 --tune-seed 1 --base "$PROXY $SHORT" \
        --grid lr=$LRS --grid init+reparam=$METHODS --grid sigma2=$SIGMA2_BEST
}

lr_wesar() { # part 2b: WeSaR at its own best sigma2 (past the paper's grid), part 2's lrs and seeds
    part lr-wesar --seeds 2,3,4 --tune-seed 1 --base "$PROXY $SHORT" \
        --grid lr=$LRS --grid init+reparam=he+wesar --grid sigma2=$SIGMA2_WESAR
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

spikes() { # part 5: early loss spikes.  At lr 1.28e-1 (between part 2's 6.4e-2, where nothing
    # diverged, and 2.56e-1, where most runs diverged within 12 steps) He's loss climbed back to
    # its initial value during warmup while WeSaR's kept falling (a pilot of 2 seeds each, 2026-12-03);
    # part 2's methods and sigma2, its seeds.  The summary lines' max_rise measures such spikes.
    part spikes --seeds 2,3,4 --tune-seed 1 --base "$PROXY $SHORT --lr 1.28e-1" \
        --grid init+reparam=$METHODS --grid sigma2=$SIGMA2_BEST
}

spikes_wesar() { # part 5b: WeSaR at its own sigma2 (part 1's 1024e-5) at part 5's lr and seeds; seeds 2
    # and 3 are the pilot's runs (the same config), seed 4 is new
    part spikes-wesar --seeds 2,3,4 --tune-seed 1 --base "$PROXY $SHORT --lr 1.28e-1" \
        --grid init+reparam=he+wesar --grid sigma2=$SIGMA2_WESAR
}

rerun() { # PART POINT: the line's config alone (its threads too), then what it measured against the line
    local file=results/study/$1.jsonl dir=runs/study-rerun/$1/$2
    mkdir -p "runs/study-rerun/$1" && rm -rf "$dir"
    python3 scripts/study_readme.py --config "$file" "$2" "$DATA" "$("$W" --version)" > "$dir.config.json"
    "$W" train --config "$dir.config.json" --out "$dir" ${RERUN_THREADS:+--threads "$RERUN_THREADS"} --quiet
    python3 scripts/study_readme.py --compare "$file" "$2" "$dir" "$("$W" --version)"
}

case ${1:-} in
    --tables) MODE=tables; shift ;;
    --check) MODE=check; shift ;;
    --rerun) [ $# -eq 3 ] || { echo "usage: scripts/study.sh --rerun PART POINT" >&2; exit 2; }
        rerun "$2" "$3"; exit ;;
esac
PARTS=(sigma2 lr lr-wesar long kosson spikes spikes-wesar) # in the order they run by default; each is the function of its name, '-' as '_'
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=("${PARTS[@]}")
for p in "${parts[@]}"; do
    [[ " ${PARTS[*]} " == *" $p "* ]] || { echo "study.sh: unknown part '$p' (expected one of: ${PARTS[*]})" >&2; exit 2; }
    "${p//-/_}"
done
