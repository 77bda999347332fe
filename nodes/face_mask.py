"""Face Mask: a MASK over the chosen face(s) of an image, for regional identities and face redraws."""

from __future__ import annotations

import logging

import torch
from PIL import Image

from ..hyperlora_core.face.mask import GROW_UNITS, SELECTIONS, SHAPES, choose_faces, face_size, faces_mask
from .images import to_image_batch, to_pil_list
from .loaders import face_dependencies
from .types import CATEGORY
from .v3 import FaceAnalyzer, check_booleans, check_choices, io, output, schema

logger = logging.getLogger(__name__)

MASK_TINT = (40, 220, 60)
TINT_OPACITY = 0.45


def mask_preview(image: Image.Image, mask: torch.Tensor, faces, chosen) -> Image.Image:
    """The image with the mask tinted green, every face boxed and numbered from the left."""
    from ..hyperlora_core import face

    alpha = Image.fromarray((mask.clamp(0, 1) * 255 * TINT_OPACITY).round().byte().numpy(), "L")
    tinted = Image.composite(Image.new("RGB", image.size, MASK_TINT), image.convert("RGB"), alpha)
    return face.preview_detections(tinted, faces, [f.index for f in chosen])


class HyperLoRAFaceMask(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAFaceMask", display_name="HyperLoRA Face Mask", category=f"{CATEGORY}/control",
            description=("A mask over the face(s) in an image (an earlier render, a pose or layout picture): for "
                         "Apply to Conditioning (the identity only there) or for inpainting a face. Faces are "
                         "numbered from the left, as in Encode Face."),
            inputs=[
                io.Image.Input("image", tooltip="The picture whose faces to mask (a batch gives a batch of masks)."),
                FaceAnalyzer.Input("face_analyzer", tooltip="From HyperLoRA Face Analyzer Loader."),
                io.Combo.Input("face_selection", options=list(SELECTIONS), default="all", tooltip=(
                    "Which faces: all of them, the largest, or the one at face_index.")),
                io.Int.Input("face_index", default=0, min=0, max=63, tooltip=(
                    "With face_selection 'index': the face number, counted from the left starting at 0 (see "
                    "preview).")),
                io.Combo.Input("shape", options=list(SHAPES), default="outline", tooltip=(
                    "outline: the face's shape from its 106 landmarks (brows to chin; grow it to include forehead "
                    "and hair). box: the detection box.")),
                io.Float.Input("grow", default=0.1, min=-1024.0, max=1024.0, step=0.01, tooltip=(
                    "How far to expand the mask beyond the face (negative shrinks it), in grow_unit.")),
                io.Combo.Input("grow_unit", options=list(GROW_UNITS), default="face fraction", tooltip=(
                    "grow in pixels, or as a fraction of each face's size (0.1 = a tenth of the face; the same "
                    "look at any resolution).")),
                io.Float.Input("feather", default=8.0, min=0.0, max=1024.0, step=1.0, tooltip=(
                    "Soft edge in pixels, outside the grown mask (the face stays fully white).")),
                io.Boolean.Input("skip_images_without_face", default=False, tooltip=(
                    "Give an empty mask for images where no face is found instead of stopping with an error.")),
            ],
            outputs=[
                output(io.Mask, "mask", "White over the chosen face(s), one mask per input image, at the image's "
                                        "size."),
                output(io.Int, "face_count", "How many faces were found (for a batch: in all images together)."),
                output(io.Image, "preview",
                       "Each image with the mask tinted green and every face boxed and numbered from the left."),
            ])

    @classmethod
    def execute(cls, image, face_analyzer, face_selection, face_index, shape, grow, grow_unit, feather,
             skip_images_without_face):
        check_choices(cls, face_selection=(face_selection, SELECTIONS), shape=(shape, SHAPES),
                      grow_unit=(grow_unit, GROW_UNITS))
        check_booleans(cls, skip_images_without_face=skip_images_without_face)
        pils = to_pil_list(image, "image")
        if not pils:
            raise ValueError("Face Mask got an empty image batch (no images); connect the picture whose faces to "
                             "mask.")
        masks, previews, count = [], [], 0
        with face_dependencies():
            from ..hyperlora_core import face

            for number, pil in enumerate(pils):
                where = (f"image {number + 1} of {len(pils)}" if len(pils) > 1 else "the image") + \
                    f" ({pil.width}x{pil.height} pixels)"
                found = face.detect_faces(face_analyzer, pil)
                count += len(found)
                if not found and skip_images_without_face:
                    logger.warning("Face Mask: no face found in %s; its mask is empty.", where)
                    chosen = []
                elif not found:
                    raise ValueError(
                        f"No face found in {where}. Use a picture where the face is clearly visible, not tiny and "
                        f"not turned away, or turn on 'skip_images_without_face' on the Face Mask node (the mask "
                        f"is then empty for that image).")
                else:
                    chosen = choose_faces(found, face_selection, face_index, where)
                mask = faces_mask(chosen, pil.height, pil.width, shape, grow, grow_unit, feather)
                if chosen and not mask.any():
                    size = max(face_size(f) for f in chosen)
                    raise ValueError(
                        f"grow {grow:g} ({grow_unit}) shrinks the mask of {where} to nothing: the face is about "
                        f"{size:.0f} pixels across. Use a grow closer to 0 (shrinking by more than half the face "
                        f"leaves no mask).")
                masks.append(mask)
                previews.append(mask_preview(pil, mask, found, chosen))
        # The preview goes out through its output only (the workflows show it in a Preview Image): shown on this
        # node as well, it made the node grow over the next one after a run.
        return io.NodeOutput(torch.stack(masks), count, to_image_batch(previews))
