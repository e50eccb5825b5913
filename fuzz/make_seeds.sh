#!/usr/bin/env bash
# fuzz/make_seeds.sh - regenerates the seed corpora in fuzz/corpus/ with
# wesar itself: small valid inputs of every kind, for the fuzzer to mutate.
# usage: fuzz/make_seeds.sh [WESAR]   (default build/release/wesar)
set -eu
cd "$(dirname "$0")/.."
W=${1:-build/release/wesar}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
C=fuzz/corpus
# (regress_* files, inputs that once found a bug, are kept as they are)
mkdir -p "$C/shard" "$C/ckpt" "$C/config" "$C/runstate" "$C/report" "$C/gpt2" "$C/spm" "$C/prepare" "$C/import" "$C/sweep"
# sweep: a sweep file \x01 a sweep.json
printf 'out = x\nbase = --d-model 32 --n-layers 1 --n-heads 2 --seq-len 32 --data d\ngrid.reparam = none,wesar\ngrid.sigma2 = 4e-5,64e-5\ngrid.init+reparam = small+none,he+wesar\nseeds = 1,2\ntune_seed = 1\n\x01{"base":"--d-model 32 --n-heads 2 --data d","axes":[{"key":"lr","values":["1e-3","3e-3"]},{"key":"sigma2","values":["4e-5"]}],"seeds":[1,2],"tune_seed":-1,"diverge_factor":2,"threads":1}' \
    > "$C/sweep/grid.bin"
# shards: version 1 (uint16) and 2 (uint32), ids below 16
python3 - "$T" "$C/shard" << 'PYEOF'
import struct, sys
t, out = sys.argv[1], sys.argv[2]
toks = [(i * 7 + i // 5) % 16 for i in range(300)]
def shard(version, toks):
    h = [20240520, version, len(toks)] + [0] * 253
    return struct.pack("<256i", *h) + struct.pack("<%d%s" % (len(toks), "H" if version == 1 else "I"), *toks)
open(t + "/data_train.bin", "wb").write(shard(1, toks))
open(out + "/v1.bin", "wb").write(shard(1, toks[:40]))
open(out + "/v2.bin", "wb").write(shard(2, toks[:40]))
open(out + "/empty.bin", "wb").write(shard(1, []))
PYEOF
"$W" train --vocab-size 16 --d-model 4 --n-heads 1 --n-layers 1 --ffn-dim 8 --seq-len 8 --batch-size 2 \
    --steps 2 --warmup 0 --val-every 0 --threads 1 --data "$T/data_train.bin" --out "$T/run" \
    --reparam wesar --on-spike rollback --quiet --telemetry-every 1
for mode in 0 1; do
    { printf "\\x0$mode"; cat "$T/run/ckpt_00000002.bin"; } > "$C/ckpt/wesar_$mode.bin"
done
python3 - "$T/run/ckpt_00000002.bin" "$C/runstate/spike.json" << 'PYEOF'
import json, struct, sys
d = open(sys.argv[1], "rb").read()
hl = struct.unpack("<I", d[12:16])[0]
open(sys.argv[2], "w").write(json.dumps(json.loads(json.loads(d[16:16 + hl])["run"])["spike"]))
PYEOF
# report: config.json \x01 log.jsonl \x01 telemetry.jsonl of that run (its first line only)
{ cat "$T/run/config.json"; printf '\x01'; cat "$T/run/log.jsonl"; printf '\x01'; head -1 "$T/run/telemetry.jsonl"; } \
    > "$C/report/run.bin"
printf '{"model":{"n_layers":1},"train":{}}\x01{"step":1,"loss":2,"spike":true}\n{"step":2,"event":"rollback","failed_step":3}\n' \
    > "$C/report/minimal.bin"
python3 - "$T/run/ckpt_00000002.bin" "$C/runstate/jump.json" << 'PYEOF'
import json, struct, sys
d = open(sys.argv[1], "rb").read()
hl = struct.unpack("<I", d[12:16])[0]
open(sys.argv[2], "w").write(json.dumps(json.loads(json.loads(d[16:16 + hl])["run"])["jump"]))
PYEOF
# gpt2: a small byte-level vocabulary with two merges \x01 its merges \x01 a text
python3 tests/small_gpt2_vocab.py "$T/tk"
{ cat "$T/tk/encoder.json"; printf '\x01'; cat "$T/tk/vocab.bpe"; printf '\x01'
  printf "the theme, I'm 42 \xe6\x97\xa5\xe6\x9c\xac <|endoftext|>\xff the end\n"; } > "$C/gpt2/small.bin"
# import: that run exported (config.json \x01 model.safetensors)
"$W" export "$T/run/ckpt_00000002.bin" "$T/export" > /dev/null
{ cat "$T/export/config.json"; printf '\x01'; cat "$T/export/model.safetensors"; } > "$C/import/tiny.bin"
# spm: the hand-made model (user-defined and UNUSED pieces) \x01 a text
python3 tests/small_spm_model.py "$T/s.model" ok
python3 tests/small_spm_model.py "$T/p.model" plain
{ cat "$T/s.model"; printf '\x01  the thing<sep>ing  \xff\xe2\x96\x81 x'; } > "$C/spm/ok.bin"
{ cat "$T/p.model"; printf '\x01 the   then\n'; } > "$C/spm/plain.bin"
# prepare: \x00 + text, \x01 + JSON lines, and both compressed (xz, gzip, zstd)
printf '\x00First line.\nSecond line, a bit longer than the first one.\n' > "$C/prepare/text.bin"
printf '\x01{"text": "one document"}\n\n{"text": "two\\nlines", "id": 2}\n' > "$C/prepare/jsonl.bin"
{ printf '\x00'; printf 'compressed text %.0s' $(seq 40) | xz -c; } > "$C/prepare/text_xz.bin"
{ printf '\x01'; printf '{"text": "doc %s"}\n' $(seq 30) | xz -c; } > "$C/prepare/jsonl_xz.bin"
{ printf '\x00'; printf 'gzip text %.0s' $(seq 40) | gzip -c; printf ' and more' | gzip -c; } > "$C/prepare/text_gz.bin"
{ printf '\x01'; printf 'Title one\n\nbody of one\nmore\n\nTitle two\n\nbody two\n'; } > "$C/prepare/boundary.bin"
{ printf '\x01'; printf '{"text": "doc %s"}\n' $(seq 30) | zstd -qc; } > "$C/prepare/jsonl_zst.bin"
printf '{"window":20,"k":6,"n":3,"head":3,"run":0,"events":1,"hist":[2.5,2.25,2.125]}' > "$C/runstate/three.json"
printf '{"d_model": 64, "n_layers": 2, "mlp": "swiglu", "reparam": "wesar", "sigma2": 4e-5, "lr": 0.002, "on_spike": "rollback"}' \
    > "$C/config/a.json"
printf 'd_model = 64\nn_heads = 4\nn_kv_heads = 2\n# a comment\nsteps=10\nbeta1 = 0.98\ninit = small\n' > "$C/config/b.conf"
ls -l "$C"/*
