"""Mix Identities: a weighted blend of two to four identities made with the same checkpoint."""

from __future__ import annotations

from .. import hyperlora_core as hl
from ..hyperlora_core.validate import finite
from .types import CATEGORY, Coefficients
from .v3 import Coeffs, io, output, schema

SLOTS = 4


def mix(weighted: list[tuple[Coefficients, float]]) -> Coefficients:
    """Blend alpha (and beta, when every identity has one) with the engine's per-token renormalisation."""
    weighted = [(c, w) for c, w in weighted if c is not None]
    if len(weighted) < 2:
        raise ValueError("Connect at least two identities to mix.")
    first = weighted[0][0].hyperlora
    if any(c.hyperlora.engine.path != first.engine.path for c, _ in weighted):
        raise ValueError("These identities were made with different HyperLoRA checkpoints; mix identities that "
                         "come from the same loader.")
    alpha = hl.mix_coefficients([(c.alpha, w) for c, w in weighted])
    beta = None
    if all(c.beta is not None for c, _ in weighted):
        beta = hl.mix_coefficients([(c.beta, w) for c, w in weighted])
    return Coefficients(first, alpha, beta, " + ".join(f"{w:g} {c.label}" for c, w in weighted))


def _weight(number: int):
    return io.Float.Input(f"weight_{number}", optional=number > 2, default=1.0 if number <= 2 else 0.0, min=0.0,
                          max=10.0, step=0.01, tooltip=f"Share of identity {number} in the mix (weights are "
                                                       "relative: 1 and 1 is half and half).")


def _slot(number: int) -> list:
    """Identity `number` and its weight; slots 3 and 4 are optional."""
    coefficients = Coeffs.Input(f"coefficients_{number}", optional=number > 2, tooltip=(
        f"Identity {number}, from Predict Coefficients." + (" Optional." if number > 2 else "")))
    return [coefficients, _weight(number)]


class HyperLoRAMixIdentities(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAMixIdentities", display_name="HyperLoRA Mix Identities", category=f"{CATEGORY}",
            description=("Blends two to four identities into a new one, e.g. 70% of A and 30% of B. Identities must "
                         "come from the same HyperLoRA checkpoint."),
            inputs=[entry for number in range(1, SLOTS + 1) for entry in _slot(number)],
            outputs=[output(Coeffs, "coefficients", "The blended identity: connect to Apply or Export LoRA.")])

    @classmethod
    def execute(cls, **inputs):
        weighted = [(inputs.get(f"coefficients_{n}"), finite(inputs.get(f"weight_{n}", 0.0), f"weight_{n}"))
                    for n in range(1, SLOTS + 1)]
        return io.NodeOutput(mix(weighted))
