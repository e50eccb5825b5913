#!/usr/bin/env bash
# tests/report.sh - `wesar report`: a self-contained page from two runs (one
# with spikes, one with rollbacks), clear errors for bad run directories, and
# a headless Chromium screenshot that must show both runs' colours and the
# red spike rings.  Without Debian's chromium the screenshot part is skipped
# (exit 77 after the other checks pass).   usage: report.sh WESAR WORKDIR
set -u
W=$1 WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"
PY=python3

poisoned_corpus "$WORK/poisoned.txt"
expect_ok "$W" prepare --quiet "$WORK/poisoned.txt" "$WORK/data"
SMALL=(--d-model 32 --n-layers 2 --n-heads 2 --seq-len 32 --batch-size 2 --val-every 25 --val-batches 2
       --threads 2 --lr 1e-3 --warmup 0 --quiet --data "$WORK/data" --steps 120 --ckpt-every 5
       --telemetry-every 5)
expect_ok "$W" train "${SMALL[@]}" --out "$WORK/spiky" --grad-clip 0 --beta2 0.999
expect_ok "$W" train "${SMALL[@]}" --out "$WORK/rollback" --on-spike rollback --mlp swiglu
expect_ok "$W" report "$WORK/spiky" "$WORK/rollback/" -o "$WORK/report.html"
grep -q "wrote $WORK/report.html (2 runs)" "$WORK/o" || fail "report output: $(cat "$WORK/o")"

$PY - "$WORK/report.html" "$WORK/spiky/log.jsonl" << 'PYEOF' || fail "report content"
import json, re, sys
html = open(sys.argv[1]).read()
spikes = sum('"spike":true' in l for l in open(sys.argv[2]))
assert spikes > 0, "the spiky run has no spikes"
# self-contained: no scripts, no fetched resources
assert "<script" not in html and not re.search(r"""(src|href)\s*=""", html), "external reference"
assert html.count("<svg") >= 10, html.count("<svg")
# one red ring per spike of the spiky run (the rollback run keeps none)
assert html.count("<title>spike at step") == spikes, (html.count("<title>spike at step"), spikes)
assert "rollback to step" in html, "no rollback lines"
for name in ("W_u, last layer", "W_d, last layer", "W_gate, last layer", "W_e", "W_p"):
    assert name in html, name
print("report:", len(html), "bytes,", spikes, "spikes marked")
PYEOF

# bad input: one clear line naming the file
expect_fail "$WORK/nope/config.json: cannot open" "$W" report "$WORK/nope" -o "$WORK/x.html"
cp -r "$WORK/spiky" "$WORK/broken"
sed -i '7s/.*/{"step":7,"loss":/' "$WORK/broken/log.jsonl"
expect_fail "$WORK/broken/log.jsonl:7: expected a JSON object" "$W" report "$WORK/broken" -o "$WORK/x.html"
expect_fail "report: expected one or more run directories" "$W" report -o "$WORK/x.html"
expect_fail "report: unknown option '--bogus'" "$W" report "$WORK/spiky" --bogus
[ -e "$WORK/x.html" ] && fail "a failed report left $WORK/x.html"
# a run still being written: its partial last line is ignored
cp -r "$WORK/spiky" "$WORK/live"
printf '{"step":121,"lo' >> "$WORK/live/log.jsonl"
expect_ok "$W" report "$WORK/live" -o "$WORK/live.html"

[ $FAILS -eq 0 ] || { echo "report: $FAILS failure(s)"; exit 1; }
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    echo "SKIPPED: the Chromium screenshot (apt-get install chromium)"
    exit 77
fi
# --no-sandbox: CI runs as root; a fresh profile per run
timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$WORK/chrome" \
    --window-size=1200,1400 --screenshot="$WORK/shot.png" "file://$WORK/report.html" > "$WORK/chrome.log" 2>&1 ||
    { echo "FAIL: chromium: $(tail -5 "$WORK/chrome.log")"; exit 1; }
counts=$($PY "$(dirname "$0")/ref/png_count.py" "$WORK/shot.png" 31,119,180 255,127,14 221,0,0) || { echo "FAIL: screenshot"; exit 1; }
read -r w h blue orange red <<< "$(echo $counts)"
echo "screenshot ${w}x${h}: run 1 (blue) $blue px, run 2 (orange) $orange px, spike rings (red) $red px"
[ "$blue" -gt 300 ] && [ "$orange" -gt 300 ] || { echo "FAIL: the loss curves did not render"; exit 1; }
[ "$red" -gt 20 ] || { echo "FAIL: the spike marks did not render"; exit 1; }
echo "report: rendered in $("$CHROME" --version 2> /dev/null)"
