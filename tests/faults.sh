#!/usr/bin/env bash
# tests/faults.sh - nothing lost, nothing crashes: loss-spike and NaN
# rollback, a full disk during a checkpoint, leftovers of killed runs, and one
# clear error line for every kind of damaged input (checkpoints, shards,
# config files).  usage: faults.sh WESAR WORKDIR
set -u
W=$1 WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"
PY=python3

word_corpus "$WORK/corpus.txt" 5 800
expect_ok "$W" prepare --quiet "$WORK/corpus.txt" "$WORK/data"
SMALL=(--d-model 32 --n-layers 1 --n-heads 2 --seq-len 32 --batch-size 2 --val-every 0 --threads 2
       --lr 1e-3 --warmup 0 --quiet)
D=(--data "$WORK/data")

# ---- loss spikes: --on-spike rollback against the same run with --on-spike
# log, default detector.  The corpus has a stretch of random characters in
# the middle: a batch that lands there has a loss far above the trend, as
# with the bad data batches behind PaLM's spikes.
poisoned_corpus "$WORK/poisoned.txt"
expect_ok "$W" prepare --quiet "$WORK/poisoned.txt" "$WORK/pdata"
SPK=(--data "$WORK/pdata" --ckpt-every 5 --steps 200)
expect_ok "$W" train "${SMALL[@]}" "${SPK[@]}" --out "$WORK/slog"
expect_ok "$W" train "${SMALL[@]}" "${SPK[@]}" --out "$WORK/srb" --on-spike rollback
$PY - "$WORK/slog/log.jsonl" "$WORK/srb/log.jsonl" << 'PYEOF' || fail "spike rollback log"
import json, sys
A = [json.loads(l) for l in open(sys.argv[1])]
B = [json.loads(l) for l in open(sys.argv[2])]
spikes = [r["step"] for r in A if r.get("spike")]
assert len(spikes) >= 3, "too few spikes flagged in the log-mode run: %s" % spikes
ev = [i for i, r in enumerate(B) if r.get("event") == "rollback"]
assert len(ev) >= 3, "too few rollbacks: %s" % ev
first = B[ev[0]]
s, c = first["failed_step"], first["step"]
# the first rollback happens at the first spike, to the newest checkpoint before it
assert s == spikes[0], (s, spikes[0])
assert c == (s - 1) // 5 * 5 and first["skipped_batches"] == s - c and first["reason"] == "spike", first
assert all(isinstance(B[i].get("jumped"), list) for i in ev), "a spike rollback without its jumped list"
# up to the checkpoint, both runs are the same run
a = {r["step"]: r["loss"] for r in A}
for r in B[:ev[0]]:
    assert r["step"] <= c and r["loss"] == a[r["step"]], r
# after each group of rollbacks the run goes on from the last one's step, on other batches
for i in ev:
    if i + 1 < len(B) and "event" not in B[i + 1]:
        assert B[i + 1]["step"] == B[i]["step"] + 1, (B[i], B[i + 1])
        assert B[i + 1]["loss"] != a[B[i + 1]["step"]], B[i + 1]
steps = [r["step"] for r in B if "event" not in r]
assert steps == list(range(1, 201)), steps
# no spike survives in the rollback run's curve
assert not any(r.get("spike") for r in B), "a spike was kept"
print(len(ev), "rollbacks; first at step", s, "back to", c)
PYEOF
# the telemetry log is cut back with the rollbacks: every due step once, in order
$PY - "$WORK/srb/telemetry.jsonl" << 'PYEOF' || fail "telemetry log after rollbacks"
import json, sys
steps = [json.loads(l)["step"] for l in open(sys.argv[1])]
assert steps == [1] + list(range(10, 201, 10)), steps
PYEOF
# spikes name the matrices whose update ratio jumped: with Adam's beta2 at
# 0.999 and no clipping, the rows of characters never seen before take
# outsized first steps when a batch reaches them
expect_ok "$W" train "${SMALL[@]}" "${SPK[@]}" --out "$WORK/sjump" --grad-clip 0 --beta2 0.999
$PY - "$WORK/sjump/log.jsonl" "$WORK/slog/log.jsonl" << 'PYEOF' || fail "jumped matrices in spike lines"
import json, sys
for path in sys.argv[1:]:
    spikes = [json.loads(l) for l in open(path) if '"spike":true' in l]
    assert spikes and all(isinstance(r.get("jumped"), list) for r in spikes), spikes
jumps = [j for r in [json.loads(l) for l in open(sys.argv[1]) if '"spike":true' in l] for j in r["jumped"]]
assert any(j["name"] == "embed.W_e" and j["factor"] > 2 for j in jumps), jumps
print(len(jumps), "jumped matrices named at spikes")
PYEOF
# resumed half-way (from a copy of its step-120 checkpoint), a rollback run
# ends as the uninterrupted one: the detector and the counters are in the checkpoint
mkdir -p "$WORK/srb2" && cp "$WORK/srb/log.jsonl" "$WORK/srb/ckpt_00000120.bin" "$WORK/srb2/"
expect_ok "$W" train --resume "$WORK/srb2" --quiet
# same weights, optimizer state, data position and run state (the "train" part names the run's own directory)
same_state() {
    $PY - "$1" "$2" << 'PYEOF'
import json, struct, sys
def state(p):
    d = open(p, "rb").read()
    hl = struct.unpack("<I", d[12:16])[0]
    h = json.loads(d[16:16 + hl])
    del h["train"]
    return h, d[16 + hl:-4]
sys.exit(state(sys.argv[1]) != state(sys.argv[2]))
PYEOF
}
same_state "$WORK/srb/ckpt_00000200.bin" "$WORK/srb2/ckpt_00000200.bin" || fail "resumed rollback run differs"
nums() { sed 's/,"ms":[0-9.]*//; s/,"telemetry_ms":[0-9.]*//' "$1"; }
diff <(nums "$WORK/srb/log.jsonl") <(nums "$WORK/srb2/log.jsonl") > /dev/null ||
    fail "resumed rollback run: logs differ"
# giving up: with a threshold this low, two rollbacks in a row come soon
"$W" train "${SMALL[@]}" "${SPK[@]}" --out "$WORK/sgive" --on-spike rollback --max-rollbacks 2 \
    --spike-k 0.2 > "$WORK/o" 2> "$WORK/e" && fail "--max-rollbacks 2: the run did not give up"
tail -1 "$WORK/e" | grep -q "^wesar: error: step [0-9]*: loss spike: .*; giving up after 2 rollbacks in a row (--max-rollbacks)$" ||
    fail "give-up message: $(tail -1 "$WORK/e")"
expect_fail "--on-spike: expected log or rollback, got 'panic'" "$W" train "${SMALL[@]}" "${D[@]}" --on-spike panic
expect_fail "--on-nan: expected stop or rollback, got 'log'" "$W" train "${SMALL[@]}" "${D[@]}" --on-nan log

# ---- NaN: weights that went non-finite.  A run's newest checkpoint is
# poisoned (every parameter NaN, checksum valid): resuming it fails at once.
expect_ok "$W" train "${SMALL[@]}" "${D[@]}" --out "$WORK/nan" --steps 10 --ckpt-every 5
poison() {
    $PY - "$1" << 'PYEOF'
import json, struct, sys, zlib
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
hl = struct.unpack("<I", d[12:16])[0]
h = json.loads(d[16:16 + hl])
off = 16 + hl
d[off:off + 4 * h["n_params"]] = struct.pack("<f", float("nan")) * h["n_params"]
d[-4:] = struct.pack("<I", zlib.crc32(bytes(d[:-4])))
open(p, "wb").write(d)
PYEOF
}
poison "$WORK/nan/ckpt_00000010.bin"
cp -r "$WORK/nan" "$WORK/nan2"
expect_fail "step 11: loss is nan" "$W" train --resume "$WORK/nan" --steps 20 --quiet
# rollback: the first goes to the newest checkpoint (the poisoned one, again),
# the second one further back, and the run recovers
expect_ok "$W" train --resume "$WORK/nan2" --steps 20 --on-nan rollback --quiet
grep -q "rolled back to step 10 .*rollback 1 of at most 3" "$WORK/e" || fail "nan rollback 1: $(cat "$WORK/e")"
grep -q "^wesar: step 11: loss is nan" "$WORK/e" && ! grep -q "step 11: step 11" "$WORK/e" ||
    fail "rollback message names the step once: $(cat "$WORK/e")"
grep -q "rolled back to step 5 .*rollback 2 of at most 3" "$WORK/e" || fail "nan rollback 2: $(cat "$WORK/e")"
$PY - "$WORK/nan2/log.jsonl" << 'PYEOF' || fail "nan rollback log"
import json, math, sys
L = [json.loads(l) for l in open(sys.argv[1])]
ev = [r for r in L if r.get("event")]
assert [(e["reason"], e["step"], e["failed_step"]) for e in ev] == [("nan", 10, 11), ("nan", 5, 11)], ev
assert "loss is nan" in ev[0]["detail"]
steps = [r["step"] for r in L if "event" not in r]
assert steps == list(range(1, 21)), steps
assert all(math.isfinite(r["loss"]) for r in L if "loss" in r)
PYEOF
poison "$WORK/nan2/ckpt_00000020.bin"
cp "$WORK/nan2/ckpt_00000020.bin" "$WORK/nan2/ckpt_00000015.bin"  # every recent one is poisoned
expect_fail "giving up after 1 rollbacks in a row" "$W" train --resume "$WORK/nan2" --steps 30 \
    --on-nan rollback --max-rollbacks 1 --quiet


# ---- a hurried or hostile user (issue 21): nothing of another run is touched
T=(--d-model 32 --n-layers 1 --n-heads 2 --seq-len 32 --batch-size 2 --val-every 0 --threads 1 --lr 1e-3
   --warmup 0 --quiet --ckpt-every 2 "${D[@]}")
expect_ok "$W" train "${T[@]}" --steps 6 --out "$WORK/hA"
expect_ok "$W" train "${T[@]}" --steps 14 --out "$WORK/hB"
before=$(cd "$WORK/hB" && sha256sum ckpt_* log.jsonl config.json)
# 1. --resume A --out B, B another run: refused, B untouched
expect_fail "already holds checkpoints of another run: a branch of" "$W" train --resume "$WORK/hA" --out "$WORK/hB" --steps 16
[ "$(cd "$WORK/hB" && sha256sum ckpt_* log.jsonl config.json)" = "$before" ] || fail "resume --out touched another run"
# ... into a new directory: a branch, whose log starts with A's; A untouched
a_before=$(cd "$WORK/hA" && sha256sum ckpt_* log.jsonl)
expect_ok "$W" train --resume "$WORK/hA" --out "$WORK/hC" --steps 10
[ "$(cd "$WORK/hA" && sha256sum ckpt_* log.jsonl)" = "$a_before" ] || fail "a branch touched its source run"
[ "$(head -6 "$WORK/hC/log.jsonl")" = "$(cat "$WORK/hA/log.jsonl")" ] || fail "the branch's log does not start with its source's"
[ "$(wc -l < "$WORK/hC/log.jsonl")" = 10 ] && [ -f "$WORK/hC/ckpt_00000010.bin" ] || fail "branch run: $(ls "$WORK/hC")"
# an older checkpoint of a run, resumed in place, would overwrite the later ones
expect_fail "hB/ckpt_00000004.bin is at step 4, but" "$W" train --resume "$WORK/hB/ckpt_00000004.bin" --steps 20
[ "$(cd "$WORK/hB" && sha256sum ckpt_* log.jsonl config.json)" = "$before" ] || fail "an old checkpoint's resume touched the run"
expect_fail "/nonexistent: cannot open: No such file or directory (expected a run directory or a checkpoint file)" \
    "$W" train --resume "$WORK/nonexistent"
# 2. one process per run directory: a second one is refused while the first runs (flock, gone with SIGKILL)
"$W" train --resume "$WORK/hA" --steps 100000000 --ckpt-every 100000000 --quiet > /dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$WORK/hA/.lock" ] && grep -q "^$pid$" "$WORK/hA/.lock" && break; sleep 0.1; done
sleep 0.5 # past its config.json
cfg_before=$(sha256sum < "$WORK/hA/config.json")
expect_fail "hA is in use by another wesar process (pid $pid)" "$W" train --resume "$WORK/hA" --steps 30 --lr 1e-2
expect_fail "hA is in use by another wesar process" "$W" train "${T[@]}" --steps 3 --out "$WORK/hA"
kill -9 $pid; wait $pid 2> /dev/null
[ "$(sha256sum < "$WORK/hA/config.json")" = "$cfg_before" ] && [ "$(ls "$WORK/hA" | grep -c ckpt_)" = 3 ] ||
    fail "the refused runs touched the run: $(ls "$WORK/hA")"
expect_ok "$W" train --resume "$WORK/hA" --steps 8  # the lock went with the killed process
# 6. --config and --preset do not mix with --resume; info reads a run
expect_fail "--config: with --resume the model and training config come from the checkpoint" \
    "$W" train --resume "$WORK/hA" --config "$WORK/nonexistent"
expect_fail "--preset: with --resume" "$W" train --resume "$WORK/hA" --preset tiny
for a in "$WORK/hA" "--resume $WORK/hA" "$WORK/hA/ckpt_00000008.bin"; do
    expect_ok "$W" info $a --lr 3e-3
    grep -q '"d_model":32' "$WORK/o" && grep -q '"lr":0.003' "$WORK/o" && grep -q '"steps":8' "$WORK/o" ||
        fail "info $a: $(cat "$WORK/o")"
done
expect_fail "a resumed run keeps its model, but the flags change d_model 32 -> 64" "$W" train --resume "$WORK/hA" --d-model 64
# 7. more --steps on resume: the cosine stays where it ended (min_lr), and says so; --decay-steps re-stretches it
expect_ok "$W" train "${T[@]}" --lr 1e-2 --warmup 5 --steps 40 --out "$WORK/lr"
cp -r "$WORK/lr" "$WORK/lr2"
expect_ok "$W" train --resume "$WORK/lr" --steps 80 --log-every 1000
grep -q "note: the cosine ends at step 40 (decay_steps); steps 41..80 run at min_lr 1.000e-03" "$WORK/o" ||
    fail "no schedule note: $(cat "$WORK/o")"
expect_ok "$W" train --resume "$WORK/lr2" --steps 80 --decay-steps 80 --log-every 1000
grep -q "note: decay_steps 40 -> 80: the lr at step 41 goes from 1.000e-03 (the run's schedule) to 5.882e-03" "$WORK/o" ||
    fail "no jump note: $(cat "$WORK/o")"
$PY - "$WORK/lr/log.jsonl" "$WORK/lr2/log.jsonl" << 'PYEOF' || fail "lr after a resume with more steps"
import json, math, sys
a = {r["step"]: r["lr"] for r in map(json.loads, open(sys.argv[1]))}
b = {r["step"]: r["lr"] for r in map(json.loads, open(sys.argv[2]))}
assert sorted(a) == list(range(1, 81)), sorted(a)
assert all(abs(a[s] - 1e-3) < 1e-12 for s in range(40, 81)), [a[s] for s in (40, 41, 80)]
# re-stretched: the cosine over 80 steps with warmup 5, as the formula gives
f = lambda s: 1e-3 + 0.5 * (1 + math.cos(math.pi * (s - 1 - 5) / 74)) * 9e-3
assert all(abs(b[s] - f(s)) < 1e-9 for s in range(41, 81)), (b[41], f(41))
PYEOF
# 9. eps 0 would divide 0 by 0; non-finite messages name the step once
expect_fail "--eps: expected a number in [1e-30, 1], got '0'" "$W" train "${T[@]}" --eps 0 --out "$WORK/eps"

# ---- disk full during a checkpoint: the previous checkpoint stays, the run
# stops with a clear message, no temporary file is left.
expect_ok "$W" train "${SMALL[@]}" "${D[@]}" --out "$WORK/full" --steps 5 --ckpt-every 5
CK=$(stat -c %s "$WORK/full/ckpt_00000005.bin")
sha=$(sha256sum < "$WORK/full/ckpt_00000005.bin")
# (a) a file-size limit (ulimit -f): the write fails with EFBIG
(ulimit -f $((CK / 2048)); "$W" train --resume "$WORK/full" --steps 10 --ckpt-every 5 --quiet) \
    > "$WORK/o" 2> "$WORK/e" && fail "file-size limit: the run did not stop"
grep -q "ckpt_00000010.bin: write failed: File too large (disk full or file size limit); earlier checkpoints are intact" \
    "$WORK/e" || fail "file-size limit message: $(cat "$WORK/e")"
[ "$(sha256sum < "$WORK/full/ckpt_00000005.bin")" = "$sha" ] || fail "previous checkpoint changed"
ls "$WORK/full" | grep -q -e tmp -e ckpt_00000010 && fail "file-size limit: leftovers: $(ls "$WORK/full")"
# (b) a tiny tmpfs (needs user namespaces; skipped where there are none)
if unshare -rm true 2> /dev/null; then
    unshare -rm bash -c '
        set -u
        W=$1 WORK=$2 CK=$3
        mkdir -p "$WORK/tfs" && mount -t tmpfs -o size=$((CK * 3 / 2 / 1024 + 64))k none "$WORK/tfs" || exit 3
        cp -r "$WORK/full" "$WORK/tfs/run"
        "$W" train --resume "$WORK/tfs/run" --steps 10 --ckpt-every 5 --quiet 2> "$WORK/e_tfs" && exit 4
        grep -q "No space left on device (disk full or file size limit); earlier checkpoints are intact" "$WORK/e_tfs" || exit 5
        cmp -s "$WORK/full/ckpt_00000005.bin" "$WORK/tfs/run/ckpt_00000005.bin" || exit 6
        ls "$WORK/tfs/run" | grep -q -e tmp -e ckpt_00000010 && exit 7
        exit 0' _ "$W" "$WORK" "$CK"
    rc=$?
    [ $rc -eq 0 ] || fail "tmpfs disk-full check $rc: $(cat "$WORK/e_tfs" 2> /dev/null)"
else
    echo "note: no user namespaces here: tmpfs disk-full check skipped (the ulimit one ran)"
fi
expect_ok "$W" train --resume "$WORK/full" --steps 10 --ckpt-every 5 --quiet  # and it goes on

# ---- leftovers of a killed run: stale temporary files are removed on start;
# a fresh run never overwrites another run's checkpoints.
touch "$WORK/full/ckpt_00000015.bin.tmp.999999" "$WORK/full/log.jsonl.tmp.999999"
expect_ok "$W" train --resume "$WORK/full" --steps 15 --ckpt-every 5
ls "$WORK/full" | grep -q tmp && fail "stale temporary files were kept: $(ls "$WORK/full")"
grep -q "removed 2 unfinished temporary file(s)" "$WORK/e" || fail "no note on stale files: $(cat "$WORK/e")"
expect_fail "already holds checkpoints of an earlier run: continue it with --resume" \
    "$W" train "${SMALL[@]}" "${D[@]}" --out "$WORK/full" --steps 3

# ---- damaged checkpoints: one clear line naming the file and the problem
C="$WORK/full/ckpt_00000015.bin"
mk() { cp "$C" "$WORK/$1"; echo "$WORK/$1"; }
f=$(mk trunc.bin); truncate -s -100 "$f"
expect_fail "trunc.bin: file is $(($(stat -c %s "$C") - 100)) bytes, expected $(stat -c %s "$C") from its header (truncated?)" "$W" export "$f" "$WORK/x"
f=$(mk flip.bin); $PY -c 'import sys; p=sys.argv[1]; d=bytearray(open(p,"rb").read()); d[len(d)//2]^=4; open(p,"wb").write(d)' "$f"
expect_fail "flip.bin: checksum mismatch" "$W" export "$f" "$WORK/x"
f=$(mk magic.bin); printf 'XESARCKP' | dd of="$f" bs=1 conv=notrunc status=none
expect_fail "magic.bin: not a wesar checkpoint (bad magic)" "$W" export "$f" "$WORK/x"
f=$(mk version.bin); printf '\x07' | dd of="$f" bs=1 seek=8 conv=notrunc status=none
expect_fail "version.bin: checkpoint version 7, expected 1" "$W" export "$f" "$WORK/x"
: > "$WORK/empty.bin"
expect_fail "empty.bin: not a wesar checkpoint (bad magic)" "$W" export "$WORK/empty.bin" "$WORK/x"
# header edits with a valid checksum: the file must still agree with itself
edit_header() {
    $PY - "$1" "$2" << 'PYEOF'
import json, struct, sys, zlib
p, expr = sys.argv[1], sys.argv[2]
d = open(p, "rb").read()
hl = struct.unpack("<I", d[12:16])[0]
h = json.loads(d[16:16 + hl])
exec(expr)
hs = json.dumps(h).encode()
d = d[:12] + struct.pack("<I", len(hs)) + hs + d[16 + hl:-4]
open(p, "wb").write(d + struct.pack("<I", zlib.crc32(d)))
PYEOF
}
# NAME|EDIT|ERROR: each edit gets its own copy and one expected error
while IFS='|' read -r name edit needle; do
    f=$(mk "$name.bin"); edit_header "$f" "$edit"
    expect_fail "$name.bin: $needle" "$W" export "$f" "$WORK/x"
done << 'EOF'
shape|h["model"]["d_model"] = 64|header n_params/n_tensors do not match its model config
vocab|h["model"]["vocab_size"] = 300|header n_params/n_tensors do not match its model config
size|h["n_params"] = 10**12|file is
field|h["model"]["mlp"] = "relu"|header field model.mlp: mlp: expected gelu or swiglu, got 'relu'
nojson|h = 3|corrupt header (not a JSON object)
optim|h["optim"] = 5|header fields step/n_state/optim/data_rng missing or invalid
EOF
# resume: a damaged newest checkpoint is skipped with a warning; none valid is an error
cp -r "$WORK/full" "$WORK/skip"
truncate -s -1 "$WORK/skip/ckpt_00000015.bin"
expect_ok "$W" train --resume "$WORK/skip" --steps 16
grep -q "warning: skipping .*ckpt_00000015.bin: checksum mismatch or truncated" "$WORK/e" || fail "no skip warning"
grep -q "resuming from .*ckpt_00000010.bin at step 10" "$WORK/o" || fail "did not resume from step 10: $(cat "$WORK/o")"
mkdir -p "$WORK/none" && cp "$WORK/flip.bin" "$WORK/none/ckpt_00000001.bin"
expect_fail "no valid checkpoint (ckpt_*.bin) to resume from" "$W" train --resume "$WORK/none"
cp -r "$WORK/full" "$WORK/opt" && edit_header "$WORK/opt/ckpt_00000015.bin" 'h["optim"] = "sgd"'
expect_fail "ckpt_00000015.bin: optimizer state is sgd, but this run uses adamw" "$W" train --resume "$WORK/opt" --steps 30

# ---- damaged shards
S="$WORK/data/train_000000.bin"
ms() { mkdir -p "$WORK/sh_$1"; cp "$S" "$WORK/sh_$1/x_train.bin"; echo "$WORK/sh_$1/x_train.bin"; }
f=$(ms trunc); truncate -s -1 "$f"
expect_fail "x_train.bin: file is" "$W" train "${SMALL[@]}" --data "$f" --out "$WORK/y"
f=$(ms hdr); truncate -s 100 "$f"
expect_fail "x_train.bin: truncated header: 100 bytes, expected at least 1024" "$W" train "${SMALL[@]}" --data "$f" --out "$WORK/y"
f=$(ms magic); printf '\x01' | dd of="$f" bs=1 conv=notrunc status=none
expect_fail "x_train.bin: header magic is" "$W" train "${SMALL[@]}" --data "$f" --out "$WORK/y"
f=$(ms ver); printf '\x03' | dd of="$f" bs=1 seek=4 conv=notrunc status=none
expect_fail "x_train.bin: header version is 3, expected 1 (uint16 tokens) or 2 (uint32)" "$W" train "${SMALL[@]}" --data "$f" --out "$WORK/y"
f=$(ms count); printf '\xff\xff\xff\x7f' | dd of="$f" bs=1 seek=8 conv=notrunc status=none
expect_fail "x_train.bin: file is" "$W" train "${SMALL[@]}" --data "$f" --out "$WORK/y"
f=$(ms tok); printf '\xff\xff' | dd of="$f" bs=1 seek=2000 conv=notrunc status=none
expect_fail "x_train.bin: token 488 has id 65535, expected < vocab_size 257 (wrong tokenizer?)" "$W" train "${SMALL[@]}" --data "$f" --out "$WORK/y"
expect_fail "the model's vocab_size 50 does not fit" "$W" train "${SMALL[@]}" --vocab-size 50 --data "$WORK/data" --out "$WORK/y"

# ---- damaged config files
printf '{"d_model": 32,' > "$WORK/c1.json"
expect_fail "c1.json: invalid JSON" "$W" info --config "$WORK/c1.json"
printf '{"d_model": [32]}' > "$WORK/c2.json"
expect_fail "c2.json: field 'd_model': expected a string, number or boolean" "$W" info --config "$WORK/c2.json"
printf '{"d_model": 1e12}' > "$WORK/c3.json"
expect_fail "c3.json: field d_model: expected a non-negative integer" "$W" info --config "$WORK/c3.json"
printf 'd_model 32\n' > "$WORK/c4.conf"
expect_fail "c4.conf:1: expected key=value" "$W" info --config "$WORK/c4.conf"
printf 'd_model = 131072\n' > "$WORK/c5.conf"
expect_fail "d_model: expected <= 65536, got 131072" "$W" info --config "$WORK/c5.conf"
head -c 3000 /dev/urandom > "$WORK/c6.conf"
expect_fail "c6.conf" "$W" info --config "$WORK/c6.conf"
# a NUL byte first made the random file above load as an empty config, 1 time in 256
printf '\0d_model = 32\n' > "$WORK/c7.conf"
expect_fail "c7.conf: byte 0 is NUL: expected a text file" "$W" info --config "$WORK/c7.conf"
expect_fail "nope.conf: cannot open" "$W" info --config "$WORK/nope.conf"

# gpt2 tokenizer files: a small valid byte-level vocabulary, then damaged copies
$PY "$(dirname "$0")/small_gpt2_vocab.py" "$WORK/tk"
for i in 1 2 3 4 5 6 7 8 9 10; do printf 'the theme<|endoftext|>the end '; done > "$WORK/tk.txt"
expect_ok "$W" prepare --quiet --tokenizer gpt2 --tokenizer-path "$WORK/tk" "$WORK/tk.txt" "$WORK/tkout"
$PY - "$WORK/tkout/train_000000.bin" << 'PYEOF' || fail "gpt2 tokenizer on a hand-made vocabulary"
import struct, sys
d = open(sys.argv[1], "rb").read()
n = struct.unpack_from("<3i", d)[2]
ids = list(struct.unpack_from("<%dH" % n, d, 1024))
# end of text starts the document; "the" -> th+e; " theme" -> " ", the, m, e; the text's <|endoftext|> -> 258
assert ids[:7] == [258, 257, 32, 257, 109, 101, 258], ids[:7]
PYEOF
tk_case() { # NAME FILE SED-EXPR NEEDLE: a copy of the tokenizer with FILE edited must fail with NEEDLE
    rm -rf "$WORK/tk_$1" && cp -r "$WORK/tk" "$WORK/tk_$1" && sed -i "$3" "$WORK/tk_$1/$2"
    expect_fail "$4" "$W" prepare --quiet --tokenizer gpt2 --tokenizer-path "$WORK/tk_$1" "$WORK/tk.txt" "$WORK/tkbad"
}
tk_case json encoder.json 's/^{/[/' "tk_json/encoder.json: expected a JSON object"
tk_case id encoder.json 's/: 256,/: "x",/' "expected an id in 0..258"
tk_case dup encoder.json 's/: 257,/: 256,/' "id 256 appears twice"
tk_case eot encoder.json 's/<|endoftext|>/<|end|>/' 'no "<|endoftext|>" token'
tk_case merge vocab.bpe '3s/ .*//' 'tk_merge/vocab.bpe:3: expected "A B" with A, B and AB in encoder.json'
expect_fail "needs --tokenizer-path DIR with encoder.json and vocab.bpe" "$W" prepare --tokenizer gpt2 "$WORK/tk.txt" "$WORK/tkbad"
expect_fail "$WORK/nope/encoder.json: cannot open" "$W" prepare --tokenizer gpt2 --tokenizer-path "$WORK/nope" "$WORK/tk.txt" "$WORK/tkbad"

# sentencepiece models: a small valid one (its ids are checked against libsentencepiece in
# check_spm.py), then damaged or unsupported ones, each with an error naming the file and the field
$PY "$(dirname "$0")/small_spm_model.py" "$WORK/spm.model" ok
expect_ok "$W" prepare --quiet --tokenizer sentencepiece --tokenizer-path "$WORK/spm.model" "$WORK/tk.txt" "$WORK/spmout"
spm_case() { # VARIANT NEEDLE
    $PY "$(dirname "$0")/small_spm_model.py" "$WORK/spm_$1.model" "$1"
    expect_fail "$2" "$W" prepare --quiet --tokenizer sentencepiece --tokenizer-path "$WORK/spm_$1.model" "$WORK/tk.txt" "$WORK/spmbad"
}
spm_case unigram "spm_unigram.model: trainer_spec.model_type is 1; only BPE models (2) are supported"
spm_case charsmap "spm_charsmap.model: normalizer_spec has a character map"
spm_case nounk "spm_nounk.model: not a SentencePiece model: no <unk> piece"
spm_case badbyte "spm_badbyte.model: not a SentencePiece model: a byte piece not spelled <0xXX>"
spm_case truncated "spm_truncated.model: not a SentencePiece model"
spm_case garbage "spm_garbage.model: not a SentencePiece model"
spm_case dup "spm_dup.model: piece 276 (he) appears twice"
expect_fail "needs --tokenizer-path FILE" "$W" prepare --tokenizer sentencepiece "$WORK/tk.txt" "$WORK/spmbad"
expect_fail "$WORK/nope: cannot open" "$W" prepare --tokenizer sentencepiece --tokenizer-path "$WORK/nope" "$WORK/tk.txt" "$WORK/spmbad"

echo "faults: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
