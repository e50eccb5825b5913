#!/usr/bin/env bash
# tests/bf16.sh - --precision bf16 trains like fp32: the same small model and
# batches on tinyshakespeare, 200 steps each; the bf16 curve must differ from
# fp32's (the flag is in effect) yet end within 2% of it, and a bf16 run must
# resume exactly; eval's perplexity in bf16 within 1e-3 relative of fp32's.  usage: bf16.sh WESAR WORKDIR DATA
set -u
W=$1 WORK=$2 DATA=$3
rm -rf "$WORK" && mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"
if ! grep -q avx512_bf16 /proc/cpuinfo; then
    expect_fail "precision: bf16 needs a CPU with AVX-512 BF16" "$W" train --data "$WORK" --precision bf16
    echo "no AVX-512 BF16 here: only the refusal is checked"
    exit $((FAILS != 0))
fi
expect_fail "precision: expected fp32 or bf16, got 'fp16'" "$W" train --data "$WORK" --precision fp16
"$W" prepare --tokenizer bytes "$DATA/tinyshakespeare/input.txt" "$WORK/data" > /dev/null || fail prepare
args=(--preset tiny --data "$WORK/data" --d-model 128 --n-layers 2 --n-heads 4 --n-kv-heads 4 --ffn-dim 512
      --batch-size 8 --train-seq-len 128 --steps 200 --warmup 20 --val-every 0 --ckpt-final 0 --quiet)
expect_ok "$W" train "${args[@]}" --out "$WORK/fp32" --precision fp32
expect_ok "$W" train "${args[@]}" --out "$WORK/bf16" --precision bf16
python3 - "$WORK/fp32/log.jsonl" "$WORK/bf16/log.jsonl" << 'OUTER' || fail "bf16 vs fp32 curves"
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(p) if '"loss"' in l and '"step"' in l] for p in sys.argv[1:3])
assert len(a) == len(b) == 200, (len(a), len(b))
assert a != b, "bf16 losses equal fp32's bit for bit: the flag had no effect"
fa, fb = sum(a[-20:]) / 20, sum(b[-20:]) / 20
print(f"fp32 {a[0]:.4f} -> {fa:.4f}, bf16 {b[0]:.4f} -> {fb:.4f} (mean of the last 20 steps)")
assert a[-1] < a[0] - 1, "fp32 did not learn"
assert abs(fb - fa) < 0.02 * fa, f"bf16 ends at {fb:.4f}, fp32 at {fa:.4f}"
OUTER
# resume: a copy of a 120-step run (checkpoints at 60 and 120) without its
# last checkpoint resumes from step 60 (taking bf16 from the checkpoint's
# config: fp32 would not match) and must end exactly where the run did
expect_ok "$W" train "${args[@]}" --steps 120 --ckpt-every 60 --out "$WORK/r1" --precision bf16
cp -r "$WORK/r1" "$WORK/r2" && rm "$WORK/r2"/ckpt_*120.bin || fail "no step-120 checkpoint"
expect_ok "$W" train --resume "$WORK/r2" --quiet
cmp -s <(grep '"step":120,' "$WORK/r1/log.jsonl" | sed 's/"ms".*//') \
       <(grep '"step":120,' "$WORK/r2/log.jsonl" | sed 's/"ms".*//') ||
    fail "bf16 resume differs: $(grep '"step":120,' "$WORK/r1/log.jsonl" "$WORK/r2/log.jsonl")"
# eval and generate take --precision too: bf16 perplexity within 1e-3 relative of fp32's, and not equal
head -c 20000 "$DATA/tinyshakespeare/input.txt" | tail -c 6000 > "$WORK/held.txt"
for p in fp32 bf16; do
    expect_ok "$W" eval "$WORK/r1" --wikitext "$WORK/held.txt" --json --precision $p
    cp "$WORK/o" "$WORK/eval_$p.json"
done
python3 - "$WORK/eval_fp32.json" "$WORK/eval_bf16.json" << 'OUTER' || fail "eval --precision bf16 vs fp32"
import json, sys
a, b = (json.load(open(p))["wikitext"]["token_perplexity"] for p in sys.argv[1:3])
print(f"eval: fp32 perplexity {a:.6f}, bf16 {b:.6f}, relative {abs(b - a) / a:.2e}")
assert a != b, "bf16 perplexity equals fp32's bit for bit: the flag had no effect"
assert abs(b - a) < 1e-3 * a
OUTER
expect_ok "$W" generate "$WORK/r1" --prompt "ROMEO:" --max-new 20 --precision bf16
expect_fail "--precision: expected fp32 or bf16, got 'fp8'" "$W" eval "$WORK/r1" --wikitext "$WORK/held.txt" --precision fp8
exit $((FAILS != 0))
