# bench/common.sh - shared setup of the training benchmarks; source it with
# OUT set.  Builds wesar (W) and byte-level tinyshakespeare shards in $OUT/data.
DATA=${WESAR_DATA:-../shared/data}
make -s build/release/wesar
W=build/release/wesar
mkdir -p "$OUT"
[ -f "$OUT/data/train_000000.bin" ] ||
    "$W" prepare --tokenizer bytes "$DATA/tinyshakespeare/input.txt" "$OUT/data" > /dev/null
