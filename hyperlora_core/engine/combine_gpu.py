"""Combining bases on a GPU: resident in VRAM, or streamed from pinned RAM for each new identity.

Streamed (device policy "auto"): the bases stay in RAM and only pass through the GPU. Slices of
whole slots are copied on a side stream into a workspace of two halves while the compute stream
combines the previous slice, so a new identity costs about the PCIe transfer time. The workspace
is at most the largest group (the policy promises no more than one group's worth of extra VRAM)
and at most STREAM_WORKSPACE_BYTES: the released checkpoint's largest group is 1.26 GB, and
128 MB slices already keep the copy engine busy while each bmm takes far less than its copy.
A slot bigger than half the workspace takes the whole workspace and waits for both halves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STREAM_WORKSPACE_BYTES = 256 << 20


@dataclass(frozen=True)
class Chunk:
    group: int
    start: int  # first slot
    stop: int
    offset: int  # where in the workspace (elements)
    halves: tuple[int, ...]  # workspace halves it occupies: (0,), (1,) or (0, 1)


def workspace_elements(shapes: list[tuple[int, int, int]], element_size: int,
                       cap_bytes: int = STREAM_WORKSPACE_BYTES) -> int:
    """Streaming workspace for groups of shape (G, K, N): min(largest group, cap), but at least one slot."""
    if not shapes:
        return 0
    largest_group = max(g * k * n for g, k, n in shapes)
    largest_slot = max(k * n for _, k, n in shapes)
    return max(largest_slot, min(largest_group, cap_bytes // element_size))


def streaming_bytes(shapes: list[tuple[int, int, int]], element_size: int,
                    cap_bytes: int = STREAM_WORKSPACE_BYTES) -> int:
    """Device memory combine_streamed allocates for groups of shape (G, K, N): the workspace, the
    coefficient rows, and the results (in the bases' dtype, then float32). The device policy "auto"
    promises no more than this (nodes/memory.py); benchmarks/gpu_check.py measures it."""
    workspace = workspace_elements(shapes, element_size, cap_bytes) * element_size
    rows = sum(g * k for g, k, _ in shapes) * element_size
    results = sum(g * n for g, _, n in shapes) * (element_size + 4)
    return workspace + rows + results


def plan_chunks(shapes: list[tuple[int, int, int]], element_size: int = 2,
                cap_bytes: int = STREAM_WORKSPACE_BYTES) -> tuple[int, list[Chunk]]:
    """Workspace size (elements) and the copy slices for groups of shape (G, K, N).

    Slices alternate between the two halves of the workspace (see workspace_elements).
    """
    if not shapes:
        return 0, []
    workspace = workspace_elements(shapes, element_size, cap_bytes)
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
    workspace_size, chunks = plan_chunks([tuple(d.shape) for d in datas], datas[0].element_size())
    workspace = torch.empty(workspace_size, dtype=dtype, device=device)
    outs = [torch.empty((d.shape[0], d.shape[2]), dtype=dtype, device=device) for d in datas]
    coeffs = [c.to(device=device, dtype=dtype) for c in coeffs]
    cuda = device.type == "cuda"
    if cuda:
        compute = torch.cuda.current_stream(device)
        copier = torch.cuda.Stream(device)
        # The workspace may reuse memory that work still queued on the compute stream reads: copy after it.
        copier.wait_stream(compute)
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
