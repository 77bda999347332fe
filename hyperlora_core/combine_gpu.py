"""Combining bases on a GPU: resident in VRAM, or streamed from pinned RAM for each new identity.

Streamed (device policy "auto"): the bases stay in RAM and only pass through the GPU. Slices of
whole slots are copied on a side stream into a workspace of two halves while the compute stream
combines the previous slice, so a new identity costs about the PCIe transfer time. The workspace
is the size of the largest group: the extra VRAM is one group's worth, as the policy promises,
and still double-buffered. A slot bigger than half the workspace (groups of one slot) takes the
whole workspace and waits for both halves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Chunk:
    group: int
    start: int  # first slot
    stop: int
    offset: int  # where in the workspace (elements)
    halves: tuple[int, ...]  # workspace halves it occupies: (0,), (1,) or (0, 1)


def plan_chunks(shapes: list[tuple[int, int, int]]) -> tuple[int, list[Chunk]]:
    """Workspace size (elements) and the copy slices for groups of shape (G, K, N).

    Slices alternate between the two halves; the workspace is never larger than the largest group.
    """
    if not shapes:
        return 0, []
    workspace = max(g * k * n for g, k, n in shapes)
    half = workspace // 2
    chunks, turn = [], 0
    for index, (slots, num_basis, width) in enumerate(shapes):
        per_slot = num_basis * width
        if per_slot > half:
            chunks += [Chunk(index, s, s + 1, 0, (0, 1)) for s in range(slots)]
            continue
        step = half // per_slot
        for s0 in range(0, slots, step):
            chunks.append(Chunk(index, s0, min(s0 + step, slots), turn * half, (turn,)))
            turn = 1 - turn
    return workspace, chunks


def combine_resident(coeff: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Bases already on the device: one bmm in their dtype (fp32 accumulation in cuBLAS)."""
    return torch.bmm(coeff.to(device=data.device, dtype=data.dtype).unsqueeze(1), data).squeeze(1).float()


def combine_streamed(coeffs: list[torch.Tensor], datas: list[torch.Tensor], device: torch.device) -> list[
        torch.Tensor]:
    """Combine groups kept in (pinned) RAM on `device`, copies overlapped with compute.

    coeffs[i]: (G, K) rows of group i; datas[i]: (G, K, N) bases on the CPU. Returns (G, N) float32
    on `device` per group. On a CPU `device` the same slicing runs without streams (tests use it).
    """
    dtype = datas[0].dtype
    workspace_size, chunks = plan_chunks([tuple(d.shape) for d in datas])
    workspace = torch.empty(workspace_size, dtype=dtype, device=device)
    outs = [torch.empty((d.shape[0], d.shape[2]), dtype=dtype, device=device) for d in datas]
    coeffs = [c.to(device=device, dtype=dtype) for c in coeffs]
    cuda = device.type == "cuda"
    if cuda:
        compute = torch.cuda.current_stream(device)
        copier = torch.cuda.Stream(device)
        freed = [torch.cuda.Event(), torch.cuda.Event()]
        used = [False, False]
        ready = torch.cuda.Event()
    for chunk in chunks:
        data = datas[chunk.group]
        source = data[chunk.start:chunk.stop]
        buffer = workspace[chunk.offset:chunk.offset + source.numel()].view(source.shape)
        if cuda:
            with torch.cuda.stream(copier):
                for h in chunk.halves:
                    if used[h]:
                        copier.wait_event(freed[h])  # the compute that read this half is done
                buffer.copy_(source, non_blocking=True)
                ready.record(copier)
            compute.wait_event(ready)
        else:
            buffer.copy_(source)
        out = outs[chunk.group][chunk.start:chunk.stop]
        torch.bmm(coeffs[chunk.group][chunk.start:chunk.stop].unsqueeze(1), buffer, out=out.unsqueeze(1))
        if cuda:
            for h in chunk.halves:
                freed[h].record(compute)
                used[h] = True
    # The workspace was allocated on the compute stream, which waited for every copy: freeing it
    # after the last bmm is safe without record_stream.
    return [o.float() for o in outs]
