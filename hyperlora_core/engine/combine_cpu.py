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

Which is fastest depends on the CPU, and on where the bases are read from: the real combination
streams gigabytes from RAM, so `cpu_plan` times the candidates once per process on slices of the
real bases larger than the CPU's last-level caches (twice their size, read from sysfs), each call
on bytes no recent call touched, and keeps the winner. A slice that fits in the cache would time
the kernels' arithmetic instead of their memory traffic, and on a CPU with a large L3 (480 MB on
AMX Xeons) pick a compute-bound path that is twice as slow on the real work. `HYPERLORA_CPU_PATH`
forces one.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

CPU_CHUNK_ELEMENTS = 1 << 22  # fp32 scratch of 16 MiB: few Python steps, bounded extra memory
PLAN_SLICE_BYTES = 32 << 20  # least bytes per timed call: large against call overhead
CACHE_MULTIPLE = 2  # a timed slice is at least this many times the last-level caches: it streams from RAM
UNKNOWN_CACHE_BYTES = 256 << 20  # where the OS does not say (no sysfs): a large server L3, so slices stay out of it
MIN_PLAN_BYTES = 8 << 20  # below this (test checkpoints) timings are noise: use the default, decide later
PLAN_ROUNDS = 3
CPU_SYSFS = Path("/sys/devices/system/cpu")
DEFAULT_PATH = "fp32_chunks"  # exact; small banks cost nothing either way
ENV_OVERRIDE = "HYPERLORA_CPU_PATH"

logger = logging.getLogger(__name__)


_ROWS = torch.arange(0, dtype=torch.int32)  # 0, 1, 2, ...: grown to the largest group combined, then sliced


def _bag_indices(slots: int, num_basis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices 0..slots*K-1 and the bags' offsets, as int32 (half the bytes). A tiled bank's indices are
    millions long and building them on every call costs more than the tiles save, so one ascending
    run is kept (as long as the largest group's rows, 10 MB for the released checkpoint) and sliced."""
    global _ROWS
    rows = slots * num_basis
    if _ROWS.numel() < rows:
        _ROWS = torch.arange(rows, dtype=torch.int32)
    indices = _ROWS[:rows]
    return indices, indices[::num_basis].contiguous()


def combine_fused(coeff: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """One embedding_bag over the group: bag g sums rows (g, 0..K-1) weighted by coeff[g]."""
    slots, num_basis, width = data.shape
    rows = slots * num_basis
    indices, offsets = _bag_indices(slots, num_basis)
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
    timings: dict[str, float] = field(default_factory=dict)  # best seconds per timed slice
    slice_bytes: int = 0


_PLANS: dict[tuple, CpuPlan] = {}


def _capability() -> str:
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        return "unknown"


def _size_bytes(text: str) -> int:
    """sysfs cache sizes: '32768K', '480M', or plain bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def last_level_cache_bytes(root: Path = CPU_SYSFS, allowed: set[int] | None = None) -> int | None:
    """The last-level cache this process's threads share among them, in bytes, from sysfs.

    Each distinct instance of the highest cache level over the CPUs this process may run on (`allowed`,
    default its affinity) counts once (a Zen CCX, a Xeon socket): a combination on all threads has all
    of them to hold bases in. None where sysfs does not say (not Linux, or a container that hides it).
    """
    if allowed is None:
        try:
            allowed = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            allowed = None
    instances: dict[tuple[int, str], int] = {}
    for cpu in root.glob("cpu[0-9]*"):
        if allowed is not None and int(cpu.name[3:]) not in allowed:
            continue
        for index in cpu.glob("cache/index[0-9]*"):
            try:
                if (index / "type").read_text().strip() not in ("Unified", "Data"):
                    continue
                level = int((index / "level").read_text())
                shared = (index / "shared_cpu_list").read_text().strip() if (index / "shared_cpu_list").exists() \
                    else cpu.name
                instances[(level, shared)] = _size_bytes((index / "size").read_text())
            except (OSError, ValueError):
                continue
    if not instances:
        return None
    top = max(level for level, _ in instances)
    return sum(size for (level, _), size in instances.items() if level == top)


def plan_slice_bytes(cache_bytes: int | None) -> int:
    """Bytes each timed call reads: CACHE_MULTIPLE x the last-level cache, at least PLAN_SLICE_BYTES."""
    cache = UNKNOWN_CACHE_BYTES if cache_bytes is None else cache_bytes
    return max(PLAN_SLICE_BYTES, CACHE_MULTIPLE * cache)


def plan_samples(groups: list[tuple[int, int]], slice_bytes: int, samples: int) -> list[list[tuple[int, int, int]]]:
    """What each timed call reads: pieces (group, first slot, stop slot) adding up to slice_bytes.

    groups: (slots, bytes per slot) of each group of the bank. The samples walk through the whole
    bank, group after group, and wrap only at its end: consecutive samples read different bytes, and
    a byte is read again only after everything else was (3 GB for the released checkpoint), so with
    samples larger than the cache every timed call reads from RAM, as the real combination does.
    """
    total = sum(slots * size for slots, size in groups)
    if total == 0:
        return [[] for _ in range(samples)]
    group, slot, plan = 0, 0, []
    for _ in range(samples):
        need, pieces = min(slice_bytes, total), []
        while need > 0:
            slots, size = groups[group]
            take = min(slots - slot, max(1, -(-need // size))) if size else 0
            if take > 0:
                pieces.append((group, slot, slot + take))
                need -= take * size
                slot += take
            if slot >= slots or not size:  # a group of empty slots holds no bytes to time
                group, slot = (group + 1) % len(groups), 0
        plan.append(pieces)
    return plan


def time_path(name: str, coeff: torch.Tensor, data: torch.Tensor) -> float:
    """Seconds one CPU path takes on these slots (the default measurement of cpu_plan)."""
    t0 = time.perf_counter()
    CPU_PATHS[name](coeff, data)
    return time.perf_counter() - t0


def cpu_plan(groups: list[tuple[torch.Tensor, torch.Tensor]], dtype: torch.dtype, *,
             cache_bytes: int | None | str = "sysfs",
             measure: Callable[[str, torch.Tensor, torch.Tensor], float] = time_path) -> CpuPlan:
    """The CPU path for bases of `dtype`, timed once per process on samples of `groups`.

    groups: (coefficient rows (G, K), bases (G, K, N)) of the bank about to be combined.
    cache_bytes: the last-level cache (default: read from sysfs); measure(path, rows, bases): seconds
    (default: run it). Tests pass both to check the choice without a clock.
    """
    forced = os.environ.get(ENV_OVERRIDE, "").strip()
    if forced:
        if forced not in CPU_PATHS:
            raise ValueError(f"{ENV_OVERRIDE}={forced!r} is not a CPU path; use one of {', '.join(CPU_PATHS)} "
                             "or unset it.")
        return CpuPlan(forced, f"forced by {ENV_OVERRIDE}")
    largest = max(groups, key=lambda g: g[1].numel())[1]
    key = (dtype, torch.get_num_threads(), tuple(largest.shape[1:]))
    if key in _PLANS:
        return _PLANS[key]
    options = candidates(dtype)
    sizes = [(data.shape[0], data[0].numel() * data.element_size() if data.shape[0] else 0) for _, data in groups]
    total = sum(slots * size for slots, size in sizes)
    if total < MIN_PLAN_BYTES:
        return CpuPlan(DEFAULT_PATH, f"bases too small to time ({total / 1e6:.1f} MB): default")
    if cache_bytes == "sysfs":
        cache_bytes = last_level_cache_bytes()
    samples = iter(plan_samples(sizes, plan_slice_bytes(cache_bytes), PLAN_ROUNDS * len(options)))
    coeff, data = max(groups, key=lambda g: g[1].numel())
    for name in options:  # warm-up on one slot: first-call allocations and kernel generation
        measure(name, coeff[:1], data[:1])
    per_byte = {name: float("inf") for name in options}
    for _ in range(PLAN_ROUNDS):  # interleaved, best of: all candidates see the same machine
        for name in options:
            pieces = next(samples)
            seconds = sum(measure(name, groups[g][0][a:b], groups[g][1][a:b]) for g, a, b in pieces)
            timed_bytes = sum((b - a) * sizes[g][1] for g, a, b in pieces)
            per_byte[name] = min(per_byte[name], seconds / timed_bytes)
    best = min(per_byte, key=per_byte.get)
    times = {name: t * timed_bytes for name, t in per_byte.items()}
    native = "native" if native_half_matmul(dtype) else "no native"
    measured = ", ".join(f"{n} {t * 1e3:.1f} ms" for n, t in times.items())
    cache = f"unknown, assumed {UNKNOWN_CACHE_BYTES / 1e6:.0f} MB" if cache_bytes is None else f"{cache_bytes / 1e6:.0f} MB"
    plan = CpuPlan(best, f"fastest on {timed_bytes / 1e6:.0f} MB samples read from RAM, last-level cache {cache} "
                         f"({measured}); CPU {_capability()}, {native} {str(dtype).removeprefix('torch.')} matmul, "
                         f"{torch.get_num_threads()} threads", times, timed_bytes)
    _PLANS[key] = plan
    logger.info("HyperLoRA CPU combination path: %s (%s)", plan.path, plan.reason)
    return plan
