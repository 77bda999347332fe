"""Mix Identities: a weighted blend of two to four identities made with the same checkpoint."""

from __future__ import annotations

from .. import hyperlora_core as hl
from ..hyperlora_core.validate import finite
from .types import CATEGORY, COEFFS, Coefficients

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
    return ("FLOAT", {"default": 1.0 if number <= 2 else 0.0, "min": 0.0, "max": 10.0, "step": 0.01,
                      "tooltip": f"Share of identity {number} in the mix (weights are relative: 1 and 1 is half "
                                 "and half)."})


class HyperLoRAMixIdentities:
    DESCRIPTION = ("Blends two to four identities into a new one, e.g. 70% of A and 30% of B. Identities must come "
                   "from the same HyperLoRA checkpoint.")
    CATEGORY = f"{CATEGORY}"
    FUNCTION = "mix"
    RETURN_TYPES = (COEFFS,)
    RETURN_NAMES = ("coefficients",)
    OUTPUT_TOOLTIPS = ("The blended identity: connect to Apply or Export LoRA.",)

    @classmethod
    def INPUT_TYPES(cls):
        required, optional = {}, {}
        for number in range(1, SLOTS + 1):
            target = required if number <= 2 else optional
            target[f"coefficients_{number}"] = (COEFFS, {"tooltip": f"Identity {number}, from Predict "
                                                                   "Coefficients." + (" Optional." if number > 2 else "")})
            target[f"weight_{number}"] = _weight(number)
        return {"required": required, "optional": optional}

    def mix(self, **inputs):
        weighted = [(inputs.get(f"coefficients_{n}"), finite(inputs.get(f"weight_{n}", 0.0), f"weight_{n}"))
                    for n in range(1, SLOTS + 1)]
        return (mix(weighted),)
