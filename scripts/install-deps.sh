#!/usr/bin/env bash
# Installs the Debian packages wesar needs to build, train and test.
# Idempotent: does nothing when everything is there.  Run as root (or via sudo).
set -euo pipefail
# clang + libclang-rt-14-dev: the libFuzzer targets (fuzz/); util-linux: unshare for the disk-full test;
# chromium (+ fonts-liberation, which --no-install-recommends leaves out): tests/report.sh renders
# `wesar report` headless and checks the screenshot; libpcre2-dev: the gpt2 pre-tokenizer;
# python3-regex: the independent GPT-2 encoder in tests/ref/check_gpt2.py; liblzma-dev: `wesar prepare`
# streams .xz; python3-sentencepiece: libsentencepiece, the reference in tests/ref/check_spm.py;
# libopenmpi-dev + openmpi-bin: data-parallel training (src/dist, tests/mpi.sh), and openssh-client,
# without which OpenMPI's mpirun refuses to start even on one machine (plm_rsh_agent not found);
# zlib1g-dev + libzstd-dev: `wesar prepare` streams .gz and .zst, with python3-zstandard as the
# reference in tests/ref/check_prepare.py; libdnnl-dev: oneDNN, which computes --precision bf16's
# products (src/kernels/gemm_onednn.c); libblis-dev: BLIS, which bench/gemm.sh measures beside them
PKGS=(gcc make libc6-dev libopenblas-openmp-dev libcjson-dev python3 python3-numpy python3-torch curl xz-utils
      clang libclang-rt-14-dev util-linux chromium fonts-liberation libpcre2-dev python3-regex liblzma-dev
      python3-sentencepiece libopenmpi-dev openmpi-bin openssh-client zlib1g-dev libzstd-dev python3-zstandard
      libdnnl-dev libblis-dev)
# llama.cpp for the GGUF test (tests/ref/check_gguf.py): node-llama-cpp's prebuilt CPU binary from
# the npm registry, versions pinned in tests/llama/package-lock.json; no install scripts, no optional
# (GPU, other OS) packages, no download of llama.cpp's sources.  It needs Node.js >= 20.
llama_cpp() {
    [ -d tests/llama/node_modules/@node-llama-cpp/linux-x64 ] && return 0
    command -v npm > /dev/null || return 0 # the test says it is skipped, and why
    (cd tests/llama && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --ignore-scripts --no-audit \
        --no-fund --loglevel=error)
}
cd "$(dirname "$0")/.."
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v node > /dev/null; then missing+=(nodejs npm); fi
[ ${#missing[@]} -eq 0 ] && { llama_cpp; exit 0; }
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
llama_cpp
