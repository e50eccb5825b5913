#!/usr/bin/env bash
# tests/cli.sh - the wesar command as a user meets it: help, errors, prepare,
# a short training run and its outputs.  usage: cli.sh WESAR WORKDIR DATA
set -u
W=$1 WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"
PY=python3

expect_ok "$W" --help
grep -q "usage:" "$WORK/o" || fail "help lacks usage"
expect_ok "$W" info --preset 1.3b
grep -q "parameters: 1339131904 " "$WORK/o" || fail "1.3b count: $(cat "$WORK/o")"
expect_fail "unknown command 'frob'" "$W" frob
expect_fail "unknown option '--bogus'" "$W" train --data x --bogus 1
expect_fail "d_model: expected a non-negative integer, got 'abc'" "$W" info --d-model abc
expect_fail "unknown preset 'huge'" "$W" train --preset huge
expect_fail "n_kv_heads" "$W" info --n-kv-heads 3
expect_fail "/nonexistent/dir: no such shard file or directory" "$W" train --data /nonexistent/dir
expect_fail "missing.txt: cannot open" "$W" prepare "$WORK/missing.txt" "$WORK/p"
expect_fail "--tokenizer: unknown tokenizer 'wordpiece' (expected bytes, gpt2 or sentencepiece)" "$W" prepare --tokenizer wordpiece "$0" "$WORK/p"
expect_fail "prepare: expected INPUT... OUTDIR" "$W" prepare "$0"
# shards of another vocabulary: the error says which --vocab-size matches them (meta.json)
printf '{"tokenizer":"gpt2","vocab_size":50257,"eot":50256}' > "$WORK/vh.json"
python3 -c '
import struct, sys
toks = [50256] + [464, 3290, 13] * 200
for name in ("train_000000.bin", "val_000000.bin"):
    open(sys.argv[1] + "/" + name, "wb").write(struct.pack("<256i", 20240520, 1, len(toks), *[0] * 253) + struct.pack("<%dH" % len(toks), *toks))
' "$(mkdir -p "$WORK/vh" && echo "$WORK/vh")"
mv "$WORK/vh.json" "$WORK/vh/meta.json"
expect_fail "meta.json says the gpt2 tokenizer, vocab_size 50257: train with --vocab-size 50257" \
    "$W" train --data "$WORK/vh" --out "$WORK/vhrun" --steps 1

# a small corpus made here: 40 KB of varied text
$PY -c '
import random
r = random.Random(1)
words = "the of and to in is was for on that with as by at from his her an be".split()
print("\n".join(" ".join(r.choice(words) for _ in range(12)) for _ in range(600)))
' > "$WORK/corpus.txt"
expect_ok "$W" prepare --tokenizer bytes --val-fraction 0.2 "$WORK/corpus.txt" "$WORK/data"
grep -q "train tokens (1 shard) + .* val tokens" "$WORK/o" || fail "prepare summary: $(cat "$WORK/o")"
[ -f "$WORK/data/train_000000.bin" ] && [ -f "$WORK/data/val_000000.bin" ] || fail "shards missing"
$PY -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["vocab_size"]==257 and m["eot"]==256' \
    "$WORK/data/meta.json" || fail "meta.json"

SMALL=(--d-model 32 --n-layers 1 --n-heads 2 --seq-len 32 --batch-size 2 --val-batches 2 --threads 2 --lr 1e-3)
expect_ok "$W" train "${SMALL[@]}" --data "$WORK/data" --out "$WORK/run" --steps 6 --val-every 3 \
    --ckpt-every 3 --log-every 2 --warmup 2
grep -q "^step 6/6 | loss .* | val .* | lr .* | norm .* tok/s | ETA" "$WORK/o" || fail "progress line: $(cat "$WORK/o")"
[ -f "$WORK/run/ckpt_00000003.bin" ] && [ -f "$WORK/run/ckpt_00000006.bin" ] || fail "checkpoints missing"
ls "$WORK/run" | grep -q tmp && fail "temporary files left behind"
$PY - "$WORK/run" << 'PYEOF' || fail "log.jsonl / config.json content"
import json, math, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/log.jsonl")]
assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6], rows
for r in rows:
    for k in ("step", "loss", "z_loss", "lr", "grad_norm", "tokens", "ms"):
        assert k in r and math.isfinite(r[k]), (k, r)
    assert r["tokens"] == r["step"] * 2 * 32
assert "val_loss" in rows[2] and "val_loss" in rows[5] and "val_loss" not in rows[0]
assert abs(rows[0]["lr"] - 1e-3 / 2) < 1e-12 and abs(rows[1]["lr"] - 1e-3) < 1e-12
cfg = json.load(open(d + "/config.json"))
assert cfg["model"]["d_model"] == 32 and cfg["train"]["steps"] == 6
PYEOF

# same seed, same run: identical losses; another seed differs
expect_ok "$W" train "${SMALL[@]}" --data "$WORK/data" --out "$WORK/run2" --steps 6 --warmup 2 --quiet
cmp -s <(cut -d, -f2 "$WORK/run/log.jsonl") <(cut -d, -f2 "$WORK/run2/log.jsonl") || fail "same seed, different losses"
expect_ok "$W" train "${SMALL[@]}" --data "$WORK/data" --out "$WORK/run3" --steps 6 --warmup 2 --seed 7 --quiet
cmp -s <(cut -d, -f2 "$WORK/run/log.jsonl") <(cut -d, -f2 "$WORK/run3/log.jsonl") && fail "seed has no effect"

# config files, overridden by flags
printf 'steps = 3\nd_model = 32\nn_layers = 1\nn_heads = 2\nseq_len = 32\nbatch_size = 2\nlr=5e-4\n' > "$WORK/a.conf"
expect_ok "$W" train --config "$WORK/a.conf" --steps 2 --data "$WORK/data" --out "$WORK/run4" --quiet
[ "$(wc -l < "$WORK/run4/log.jsonl")" = 2 ] || fail "flag did not override the config file"
[ -f "$WORK/run4/ckpt_00000002.bin" ] || fail "no final checkpoint"
expect_ok "$W" train --config "$WORK/a.conf" --ckpt-final 0 --data "$WORK/data" --out "$WORK/run4b" --quiet
ls "$WORK/run4b" | grep -q ckpt && fail "--ckpt-final 0 still wrote a checkpoint"
grep -q '"lr":5e-04' "$WORK/run4/config.json" || grep -q '"lr":0.0005' "$WORK/run4/config.json" || fail "config file lr"
printf '{"steps": 2, "d_model": 32, "n_layers": 1, "n_heads": 2, "seq_len": 32, "batch_size": 2}' > "$WORK/a.json"
expect_ok "$W" train --config "$WORK/a.json" --data "$WORK/data" --out "$WORK/run5" --quiet
printf 'steps = 3\nwidth = 3\n' > "$WORK/bad.conf"
expect_fail "bad.conf:2: unknown key 'width'" "$W" train --config "$WORK/bad.conf" --data "$WORK/data"

# export: a WeSaR run merges into a plain Hugging Face checkpoint
expect_ok "$W" train "${SMALL[@]}" --reparam wesar --data "$WORK/data" --out "$WORK/runw" --steps 2 --quiet
expect_ok "$W" export "$WORK/runw/ckpt_00000002.bin" "$WORK/hf"
grep -q "ArceeForCausalLM" "$WORK/hf/config.json" || fail "export config.json"
$PY - "$WORK/hf" << 'PYEOF' || fail "safetensors header"
import json, struct, sys
d = open(sys.argv[1] + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", d[:8])[0]
h = json.loads(d[8:8 + n])
assert n % 8 == 0 and "model.embed_tokens.weight" in h and "lm_head.weight" in h
assert not any(k.endswith("gate") for k in h), "a gate was exported"
assert h["model.layers.0.mlp.up_proj.weight"]["shape"] == [128, 32]
PYEOF
# eval and generate: the byte tokenizer is implied by a 257-token export; errors are clear
printf '{"text": "hello there world"}\n{"text": "oneword"}\n' > "$WORK/lamb.jsonl"
expect_fail "lamb.jsonl:2: expected a JSON object with a string field \"text\" of two or more words" \
    "$W" eval "$WORK/hf" --lambada "$WORK/lamb.jsonl"
head -1 "$WORK/lamb.jsonl" > "$WORK/lamb1.jsonl"
expect_ok "$W" eval "$WORK/hf" --lambada "$WORK/lamb1.jsonl" --wikitext "$WORK/corpus.txt"
grep -q '"lambada":{"acc":' "$WORK/o" && grep -q "word_perplexity" "$WORK/o" || fail "eval output: $(cat "$WORK/o")"
expect_fail "eval: nothing to evaluate" "$W" eval "$WORK/hf"
expect_fail "--stride: expected at most the context" "$W" eval "$WORK/runw" --wikitext "$WORK/corpus.txt" --stride 100000
expect_fail "nope: cannot open" "$W" eval "$WORK/nope" --wikitext "$WORK/corpus.txt"
expect_fail "no valid checkpoint (ckpt_*.bin) and no export" "$W" generate "$WORK/data"
expect_ok "$W" generate "$WORK/runw" --prompt "the " --max-new 5 --seed 3
grep -q "^the " "$WORK/o" || fail "generate output: $(cat "$WORK/o")"
expect_fail "--temperature: expected a number in [0, 100], got '-1'" "$W" generate "$WORK/hf" --temperature -1
cp -r "$WORK/hf" "$WORK/hf_bad" && sed -i 's/"hidden_size":[[:space:]]*[0-9]*/"hidden_size": "x"/' "$WORK/hf_bad/config.json"
expect_fail 'hf_bad/config.json: "hidden_size": expected a number' "$W" eval "$WORK/hf_bad" --wikitext "$WORK/corpus.txt"
cp -r "$WORK/hf" "$WORK/hf_short" && truncate -s 1000 "$WORK/hf_short/model.safetensors"
expect_fail "too few for the" "$W" generate "$WORK/hf_short"
expect_fail "export: expected CHECKPOINT OUTDIR" "$W" export "$WORK/runw/ckpt_00000002.bin"
expect_fail "not a wesar checkpoint" "$W" export "$WORK/corpus.txt" "$WORK/hf2"
expect_fail "sigma2: --reparam none has no common sigma" "$W" info --sigma2 4e-5
expect_fail "reparam: expected one of" "$W" info --reparam spectral

# data that does not fit the model, or is damaged
expect_fail "has id" "$W" train "${SMALL[@]}" --vocab-size 100 --data "$WORK/data" --out "$WORK/run6"
cp "$WORK/data/train_000000.bin" "$WORK/trunc_train.bin"
truncate -s -3 "$WORK/trunc_train.bin"
expect_fail "trunc_train.bin: file is" "$W" train "${SMALL[@]}" --data "$WORK/trunc_train.bin" --out "$WORK/run7"
head -c 2000 /dev/urandom > "$WORK/junk_train.bin"
expect_fail "junk_train.bin: header magic" "$W" train "${SMALL[@]}" --data "$WORK/junk_train.bin" --out "$WORK/run8"
expect_fail "train_seq_len: 64 exceeds the model's seq_len 32" "$W" train "${SMALL[@]}" --train-seq-len 64 \
    --data "$WORK/data" --out "$WORK/run9"

echo "cli: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
