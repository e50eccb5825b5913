#!/usr/bin/env bash
# The byte-level run: build wesar, tokenize tinyshakespeare (bytes), train the tiny
# preset.  The corpus is read from $WESAR_DATA, else ../shared/data, else
# downloaded from its public address.  Extra arguments go to `wesar train`.
set -euo pipefail
cd "$(dirname "$0")/.."
URL=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
SHA=86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
REL=tinyshakespeare/input.txt
corpus=""
for d in "${WESAR_DATA:-}" ../shared/data data; do
    [ -n "$d" ] && [ -f "$d/$REL" ] && { corpus="$d/$REL"; break; }
done
if [ -z "$corpus" ]; then
    mkdir -p data/tinyshakespeare
    echo "tinyshakespeare not found in \$WESAR_DATA or ../shared/data; downloading $URL"
    if ! curl -fsSL --retry 2 -o data/$REL.part "$URL"; then
        echo "error: could not find or download tinyshakespeare." >&2
        echo "  Put input.txt at \$WESAR_DATA/$REL (or ../shared/data/$REL) and run again." >&2
        exit 1
    fi
    echo "$SHA  data/$REL.part" | sha256sum -c --quiet || { echo "error: download corrupt" >&2; exit 1; }
    mv data/$REL.part data/$REL
    corpus=data/$REL
fi
make -s build/wesar
build/wesar prepare --tokenizer bytes "$corpus" data/tinyshakespeare/bytes
build/wesar train --preset tiny --data data/tinyshakespeare/bytes --out runs/tiny "$@"
