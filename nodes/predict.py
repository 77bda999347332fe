"""Predict Coefficients: face features -> alpha (ID) and beta (Base) of one identity."""

from __future__ import annotations

from ..hyperlora_core.face.likeness import reference_embedding
from ..hyperlora_core.validate import parse_number_list, shown
from .types import CATEGORY, Coefficients
from .v3 import Coeffs, Face, Hyperlora, io, output, schema


def parse_image_weights(text: str, conditioning) -> list[float] | None:
    """'1, 1, 0.5' -> one weight per kept photo (weights are given per input photo, in batch order)."""
    text = text.strip()
    if not text:
        return None
    weights = parse_number_list(text, "image_weights")
    if any(w < 0 for w in weights) or (weights and sum(weights) <= 0):
        raise ValueError(f"image_weights must be zero or positive, and not all zero; got {shown(text)}.")
    last = max(conditioning.kept)
    if len(weights) <= last:
        raise ValueError(f"image_weights gives {len(weights)} weights but the batch has at least {last + 1} photos; "
                         "give one weight per photo, in batch order.")
    return [weights[i] for i in conditioning.kept]


def check_clip_width(hyperlora, conditioning) -> None:
    needed = hyperlora.config.clip_dim or hyperlora.config.embed_dim
    got = conditioning.clip_tokens.shape[-1]
    if hyperlora.config.two_conditions and got != needed:
        raise ValueError(f"The CLIP vision model gives {got}-wide features but this HyperLoRA checkpoint needs "
                         f"{needed} (CLIP ViT-L/14). Load clip_vit_large_14 (or another ViT-L/14), not a ViT-H or "
                         "ViT-G IP-Adapter encoder, and encode the face again.")


def predict(hyperlora, conditioning, image_weights: str = "", label: str = "identity") -> Coefficients:
    check_clip_width(hyperlora, conditioning)
    weights = parse_image_weights(image_weights, conditioning)
    engine = hyperlora.engine
    alpha = engine.predict_id_coefficients(conditioning.arcface, conditioning.clip_tokens, weights)
    beta = None
    if engine.has_base and conditioning.base_clip_tokens is not None:
        beta = engine.predict_base_coefficients(conditioning.base_clip_tokens, weights)
    return Coefficients(hyperlora, alpha, beta, label, arcface=reference_embedding(conditioning.arcface, weights),
                        thumbnail=conditioning.id_crops[0] if conditioning.id_crops else None)


class HyperLoRAPredictCoefficients(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAPredictCoefficients", display_name="HyperLoRA Predict Coefficients", category=f"{CATEGORY}",
            description=("Turns the face features into HyperLoRA coefficients: alpha for the ID-LoRA and, when the "
                         "checkpoint has a Base-LoRA and the face was encoded with the base condition, beta. Several "
                         "photos are fused into one identity."),
            inputs=[
                Hyperlora.Input("hyperlora", tooltip="From HyperLoRA Checkpoint Loader."),
                Face.Input("face", tooltip="From HyperLoRA Encode Face."),
                io.String.Input("image_weights", default="", tooltip=(
                    "Optional: how much each photo counts, one number per photo in batch order, e.g. '1, 1, 0.5'. "
                    "Empty: all equal.")),
            ],
            outputs=[output(Coeffs, "coefficients", "The identity as coefficients: connect to Apply, Export LoRA, "
                                                    "Mix Identities or Concept Slider.")])

    @classmethod
    def execute(cls, hyperlora, face, image_weights):
        return io.NodeOutput(predict(hyperlora, face, image_weights))
