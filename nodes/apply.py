"""Nodes that patch a MODEL: Apply, Concept Slider, and the one-node Apply Face shortcut.

Only these nodes take strengths, so moving a strength slider re-runs just the patching;
the face encoding and the LoRA factors (kept on the coefficients) are reused.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from ..hyperlora_core.validate import finite
from .encode import encode_images
from .patching import patch_model
from .predict import predict
from .types import CATEGORY
from .v3 import Coeffs, FaceAnalyzer, Hyperlora, io, output, schema

STRENGTH_TOOLTIP = ("How strongly the identity is applied. 0.75-0.85 usually; higher for long prompts, lower "
                    "for more freedom to edit. Negative values push away from the face.")
# Apply Face has no skip switch: point to the nodes that have one.
APPLY_FACE_HINTS = {"skip": "Apply Face cannot, so use HyperLoRA Encode Face with 'skip_images_without_face' "
                            "on, then Predict Coefficients and HyperLoRA Apply"}
BASE_TOOLTIP = ("Strength of the Base-LoRA, which carries what is not identity (lighting, style, clothes of the "
                "photos). 0 uses the ID-LoRA alone; needs a checkpoint with a Base-LoRA.")


def strength_input(name: str, default: float, tooltip: str):
    return io.Float.Input(name, default=default, min=-4.0, max=4.0, step=0.01, tooltip=tooltip)


def weighted_loras(coefficients, id_strength: float, base_strength: float):
    """(LoraFactors, strength) pairs of an identity: the ID-LoRA and, if asked for, the Base-LoRA."""
    id_strength, base_strength = finite(id_strength, "id_strength"), finite(base_strength, "base_strength")
    weighted = [(coefficients.factors("id"), id_strength)]
    if base_strength != 0:
        weighted.append((coefficients.factors("base"), base_strength))
    return weighted


class HyperLoRAApply(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAApply", display_name="HyperLoRA Apply", category=f"{CATEGORY}",
            description=("Applies an identity to an SDXL model as a LoRA. Put the trigger words 'fcsks fxhks fhyks' "
                         "at the start of the prompt and use CLIP skip -2. The input model is not changed."),
            inputs=[
                io.Model.Input("model", tooltip="An SDXL model (photoreal ones such as RealVisXL work best)."),
                Coeffs.Input("coefficients", tooltip="From Predict Coefficients or Mix Identities."),
                strength_input("id_strength", 0.8, STRENGTH_TOOLTIP),
                strength_input("base_strength", 0.0, BASE_TOOLTIP),
            ],
            outputs=[output(io.Model, "model", "The model with the identity LoRA: connect to KSampler.")])

    @classmethod
    def execute(cls, model, coefficients, id_strength, base_strength):
        return io.NodeOutput(patch_model(model, weighted_loras(coefficients, id_strength, base_strength)))


class HyperLoRAConceptSlider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAConceptSlider", display_name="HyperLoRA Concept Slider", category=f"{CATEGORY}",
            description=("A slider from the concept of image A to that of image B (e.g. neutral -> smiling): adds "
                         "the LoRA of B at +strength and the LoRA of A at -strength. Chain it after Apply."),
            inputs=[
                io.Model.Input("model", tooltip="An SDXL model, usually the output of HyperLoRA Apply."),
                Coeffs.Input("coefficients_a", tooltip="The starting point (image A), from Predict Coefficients."),
                Coeffs.Input("coefficients_b", tooltip="The target (image B), from Predict Coefficients."),
                strength_input("strength", 0.5, "How far to move from A towards B; negative moves away from B."),
            ],
            outputs=[output(io.Model, "model", "The model moved along the A -> B direction.")])

    @classmethod
    def execute(cls, model, coefficients_a, coefficients_b, strength):
        strength = finite(strength, "strength")
        if coefficients_a.hyperlora.engine.path != coefficients_b.hyperlora.engine.path:
            raise ValueError("Images A and B were turned into coefficients by different HyperLoRA checkpoints; "
                             "use the same loader for both.")
        weighted = [(coefficients_b.factors("id"), strength), (coefficients_a.factors("id"), -strength)]
        return io.NodeOutput(patch_model(model, weighted))


# Apply Face node id -> (inputs, coefficients) of its last run: a new strength alone must not re-encode the
# face. V3 nodes have no instance to keep it on; the oldest entries go beyond a few nodes.
_last_by_node: OrderedDict = OrderedDict()
REMEMBERED_NODES = 8


class HyperLoRAApplyFace(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAApplyFace", display_name="HyperLoRA Apply Face (one node)", category=f"{CATEGORY}",
            description=("Shortcut: encode the photo(s), predict the identity and apply it, in one node with "
                         "default settings. Use the separate nodes to pick faces, mix identities or save a LoRA."),
            inputs=[
                io.Model.Input("model", tooltip="An SDXL model."),
                Hyperlora.Input("hyperlora", tooltip="From HyperLoRA Checkpoint Loader."),
                io.ClipVision.Input("clip_vision", tooltip="CLIP ViT-L/14 (Load CLIP Vision or HyperLoRA CLIP "
                                                           "Vision Loader)."),
                FaceAnalyzer.Input("face_analyzer", tooltip="From HyperLoRA Face Analyzer Loader."),
                io.Image.Input("image", tooltip="One or more photos of the person (largest face in each is used)."),
                strength_input("strength", 0.8, STRENGTH_TOOLTIP),
            ],
            outputs=[output(io.Model, "model", "The model with the identity LoRA: connect to KSampler (prompt "
                                               "starts with 'fcsks fxhks fhyks').")],
            hidden=[io.Hidden.unique_id])

    @classmethod
    def execute(cls, model, hyperlora, clip_vision, face_analyzer, image, strength):
        strength = finite(strength, "strength")
        models = (hyperlora, clip_vision, face_analyzer)
        digest = hashlib.sha256(image.cpu().numpy().tobytes()).hexdigest()
        node_id = cls.hidden.unique_id if cls.hidden is not None else None
        last = _last_by_node.get(node_id)
        if last is not None and all(a is b for a, b in zip(last[0][0], models)) and last[0][1] == digest:
            coefficients = last[1]
        else:
            conditioning, _ = encode_images(image, clip_vision, face_analyzer, base_condition=False,
                                            hints=APPLY_FACE_HINTS)
            coefficients = predict(hyperlora, conditioning)
            _last_by_node[node_id] = ((models, digest), coefficients)
        _last_by_node.move_to_end(node_id)
        while len(_last_by_node) > REMEMBERED_NODES:
            _last_by_node.popitem(last=False)
        return io.NodeOutput(patch_model(model, weighted_loras(coefficients, strength, 0.0)))
