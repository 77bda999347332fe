"""Combining identities: mixing coefficient sets, and concept sliders.

Coefficients are L2-normalised tokens (the resampler's output), so a blend is
renormalised per token to stay where the bases were trained. A slider works on
LoRAs, which add exactly: LoRA(B) at +s plus LoRA(A) at -s (spec section 6).
"""

from __future__ import annotations

import math

import torch

from ..validate import finite
from .lora import LoraFactors, WeightedLoras
from .resampler import normalize_tokens


def mix_coefficients(weighted: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """Weighted blend of (Q, K) coefficient sets from different people, renormalised per token."""
    if not weighted:
        raise ValueError("Give at least one identity to mix.")
    shapes = {tuple(c.shape) for c, _ in weighted}
    if len(shapes) != 1:
        raise ValueError(f"These identities come from different HyperLoRA checkpoints (shapes {sorted(shapes)}); "
                         "mix identities made with the same checkpoint.")
    if not all(math.isfinite(w) for _, w in weighted) or not math.isfinite(sum(w for _, w in weighted)):
        raise ValueError(f"Mixing weights must be finite numbers; got {[w for _, w in weighted]}.")
    if any(w < 0 for _, w in weighted) or sum(w for _, w in weighted) <= 0:
        raise ValueError("Mixing weights must be zero or positive, and at least one must be above zero.")
    total = sum(w for _, w in weighted)
    mixed = sum(c.float() * (w / total) for c, w in weighted)
    return normalize_tokens(mixed)


def slider(lora_a: LoraFactors, lora_b: LoraFactors, strength: float) -> WeightedLoras:
    """Concept slider from image A to image B: LoRA(B) at +strength plus LoRA(A) at -strength."""
    finite(strength, "The slider strength")
    if list(lora_a.up) != list(lora_b.up):
        raise ValueError("The two slider images were turned into LoRAs by different HyperLoRA checkpoints; "
                         "use the same checkpoint for both.")
    return [(lora_b, strength), (lora_a, -strength)]
