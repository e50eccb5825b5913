#!/usr/bin/env bash
# tests/sweep.sh - wesar sweep: the grid's points, SIGKILL and resume equal to
# an uninterrupted sweep, an added value runs only its points, divergence is
# recorded and the sweep goes on, a changed base is refused, mpirun -np 2
# deals the points out with the same summary, and the table's numbers are
# recomputed from summary.jsonl.  usage: sweep.sh WESAR WORKDIR
set -u
W=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"
PY=/usr/bin/python3

word_corpus "$WORK/corpus.txt" 3 900
expect_ok "$W" prepare --quiet "$WORK/corpus.txt" "$WORK/data"
BASE="--data $WORK/data --d-model 32 --n-layers 1 --n-heads 2 --seq-len 32 --batch-size 2 --val-every 5
      --val-batches 2 --steps 20 --warmup 2 --ckpt-every 4 --telemetry-every 0 --log-every 1000 --quiet"
GRID=(--grid reparam=none,wesar --grid sigma2=4e-5,64e-5 --grid lr=1e-3,3e-3 --seeds 1,2 --threads 1)

# the whole grid, uninterrupted: reparam=none has no sigma2, so its points collapse (4 + 8 points)
expect_ok "$W" sweep --out "$WORK/u" --base "$BASE" "${GRID[@]}"
grep -q "sweep: sigma2 does not apply to reparam=none,sigma2=4e-5,lr=1e-3,seed=1: run once as reparam=none,lr=1e-3,seed=1" \
    "$WORK/o" || fail "collapse note: $(head -5 "$WORK/o")"
[ "$(wc -l < "$WORK/u/summary.jsonl")" = 12 ] || fail "summary lines: $(wc -l < "$WORK/u/summary.jsonl")"
[ -f "$WORK/u/reparam=wesar,sigma2=64e-5,lr=3e-3,seed=2/ckpt_00000020.bin" ] || fail "point directories: $(ls "$WORK/u")"
# a point is an ordinary run: report and export work on it
expect_ok "$W" export "$WORK/u/reparam=wesar,sigma2=64e-5,lr=3e-3,seed=2" "$WORK/hf"

# the table, recomputed from summary.jsonl: sigma2 chosen on seed 1, seed 2 reported
$PY - "$WORK/u/summary.jsonl" "$WORK/u/summary.md" << 'PYEOF' || fail "table"
import json, sys
S = [json.loads(l) for l in open(sys.argv[1])]
md = open(sys.argv[2]).read()
by = {r["point"]: r for r in S}
for r in S:
    t = r["config"]["train"]
    assert r["config"]["model"]["d_model"] == 32 and t["steps"] == 20 and r["steps"] == 20, r
    for k in ("final_val_loss", "best_val_loss", "train_loss_end", "spikes_spec_rule", "spikes_detector",
              "rollbacks", "diverged", "clipped_fraction", "tokens_per_s"):
        assert k in r, (k, r)
    assert r["best_val_loss"] <= r["final_val_loss"] and 0 <= r["clipped_fraction"] <= 1
for lr in ("1e-3", "3e-3"):
    tune = {s: by["reparam=wesar,sigma2=%s,lr=%s,seed=1" % (s, lr)]["final_val_loss"] for s in ("4e-5", "64e-5")}
    best = min(tune, key=tune.get)
    v = by["reparam=wesar,sigma2=%s,lr=%s,seed=2" % (best, lr)]["final_val_loss"]
    cell = "%.4f (–) σ²=%s" % (v, best)
    assert cell in md, (cell, md)
    cell = "%.4f (–)" % by["reparam=none,lr=%s,seed=2" % lr]["final_val_loss"]
    assert cell in md, (cell, md)
assert "| reparam=none |" in md and "over seed 2;" in md and "seed 1, which is not among them" in md, md
for lr in ("1e-3", "3e-3"):  # the tuning table: seed 1 at each sigma2, the grid's order
    row = "| reparam=wesar lr=%s | %s |" % (lr, " | ".join("%.4f" % by["reparam=wesar,sigma2=%s,lr=%s,seed=1" % (s, lr)]
                                                             ["final_val_loss"] for s in ("4e-5", "64e-5")))
    assert row in md and "| seed 1 (tuning) | σ²=4e-5 | σ²=64e-5 |" in md, (row, md)
print(md)
PYEOF

# killed with SIGKILL mid-point and started again: the same summary and the same final weights
"$W" sweep --out "$WORK/k" --base "$BASE" "${GRID[@]}" > "$WORK/k1.txt" 2>&1 &
pid=$!
for _ in $(seq 400); do
    n=$(ls "$WORK/k" 2> /dev/null | grep -c seed=)
    [ "$n" -ge 5 ] && ls "$WORK/k/$(ls "$WORK/k" | grep seed= | tail -1)" 2> /dev/null | grep -q ckpt_00000008 && break
    sleep 0.01
done
kill -9 $pid; wait $pid 2> /dev/null
mid=$(for d in "$WORK"/k/*seed=*; do [ -f "$d/result.json" ] || ls "$d" | grep -q ckpt_ && echo "$d"; done | head -1)
[ -n "$mid" ] && echo "killed mid-point: ${mid##*/}" || echo "note: the kill fell between points this time"
expect_ok "$W" sweep --out "$WORK/k" --base "$BASE" "${GRID[@]}"
same_summary() {
    $PY - "$1" "$2" << 'PYEOF'
import json, sys
def load(p):
    out = {}
    for l in open(p):
        r = json.loads(l)
        r.pop("tokens_per_s")
        r.pop("requested")  # names the sweep's own directory
        for k in ("out", "data", "threads"):
            r["config"]["train"].pop(k, None)
        out[r["point"]] = r
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
for k in a:
    assert a[k] == b[k], (k, a[k], b[k])
PYEOF
}
same_summary "$WORK/u/summary.jsonl" "$WORK/k/summary.jsonl" || fail "a killed and resumed sweep differs"
# the final checkpoints: the same weights, optimizer state, data position and run state
$PY - "$WORK/u" "$WORK/k" << 'PYEOF' || fail "final checkpoints differ"
import glob, json, os, struct, sys
def state(p):
    d = open(p, "rb").read()
    hl = struct.unpack("<I", d[12:16])[0]
    h = json.loads(d[16:16 + hl])
    del h["train"]  # names the run's own directory
    return h, d[16 + hl:-4]
pts = [os.path.basename(d) for d in glob.glob(sys.argv[1] + "/*seed=*")]
assert len(pts) == 12, pts
for p in pts:
    a, b = (state(os.path.join(r, p, "ckpt_00000020.bin")) for r in sys.argv[1:])
    assert a == b, p
PYEOF

# an added value runs only its points; finished ones are not touched
sha=$(sha256sum < "$WORK/u/reparam=none,lr=1e-3,seed=1/ckpt_00000020.bin")
expect_ok "$W" sweep --out "$WORK/u" --base "$BASE" --grid reparam=none,wesar --grid sigma2=4e-5,64e-5 \
    --grid lr=1e-3,3e-3,1e-2 --seeds 1,2 --threads 1
[ "$(grep -c "^sweep \[" "$WORK/o")" = 6 ] || fail "more than the new points ran: $(grep "^sweep \[" "$WORK/o")"
grep "^sweep \[" "$WORK/o" | grep -qv "lr=1e-2" && fail "an old point ran again"
[ "$(sha256sum < "$WORK/u/reparam=none,lr=1e-3,seed=1/ckpt_00000020.bin")" = "$sha" ] || fail "a finished point was touched"
[ "$(wc -l < "$WORK/u/summary.jsonl")" = 18 ] || fail "summary after the added value"

# one sigma2 on the grid, tuned before on a seed this sweep leaves out (a study in parts): the cells
# report it instead of waiting for the tuning seed's points (no training: all are done)
expect_ok "$W" sweep --out "$WORK/u" --base "$BASE" --grid reparam=none,wesar --grid sigma2=64e-5 \
    --grid lr=1e-3,3e-3 --seeds 2 --tune-seed 1 --threads 1
grep "^sweep \[" "$WORK/o" && fail "a done point ran again"
grep -q "^| reparam=wesar | [0-9.]* (–) σ²=64e-5 | [0-9.]* (–) σ²=64e-5 |" "$WORK/u/summary.md" &&
    grep -q "the grid's one value, 64e-5" "$WORK/u/summary.md" || fail "one-sigma2 table: $(cat "$WORK/u/summary.md")"

# a changed base for an existing point is refused, naming the key
expect_fail "the base config changed since this point started: steps 20 -> 21" \
    "$W" sweep --out "$WORK/u" --base "$BASE --steps 21" "${GRID[@]}"

# divergence is data: a huge lr ends its point, the sweep goes on; an invalid point is skipped and listed
expect_ok "$W" sweep --out "$WORK/d" --base "$BASE --warmup 0 --grad-clip 0" --grid lr=1e-3,10 --grid n_heads=2,3 --threads 1
grep -q "skipped lr=1e-3,n_heads=3,seed=1337: n_heads: 3 does not divide d_model 32" "$WORK/o" || fail "skip note: $(cat "$WORK/o")"
$PY - "$WORK/d/summary.jsonl" << 'PYEOF' || fail "diverged point"
import json, sys
S = {json.loads(l)["point"]: json.loads(l) for l in open(sys.argv[1])}
assert sorted(S) == ["lr=10,n_heads=2,seed=1337", "lr=1e-3,n_heads=2,seed=1337"], sorted(S)
d, ok = S["lr=10,n_heads=2,seed=1337"], S["lr=1e-3,n_heads=2,seed=1337"]
assert d["diverged"] and 1 < d["diverged_step"] <= 20 and d["steps"] == d["diverged_step"], d
assert not ok["diverged"] and ok["steps"] == 20, ok
PYEOF
grep -q "diverged (1/1)" "$WORK/d/summary.md" || fail "table without the diverged cell: $(cat "$WORK/d/summary.md")"

# the same grid from a file
printf 'out = %s\nbase = %s\ngrid.reparam = none,wesar\ngrid.sigma2 = 4e-5,64e-5\ngrid.lr = 1e-3,3e-3\nseeds = 1,2\nthreads = 1\n' \
    "$WORK/f" "$(echo $BASE)" > "$WORK/sweep.conf"
expect_ok "$W" sweep --file "$WORK/sweep.conf"
same_summary "$WORK/k/summary.jsonl" "$WORK/f/summary.jsonl" || fail "the sweep from a file differs"
echo "bogus = 1" > "$WORK/bad.conf"
expect_fail "bad.conf:1: unknown key 'bogus'" "$W" sweep --file "$WORK/bad.conf" --out "$WORK/x"

# mpirun -np 2: the points dealt out among the ranks, the same summary as one process
if grep -q -- -DWESAR_MPI "$(dirname "$W")/flags" 2> /dev/null && command -v mpirun > /dev/null; then
    mpirun --allow-run-as-root --oversubscribe -np 2 "$W" sweep --out "$WORK/m" --base "$BASE" "${GRID[@]}" \
        > "$WORK/m.txt" 2>&1 || fail "mpirun sweep: $(tail -5 "$WORK/m.txt")"
    grep -q "^sweep rank 1 \[" "$WORK/m.txt" && grep -q "^sweep rank 0 \[" "$WORK/m.txt" || fail "points not dealt out: $(head "$WORK/m.txt")"
    same_summary "$WORK/k/summary.jsonl" "$WORK/m/summary.jsonl" || fail "mpirun's summary differs from one process's"
else
    echo "note: no MPI build: the mpirun case is skipped"
fi

# a joint axis sets several keys per value: the methods as (init, reparam) pairs
expect_ok "$W" sweep --out "$WORK/j" --base "$BASE --steps 4" --grid init+reparam=small+none,he+wesar --threads 1
$PY - "$WORK/j/summary.jsonl" << 'PYEOF' || fail "joint axis"
import json, sys
S = {json.loads(l)["point"]: json.loads(l)["config"]["model"] for l in open(sys.argv[1])}
assert sorted(S) == ["init+reparam=he+wesar,seed=1337", "init+reparam=small+none,seed=1337"], sorted(S)
assert S["init+reparam=he+wesar,seed=1337"]["reparam"] == "wesar" and S["init+reparam=small+none,seed=1337"]["init"] == "small"
PYEOF
expect_fail "--grid init+reparam: 'he' has 1 part(s), expected 2 joined by '+'" \
    "$W" sweep --out "$WORK/j2" --base "$BASE" --grid init+reparam=small+none,he
# point names that would not fit their directory's name, and a sweep.json that wesar did not write
LONG=$(printf 'x%.0s' $(seq 100))
expect_fail "--grid: a point's directory name can reach" "$W" sweep --out "$WORK/j3" --base "$BASE" \
    --grid a=$LONG --grid b=$LONG --grid c=$LONG --grid d=$LONG --grid e=$LONG
mkdir -p "$WORK/j4"
echo '{"base":"","axes":[{"key":"lr","values":[]}],"seeds":[1],"tune_seed":-1,"threads":0,"diverge_factor":2}' \
    > "$WORK/j4/sweep.json"
expect_fail "$WORK/j4/sweep.json: not a sweep record as wesar sweep writes it: axis lr: expected values, got none" \
    "$W" report "$WORK/j4"
# sweep.json's axes meet --grid's checks: a twice-given key, a key that would split point names
echo '{"base":"","axes":[{"key":"lr","values":["1"]},{"key":"lr","values":["2"]}],"seeds":[1],"tune_seed":-1,"threads":0,"diverge_factor":2}' \
    > "$WORK/j4/sweep.json"
expect_fail "$WORK/j4/sweep.json: not a sweep record as wesar sweep writes it: --grid lr: given twice" "$W" report "$WORK/j4"
echo '{"base":"","axes":[{"key":"lr,seed","values":["1"]}],"seeds":[1],"tune_seed":-1,"threads":0,"diverge_factor":2}' \
    > "$WORK/j4/sweep.json"
expect_fail "--grid lr,seed: expected a config key (no '=', ',', '/' or space" "$W" report "$WORK/j4"
expect_fail "--grid a/b: expected a config key" "$W" sweep --out "$WORK/j5" --base "$BASE" --grid a/b=1
printf '{"base":"--steps 2 '"'"'x\\ny","axes":[{"key":"lr","values":["1e-3"]}],"seeds":[1],"tune_seed":-1,"threads":0,"diverge_factor":2}' \
    > "$WORK/j4/sweep.json" # the base's error quotes it: on one line
expect_fail "--base: unmatched ' quote in '--steps 2 'x?y'" "$W" report "$WORK/j4"

# --results: summary lines kept apart from the run directories, for a study run in parts on fresh machines
RES=(--base "$BASE --steps 8" --grid lr=1e-3,3e-3 --seeds 1,2 --threads 1 --results "$WORK/res.jsonl")
expect_ok "$W" sweep --out "$WORK/p" "${RES[@]}"
cp "$WORK/p/summary.md" "$WORK/p_table.md"
rm -rf "$WORK/p"  # a fresh machine: only the results file is left
expect_ok "$W" sweep --out "$WORK/p" "${RES[@]}"
grep -q "^sweep \[" "$WORK/o" && fail "a point in the results file ran again: $(grep "^sweep \[" "$WORK/o")"
cmp -s "$WORK/p_table.md" "$WORK/p/summary.md" || fail "the table from the results file differs"
expect_ok "$W" report "$WORK/p" -o "$WORK/p.html"  # from the lines alone
grep -q "3e-3" "$WORK/p.html" || fail "report from results"
expect_ok "$W" sweep --out "$WORK/p" "${RES[@]/lr=1e-3,3e-3/lr=1e-3,3e-3,1e-2}"
[ "$(grep -c "^sweep \[" "$WORK/o")" = 2 ] || fail "an added value with results: $(grep "^sweep \[" "$WORK/o")"
[ "$(wc -l < "$WORK/res.jsonl")" = 6 ] || fail "results lines: $(wc -l < "$WORK/res.jsonl")"
expect_fail "the base config changed since this point started: steps 8 -> 9" \
    "$W" sweep --out "$WORK/p2" --base "$BASE --steps 9" --grid lr=1e-3,3e-3 --seeds 1,2 --threads 1 --results "$WORK/res.jsonl"
# any line reruns alone to the same numbers: its config as a config file
$PY - "$WORK/res.jsonl" "$WORK/line.json" << 'PYEOF'
import json, sys
line = [json.loads(l) for l in open(sys.argv[1])][1]
json.dump(line["config"], open(sys.argv[2], "w"))
print(line["point"], line["final_val_loss"], file=open(sys.argv[2] + ".want", "w"))
PYEOF
expect_ok "$W" train --config "$WORK/line.json" --out "$WORK/rerun" --quiet
$PY - "$WORK/rerun/log.jsonl" "$WORK/line.json.want" << 'PYEOF' || fail "a results line did not rerun to its numbers"
import json, sys
val = [json.loads(l)["val_loss"] for l in open(sys.argv[1]) if "val_loss" in l][-1]
want = float(open(sys.argv[2]).read().split()[1])
assert abs(val - want) < 5e-7, (val, want)  # the log's 6 decimals
PYEOF

# --dry-run, and the table, report and charts from the lines alone (a fresh machine): Figure 1 from
# the lines' "figure1", the columns from the smallest lr whatever the grid's order, a cell still
# running says how many seeds are in, the spikes table sums the lines' counts
FIG=(--base "$BASE --steps 10 --telemetry-every 2" --seeds 1,2 --tune-seed 9 --threads 1)
expect_ok "$W" sweep --out "$WORK/f" "${FIG[@]}" --grid lr=3e-3,1e-3 --results "$WORK/fig.jsonl"
# what the compiler targets with the build's own flags (build/VARIANT/flags), from its predefined macros
FL=$(cat "$(dirname "$W")/flags")
MACROS=$(${FL%% *} $(tr ' ' '\n' <<< "$FL" | grep -E '^-m') -dM -E -x c - < /dev/null)
SIMD=$(grep -q "__AVX512F__ 1" <<< "$MACROS" && echo avx512 || { grep -q "__AVX2__ 1" <<< "$MACROS" && echo avx2; } ||
       { grep -q "__SSE2__ 1" <<< "$MACROS" && echo sse2; } || { grep -q "__ARM_NEON 1" <<< "$MACROS" && echo neon; } || echo scalar)
$PY - "$WORK/fig.jsonl" "$WORK/f" "$WORK/fig3.jsonl" "$SIMD" << 'PYEOF' || fail "figure1 in the summary lines"
import json, sys, os
L = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["simd"] == sys.argv[4] for r in L), ([r["simd"] for r in L], sys.argv[4])
for r in L:  # the line's trace is the run's own telemetry: the last (only) layer's W_d and W_u
    tel = [json.loads(l) for l in open(os.path.join(sys.argv[2], r["point"], "telemetry.jsonl"))]
    for k in ("W_d", "W_u"):
        want = [[t["step"], t["matrices"]["layers.0.mlp." + k]["update_ratio"]] for t in tel]
        want = [w for w in want if w[1] > 0]
        assert [[a, round(b, 9)] for a, b in r["figure1"][k]] == [[a, round(b, 9)] for a, b in want], (k, r["figure1"][k], want)
    assert r["gemm"].startswith("openblas "), r["gemm"]
    loss = [j["loss"] for j in map(json.loads, open(os.path.join(sys.argv[2], r["point"], "log.jsonl")))
            if "loss" in j and "step" in j]
    lo, rise, at = float("inf"), 0.0, 0  # max_rise: the largest climb above the lowest loss so far
    for t, x in enumerate(loss):
        if x - lo > rise:
            rise, at = x - lo, t + 1
        lo = min(lo, x)
    assert abs(r["max_rise"] - rise) < 1e-12 and r["max_rise_step"] == at, (r["max_rise"], r["max_rise_step"], rise, at)
    steps = [j["step"] for j in map(json.loads, open(os.path.join(sys.argv[2], r["point"], "log.jsonl")))
             if "loss" in j and "step" in j]  # early_loss: the run's own first 60 steps
    assert r["early_loss"] == [[s, x] for s, x in zip(steps, loss) if s <= 60] and len(loss) == 10, r["early_loss"]
with open(sys.argv[3], "w") as f:  # the point lr=1e-3,seed=2 not done yet
    f.writelines(json.dumps(r) + "\n" for r in L if r["point"] != "lr=1e-3,seed=2")
PYEOF
rm -rf "$WORK/f"
cp "$WORK/fig3.jsonl" "$WORK/fig3.keep"
expect_ok "$W" sweep --out "$WORK/f" "${FIG[@]}" --grid lr=1e-2,3e-3,1e-3 --results "$WORK/fig3.jsonl" --dry-run
grep -q "^sweep: dry run: 3 of 6 points to do, none trained" "$WORK/o" || fail "dry run: $(cat "$WORK/o")"
grep -q "^sweep \[" "$WORK/o" && fail "a dry run trained: $(grep "^sweep \[" "$WORK/o")"
cmp -s "$WORK/fig3.jsonl" "$WORK/fig3.keep" || fail "a dry run wrote the results file"
ls "$WORK/f" | grep -q seed= && fail "a dry run made point directories: $(ls "$WORK/f")"
$PY - "$WORK/fig3.jsonl" "$WORK/f/summary.md" << 'PYEOF' || fail "the dry run's table"
import json, sys, statistics
L = {json.loads(l)["point"]: json.loads(l) for l in open(sys.argv[1])}
md = open(sys.argv[2]).read()
assert "| method | lr=1e-3 | lr=3e-3 | lr=1e-2 |" in md, md
a = [L["lr=3e-3,seed=%d" % s]["final_val_loss"] for s in (1, 2)]
one = L["lr=1e-3,seed=1"]["final_val_loss"]
row = "| all | %.4f (–) [1 of 2 seeds] | %.4f (%.4f) | – |" % (one, statistics.mean(a), statistics.stdev(a))
assert row in md, (row, md)
def sp(lr, ss):  # the counts summed, then the rises' mean (sample std)
    P = [L["lr=%s,seed=%d" % (lr, s)] for s in ss]
    R = [p["max_rise"] for p in P if not p["diverged"]]
    return "%d / %d; rise %.2f (%s)" % (sum(p["spikes_detector"] for p in P), sum(p["spikes_spec_rule"] for p in P),
                                       statistics.mean(R), "%.2f" % statistics.stdev(R) if len(R) > 1 else "–")
row = "| all | %s | %s | – |" % (sp("1e-3", (1,)), sp("3e-3", (1, 2)))
assert row in md and "Spikes, summed over the same points" in md and "Rise: the largest climb" in md, (row, md)
PYEOF
expect_ok "$W" report "$WORK/f" -o "$WORK/f.html" --charts "$WORK/fc"
[ "$(cd "$WORK/fc" && ls | tr '\n' ' ')" = "early-loss.svg figure1-W_d.svg figure1-W_u.svg lr-sensitivity.svg " ] ||
    fail "charts (no sigma2 axis: no sigma2 chart): $(ls "$WORK/fc")"
$PY - "$WORK/fc" "$WORK/fig3.jsonl" << 'PYEOF' || fail "the charts drawn from the lines"
import json, sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
L = {json.loads(l)["point"]: json.loads(l) for l in open(sys.argv[2])}
for k in ("W_d", "W_u"):  # the best cell (lr=3e-3 or 1e-3)'s first reported point: one line per method
    t = ET.parse(sys.argv[1] + "/figure1-%s.svg" % k)
    lines = [p.get("points").split() for p in t.iter(ns + "polyline")]
    assert len(lines) == 1, lines
    assert any(len(lines[0]) == len(r["figure1"][k]) for r in L.values()), (lines, k)
    assert "all" in [x.text for x in t.iter(ns + "text")], "no legend"
t = ET.parse(sys.argv[1] + "/early-loss.svg")  # the same point's first steps, from its line
lines = [p.get("points").split() for p in t.iter(ns + "polyline")]
assert len(lines) == 1 and any(len(lines[0]) == len(r["early_loss"]) for r in L.values()), lines
t = ET.parse(sys.argv[1] + "/lr-sensitivity.svg")
xs = [float(p.split(",")[0]) for p in next(t.iter(ns + "polyline")).get("points").split()]
assert len(xs) == 2 and xs == sorted(xs), xs  # lr=1e-3 left of 3e-3, whatever the grid's order
PYEOF
expect_fail "report --charts: expected one sweep directory (it holds sweep.json), got $WORK/u/reparam=none,lr=1e-3,seed=1" \
    "$W" report "$WORK/u/reparam=none,lr=1e-3,seed=1" --charts "$WORK/x"

# wesar report SWEEPDIR: the table, LR sensitivity with the seeds' band and diverged crosses, sigma2
# tuning, the Figure-1 panels; checked in the HTML, then on a headless Chromium screenshot
expect_ok "$W" sweep --out "$WORK/r" --base "$BASE --steps 30 --telemetry-every 2 --grad-clip 0" \
    --grid reparam=none,wesar --grid sigma2=4e-5,256e-5 --grid lr=1e-3,1 --seeds 1,2 --threads 1
expect_ok "$W" report "$WORK/r" -o "$WORK/r.html"
grep -q "wrote $WORK/r.html (the sweep $WORK/r)" "$WORK/o" || fail "report output: $(cat "$WORK/o")"
for needle in "LR sensitivity" "σ² tuning" "Training loss, the first 60 steps" "Figure 1" "W_d of the last layer" "W_u of the last layer" "reparam=wesar" "diverged (1/1)"; do
    grep -qF "$needle" "$WORK/r.html" || fail "sweep report lacks '$needle'"
done
[ "$(grep -o "<title>diverged at 1</title>" "$WORK/r.html" | wc -l)" -ge 2 ] || fail "no diverged crosses at lr=1"
expect_fail "report: $WORK/r is a sweep: it is drawn alone" "$W" report "$WORK/r" "$WORK/r/reparam=none,lr=1e-3,seed=1"
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$WORK/chrome" \
        --window-size=1200,1500 --screenshot="$WORK/shot.png" "file://$WORK/r.html" > "$WORK/chrome.log" 2>&1 ||
        fail "chromium: $(tail -3 "$WORK/chrome.log")"
    read -r w h blue orange <<< "$($PY "$(dirname "$0")/ref/png_count.py" "$WORK/shot.png" 31,119,180 255,127,14 | tr '\n' ' ')"
    echo "sweep report screenshot ${w}x${h}: reparam=none (blue) $blue px, reparam=wesar (orange) $orange px"
    [ "${blue:-0}" -gt 300 ] && [ "${orange:-0}" -gt 300 ] || fail "the sweep's curves did not render"
else
    echo "note: no chromium: the sweep report's screenshot is not checked"
fi
echo "sweep: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
