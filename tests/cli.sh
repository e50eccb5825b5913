#!/usr/bin/env bash
# tests/cli.sh - the wesar command as a user meets it: help, errors, prepare,
# a short training run and its outputs.  usage: cli.sh WESAR WORKDIR DATA
set -u
W=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") WORK=$2 DATA=${3:-../shared/data}  # absolute: some cases run elsewhere
rm -rf "$WORK" && mkdir -p "$WORK"
source "$(dirname "$0")/common.sh"
PY=python3

expect_ok "$W" --help
grep -q "usage:" "$WORK/o" || fail "help lacks usage"
expect_ok "$W" info --preset 1.3b
grep -q "parameters: 1339131904 " "$WORK/o" || fail "1.3b count: $(cat "$WORK/o")"
expect_fail "unknown command 'frob'" "$W" frob
expect_fail "unknown option '--bogus'" "$W" train --data x --bogus 1
expect_fail "--d-model: expected a non-negative integer, got 'abc'" "$W" info --d-model abc  # the flag as typed
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
word_corpus "$WORK/corpus.txt" 1 600
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
expect_fail "export: --format: expected hf or gguf" "$W" export --format onnx "$WORK/runw" "$WORK/x.onnx"
expect_fail "export: --dtype: only with --format gguf" "$W" export --dtype f16 "$WORK/runw" "$WORK/hf2"
expect_fail "export: --dtype: expected f32, f16 or bf16" "$W" export --format gguf --dtype f8 "$WORK/runw" "$WORK/x.gguf"
expect_fail "llama.cpp has no architecture for the GELU MLP" "$W" export --format gguf "$WORK/runw" "$WORK/x.gguf"
[ ! -e "$WORK/x.gguf" ] || fail "a refused GGUF export left a file"
# eval --logprobs: one line per byte (the byte tokenizer), then the sum
printf 'to be or not' > "$WORK/lp.txt"
expect_ok "$W" eval "$WORK/runw" --logprobs "$WORK/lp.txt"
[ "$(grep -c '"logprob":-' "$WORK/o")" = 12 ] && grep -q '^{"tokens":12,"sum_logprob":-' "$WORK/o" ||
    fail "eval --logprobs: $(cat "$WORK/o")"
head -c 5000 "$WORK/corpus.txt" > "$WORK/lp_long.txt"
expect_fail "--logprobs: expected 1 to" "$W" eval "$WORK/runw" --logprobs "$WORK/lp_long.txt"
expect_fail "--logprobs goes alone" "$W" eval "$WORK/runw" --logprobs "$WORK/lp.txt" --wikitext "$WORK/corpus.txt"
expect_fail "sigma2: --reparam none has no common sigma" "$W" info --sigma2 4e-5
expect_fail "reparam: expected one of" "$W" info --reparam spectral

# data that does not fit the model, or is damaged
expect_fail "data: the model's vocab_size 100 does not fit: $WORK/data/meta.json says the bytes tokenizer, vocab_size 257: train with --vocab-size 257" \
    "$W" train "${SMALL[@]}" --vocab-size 100 --data "$WORK/data" --out "$WORK/run6"
cp "$WORK/data/train_000000.bin" "$WORK/trunc_train.bin"
truncate -s -3 "$WORK/trunc_train.bin"
expect_fail "trunc_train.bin: file is" "$W" train "${SMALL[@]}" --data "$WORK/trunc_train.bin" --out "$WORK/run7"
head -c 2000 /dev/urandom > "$WORK/junk_train.bin"
expect_fail "junk_train.bin: header magic" "$W" train "${SMALL[@]}" --data "$WORK/junk_train.bin" --out "$WORK/run8"
expect_fail "train_seq_len: 64 exceeds the model's seq_len 32" "$W" train "${SMALL[@]}" --train-seq-len 64 \
    --data "$WORK/data" --out "$WORK/run9"


# ---- a hurried or hostile user (issue 21): clear messages, sensible defaults
# 3. a second prepare into the same directory replaces the first one's shards
expect_ok "$W" prepare --quiet --shard-tokens 2000 "$WORK/corpus.txt" "$WORK/re"
expect_ok "$W" prepare --quiet "$WORK/corpus.txt" "$WORK/re"
[ "$(ls "$WORK/re" | grep -c train_)" = 1 ] || fail "stale shards kept: $(ls "$WORK/re")"
cp "$WORK/re/train_000000.bin" "$WORK/re/train_000007.bin"  # one left over however it came
expect_fail "re: 2 train shard(s) of" "$W" train "${SMALL[@]}" --data "$WORK/re" --out "$WORK/rerun" --steps 1
grep -q "but $WORK/re/meta.json counts 1 of" "$WORK/e" || fail "leftover shard message: $(cat "$WORK/e")"
# 4. OUTDIR inside an input folder is not read back as text
mkdir -p "$WORK/src" && cp "$WORK/corpus.txt" "$WORK/src/"
expect_ok "$W" prepare --quiet "$WORK/src" "$WORK/src/out"
cp "$WORK/src/out/train_000000.bin" "$WORK/first.bin"
expect_ok "$W" prepare --quiet "$WORK/src" "$WORK/src/out"
cmp -s "$WORK/first.bin" "$WORK/src/out/train_000000.bin" || fail "the second prepare read its own output"
expect_fail "src: is the output directory too" "$W" prepare "$WORK/src" "$WORK/src"
# 5. one read_file for regular files, pipes, /proc files; never a directory
expect_fail "/proc/cpuinfo:1: expected key=value" "$W" info --config /proc/cpuinfo
expect_fail "/dev/zero: larger than 1048576 bytes" "$W" info --config /dev/zero
expect_fail "src: is a directory, expected a file" "$W" info --config "$WORK/src"
expect_ok "$W" info --config <(echo d_model=64)
grep -q '"d_model":64' "$WORK/o" || fail "config from a pipe: $(cat "$WORK/o")"
printf '{"d_model":64}garbage' > "$WORK/g.json"
expect_fail "g.json: invalid JSON at byte 14 near 'garbage'" "$W" info --config "$WORK/g.json"
expect_fail "--batch-size: expected an integer >= 1, got 'x'" "$W" info --batch-size x
expect_fail "--batch_size: expected an integer >= 1, got 'x'" "$W" info --batch_size=x
# a run's own config.json starts the same run again (flags still override)
expect_ok "$W" train --config "$WORK/run/config.json" --out "$WORK/again" --quiet
cmp -s <(cut -d, -f2 "$WORK/run/log.jsonl") <(cut -d, -f2 "$WORK/again/log.jsonl") || fail "config.json did not rerun the run"
# the smallest data set: exactly one window of seq_len + 1 tokens
$PY -c '
import struct, sys
for name, n in (("one/train_000000.bin", 33), ("short/train_000000.bin", 32)):
    open(sys.argv[1] + "/" + name, "wb").write(struct.pack("<256i", 20240520, 1, n, *[0] * 253) + struct.pack("<%dH" % n, *range(n)))
' "$(mkdir -p "$WORK/one" "$WORK/short" && echo "$WORK")"
expect_ok "$W" train "${SMALL[@]}" --data "$WORK/one" --out "$WORK/onerun" --steps 2
grep -q "done: 2 steps, final loss .*, no validation," "$WORK/o" || fail "done line without validation: $(cat "$WORK/o")"
expect_fail "32 training tokens: no shard holds one window of seq_len + 1 = 33 tokens" \
    "$W" train "${SMALL[@]}" --data "$WORK/short" --out "$WORK/shortrun" --steps 2
# resume and export by run directory or checkpoint file; the differing model key is named
expect_ok "$W" export "$WORK/run" "$WORK/hfrun"
grep -q "ckpt_00000006.bin (step 6" "$WORK/o" || fail "export RUNDIR: $(cat "$WORK/o")"
expect_ok "$W" train --resume "$WORK/run/ckpt_00000006.bin" --steps 8 --quiet
[ -f "$WORK/run/ckpt_00000008.bin" ] || fail "resume from a checkpoint file"
# the commands, from the one table
expect_fail "unknown command 'frob' (expected prepare, train, info, export, report, eval, generate, sweep or version" "$W" frob
expect_ok "$W" --version
grep -q "^wesar [0-9]" "$WORK/o" || fail "--version: $(cat "$WORK/o")"
expect_ok "$W" eval --help
grep -q -- "--json" "$WORK/o" && grep -q -- "--threads" "$WORK/o" || fail "eval --help: $(cat "$WORK/o")"
expect_ok "$W" train --help
grep -q -- "--quiet" "$WORK/o" && grep -q "decay_steps" "$WORK/o" || fail "train --help"
expect_ok "$W" generate --help
grep -q -- "--top-p" "$WORK/o" || fail "generate --help"
expect_fail "--stride: expected a number in [1, 1048576], got '1e12'" "$W" eval "$WORK/hf" --stride 1e12
expect_fail "threads: 1000000000 asked for, but at most" "$W" train "${SMALL[@]}" --threads 1000000000 \
    --data "$WORK/data" --out "$WORK/thr"
# --key=value everywhere; eval and generate take --threads; a full context is said
expect_ok "$W" prepare --quiet --val-fraction=0.2 "$WORK/corpus.txt" "$WORK/eq"
expect_ok "$W" eval "$WORK/hf" --wikitext="$WORK/corpus.txt" --threads=1 --limit 1 --json
printf 'ok \xff\n' > "$WORK/ff.txt"
expect_fail "ff.txt: byte 3 (0xff) is not valid UTF-8" "$W" eval "$WORK/hf" --wikitext "$WORK/ff.txt"
expect_ok "$W" eval "$WORK/hf" --wikitext /proc/self/status --threads 1
expect_ok "$W" generate "$WORK/hf" --max-new=1000 --threads 1
grep -q "note: stopped after 31 of the 1000 new tokens asked for: the context of 32 tokens is full" "$WORK/e" ||
    fail "no context-full note: $(cat "$WORK/e")"
: > "$WORK/empty.model"
expect_fail "empty.model: not a SentencePiece model: empty file" "$W" prepare --tokenizer sentencepiece \
    --tokenizer-path "$WORK/empty.model" "$WORK/corpus.txt" "$WORK/spm0"
# the default output directory: runs/<date>-<time>, never another run's; runs/latest links to it
mkdir -p "$WORK/cwd"
(cd "$WORK/cwd" && "$W" train "${SMALL[@]}" --data "$WORK/data" --steps 1 > o1 2>&1 &&
    "$W" train "${SMALL[@]}" --data "$WORK/data" --steps 1 > o2 2>&1) || fail "default --out: $(cat "$WORK/cwd/o1" "$WORK/cwd/o2")"
d1=$(sed -n 's/^run directory: //p' "$WORK/cwd/o1") d2=$(sed -n 's/^run directory: //p' "$WORK/cwd/o2")
[ -n "$d1" ] && [ "$d1" != "$d2" ] && [ -f "$WORK/cwd/$d1/ckpt_00000001.bin" ] && [ -f "$WORK/cwd/$d2/ckpt_00000001.bin" ] ||
    fail "default out dirs: '$d1' '$d2'"
[ "$(readlink "$WORK/cwd/runs/latest")" = "${d2#runs/}" ] || fail "runs/latest: $(readlink "$WORK/cwd/runs/latest")"
grep -q '"ckpt_every":500' "$WORK/cwd/$d1/config.json" || fail "default ckpt_every"
# checkpoints record the tokenizer and absolute data paths: eval, generate and resume from anywhere
(cd / && "$W" generate "$WORK/cwd/runs/latest" --max-new 3 > /dev/null 2> "$WORK/e" &&
    "$W" train --resume "$WORK/cwd/runs/latest" --steps 2 --quiet 2>> "$WORK/e") || fail "from another directory: $(cat "$WORK/e")"
grep -q '"tokenizer":"bytes"' "$WORK/cwd/$d1/config.json" || fail "tokenizer not recorded"


# 8. tokenizers that do not belong together: meta.json, the checkpoint's record, the vocabulary
if [ -f "$DATA/gpt2-tokenizer/encoder.json" ]; then
    expect_ok "$W" prepare --quiet --tokenizer gpt2 --tokenizer-path "$DATA/gpt2-tokenizer" "$WORK/corpus.txt" "$WORK/g2"
    G2=("${SMALL[@]}" --vocab-size 50257 --steps 1)
    expect_fail "data: the model's vocab_size 50257 does not fit: $WORK/data/meta.json says the bytes tokenizer" \
        "$W" train "${G2[@]}" --data "$WORK/data" --out "$WORK/g2a"
    expect_fail "data: the model's vocab_size 50257 does not fit" "$W" train "${G2[@]}" --data "$WORK/g2" \
        --val-data "$WORK/data" --out "$WORK/g2b"
    expect_ok "$W" train "${G2[@]}" --data "$WORK/g2" --vocab-size 50304 --out "$WORK/g2run"  # padded, as nanoGPT does
    expect_ok "$W" export "$WORK/g2run" "$WORK/g2hf"
    expect_fail "--tokenizer bytes: $WORK/g2hf was trained on gpt2 tokens" "$W" generate "$WORK/g2hf" --tokenizer bytes
    mkdir -p "$WORK/g2bare" && cp "$WORK/g2hf/config.json" "$WORK/g2hf/model.safetensors" "$WORK/g2bare/"  # no tokenizer files
    expect_fail "the bytes tokenizer has 257 tokens but the model 50304: not the model's tokenizer" \
        "$W" generate "$WORK/g2bare" --tokenizer bytes
    expect_fail "--tokenizer bytes: $WORK/g2run was trained on gpt2 tokens" "$W" generate "$WORK/g2run" --tokenizer bytes
    # the export carries its tokenizer: GPT-2's two files byte for byte, and generate finds it
    cmp -s "$WORK/g2hf/vocab.json" "$DATA/gpt2-tokenizer/encoder.json" && cmp -s "$WORK/g2hf/merges.txt" "$DATA/gpt2-tokenizer/vocab.bpe" ||
        fail "export: the gpt2 tokenizer files"
    $PY -c 'import json,sys; d=sys.argv[1]; g=json.load(open(d+"/generation_config.json")); t=json.load(open(d+"/tokenizer_config.json"))
assert g == {"bos_token_id": 50256, "eos_token_id": 50256} and t["tokenizer_class"] == "GPT2Tokenizer" and t["eos_token"] == "<|endoftext|>", (g, t)' \
        "$WORK/g2hf" || fail "export: tokenizer configs"
    expect_ok "$W" generate "$WORK/g2hf" --max-new 5 --seed 3 --ids
    expect_ok "$W" generate "$WORK/g2run" --max-new 5 --seed 3 --ids
    cp "$WORK/o" "$WORK/ids_ckpt"
    "$W" generate "$WORK/g2hf" --max-new 5 --seed 3 --ids 2> /dev/null | diff -q - "$WORK/ids_ckpt" > /dev/null ||
        fail "generate on the export differs from the checkpoint's"
    # a byte-tokenizer model exported into the same folder leaves no gpt2 file behind
    expect_ok "$W" export "$WORK/runw" "$WORK/g2hf"
    ls "$WORK/g2hf" | grep -q -e vocab.json -e merges.txt -e tokenizer_config && fail "a foreign tokenizer file stayed: $(ls "$WORK/g2hf")"
    grep -q '"eos_token_id":	256' "$WORK/g2hf/generation_config.json" || fail "bytes generation_config: $(cat "$WORK/g2hf/generation_config.json")"
    expect_fail "tokenizer: bytes, but $WORK/g2/meta.json says the data was prepared with gpt2" \
        "$W" train "${G2[@]}" --data "$WORK/g2" --tokenizer bytes --out "$WORK/g2c"
else
    echo "note: no $DATA/gpt2-tokenizer: tokenizer mismatch cases skipped"
fi
# SentencePiece's --tokenizer-path DIR (holding tokenizer.model), as the README writes it
mkdir -p "$WORK/spmdir"
$PY "$(dirname "$0")/small_spm_model.py" "$WORK/spmdir/tokenizer.model" ok
expect_ok "$W" prepare --quiet --tokenizer sentencepiece --tokenizer-path "$WORK/spmdir" "$WORK/corpus.txt" "$WORK/spd"
expect_ok "$W" prepare --quiet --tokenizer sentencepiece --tokenizer-path "$WORK/spmdir/tokenizer.model" "$WORK/corpus.txt" "$WORK/spf"
cmp -s "$WORK/spd/train_000000.bin" "$WORK/spf/train_000000.bin" || fail "--tokenizer-path DIR and FILE differ"
# a SentencePiece model's export carries its tokenizer.model
V=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$WORK/spd/meta.json")
expect_ok "$W" train "${SMALL[@]}" --vocab-size "$V" --data "$WORK/spd" --out "$WORK/sprun" --steps 2 --quiet
expect_ok "$W" export "$WORK/sprun" "$WORK/sphf"
grep -q "sentencepiece tokenizer (tokenizer.model)" "$WORK/o" && cmp -s "$WORK/sphf/tokenizer.model" "$WORK/spmdir/tokenizer.model" ||
    fail "export: tokenizer.model: $(cat "$WORK/o")"
grep -q '"tokenizer_class":	"LlamaTokenizer"' "$WORK/sphf/tokenizer_config.json" || fail "export: LlamaTokenizer config"
expect_ok "$W" generate "$WORK/sphf" --max-new 3
# Ctrl-C in prepare takes its spilled ids with it; a SIGKILLed one's go with the next prepare there
ENWIKI=$DATA/enwiki-2015-sample/enwiki_2015_AA.txt.xz
if [ -f "$ENWIKI" ]; then
    for sig in INT KILL; do
        rm -rf "$WORK/big"
        "$W" prepare --quiet "$ENWIKI" "$WORK/big" & pid=$!
        for _ in $(seq 100); do ls -a "$WORK/big" 2> /dev/null | grep -q prepare.ids && break; sleep 0.05; done
        sleep 0.3; kill -$sig $pid; wait $pid 2> /dev/null
        left=$(ls -a "$WORK/big" | grep -c "prepare.ids.tmp")
        if [ $sig = INT ]; then [ "$left" = 0 ] || fail "Ctrl-C left the spill: $(ls -a "$WORK/big")"
        else [ "$left" = 1 ] || fail "SIGKILL: expected the spill to stay: $(ls -a "$WORK/big")"; fi
    done
    expect_ok "$W" prepare "$WORK/corpus.txt" "$WORK/big"
    grep -q "removed 1 unfinished temporary file(s) of a killed prepare" "$WORK/e" || fail "no cleanup note: $(cat "$WORK/e")"
    [ "$(ls -a "$WORK/big" | grep -c "prepare.ids.tmp")" = 0 ] || fail "the killed prepare's spill stayed"
fi
# 10. ulimit -v: OpenBLAS's start-up buffers fit the limit, or one clear line (not under ASan: its shadow memory)
case $W in *asan*) ;; *)
    (ulimit -v 250000; timeout 20 "$W" info > "$WORK/o" 2> "$WORK/e") || fail "ulimit -v 250000: $? $(cat "$WORK/e")"
    grep -q "fits 1 OpenBLAS thread" "$WORK/e" && grep -q "^parameters:" "$WORK/o" || fail "ulimit -v note: $(cat "$WORK/e")"
    (ulimit -v 150000; timeout 20 "$W" --help > "$WORK/o" 2> "$WORK/e"; echo $? > "$WORK/rc")
    [ "$(cat "$WORK/rc")" = 1 ] && grep -q "virtual memory limit (ulimit -v) is 146 MiB; OpenBLAS reserves" "$WORK/e" ||
        fail "ulimit -v 150000: rc $(cat "$WORK/rc"): $(cat "$WORK/e")" ;;
esac

# the README's tables against the code's: every optimizer, option and reparameterization that
# `train --help` lists (from optim.c's and reparam.c's tables) has its row or entry in README.md
README="$(dirname "$0")/../README.md"
expect_ok "$W" train --help
sed -n '/optim, one of:/,/^             log_every/p' "$WORK/o" > "$WORK/optim_help"
[ "$(grep -c '^               [a-z]' "$WORK/optim_help")" -ge 5 ] || fail "train --help: the optimizers' table: $(cat "$WORK/optim_help")"
for o in $(grep '^               [a-z]' "$WORK/optim_help" | awk '{print $1}'); do
    grep -q "^| \`$o\` |" "$README" || fail "README: no row for optimizer $o (src/optim's table has it)"
done
for f in $(grep -o -- '^             --[a-z-]*' "$WORK/optim_help"); do
    grep -q -- "\`$f\`" "$README" || fail "README: optimizer option $f is not described"
done
for r in $(sed -n '/reparam, one of:/,/sigma2:/p' "$WORK/o" | grep '^               [a-z]' | awk '{print $1}'); do
    grep "^| \`reparam\` |" "$README" | grep -q "\`$r\`" || fail "README: the reparam row lacks $r (src/reparam's table has it)"
done

echo "cli: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
