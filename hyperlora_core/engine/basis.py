"""LoRA bases stacked by shape, and their batched combination with coefficients.

Each LoRA matrix is sum_k c[k] * basis[k]. Projections whose bases have the same
shape are stacked into one (G, K, a*b) tensor at load time, so a new identity
costs one batched operation per group instead of 1,120 small ops.

Bases combined on the CPU are stored in tiles: slot g's (K, N) basis becomes N/T consecutive
(K, T) tiles (T = TILE_WIDTH columns), so one tile's K rows are one contiguous run of memory.
A tile is combined like a slot of width T with the slot's coefficient row, so every kernel works on
either layout; the tiled one reads RAM in one sequential stream per tile instead of K strided ones
(sum_k c[k] * row_k touches a column block of all K rows at once), which a CPU's prefetchers follow:
the fused kernel gets 1.4-1.8x faster on the full bases (docs/benchmarks.md).

Which CPU kernel is fastest depends on the machine (half-precision matmul is native
on some CPUs and ~50x slower than a read on others), so the CPU path is chosen once
per process by timing the candidates on slices of the real bases (`cpu_plan`).
On a GPU the bases are either resident (policy "gpu") or streamed from pinned RAM
group by group on a side stream, overlapping the copies with the combination (`auto`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from .checkpoint import ModuleSpec
from .combine_cpu import CPU_PATHS, CpuPlan, cpu_plan
from .combine_gpu import combine_resident, combine_streamed, streaming_bytes
from .naming import PROJECTIONS
from .safetensors_io import SafetensorsFile

LOAD_THREADS = min(4, os.cpu_count() or 1)
TILE_WIDTH = 256  # columns per tile: a tile's K=128 fp16 rows are 64 KB read in one stream; 0: no tiles
MIN_TILE_WIDTH = 64  # narrower tiles would cost more in per-row indices than they save


def tile_width(width: int, target: int | None = None) -> int:
    """Columns per tile for slots of `width` columns: the widest divisor of width up to target (default
    TILE_WIDTH), or width itself (no tiling) when target is 0, width is at most target, or no divisor
    is wide enough."""
    target = TILE_WIDTH if target is None else target
    if target <= 0 or width <= target:
        return width
    for tile in range(target, MIN_TILE_WIDTH - 1, -1):
        if width % tile == 0:
            return tile
    return width


@dataclass
class BasisGroup:
    """Bases of one shape: `data[g]` is slot g's (K, a*b) basis, reshaped (a, b) after combining."""

    matrix_shape: tuple[int, int]
    slots: list[tuple[int, str, str]]  # (module index, projection, "down" | "up")
    token_index: torch.Tensor  # (G,) row of the coefficient tensor that drives each slot
    data: torch.Tensor | None = None  # (G * tiles, K, tile): slot g is rows g*tiles .. (g+1)*tiles-1
    tile: int = 0  # columns per tile (a*b: untiled); set when the bases are loaded

    @property
    def tiles(self) -> int:
        """Tiles per slot (1 when untiled)."""
        a, b = self.matrix_shape
        return a * b // self.tile if self.tile else 1

    def row_index(self) -> torch.Tensor:
        """The coefficient row of every tile (G * tiles,): each slot's row, once per tile."""
        return self.token_index.repeat_interleave(self.tiles) if self.tiles > 1 else self.token_index


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


def load_bank(bank: BasisBank, st: SafetensorsFile, dtype: torch.dtype, pin_memory: bool = False,
              tiled: bool = False) -> None:
    """Read every basis into its slot of the stacked group tensors, in tiles if `tiled` (module doc).

    Untiled, each basis is read straight into its slot (one copy, no detour); tiled, it is read into a
    per-thread buffer of one basis and copied into its tiles from there (from the CPU cache).
    Reads run on a few threads (file reads release the GIL): copying out of the page cache and
    faulting in fresh memory are both per-core costs.
    """
    stacked, jobs = [], []
    k = bank.num_basis
    for group in bank.groups:
        a, b = group.matrix_shape
        group.tile = tile_width(a * b) if tiled else a * b
        tiles = group.tiles
        data = torch.empty((len(group.slots) * tiles, k, group.tile), dtype=dtype, pin_memory=pin_memory)
        stacked.append(data)
        for g, (i, proj, role) in enumerate(group.slots):
            jobs.append((f"{i}.{proj}.{bank.kind}_{role}_basis", data[g * tiles:(g + 1) * tiles], (k, a, b)))

    def read(share: list) -> None:
        buffer = None
        with open(st.path, "rb") as f:
            for key, out, shape in share:
                if out.shape[0] == 1:
                    st.read_into(key, out.view(shape), f)
                    continue
                if buffer is None or buffer.numel() < out.numel():
                    buffer = torch.empty(out.numel(), dtype=dtype)
                basis = buffer[:out.numel()].view(shape)
                st.read_into(key, basis, f)
                tiles, _, tile = out.shape
                out.copy_(basis.view(k, tiles, tile).transpose(0, 1))

    workers = max(1, min(LOAD_THREADS, len(jobs)))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(read, [jobs[w::workers] for w in range(workers)]))
    for group, data in zip(bank.groups, stacked):
        group.data = data


def _coefficient_rows(bank: BasisBank, coefficients: torch.Tensor) -> list[torch.Tensor]:
    """Each group's coefficient rows, one per row of its data (per tile when tiled)."""
    return [coefficients.index_select(0, g.row_index().to(coefficients.device)).float().cpu() for g in bank.groups]


def bank_cpu_plan(bank: BasisBank, coefficients: torch.Tensor) -> CpuPlan:
    """The CPU path this machine uses for this bank's dtype (timed once per process)."""
    groups = [(c, g.data) for c, g in zip(_coefficient_rows(bank, coefficients), bank.groups)]
    return cpu_plan(groups, bank.groups[0].data.dtype)


def combine_groups(bank: BasisBank, coefficients: torch.Tensor, device: torch.device,
                   cpu_path: str | None = None) -> list[torch.Tensor]:
    """sum_k c[g, k] * basis[g, k] for every slot g of every group: (G, a*b) float32 on `device`.

    CPU: the path `cpu_plan` chose for this machine (or `cpu_path`). GPU: bases resident there are
    combined in place; bases in RAM are streamed through one group's worth of VRAM.
    """
    rows = _coefficient_rows(bank, coefficients)
    datas = [g.data for g in bank.groups]
    if device.type == "cpu":
        datas = [d.cpu() for d in datas]
        path = cpu_path or cpu_plan(list(zip(rows, datas)), datas[0].dtype).path
        combined = [CPU_PATHS[path](c, d) for c, d in zip(rows, datas)]
    elif all(d.device.type != "cpu" for d in datas):
        combined = [combine_resident(c, d) for c, d in zip(rows, datas)]
    else:
        combined = combine_streamed(rows, datas, device)
    # (G * tiles, tile) -> (G, a*b): tile j of slot g holds its columns j*tile .. (j+1)*tile-1
    return [c.view(len(g.slots), -1) for c, g in zip(combined, bank.groups)]


def bank_streaming_bytes(bank: BasisBank, element_size: int) -> int:
    """Device memory a LoRA of this bank takes on a GPU when its bases stream from RAM (combine_gpu)."""
    return streaming_bytes([(len(g.slots) * g.tiles, bank.num_basis, g.matrix_shape[0] * g.matrix_shape[1] // g.tiles)
                            for g in bank.groups], element_size)


def combine_bank(bank: BasisBank, coefficients: torch.Tensor, device: torch.device,
                 make_room: Callable[[int], None] | None = None, cpu_path: str | None = None) -> dict[
        tuple[int, str], tuple[torch.Tensor, torch.Tensor]]:
    """Materialise every LoRA matrix: {(module, projection): (lora_up (out, r), lora_down (r, in))}.

    make_room(bytes), if given, is called once before the combination starts with what streaming the
    bases through `device` takes there (bank_streaming_bytes), so a host can free just that much
    (ComfyUI under dynamic VRAM: nodes/memory.py). cpu_path forces a CPU kernel (see combine_cpu).
    """
    down: dict[tuple[int, str], torch.Tensor] = {}
    up: dict[tuple[int, str], torch.Tensor] = {}
    if make_room is not None:
        make_room(bank_streaming_bytes(bank, bank.groups[0].data.element_size()))
    combined_groups = combine_groups(bank, coefficients, device, cpu_path)
    for n, group in enumerate(bank.groups):
        a, b = group.matrix_shape
        # down: (in, r) -> lora_down (r, in); up: (r, out) -> lora_up (out, r). Transposed views, not
        # copies: matmul reads them as they are, and a file writer makes them contiguous.
        combined = combined_groups[n].view(-1, a, b).transpose(1, 2)
        for g, (i, proj, role) in enumerate(group.slots):
            (down if role == "down" else up)[(i, proj)] = combined[g]
    return {key: (up[key], down[key]) for key in down}
