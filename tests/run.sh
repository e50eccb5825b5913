#!/usr/bin/env bash
# tests/run.sh - the whole test suite.  Ends with the line "N passed, N failed".
#   WESAR_SKIP_LONG=1  skip the full tiny-preset training run (about 4 minutes)
#   WESAR_SKIP_ASAN=1  skip the AddressSanitizer/UBSan pass
#   WESAR_SKIP_FUZZ=1  skip the libFuzzer runs; WESAR_FUZZ_SECONDS=N per target (12)
#   WESAR_DATA=DIR     where the shared data lives (default ../shared/data)
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=${WESAR_DATA:-$ROOT/../shared/data}
WORK=$(mktemp -d /tmp/wesar_tests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PASSED=0 FAILED=0 SKIPPED=0 FAILED_NAMES=""

# run NAME CMD...: one test; its output is shown on failure
run() {
    local name=$1; shift
    local t0=$SECONDS
    if "$@" > "$WORK/out.txt" 2>&1; then
        PASSED=$((PASSED + 1)); printf 'PASS %-34s %4ds\n' "$name" $((SECONDS - t0))
    else
        FAILED=$((FAILED + 1)); FAILED_NAMES="$FAILED_NAMES $name"
        printf 'FAIL %-34s %4ds\n' "$name" $((SECONDS - t0)); sed 's/^/     | /' "$WORK/out.txt" | tail -40
    fi
}
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIPPED %s: %s\n' "$1" "$2"; }

# Debian's python3-torch lives under /usr/bin/python3; a pyenv python3 may shadow it.
TORCH_PY=""
for py in /usr/bin/python3 python3; do
    if command -v "$py" > /dev/null && "$py" -c 'import torch, numpy' 2> /dev/null; then TORCH_PY=$py; break; fi
done

# GGUF export against llama.cpp (node-llama-cpp, installed by scripts/install-deps.sh)
gguf_test() {
    local nodev
    nodev=$(node -p 'process.versions.node.split(".")[0]' 2> /dev/null || echo 0)
    if [ ! -d tests/llama/node_modules/@node-llama-cpp/linux-x64 ] || [ "$nodev" -lt 20 ]; then
        skip "release/gguf" "no node >= 20 with tests/llama/node_modules (scripts/install-deps.sh installs it)"
    elif [ ! -f "$DATA/gpt2-tokenizer/encoder.json" ] || [ ! -f "$DATA/llama2-tokenizer/tokenizer.model" ]; then
        skip "release/gguf" "the gpt2 and llama2 tokenizers are not in $DATA (set WESAR_DATA)"
    else
        run "release/gguf vs llama.cpp: ids, logprobs 1e-4, control" "$TORCH_PY" tests/ref/check_gguf.py \
            build/release/wesar "$WORK/gguf" "$DATA" tests/llama
    fi
}

# variant B: build/<B>/ binaries
suite() {
    local B=$1
    run "$B/units" build/$B/test_units
    run "$B/methods" build/$B/test_methods
    run "$B/overfit" build/$B/test_overfit
    if [ -n "$TORCH_PY" ]; then
        for cfg in "mlp=gelu" "mlp=gelu n_kv_heads=2" "mlp=swiglu" "mlp=swiglu n_kv_heads=1" \
                   "reparam=wesar" "reparam=wesar mlp=swiglu n_kv_heads=2" "reparam=weightnorm" \
                   "reparam=sigmareparam mlp=swiglu" "reparam=residual init=small"; do
            run "$B/torch-ref ${cfg// /,}" "$TORCH_PY" tests/ref/check_model.py build/$B/ref_dump \
                "$WORK/ref_$B" $cfg
        done
        for cfg in "adamw" "adamw-nobc" "lion" "lion nesterov ibc" "lion rrc" "liona" "liona nesterov ibc rrc" \
                   "lionar" "lionar rrc" "lionar nesterov ibc rrc"; do
            run "$B/optim-ref ${cfg// /,}" "$TORCH_PY" tests/ref/check_optim.py build/$B/optim_dump "$WORK/opt_$B" $cfg
        done
        for cfg in "reparam=none rrc_tokens=7" "reparam=wesar rrc_tokens=1000" "reparam=weightnorm rrc_tokens=7" \
                   "reparam=sigmareparam mlp=swiglu rrc_tokens=5" "reparam=residual mlp=swiglu n_kv_heads=2 rrc_tokens=7"; do
            run "$B/telemetry-ref ${cfg// /,}" "$TORCH_PY" tests/ref/check_telemetry.py build/$B/ref_dump "$WORK/tel_$B" $cfg
        done
        if [ -f "$DATA/gpt2-tokenizer/encoder.json" ]; then
            run "$B/gpt2 tokenizer: published ids, reference, round trip" "$TORCH_PY" tests/ref/check_gpt2.py \
                build/$B/tok_dump "$DATA/gpt2-tokenizer" "$WORK/gpt2_$B" --prepare build/$B/wesar \
                "$DATA/wikitext-2-raw/wiki.test.raw" \
                "$DATA/tinyshakespeare/input.txt"
        else
            skip "$B/gpt2 tokenizer" "$DATA/gpt2-tokenizer not found (set WESAR_DATA)"
        fi
        if ! "$TORCH_PY" -c 'import sentencepiece' 2> /dev/null; then
            skip "$B/sentencepiece tokenizer" "no python3-sentencepiece (the reference)"
        elif [ -f "$DATA/llama2-tokenizer/tokenizer.model" ]; then
            run "$B/sentencepiece: published ids, libsentencepiece, round trip" "$TORCH_PY" tests/ref/check_spm.py \
                build/$B/tok_dump "$DATA/llama2-tokenizer/tokenizer.model" "$WORK/spm_$B" --prepare build/$B/wesar \
                "$DATA/wikitext-2-raw/wiki.test.raw" "$DATA/tinyshakespeare/input.txt"
        else
            skip "$B/sentencepiece tokenizer" "$DATA/llama2-tokenizer not found (set WESAR_DATA)"
        fi
        if [ -f "$DATA/lambada/lambada_test.jsonl" ] && [ -f "$DATA/gpt2-tokenizer/encoder.json" ]; then
            run "$B/eval + generate vs PyTorch (lm-eval definitions)" "$TORCH_PY" tests/ref/check_eval.py \
                build/$B/wesar "$WORK/eval_$B" "$DATA"
        else
            skip "$B/eval" "$DATA/lambada or gpt2-tokenizer not found (set WESAR_DATA)"
        fi
        # the 100 MB Wikipedia sample once, in the release build (ASan would take minutes)
        local enwiki="$DATA/enwiki-2015-sample/enwiki_2015_AA.txt.xz"
        [ "$B" = release ] && [ -f "$enwiki" ] || enwiki=""
        run "$B/prepare: folders, jsonl, xz${enwiki:+, 100 MB streamed}" "$TORCH_PY" tests/ref/check_prepare.py \
            build/$B/wesar "$WORK/prep_$B" $enwiki
        run "$B/torch-ref power iteration" "$TORCH_PY" tests/ref/check_power.py build/$B/ref_dump "$WORK/pw_$B"
        if [ "$B" = release ]; then gguf_test; fi
        for cfg in "reparam=wesar" "reparam=wesar mlp=swiglu n_kv_heads=2" "reparam=weightnorm" \
                   "reparam=sigmareparam mlp=swiglu" "reparam=residual init=small" "reparam=none init=gpt2"; do
            run "$B/hf-export ${cfg// /,}" "$TORCH_PY" tests/ref/check_export.py build/$B/ref_dump \
                build/$B/wesar "$WORK/ex_$B" $cfg
        done
    else
        echo "*****************************************************************"
        echo "SKIPPED: PyTorch reference tests: no python3 with torch and numpy"
        echo "         (apt-get install python3-torch python3-numpy)"
        echo "*****************************************************************"
        skip "$B/torch-ref" "python3-torch is not installed"
    fi
    run "$B/cli" tests/cli.sh build/$B/wesar "$WORK/cli_$B" "$DATA"
    run "$B/faults: rollback, disk full, damaged input" tests/faults.sh build/$B/wesar "$WORK/faults_$B"
    run "$B/sweep: grid, SIGKILL resume, divergence, mpirun" tests/sweep.sh build/$B/wesar "$WORK/sweep_$B"
    # exit 77: everything but the Chromium screenshot passed, and chromium is missing
    tests/report.sh build/$B/wesar "$WORK/report_$B" > "$WORK/report.txt" 2>&1
    case $? in
        0) run "$B/report (Chromium screenshot)" cat "$WORK/report.txt" ;;
        77) run "$B/report" true; skip "$B/report screenshot" "chromium is not installed (apt-get install chromium)" ;;
        *) run "$B/report" sh -c "cat '$WORK/report.txt'; false" ;;
    esac
}

run "fp64/finite-differences" build/fp64/test_grad
suite release
run "release/resume after SIGKILL and SIGTERM" tests/resume.sh build/release/wesar "$WORK/resume"
if ! grep -q -- -DWESAR_MPI build/release/flags 2> /dev/null; then
    skip "mpi" "build/release has no MPI (apt-get install libopenmpi-dev openmpi-bin openssh-client; make)"
else
    run "release/mpi: P=2 = P=1, ZeRO-1, resume across P, dead rank" tests/mpi.sh build/release/wesar \
        build/asan/wesar "$WORK/mpi"
fi
if [ -f "$DATA/tinyshakespeare/input.txt" ]; then
    run "release/bf16 tracks fp32, resumes exactly" tests/bf16.sh build/release/wesar "$WORK/bf16" "$DATA"
else
    skip "bf16" "$DATA/tinyshakespeare/input.txt not found (set WESAR_DATA)"
fi
if [ -f "$DATA/tinyshakespeare/input.txt" ]; then
    run "release/study: the README's tables and results/study/ are what results/ gives" \
        env W=build/release/wesar WESAR_DATA="$DATA" scripts/study.sh --check
    run "release/study --rerun: a word first where the build differs" tests/study_rerun.sh
else
    skip "study tables" "$DATA/tinyshakespeare/input.txt not found (set WESAR_DATA)"
fi
if [ "${WESAR_SKIP_FUZZ:-0}" = 1 ]; then
    skip "fuzz" "WESAR_SKIP_FUZZ=1"
else
    run "fuzz: every parser, ${WESAR_FUZZ_SECONDS:-12}s each, ASan/UBSan" tests/fuzz.sh "$WORK/fuzz"
    cat "$WORK/out.txt"
fi
if [ "${WESAR_SKIP_ASAN:-0}" = 1 ]; then
    skip "asan" "WESAR_SKIP_ASAN=1"
else
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    suite asan
fi
if [ "${WESAR_SKIP_LONG:-0}" = 1 ]; then
    skip "tiny-preset-run" "WESAR_SKIP_LONG=1"
elif [ ! -f "$DATA/tinyshakespeare/input.txt" ]; then
    skip "tiny-preset-run" "$DATA/tinyshakespeare/input.txt not found (set WESAR_DATA)"
else
    run "tiny preset reaches val < 2.0" tests/tiny_run.sh build/release/wesar "$WORK/tiny" "$DATA"
fi
[ -n "$FAILED_NAMES" ] && echo "failed:$FAILED_NAMES"
[ "$SKIPPED" -gt 0 ] && echo "$SKIPPED skipped"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
