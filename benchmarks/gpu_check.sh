#!/usr/bin/env bash
# GPU paths (policies auto and gpu, fp16 and bf16, ONNX Runtime's CUDA provider) checked against the
# CPU and timed. Under 5 minutes on one GPU, including generating the 3 GB synthetic checkpoint
# (cached in ~/.cache/hyperlora-bench). Without CUDA it checks the CPU side and says so.
#
#   benchmarks/gpu_check.sh            # uses $PYTHON, else python3
#   PYTHON=/path/to/venv/bin/python benchmarks/gpu_check.sh --repeat 5
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout 290 "$PYTHON" benchmarks/gpu_check.py "$@"
