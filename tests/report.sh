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
$PY - "$WORK/shot.png" << 'PYEOF' || { echo "FAIL: screenshot"; exit 1; }
# A PNG decoder from the standard library (zlib): 8-bit RGB/RGBA, no interlace.
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(d):
    n, typ = struct.unpack(">I4s", d[pos:pos + 8])
    body = d[pos + 8:pos + 8 + n]
    if typ == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif typ == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and not interlace, (depth, ctype, interlace)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
rows, prev = [], bytearray(stride)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
def count(rgb, tol=40):
    n = 0
    for line in rows:
        for i in range(0, stride, bpp):
            if abs(line[i] - rgb[0]) + abs(line[i + 1] - rgb[1]) + abs(line[i + 2] - rgb[2]) < tol:
                n += 1
    return n
blue, orange, red = count((31, 119, 180)), count((255, 127, 14)), count((221, 0, 0))
print(f"screenshot {w}x{h}: run 1 (blue) {blue} px, run 2 (orange) {orange} px, spike rings (red) {red} px")
assert blue > 300 and orange > 300, "the loss curves did not render"
assert red > 20, "the spike marks did not render"
PYEOF
echo "report: rendered in $("$CHROME" --version 2> /dev/null)"
