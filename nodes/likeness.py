"""Likeness: how much each generated image looks like the reference identity (ArcFace cosine)."""

from __future__ import annotations

import torch

from .images import save_temp_previews, to_image_batch, to_pil_list
from .loaders import face_dependencies
from .types import CATEGORY, COEFFS, FACE, FACE_ANALYZER

SCORE_TOOLTIP = ("The 'ID similarity' identity papers report (HyperLoRA, InstantID, PuLID): the cosine between "
                 "the ArcFace embedding of the reference and of the best-matching face in each image, -1..1. "
                 "Rough guide: above ~0.5 clearly the same person, 0.3-0.5 a resemblance, below ~0.2 a "
                 "different person. 0 when no face is found.")


def reference_of(face, coefficients) -> torch.Tensor:
    """The reference identity's unit ArcFace embedding, from Encode Face or from saved/predicted coefficients."""
    from ..hyperlora_core.face.likeness import identity_reference, reference_embedding

    if (face is None) == (coefficients is None):
        raise ValueError("Connect the reference identity to Likeness once: either 'face' (from Encode Face) or "
                         "'coefficients' (from Predict Coefficients or Load Identity), not both and not neither.")
    if face is not None:
        return reference_embedding(face.arcface)
    if coefficients.arcface is None:
        raise ValueError(f"The identity '{coefficients.label}' carries no ArcFace reference (a mix of identities, "
                         "or an identity file saved without one). Connect the reference photos' Encode Face "
                         "output to 'face' instead.")
    return identity_reference(coefficients.arcface, coefficients.label)


def measure(images, face_analyzer, reference, top_k: int = 0):
    """Scores (input order), ranked IMAGE batch, preview batch and summary of an IMAGE batch."""
    import comfy.utils

    pils = to_pil_list(images)
    if not pils:
        raise ValueError("Likeness got an empty image batch; connect the generated images.")
    bar = comfy.utils.ProgressBar(len(pils))
    with face_dependencies():
        from ..hyperlora_core.face import likeness

        results = likeness.score_images(face_analyzer, pils, reference,
                                        progress=lambda done, total: bar.update_absolute(done, total))
        order = likeness.ranking(results, top_k)
        previews = [likeness.preview_likeness(image, result) for image, result in zip(pils, results)]
        text = likeness.summary(results)
    batch = images if images.ndim == 4 else images.unsqueeze(0)
    ranked = batch[torch.tensor(order, dtype=torch.long)]
    return results, ranked, previews, text


class HyperLoRALikeness:
    DESCRIPTION = ("Measures how much each generated image looks like the reference person: the ArcFace cosine "
                   "similarity ('ID similarity' in papers) between the reference identity and the best-matching "
                   "face of each image. Ranks the batch, so you can keep the best seeds, and shows the scores on "
                   "the node.")
    CATEGORY = f"{CATEGORY}/face"
    FUNCTION = "measure"
    OUTPUT_NODE = True
    RETURN_TYPES = ("FLOAT", "IMAGE", "IMAGE", "STRING")
    RETURN_NAMES = ("scores", "ranked", "preview", "summary")
    OUTPUT_IS_LIST = (True, False, False, False)
    OUTPUT_TOOLTIPS = (
        SCORE_TOOLTIP + " One number per image, in input order.",
        "The images sorted from most to least alike (only the top_k best when top_k > 0).",
        "Each image with the matched face boxed and its score written on it (input order).",
        "One line: every score, the best image and the mean.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "The generated images to score (a batch)."}),
            "face_analyzer": (FACE_ANALYZER, {"tooltip": "From HyperLoRA Face Analyzer Loader (ArcFace)."}),
        }, "optional": {
            "face": (FACE, {"tooltip": "The reference: Encode Face of the reference photos. Connect this or "
                                       "'coefficients'."}),
            "coefficients": (COEFFS, {"tooltip": "The reference as an identity: from Load Identity or Predict "
                                                 "Coefficients (they carry the photos' mean ArcFace embedding)."}),
            "top_k": ("INT", {"default": 0, "min": 0, "max": 4096, "tooltip": "Keep only the k most alike images "
                              "in 'ranked'. 0: all images, sorted."}),
        }}

    def measure(self, images, face_analyzer, face=None, coefficients=None, top_k=0):
        reference = reference_of(face, coefficients)
        results, ranked, previews, text = measure(images, face_analyzer, reference, top_k)
        lines = [f"image {n}: {r.score:.3f}" + (f" ({r.note})" if r.note else "")
                 for n, r in enumerate(results, start=1)]
        ui = {"text": [text, *lines], "images": save_temp_previews(previews, "hyperlora_likeness")}
        return {"ui": ui, "result": ([r.score for r in results], ranked, to_image_batch(previews), text)}
