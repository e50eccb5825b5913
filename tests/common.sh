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
# word_corpus FILE SEED LINES: lines of 12 words drawn from 20 common ones, seeded
word_corpus() {
    python3 -c '
import random, sys
r = random.Random(int(sys.argv[1]))
words = "the of and to in is was for on that with as by at from his her an be".split()
print("\n".join(" ".join(r.choice(words) for _ in range(12)) for _ in range(int(sys.argv[2]))))
' "$2" "$3" > "$1"
}
# poisoned_corpus FILE: a word corpus with a stretch of random characters in
# the middle; batches that land there have losses far above the trend, like
# the bad data batches behind PaLM's spikes
poisoned_corpus() {
    python3 -c '
import random
r = random.Random(5)
words = "the of and to in is was for on that with as by at from his her an be".split()
t = "\n".join(" ".join(r.choice(words) for _ in range(12)) for _ in range(800))
g = "".join(chr(r.randrange(33, 127)) for _ in range(600))
print(t[:len(t) // 2] + g + t[len(t) // 2:])
' > "$1"
}
