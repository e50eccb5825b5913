#!/usr/bin/env bash
# tests/resume.sh - a run killed with SIGKILL at random moments (mid-step or
# mid-checkpoint) and resumed with --resume ends bit-identical to one that was
# never interrupted: same losses in log.jsonl, same final parameters and
# optimizer state.  usage: resume.sh WESAR WORKDIR
set -u
W=$1 WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
python3 -c '
import random
r = random.Random(3)
print("\n".join(" ".join(r.choice("abcde fghij klmno".split()) for _ in range(9)) for _ in range(3000)))
' > "$WORK/c.txt"
"$W" prepare "$WORK/c.txt" "$WORK/data" --quiet || fail prepare
ARGS=(--d-model 64 --n-layers 2 --n-heads 4 --seq-len 64 --batch-size 8 --steps 40 --warmup 5
      --ckpt-every 4 --keep 2 --threads 2 --val-every 10 --val-batches 2 --reparam wesar --quiet
      --telemetry-every 3)
"$W" train "${ARGS[@]}" --data "$WORK/data" --out "$WORK/a" || fail "reference run"
# kill -9 after a random number of logged steps (not a random time, so the test
# bites however fast the machine is); the kill lands mid-step or mid-checkpoint
lines() { cat "$WORK/b/log.jsonl" 2> /dev/null | wc -l; }
"$W" train "${ARGS[@]}" --data "$WORK/data" --out "$WORK/b" &
pid=$!
kills=0 target=0
while [ $kills -lt 6 ]; do
    target=$((target + RANDOM % 6 + 2))
    while kill -0 $pid 2> /dev/null && [ "$(lines)" -lt $target ]; do sleep 0.002; done
    kill -9 $pid 2> /dev/null || break  # it finished first
    wait $pid 2> /dev/null
    kills=$((kills + 1))
    if ls "$WORK/b"/ckpt_*.bin > /dev/null 2>&1; then
        "$W" train --resume "$WORK/b" --quiet &
    else
        "$W" train "${ARGS[@]}" --data "$WORK/data" --out "$WORK/b" &
    fi
    pid=$!
done
wait $pid || fail "the last resumed run failed"
[ $kills -ge 3 ] || fail "only $kills kills landed before the run finished"
echo "killed $kills times"
[ "$(ls "$WORK/b" | grep -c '^ckpt_.*\.bin$')" = 2 ] || fail "--keep 2 kept $(ls "$WORK/b")"
cmp <(cut -d, -f1-3 "$WORK/a/log.jsonl") <(cut -d, -f1-3 "$WORK/b/log.jsonl") || fail "loss curves differ"
cmp "$WORK/a/telemetry.jsonl" "$WORK/b/telemetry.jsonl" || fail "telemetry.jsonl differs"
python3 - "$WORK/a/ckpt_00000040.bin" "$WORK/b/ckpt_00000040.bin" << 'PYEOF' || fail "final checkpoints differ"
import struct, sys
def body(p):
    d = open(p, "rb").read()
    hl = struct.unpack_from("<I", d, 12)[0]
    return d[16 + hl:-4]  # parameters, scales, optimizer state
a, b = (body(p) for p in sys.argv[1:3])
assert len(a) == len(b) and a == b, "parameters or optimizer state differ"
PYEOF
echo "resume: bit-identical after $kills kills"

# SIGTERM: the step finishes, a checkpoint is written, exit 0 with a resume hint
rm -rf "$WORK/b"
"$W" train "${ARGS[@]}" --ckpt-every 0 --data "$WORK/data" --out "$WORK/b" 2> "$WORK/err" &
pid=$!
while [ "$(lines)" -lt 10 ]; do sleep 0.002; done
kill -TERM $pid
wait $pid || fail "SIGTERM: exit status $?"
grep -q "resume with: wesar train --resume $WORK/b" "$WORK/err" || fail "SIGTERM message: $(cat "$WORK/err")"
ls "$WORK/b"/ckpt_*.bin > /dev/null 2>&1 || fail "SIGTERM: no checkpoint"
"$W" train --resume "$WORK/b" --quiet || fail "resume after SIGTERM"
cmp <(cut -d, -f1-3 "$WORK/a/log.jsonl") <(cut -d, -f1-3 "$WORK/b/log.jsonl") || fail "losses differ after SIGTERM"
echo "SIGTERM: clean stop, resumed to the same losses"

# nothing to resume from, or nothing left to do
mkdir -p "$WORK/empty"
"$W" train --resume "$WORK/empty" 2> "$WORK/err" && fail "resumed from an empty directory"
grep -q "no valid checkpoint" "$WORK/err" || fail "empty resume message: $(cat "$WORK/err")"
"$W" train --resume "$WORK/b" 2> "$WORK/err" && fail "resumed a finished run"
grep -q "already at step 40 of 40 (raise --steps to continue)" "$WORK/err" || fail "$(cat "$WORK/err")"
# a corrupted newest checkpoint is skipped for the previous one
printf 'garbage' | dd of="$WORK/b/ckpt_00000040.bin" bs=1 seek=5000 conv=notrunc 2> /dev/null
"$W" train --resume "$WORK/b" --steps 44 --quiet 2> "$WORK/err" || fail "resume past a corrupt checkpoint"
grep -q "skipping .*ckpt_00000040.bin: checksum" "$WORK/err" || fail "corrupt checkpoint not reported: $(cat "$WORK/err")"
echo "resume: errors and a corrupt checkpoint handled"
