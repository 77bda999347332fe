"""LoRA bases stacked by shape, and their batched combination with coefficients.

Each LoRA matrix is sum_k c[k] * basis[k]. Projections whose bases have the same
shape are stacked into one (G, K, a*b) tensor at load time, so a new identity
costs one batched matmul per group instead of 1,120 small ops. On the CPU, half
precision matmul is very slow, so half bases are converted to fp32 in
cache-sized chunks just before use; the result stays memory-bound.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from .checkpoint import ModuleSpec
from .naming import PROJECTIONS
from .safetensors_io import SafetensorsFile

LOAD_THREADS = min(4, os.cpu_count() or 1)
CPU_CHUNK_ELEMENTS = 1 << 22  # fp32 scratch of 16 MiB: few Python steps, bounded extra memory


@dataclass
class BasisGroup:
    """Bases of one shape: `data[g]` is slot g's (K, a*b) basis, reshaped (a, b) after combining."""

    matrix_shape: tuple[int, int]
    slots: list[tuple[int, str, str]]  # (module index, projection, "down" | "up")
    token_index: torch.Tensor  # (G,) row of the coefficient tensor that drives each slot
    data: torch.Tensor | None = None


@dataclass
class BasisBank:
    """All bases of one LoRA kind ("id" or "base"), grouped by shape."""

    kind: str
    num_basis: int
    rank: int
    groups: list[BasisGroup] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        return all(g.data is not None for g in self.groups)

    def nbytes(self) -> int:
        return sum(g.data.numel() * g.data.element_size() for g in self.groups if g.data is not None)

    def release(self) -> None:
        for g in self.groups:
            g.data = None


def plan_bank(kind: str, specs: list[ModuleSpec], num_basis: int, rank: int) -> BasisBank:
    """Group every (module, projection, down/up) slot by its matrix shape, in JSON order."""
    by_shape: dict[tuple[int, int], list[tuple[int, str, str]]] = {}
    for i, spec in enumerate(specs):
        for proj in PROJECTIONS:
            by_shape.setdefault((spec.in_features(proj), rank), []).append((i, proj, "down"))
            by_shape.setdefault((rank, spec.hidden_size), []).append((i, proj, "up"))
    groups = []
    for shape, slots in by_shape.items():
        index = [8 * i + 2 * PROJECTIONS.index(proj) + (role == "up") for i, proj, role in slots]
        groups.append(BasisGroup(shape, slots, torch.tensor(index, dtype=torch.long)))
    return BasisBank(kind, num_basis, rank, groups)


def load_bank(bank: BasisBank, st: SafetensorsFile, dtype: torch.dtype, pin_memory: bool = False) -> None:
    """Read every basis straight into its slot of the stacked group tensors (one copy, no detour).

    Reads run on a few threads (file reads release the GIL): copying out of the page cache and
    faulting in fresh memory are both per-core costs.
    """
    stacked, jobs = [], []
    for group in bank.groups:
        a, b = group.matrix_shape
        data = torch.empty((len(group.slots), bank.num_basis, a * b), dtype=dtype, pin_memory=pin_memory)
        stacked.append(data)
        for g, (i, proj, role) in enumerate(group.slots):
            jobs.append((f"{i}.{proj}.{bank.kind}_{role}_basis", data[g].view(bank.num_basis, a, b)))

    def read(share: list) -> None:
        with open(st.path, "rb") as f:
            for key, out in share:
                st.read_into(key, out, f)

    workers = max(1, min(LOAD_THREADS, len(jobs)))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(read, [jobs[w::workers] for w in range(workers)]))
    for group, data in zip(bank.groups, stacked):
        group.data = data


def combine_group(group: BasisGroup, coefficients: torch.Tensor, device: torch.device) -> torch.Tensor:
    """sum_k c[g, k] * basis[g, k] for every slot g of the group: (G, a*b) float32 on `device`."""
    coeff = coefficients.index_select(0, group.token_index.to(coefficients.device))
    data = group.data
    if device.type == "cpu":
        return _combine_cpu_chunked(coeff.float().cpu(), data)
    basis = data.to(device, non_blocking=True)
    result = torch.bmm(coeff.to(device=device, dtype=basis.dtype).unsqueeze(1), basis).squeeze(1)
    return result.float()


def _combine_cpu_chunked(coeff: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """CPU path: convert contiguous blocks of whole slots to fp32 and multiply them in one bmm.

    Half-precision matmul on the CPU is ~50x slower than reading the bytes, while the
    half -> float conversion of contiguous memory runs at memory speed (and on all cores).
    """
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


def group_compute_bytes(group: BasisGroup) -> int:
    """Device memory one group's combination takes: its bases copied over plus the result
    (in the bases' dtype, then float32)."""
    slots, _, width = group.data.shape
    return group.data.numel() * group.data.element_size() + slots * width * (group.data.element_size() + 4)


def combine_bank(bank: BasisBank, coefficients: torch.Tensor, device: torch.device,
                 make_room: Callable[[int], None] | None = None) -> dict[
        tuple[int, str], tuple[torch.Tensor, torch.Tensor]]:
    """Materialise every LoRA matrix: {(module, projection): (lora_up (out, r), lora_down (r, in))}.

    make_room(bytes), if given, is called before each group with what that group needs on `device`,
    so a host can free just that much (ComfyUI under dynamic VRAM: nodes/memory.py).
    """
    down: dict[tuple[int, str], torch.Tensor] = {}
    up: dict[tuple[int, str], torch.Tensor] = {}
    for group in bank.groups:
        a, b = group.matrix_shape
        if make_room is not None:
            make_room(group_compute_bytes(group))
        # down: (in, r) -> lora_down (r, in); up: (r, out) -> lora_up (out, r). Transposed views, not
        # copies: matmul reads them as they are, and a file writer makes them contiguous.
        combined = combine_group(group, coefficients, device).view(-1, a, b).transpose(1, 2)
        for g, (i, proj, role) in enumerate(group.slots):
            (down if role == "down" else up)[(i, proj)] = combined[g]
    return {key: (up[key], down[key]) for key in down}
