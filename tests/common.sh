# tests/common.sh - helpers for the shell tests; source it after setting WORK.
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# expect_fail NEEDLE CMD...: non-zero exit, NEEDLE in stderr, a short message, no crash
expect_fail() {
    local needle=$1; shift
    "$@" > "$WORK/o" 2> "$WORK/e"
    local rc=$?
    if [ $rc -eq 0 ]; then fail "succeeded: $*"; return; fi
    [ $rc -lt 128 ] || fail "'$*' crashed (exit $rc): $(cat "$WORK/e")"
    grep -qF -- "$needle" "$WORK/e" || fail "'$*': stderr lacks '$needle': $(cat "$WORK/e")"
    [ "$(grep -c . "$WORK/e")" -le 3 ] || fail "'$*': more than a short error: $(cat "$WORK/e")"
}
expect_ok() { "$@" > "$WORK/o" 2> "$WORK/e" || fail "'$*' failed: $(cat "$WORK/e")"; }
