# bench/lib.sh - what the speed benchmarks (speed.sh, scaling.sh) share; source it.

# median of the "ms" of steps 2.. of a run's log.jsonl (step 1 pays the page faults)
median_ms() {
    sed -n 's/.*"ms":\([0-9.]*\).*/\1/p' "$1" | tail -n +2 | sort -n |
        awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
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
