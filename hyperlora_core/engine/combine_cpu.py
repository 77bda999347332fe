"""CPU kernels for sum_k c[g, k] * basis[g, k], and the per-machine choice between them.

Every kernel takes one group's stacked bases (G, K, N) and its coefficient rows (G, K) and
returns (G, N) float32. They differ in how they meet the CPU:

- fused: `embedding_bag` in "sum" mode with per-sample weights is exactly this weighted row
  sum; its kernel (FBGEMM) reads each half-precision basis once, converts in registers and
  accumulates in fp32. One pass over the bytes, all cores, one call per group. The result is
  rounded once to the bases' dtype (a relative 2^-11 for fp16: the precision of the bases).
- fp32_chunks: convert cache-sized blocks to fp32, then one fp32 `bmm`: exact, two passes.
- native_bmm: one `bmm` per group in the bases' dtype. Only a candidate where oneDNN has a
  native half-precision matmul (AVX512-FP16 / AMX); elsewhere it is ~50x slower than a read.

Which is fastest depends on the CPU, so `cpu_plan` times the candidates once per process on a
slice of the real bases (a few ms each) and keeps the winner. `HYPERLORA_CPU_PATH` forces one.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

CPU_CHUNK_ELEMENTS = 1 << 22  # fp32 scratch of 16 MiB: few Python steps, bounded extra memory
PLAN_SLICE_BYTES = 32 << 20  # bases timed per candidate: large against call overhead, small against load time
MIN_PLAN_BYTES = 8 << 20  # below this (test checkpoints) timings are noise: use the default, decide later
PLAN_ROUNDS = 3
DEFAULT_PATH = "fp32_chunks"  # exact; small banks cost nothing either way
ENV_OVERRIDE = "HYPERLORA_CPU_PATH"

logger = logging.getLogger(__name__)


def combine_fused(coeff: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """One embedding_bag over the group: bag g sums rows (g, 0..K-1) weighted by coeff[g]."""
    slots, num_basis, width = data.shape
    rows = slots * num_basis
    indices = torch.arange(rows)
    offsets = torch.arange(0, rows, num_basis)
    weights = coeff.to(data.dtype).reshape(-1)
    return F.embedding_bag(indices, data.view(rows, width), offsets, mode="sum",
                           per_sample_weights=weights).float()


def combine_fp32_chunks(coeff: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Convert contiguous blocks of whole slots to fp32 and multiply them in one bmm (exact)."""
    coeff = coeff.float()
    slots, num_basis, width = data.shape
    out = torch.empty((slots, width), dtype=torch.float32)
    if data.dtype == torch.float32:
        torch.bmm(coeff.unsqueeze(1), data, out=out.unsqueeze(1))
        return out
    per_slot = num_basis * width
    if per_slot <= CPU_CHUNK_ELEMENTS:
        step = CPU_CHUNK_ELEMENTS // per_slot
        scratch = torch.empty((min(step, slots), num_basis, width), dtype=torch.float32)
        for s0 in range(0, slots, step):
            s1 = min(s0 + step, slots)
            block = scratch[: s1 - s0]
            block.copy_(data[s0:s1])
            torch.bmm(coeff[s0:s1].unsqueeze(1), block, out=out[s0:s1].unsqueeze(1))
        return out
    rows = max(1, CPU_CHUNK_ELEMENTS // width)  # a slot larger than the scratch: go by rows of its basis
    scratch = torch.empty((rows, width), dtype=torch.float32)
    out.zero_()
    for s in range(slots):
        for k0 in range(0, num_basis, rows):
            k1 = min(k0 + rows, num_basis)
            block = scratch[: k1 - k0]
            block.copy_(data[s, k0:k1])
            out[s : s + 1].addmm_(coeff[s : s + 1, k0:k1], block)
    return out


def combine_native_bmm(coeff: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """One batched matmul in the bases' own dtype (the stacked "obvious" path)."""
    return torch.bmm(coeff.to(data.dtype).unsqueeze(1), data).squeeze(1).float()


CPU_PATHS = {"fused": combine_fused, "fp32_chunks": combine_fp32_chunks, "native_bmm": combine_native_bmm}


def native_half_matmul(dtype: torch.dtype) -> bool:
    """Whether oneDNN runs matmul in this dtype natively on this CPU (AVX512-FP16/AMX, AVX512-BF16)."""
    checks = {torch.float16: "_is_mkldnn_fp16_supported", torch.bfloat16: "_is_mkldnn_bf16_supported"}
    if dtype not in checks or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(getattr(torch.ops.mkldnn, checks[dtype])())
    except (AttributeError, RuntimeError):
        return False


def candidates(dtype: torch.dtype) -> list[str]:
    if dtype == torch.float32:
        return ["fp32_chunks", "fused"]  # fp32_chunks is then a single exact bmm
    return ["fused", "fp32_chunks"] + (["native_bmm"] if native_half_matmul(dtype) else [])


@dataclass
class CpuPlan:
    """The CPU path chosen for one bases dtype, and why."""

    path: str
    reason: str
    timings: dict[str, float] = field(default_factory=dict)  # seconds on the timed slice


_PLANS: dict[tuple, CpuPlan] = {}


def _capability() -> str:
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        return "unknown"


def cpu_plan(groups: list[tuple[torch.Tensor, torch.Tensor]], dtype: torch.dtype) -> CpuPlan:
    """The CPU path for bases of `dtype`, timed once per process on a slice of `groups`.

    groups: (coefficient rows (G, K), bases (G, K, N)) of the bank about to be combined.
    """
    forced = os.environ.get(ENV_OVERRIDE, "").strip()
    if forced:
        if forced not in CPU_PATHS:
            raise ValueError(f"{ENV_OVERRIDE}={forced!r} is not a CPU path; use one of {', '.join(CPU_PATHS)} "
                             "or unset it.")
        return CpuPlan(forced, f"forced by {ENV_OVERRIDE}")
    key = (dtype, torch.get_num_threads())
    if key in _PLANS:
        return _PLANS[key]
    options = candidates(dtype)
    coeff, data = max(groups, key=lambda g: g[1].numel())
    slot_bytes = data[0].numel() * data.element_size()
    slots = max(1, min(data.shape[0], PLAN_SLICE_BYTES // slot_bytes))
    if slots * slot_bytes < MIN_PLAN_BYTES:
        return CpuPlan(DEFAULT_PATH, f"bases too small to time ({slots * slot_bytes / 1e6:.1f} MB): default")
    coeff, data = coeff[:slots], data[:slots]
    times = {name: float("inf") for name in options}
    for name in options:  # warm-up: first-call allocations and kernel generation
        CPU_PATHS[name](coeff, data)
    for _ in range(PLAN_ROUNDS):  # interleaved, best of: all candidates see the same machine
        for name in options:
            t0 = time.perf_counter()
            CPU_PATHS[name](coeff, data)
            times[name] = min(times[name], time.perf_counter() - t0)
    best = min(times, key=times.get)
    native = "native" if native_half_matmul(dtype) else "no native"
    measured = ", ".join(f"{n} {t * 1e3:.1f} ms" for n, t in times.items())
    plan = CpuPlan(best, f"fastest on a {slots * slot_bytes / 1e6:.0f} MB slice ({measured}); "
                         f"CPU {_capability()}, {native} {str(dtype).removeprefix('torch.')} matmul, "
                         f"{torch.get_num_threads()} threads", times)
    _PLANS[key] = plan
    logger.info("HyperLoRA CPU combination path: %s (%s)", plan.path, plan.reason)
    return plan
