"""Likeness: how much each generated image looks like the reference identity (ArcFace cosine)."""

from __future__ import annotations

import torch

from .images import to_image_batch, to_pil_list
from .loaders import face_dependencies
from .types import CATEGORY
from .v3 import Coeffs, Face, FaceAnalyzer, io, output, schema

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


class HyperLoRALikeness(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRALikeness", display_name="HyperLoRA Likeness (ID similarity)", category=f"{CATEGORY}/face",
            description=("Measures how much each generated image looks like the reference person: the ArcFace "
                         "cosine similarity ('ID similarity' in papers) between the reference identity and the "
                         "best-matching face of each image. Ranks the batch, so you can keep the best seeds, and "
                         "shows the scores on the node."),
            inputs=[
                io.Image.Input("images", tooltip="The generated images to score (a batch)."),
                FaceAnalyzer.Input("face_analyzer", tooltip="From HyperLoRA Face Analyzer Loader (ArcFace)."),
                Face.Input("face", optional=True, tooltip="The reference: Encode Face of the reference photos. "
                                                          "Connect this or 'coefficients'."),
                Coeffs.Input("coefficients", optional=True, tooltip=(
                    "The reference as an identity: from Load Identity or Predict Coefficients (they carry the "
                    "photos' mean ArcFace embedding).")),
                io.Int.Input("top_k", optional=True, default=0, min=0, max=4096, tooltip=(
                    "Keep only the k most alike images in 'ranked'. 0: all images, sorted.")),
            ],
            outputs=[
                output(io.Float, "scores", SCORE_TOOLTIP + " One number per image, in input order.",
                       is_output_list=True),
                output(io.Image, "ranked",
                       "The images sorted from most to least alike (only the top_k best when top_k > 0)."),
                output(io.Image, "preview",
                       "Each image with the matched face boxed and its score written on it (input order)."),
                output(io.String, "summary", "One line: every score, the best image and the mean."),
            ],
            is_output_node=True)

    @classmethod
    def execute(cls, images, face_analyzer, face=None, coefficients=None, top_k=0):
        reference = reference_of(face, coefficients)
        results, ranked, previews, text = measure(images, face_analyzer, reference, top_k)
        lines = [f"image {n}: {r.score:.3f}" + (f" ({r.note})" if r.note else "")
                 for n, r in enumerate(results, start=1)]
        # The scores are written on the node; the scored images go out through 'preview' only (the workflows show
        # them in a Preview Image): shown on this node as well, they made it grow over the next node after a run.
        ui = {"text": [text, *lines]}
        return io.NodeOutput([r.score for r in results], ranked, to_image_batch(previews), text, ui=ui)
