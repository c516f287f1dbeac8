#!/usr/bin/env bash
# Check and time the Triton kernels and every backend x embedding combination on one NVIDIA GPU.
#
#   bench/gpu_check.sh                      # writes bench/results/gpu_check-<card>.json
#   bench/gpu_check.sh --out /tmp/r.json --budget-s 300
#
# Steps (bench/gpu_check.py): 1. compile the Triton kernels and compare them with the eager path on
# the GPU (reference shape and odd shapes, fp32 and fp16), 2. `dlrmbench verify --device cuda` in
# fp32 and amp, 3. training samples/s of every combination at the reference single-GPU shape (FL15
# tables, facts sheet 4.1; batch 32768; tf32 and amp). The whole run is capped at 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi missing or failing); nothing to do" >&2
    exit 2
fi
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
unset TRITON_INTERPRET  # the kernels must compile for the GPU, not run in the interpreter
exec timeout --signal=INT 480 "$PYTHON" bench/gpu_check.py "$@"
