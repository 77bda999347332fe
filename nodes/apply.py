"""Nodes that patch a MODEL: Apply, Concept Slider, and the one-node Apply Face shortcut.

Only these nodes take strengths, so moving a strength slider re-runs just the patching;
the face encoding and the LoRA factors (kept on the coefficients) are reused.
"""

from __future__ import annotations

import hashlib

from ..hyperlora_core.validate import finite
from .encode import encode_images
from .patching import patch_model
from .predict import predict
from .types import CATEGORY, COEFFS, FACE_ANALYZER, HYPERLORA

STRENGTH_TOOLTIP = ("How strongly the identity is applied. 0.75-0.85 usually; higher for long prompts, lower "
                    "for more freedom to edit. Negative values push away from the face.")
# Apply Face has no skip switch: point to the nodes that have one.
APPLY_FACE_HINTS = {"skip": "Apply Face cannot, so use HyperLoRA Encode Face with 'skip_images_without_face' "
                            "on, then Predict Coefficients and HyperLoRA Apply"}
BASE_TOOLTIP = ("Strength of the Base-LoRA, which carries what is not identity (lighting, style, clothes of the "
                "photos). 0 uses the ID-LoRA alone; needs a checkpoint with a Base-LoRA.")


def strength_input(default: float, tooltip: str):
    return ("FLOAT", {"default": default, "min": -4.0, "max": 4.0, "step": 0.01, "tooltip": tooltip})


def weighted_loras(coefficients, id_strength: float, base_strength: float):
    """(LoraFactors, strength) pairs of an identity: the ID-LoRA and, if asked for, the Base-LoRA."""
    id_strength, base_strength = finite(id_strength, "id_strength"), finite(base_strength, "base_strength")
    weighted = [(coefficients.factors("id"), id_strength)]
    if base_strength != 0:
        weighted.append((coefficients.factors("base"), base_strength))
    return weighted


class HyperLoRAApply:
    DESCRIPTION = ("Applies an identity to an SDXL model as a LoRA. Put the trigger words 'fcsks fxhks fhyks' at "
                   "the start of the prompt and use CLIP skip -2. The input model is not changed.")
    CATEGORY = f"{CATEGORY}"
    FUNCTION = "apply"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model with the identity LoRA: connect to KSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "An SDXL model (photoreal ones such as RealVisXL work best)."}),
            "coefficients": (COEFFS, {"tooltip": "From Predict Coefficients or Mix Identities."}),
            "id_strength": strength_input(0.8, STRENGTH_TOOLTIP),
            "base_strength": strength_input(0.0, BASE_TOOLTIP),
        }}

    def apply(self, model, coefficients, id_strength, base_strength):
        return (patch_model(model, weighted_loras(coefficients, id_strength, base_strength)),)


class HyperLoRAConceptSlider:
    DESCRIPTION = ("A slider from the concept of image A to that of image B (e.g. neutral -> smiling): adds the "
                   "LoRA of B at +strength and the LoRA of A at -strength. Chain it after Apply.")
    CATEGORY = f"{CATEGORY}"
    FUNCTION = "apply"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model moved along the A -> B direction.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "An SDXL model, usually the output of HyperLoRA Apply."}),
            "coefficients_a": (COEFFS, {"tooltip": "The starting point (image A), from Predict Coefficients."}),
            "coefficients_b": (COEFFS, {"tooltip": "The target (image B), from Predict Coefficients."}),
            "strength": strength_input(0.5, "How far to move from A towards B; negative moves away from B."),
        }}

    def apply(self, model, coefficients_a, coefficients_b, strength):
        strength = finite(strength, "strength")
        if coefficients_a.hyperlora.engine.path != coefficients_b.hyperlora.engine.path:
            raise ValueError("Images A and B were turned into coefficients by different HyperLoRA checkpoints; "
                             "use the same loader for both.")
        weighted = [(coefficients_b.factors("id"), strength), (coefficients_a.factors("id"), -strength)]
        return (patch_model(model, weighted),)


class HyperLoRAApplyFace:
    DESCRIPTION = ("Shortcut: encode the photo(s), predict the identity and apply it, in one node with default "
                   "settings. Use the separate nodes to pick faces, mix identities or save a LoRA.")
    CATEGORY = f"{CATEGORY}"
    FUNCTION = "apply"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = (("The model with the identity LoRA: connect to KSampler (prompt starts with "
                       "'fcsks fxhks fhyks')."),)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "An SDXL model."}),
            "hyperlora": (HYPERLORA, {"tooltip": "From HyperLoRA Checkpoint Loader."}),
            "clip_vision": ("CLIP_VISION", {"tooltip": "CLIP ViT-L/14 (Load CLIP Vision or HyperLoRA CLIP Vision "
                                                       "Loader)."}),
            "face_analyzer": (FACE_ANALYZER, {"tooltip": "From HyperLoRA Face Analyzer Loader."}),
            "image": ("IMAGE", {"tooltip": "One or more photos of the person (largest face in each is used)."}),
            "strength": strength_input(0.8, STRENGTH_TOOLTIP),
        }}

    def __init__(self):
        self._last = None  # (inputs, coefficients): a new strength alone must not re-encode the face

    def apply(self, model, hyperlora, clip_vision, face_analyzer, image, strength):
        strength = finite(strength, "strength")
        models = (hyperlora, clip_vision, face_analyzer)
        digest = hashlib.sha256(image.cpu().numpy().tobytes()).hexdigest()
        last = self._last
        if last is not None and all(a is b for a, b in zip(last[0][0], models)) and last[0][1] == digest:
            coefficients = last[1]
        else:
            conditioning, _ = encode_images(image, clip_vision, face_analyzer, base_condition=False,
                                            hints=APPLY_FACE_HINTS)
            coefficients = predict(hyperlora, conditioning)
            self._last = ((models, digest), coefficients)
        return (patch_model(model, weighted_loras(coefficients, strength, 0.0)),)
