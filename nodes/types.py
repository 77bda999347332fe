"""The custom socket types that flow between HyperLoRA nodes, and what they carry."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

HYPERLORA = "HYPERLORA"  # memory.ManagedHyperLoRA: a loaded checkpoint
FACE_ANALYZER = "HYPERLORA_FACE_ANALYZER"  # the insightface AntelopeV2 analyzer
FACE = "HYPERLORA_FACE"  # face.FaceConditioning: ArcFace + CLIP features of reference images
COEFFS = "HYPERLORA_COEFFS"  # Coefficients below

CATEGORY = "HyperLoRA"


@dataclass(eq=False)
class Coefficients:
    """alpha (ID) and beta (Base, optional) of one identity, tied to the checkpoint that made them.

    The LoRA factors are computed once per coefficient set and kept here, so changing only a
    strength downstream does not recompute them (ComfyUI keeps this object while its inputs hold).
    """

    hyperlora: object  # memory.ManagedHyperLoRA
    alpha: torch.Tensor  # (Q, K)
    beta: torch.Tensor | None  # (Q, K) or None without a Base-LoRA condition
    label: str = "identity"
    _factors: dict = field(default_factory=dict, repr=False)
    # For Likeness and Save Identity (None after Mix Identities): the mean L2-normalised ArcFace
    # embedding of the reference photos (512,), and the face crop the model saw (a PIL image).
    arcface: torch.Tensor | None = None
    thumbnail: object = field(default=None, repr=False)

    def _comfy_cache_tensors(self) -> list:
        """What ComfyUI's RAM-pressure cache counts for cached coefficients: their own tensors and the
        LoRA factors made from them (not the checkpoint, which its loader's output reports)."""
        factors = [(f.up, f.down) for f in self._factors.values()]
        return [t for t in (self.alpha, self.beta) if t is not None] + factors

    def factors(self, kind: str = "id"):
        """hyperlora_core LoraFactors of the ID ("id") or Base ("base") LoRA, computed on first use."""
        if kind not in self._factors:
            coefficients = self.alpha if kind == "id" else self.beta
            if coefficients is None:
                raise ValueError("These coefficients have no Base-LoRA part: the checkpoint has no Base-LoRA or "
                                 "the face was encoded without the base condition. Set the Base strength to 0.")
            self._factors[kind] = self.hyperlora.factors(coefficients, kind)
        return self._factors[kind]
