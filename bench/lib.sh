# bench/lib.sh - what the speed benchmarks (speed.sh, scaling.sh) share; source it.

# median of the "ms" (or FIELD) of steps 2.. of a run's log.jsonl (step 1
# pays the page faults)
median_ms() { # LOG [FIELD]
    sed -n "s/.*\"${2:-ms}\":\\([0-9.]*\\).*/\\1/p" "$1" | tail -n +2 | sort -n |
        awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

# random llm.c shard of 2M tokens: 256 int32 header, uint16 tokens
make_shard() { # VOCAB FILE
    "${PY:-python3}" -c '
import sys, numpy as np
v, path = int(sys.argv[1]), sys.argv[2]
n = 2_000_000
h = np.zeros(256, np.int32); h[0], h[1], h[2] = 20240520, 1, n
tok = np.random.default_rng(0).integers(0, v, n, dtype=np.uint16)
with open(path, "wb") as f: f.write(h.tobytes()); f.write(tok.tobytes())
' "$1" "$2"
}

# flops_per_token CONFIG_JSON T: 6 * (matrix parameters except the embedding
# lookup) + 12 * n_layers * d_model * T (attention counted unmasked, as
# nanoGPT and PaLM count it)
flops_per_token() {
    python3 -c '
import json, sys
c = json.loads(sys.argv[1]); T = int(sys.argv[2])
d, F, L, V = c["d_model"], c["ffn_dim"], c["n_layers"], c["vocab_size"]
hd = d // c["n_heads"]; kv = c["n_kv_heads"] * hd
layer = 2 * d * d + 2 * d * kv + (3 if c["mlp"] == "swiglu" else 2) * d * F
print(6 * (L * layer + V * d) + 12 * L * d * T)' "$1" "$2"
}

# bench_config NAME: the benchmark configurations, as wesar flags (args), the
# batch (B x T) and the model config JSON (cfg), for the wesar in $W
bench_config() {
    case $1 in
        tiny) args="--preset tiny"; B=16 T=256 ;;
        d384) args="--preset tiny --d-model 384 --n-layers 6 --n-heads 6 --n-kv-heads 6 --ffn-dim 1536 --seq-len 256 --vocab-size 50257"; B=8 T=256 ;;
        gpt2-small) args="--preset gpt2-small"; B=2 T=1024 ;;
        *) echo "unknown config $1" >&2; exit 1 ;;
    esac
    cfg=$("$W" info $args | sed -n 's/^config: //p')
}

# bench_setup_torch NAME: a temporary directory TMP (removed on exit) and PY,
# a python3 with torch (Debian's lives under /usr/bin; a pyenv one may shadow it)
bench_setup_torch() {
    TMP=$(mktemp -d /tmp/wesar_bench.XXXXXX)
    trap 'rm -rf "$TMP"' EXIT
    PY=""
    for py in /usr/bin/python3 python3; do "$py" -c 'import torch' 2> /dev/null && { PY=$py; break; }; done
    [ -n "$PY" ] || { echo "bench/$1.sh needs python3-torch (apt-get install python3-torch)" >&2; exit 1; }
}
