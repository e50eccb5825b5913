#!/usr/bin/env bash
# tests/study_rerun.sh - `scripts/study.sh --rerun` says before it trains when the build
# cannot give a line's numbers: a build whose kernels or vector extension differ from the
# ones the line records (README, "Reruns"), and stays quiet for a build that has them.
set -u
cd "$(dirname "$0")/.."
WORK=$(mktemp -d) && trap 'rm -rf "$WORK"' EXIT
source tests/common.sh
F=results/study/kosson.jsonl
read -r point gemm simd < <(python3 -c '
import json, sys
j = json.loads(open(sys.argv[1]).readline())
print(j["point"], j["gemm"].replace(" ", "_"), j.get("simd", "avx512"))' "$F")
gemm=${gemm//_/ }
same="wesar 0.9 (with MPI; products: $gemm, no bf16 (no AVX-512 BF16); built for $simd)"
other_simd=$([ "$simd" = avx2 ] && echo avx512 || echo avx2)
for v in "$same" "wesar 0.9 (with MPI; products: openblas Zen; built for $simd)" \
         "wesar 0.9 (with MPI; products: $gemm; built for $other_simd)"; do
    python3 scripts/study_readme.py --config "$F" "$point" data/x "$v" > /dev/null 2> "$WORK/note" ||
        fail "--config failed for '$v'"
    if [ "$v" = "$same" ]; then
        [ -s "$WORK/note" ] && fail "a note for a build with the line's machine: $(cat "$WORK/note")"
    else
        grep -q "note: the line was computed with $gemm, $simd build, this build has .*expect other numbers" \
            "$WORK/note" || fail "no note for '$v': $(cat "$WORK/note")"
    fi
done
exit $((FAILS != 0))
