"""LoRA in activation space, with a strength per batch row: y = W x + sum_i s_i[row] * alpha_i / r_i * up_i(down_i(x)).

Scheduled and regional identities share one UNet call with rows that need other identities, or none (the
background, the negative outside a mask, steps outside a window). Adding each identity's low-rank path to
the layer's output, scaled per row, gives every row exactly what the model patched with that identity
would compute, without touching the base weights. All identities of a weight are stacked along the rank,
so one `down` and one `up` product serve any number of identities; a per-row, per-rank-channel scale picks
which identity (and how strongly) each row gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .lora import LoraFactors


@dataclass(frozen=True)
class StackedFactors:
    """Several identities' factors of the same weights, concatenated along the rank."""

    down: dict[str, torch.Tensor]  # key -> (R, in), R = sum of the identities' ranks
    up: dict[str, torch.Tensor]  # key -> (out, R)
    channel_scale: torch.Tensor  # (count, R): alpha_i / r_i on identity i's rank channels, 0 elsewhere

    @property
    def count(self) -> int:
        return self.channel_scale.shape[0]

    def to(self, device, dtype) -> StackedFactors:
        def move(tensors):
            return {key: value.to(device=device, dtype=dtype) for key, value in tensors.items()}

        return StackedFactors(move(self.down), move(self.up), self.channel_scale)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for d in (self.down, self.up) for t in d.values())


def stack_factors(factors: list[LoraFactors]) -> StackedFactors:
    """Stack identities that patch the same weights with the same shapes (one HyperLoRA checkpoint)."""
    if not factors:
        raise ValueError("There is no identity to stack.")
    keys = list(factors[0].up)
    for other in factors[1:]:
        if list(other.up) != keys or any(other.up[k].shape[0] != factors[0].up[k].shape[0] or
                                         other.down[k].shape[1] != factors[0].down[k].shape[1] for k in keys):
            raise ValueError("These identities come from HyperLoRA checkpoints with different layers and cannot be "
                             "used on one model together; make all of them with the same checkpoint.")
    ranks = [f.down[keys[0]].shape[0] for f in factors]
    channel_scale = torch.zeros(len(factors), sum(ranks))
    offset = 0
    for i, (f, rank) in enumerate(zip(factors, ranks)):
        channel_scale[i, offset:offset + rank] = f.alpha / rank
        offset += rank
    down = {k: torch.cat([f.down[k] for f in factors]) for k in keys}
    up = {k: torch.cat([f.up[k] for f in factors], dim=1) for k in keys}
    return StackedFactors(down, up, channel_scale)


def row_channel_scale(stacked: StackedFactors, row_strengths: torch.Tensor) -> torch.Tensor:
    """(rows, R): the multiplier of each rank channel in each row, from (count, rows) identity strengths."""
    if row_strengths.shape[0] != stacked.count:
        raise ValueError(f"Got strengths for {row_strengths.shape[0]} identities, but {stacked.count} are stacked.")
    return row_strengths.t().to(stacked.channel_scale) @ stacked.channel_scale


def low_rank_delta(x: torch.Tensor, down: torch.Tensor, up: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """up(scale * down(x)) for x of shape (rows, ..., in) and a (rows, R) or (rows, tokens, R) scale: the LoRA path
    of every row (and image position)."""
    if x.shape[0] != scale.shape[0]:
        raise RuntimeError(f"A layer was called with {x.shape[0]} rows, but the sampler's batch has "
                           f"{scale.shape[0]}: another node changes the batch inside the model, which the "
                           "scheduled and regional HyperLoRA identities cannot follow. Use HyperLoRA Apply instead.")
    hidden = torch.nn.functional.linear(x, down)
    if scale.ndim == 3:  # (rows, tokens, R): a scale per image position too (masked, one pass)
        return torch.nn.functional.linear(hidden * scale, up)
    hidden = hidden * scale.view(scale.shape[0], *([1] * (hidden.ndim - 2)), scale.shape[1])
    return torch.nn.functional.linear(hidden, up)
