"""Which ONNX Runtime execution provider runs face analysis, and the onnxruntime-gpu shadowing trap.

insightface depends on the CPU package `onnxruntime`. Installed next to `onnxruntime-gpu`, both write
the same `onnxruntime` module and whichever was installed last wins, so the CUDA provider silently
disappears and face analysis runs on the CPU although torch sees the GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

logger = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PROVIDER_CHOICES = ("auto", "cpu", "cuda")
FIX_COMMAND = "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"

_warned: set[str] = set()


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def onnxruntime_cuda_problem(installed: Iterable[str], available_providers: Sequence[str],
                             cuda_available: bool) -> str | None:
    """Explain why ONNX Runtime cannot use a GPU that torch can, or None when there is no problem.

    installed: names of the installed Python distributions (any spelling);
    available_providers: onnxruntime.get_available_providers(); cuda_available: torch.cuda.is_available().
    Pure, so it is testable without a GPU.
    """
    if not cuda_available or CUDA in available_providers:
        return None
    names = {_normalise(name) for name in installed}
    cpu_package, gpu_package = "onnxruntime" in names, "onnxruntime-gpu" in names
    if cpu_package and gpu_package:
        cause = ("both onnxruntime (CPU, pulled in by insightface) and onnxruntime-gpu are installed, and the "
                 "CPU package hides the GPU one")
    elif gpu_package:
        cause = ("onnxruntime-gpu is installed but cannot load CUDA (its CUDA/cuDNN version probably does not "
                 "match this machine; reinstalling picks a matching build)")
    else:
        cause = "only the CPU package onnxruntime is installed"
    return (f"Face analysis will run on the CPU although a CUDA GPU is available: {cause}. "
            f"To use the GPU, run in ComfyUI's Python environment: {FIX_COMMAND}")


def _installed_distributions() -> list[str]:
    from importlib.metadata import distributions

    return [dist.metadata["Name"] or "" for dist in distributions()]


def _torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def warn_once(message: str) -> None:
    """Log a warning the first time a given message comes up in this process."""
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


def choose_providers(choice: str = "auto") -> list[str]:
    """ONNX Runtime providers for `choice` ("auto": CUDA when ONNX Runtime offers it, else CPU).

    Warns once about the shadowing trap; raises RuntimeError when "cuda" is asked for but unusable.
    """
    import onnxruntime

    choice = (choice or "auto").lower()
    if choice not in PROVIDER_CHOICES:
        raise ValueError(f"Unknown face analysis provider '{choice}'. Use one of: {', '.join(PROVIDER_CHOICES)}.")
    if choice == "cpu":
        return [CPU]
    available = onnxruntime.get_available_providers()
    if CUDA in available:
        return [CUDA, CPU]
    problem = onnxruntime_cuda_problem(_installed_distributions(), available, _torch_cuda_available())
    if choice == "cuda":
        raise RuntimeError(problem or (
            f"Face analysis was set to run on CUDA, but ONNX Runtime offers only {', '.join(available)} and "
            f"no CUDA GPU is visible. Set the provider to 'auto' or 'cpu'."))
    if problem:
        warn_once(problem)
    return [CPU]
