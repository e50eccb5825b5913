#!/usr/bin/env bash
# tests/fuzz.sh - runs every libFuzzer target (build/fuzz/fuzz_*) for a
# bounded time under ASan/UBSan, starting from its seed corpus in
# fuzz/corpus/; any crash, leak, sanitizer report or timeout fails.  The
# targets run side by side, one per core (each is single-threaded).
# usage: fuzz.sh WORKDIR [SECONDS per target, default $WESAR_FUZZ_SECONDS or 12]
set -u
cd "$(dirname "$0")/.."
WORK=$1 SECS=${2:-${WESAR_FUZZ_SECONDS:-12}}
rm -rf "$WORK" && mkdir -p "$WORK"
# one target: its line (or its failure report) into WORK/T.result, its exit status into WORK/T.rc
fuzz_one() {
    local bin=$1 t=${1##*/fuzz_} rc runs cov
    mkdir -p "$WORK/$t"  # new inputs go here; the seed corpus stays as committed
    # -max_len: room for the seed checkpoints; -timeout: a slow input is a bug too
    TMPDIR="$WORK" "$bin" "$WORK/$t" "fuzz/corpus/$t" -max_total_time="$SECS" -max_len=16384 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/crash_$t-" \
        > "$WORK/$t.log" 2>&1
    rc=$?
    echo $rc > "$WORK/$t.rc"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$WORK/$t.log" | tail -1)
    if [ $rc -ne 0 ]; then
        echo "FAIL fuzz_$t (exit $rc):"
        # what names the bug first (a CI log may keep only its first lines): the message, the input
        grep -m 5 -e "^bad " -e "SUMMARY" -e "runtime error" "$WORK/$t.log"
        for c in "$WORK"/crash_"$t"-*; do
            [ -f "$c" ] && echo "input ${c##*/}:" && od -An -c "$c" | head -24
        done
        grep -m 30 -e ERROR -e "^    #" "$WORK/$t.log"
    else
        printf 'fuzz_%-9s %9s executions in %ss, %s, %s inputs in corpus\n' "$t" "${runs:-?}" "$SECS" \
            "${cov:-cov: ?}" "$(ls "$WORK/$t" | wc -l)"
    fi > "$WORK/$t.result"
}

# libFuzzer runs on one thread: as many targets at once as there are cores, each for SECS
JOBS=$(nproc 2> /dev/null || echo 1)
targets=()
for bin in build/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    fuzz_one "$bin" &
    targets+=("${bin##*/fuzz_}")
done
wait
FAILS=0
for t in "${targets[@]}"; do # in order, whatever order they ended in
    cat "$WORK/$t.result"
    [ "$(cat "$WORK/$t.rc" 2> /dev/null)" = 0 ] || FAILS=$((FAILS + 1))
done
[ "$FAILS" -eq 0 ]
