#!/usr/bin/env bash
# GPU paths (policies auto and gpu, fp16 and bf16, ONNX Runtime's CUDA provider) checked against the
# CPU and timed. Under 5 minutes on one GPU, including generating the 3 GB synthetic checkpoint
# (cached in ~/.cache/hyperlora-bench). Without CUDA it checks the CPU side and says so.
# With COMFYUI_PATH set (ComfyUI 0.14.1 or newer, and COMFY_PYTHON its venv's python with comfy-aimdo), it
# then checks scheduled and regional identities under dynamic VRAM (benchmarks/gpu_dynamic_vram.py, < 4 min).
# On a machine with two or more GPUs it also checks multi-GPU conditioning: two threads, one per device, on one
# identity set (benchmarks/gpu_two_devices.py, < 1 min); with one GPU it says it did not.
#
#   benchmarks/gpu_check.sh            # uses $PYTHON, else python3
#   PYTHON=/path/to/venv/bin/python benchmarks/gpu_check.sh --repeat 5
#   COMFYUI_PATH=/path/to/ComfyUI-0.14.1 COMFY_PYTHON=/path/to/its/venv/bin/python benchmarks/gpu_check.sh
# Last, the CPU combination path chosen on this machine's CPU (GPU servers carry the CPUs the choice must
# hold on, e.g. AMX Xeons with a large L3): 5 fresh processes, each chosen path against every path timed
# on the whole combination (bench_core.py --plan-check; 17 s a process on the 2-core EPYC under load, timeout 2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
status=0
timeout 290 "$PYTHON" benchmarks/gpu_check.py "$@" || status=$?
timeout 120 "$PYTHON" benchmarks/gpu_two_devices.py || status=$?
if [ -n "${COMFYUI_PATH:-}" ]; then
  timeout 240 "${COMFY_PYTHON:-$PYTHON}" benchmarks/gpu_dynamic_vram.py || status=$?
else
  echo "dynamic VRAM: not checked (set COMFYUI_PATH to ComfyUI 0.14.1 or newer)"
fi
# --- CPU path choice on this CPU (issue 28) ---
grep -m1 "model name" /proc/cpuinfo || true
timeout 120 "$PYTHON" benchmarks/bench_core.py --plan-check 5 || status=$?
exit "$status"
