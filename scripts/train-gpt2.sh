#!/usr/bin/env bash
# The main job: tinyshakespeare with the GPT-2 tokenizer -> train -> evaluate
# -> sample.  Data and tokenizer are read from $WESAR_DATA, else ../shared/data.
# Extra arguments go to `wesar train` (e.g. --steps 50 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
data=""
for d in "${WESAR_DATA:-}" ../shared/data; do
    [ -n "$d" ] && [ -f "$d/gpt2-tokenizer/encoder.json" ] && { data=$d; break; }
done
if [ -z "$data" ]; then
    echo "error: the GPT-2 tokenizer files were not found." >&2
    echo "  Put encoder.json and vocab.bpe in \$WESAR_DATA/gpt2-tokenizer (and tinyshakespeare," >&2
    echo "  wikitext-2-raw, lambada beside it, see ../shared/data/README.md) and run again." >&2
    exit 1
fi
make -s build/wesar
build/wesar prepare --tokenizer gpt2 --tokenizer-path "$data/gpt2-tokenizer" \
    "$data/tinyshakespeare/input.txt" data/shakespeare-gpt2
# the tiny preset's shape with GPT-2's vocabulary: 29M parameters, 26M of them W_e and W_p
build/wesar train --preset tiny --vocab-size 50257 --seq-len 128 --batch-size 8 --steps 300 \
    --data data/shakespeare-gpt2 --out runs/shakespeare-gpt2 "$@"
# the first 10 WikiText-2 articles and 500 LAMBADA examples (drop --limit for all of them: minutes more)
build/wesar eval runs/shakespeare-gpt2 --wikitext "$data/wikitext-2-raw/wiki.test.raw" --limit 10
build/wesar eval runs/shakespeare-gpt2 --lambada "$data/lambada/lambada_test.jsonl" --limit 500
build/wesar generate runs/shakespeare-gpt2 --prompt "ROMEO:" --max-new 100 --seed 1
