#!/usr/bin/env bash
# bench/gemm.sh - the training step's matrix products on every GEMM this machine has
# (build/release/gemm_shapes: OpenBLAS, BLIS, oneDNN fp32 and bf16, wesar's bf16 kernel),
# in ROUNDS interleaved rounds, median and spread per row.  Run twice: with the environment
# as it is, and with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, i.e. with the kernels
# OpenBLAS picks for this CPU itself (some machines pin older kernels in the environment;
# each run prints which kernels it got).
#   usage: bench/gemm.sh      (THREADS=2, ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
make -s build/release/gemm_shapes
echo "== the environment as it is (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
build/release/gemm_shapes "$THREADS" "$ROUNDS"
echo "== OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset: OpenBLAS's own choice"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE build/release/gemm_shapes "$THREADS" "$ROUNDS"
