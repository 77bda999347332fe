"""Encode Face: reference photos -> ArcFace + CLIP features (the HYPERLORA_FACE socket) and previews."""

from __future__ import annotations

from ..hyperlora_core.face.detection import SELECT_MODES
from ..hyperlora_core.face.preview import fit_preview
from .clip_vision import ComfyCLIPEncoder
from .images import save_temp_previews, to_image_batch, to_pil_list
from .loaders import face_dependencies
from .types import CATEGORY
from .v3 import Face, FaceAnalyzer, check_booleans, check_choices, io, output, schema

PREVIEW_SIZE = 512


def _crop_factor(side: str):
    return io.Float.Input(f"base_crop_{side}", default=1.0, min=0.1, max=4.0, step=0.05,
                          tooltip=f"Base condition only: how far the crop around the face reaches to the {side}, "
                                  "as a multiple of the face size (1 = as trained; clamped to the image).")


def encode_images(images, clip_vision, face_analyzer, *, remove_background=True, grayscale=False,
                  face_selection="largest", face_index=0, skip_images_without_face=False, base_condition=True,
                  base_crop=(1.0, 1.0, 1.0, 1.0), hints=None):
    """Run the face pipeline on an IMAGE batch with a progress bar on the node.

    hints: what the calling node offers when a photo has no usable face (default: Encode Face's options,
    NODE_HINTS in face/conditioning.py).
    """
    import comfy.utils

    pils = to_pil_list(images)
    bar = comfy.utils.ProgressBar(len(pils))
    with face_dependencies():
        from ..hyperlora_core import face

        return face.encode_faces(
            pils, face_analyzer, ComfyCLIPEncoder(clip_vision), remove_background=remove_background,
            grayscale=grayscale, select=face_selection, face_index=face_index,
            skip_missing=skip_images_without_face, with_base=base_condition, base_crop=tuple(base_crop),
            progress=lambda done, total: bar.update_absolute(done, total), hints=hints), pils


def detection_previews(pils, conditioning) -> list:
    """Every input image, at preview size, with its faces boxed and numbered; the chosen face marked."""
    from ..hyperlora_core import face

    previews = [fit_preview(image)[0] for image in pils]  # preview size: node outputs stay cached
    for faces, chosen, index in zip(all_faces(conditioning), conditioning.detections, conditioning.kept):
        previews[index] = face.preview_detections(pils[index], faces, chosen.index)
    return previews


def all_faces(conditioning) -> list:
    return conditioning.all_faces or [[d] for d in conditioning.detections]


def face_boxes(pils, conditioning, previews: list[dict] | None = None) -> list[dict]:
    """What the web extension's face picker shows: per input image its size, every face box (original
    pixels), left to right so a box's position is its face_index, and its saved detection preview.
    The previews travel here rather than in ui["images"], so the frontend shows them once: in the
    picker, not also as its own canvas preview."""
    boxes = {index: faces for index, faces in zip(conditioning.kept, all_faces(conditioning))}
    entries = [{"image": index, "width": image.width, "height": image.height,
                "boxes": [[round(float(v), 1) for v in f.bbox] for f in boxes.get(index, [])]}
               for index, image in enumerate(pils)]
    for entry, preview in zip(entries, previews or []):
        entry["preview"] = preview
    return entries


def result_summary(total: int, conditioning) -> str:
    """The node's account of the result it returns. It travels in the UI output, which ComfyUI caches and
    sends again with the cached result, so a cached run shows this result's text, never an earlier run's."""
    kept = set(conditioning.kept)
    used = ", ".join(f"photo {i + 1}: face {d.index}" for i, d in zip(conditioning.kept, conditioning.detections))
    text = f"Used {len(conditioning.kept)} of {total} photo(s) ({used})."
    skipped = [str(i + 1) for i in range(total) if i not in kept]
    if skipped:
        text += f" Left out (no usable face): photo {', '.join(skipped)}."
    return text


def crop_previews(conditioning):
    """The CLIP crops at one size, so they form one IMAGE batch."""
    from ..hyperlora_core import face

    return to_image_batch(face.preview_crops(conditioning.id_crops, PREVIEW_SIZE))


class HyperLoRAEncodeFace(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAEncodeFace", display_name="HyperLoRA Encode Face", category=f"{CATEGORY}/face",
            description=("Finds the face in each reference photo, crops it as HyperLoRA was trained (grey "
                         "background, square around the face) and encodes it with ArcFace and CLIP. Several photos "
                         "of one person are averaged into one identity. Re-running with the same photos reuses the "
                         "result."),
            inputs=[
                io.Image.Input("images", tooltip="One or more photos of the same person (a batch). Clear, frontal, "
                                                 "well lit faces work best."),
                io.ClipVision.Input("clip_vision", tooltip="CLIP ViT-L/14 image encoder (Load CLIP Vision, or "
                                                           "HyperLoRA CLIP Vision Loader)."),
                FaceAnalyzer.Input("face_analyzer", tooltip="From HyperLoRA Face Analyzer Loader."),
                io.Boolean.Input("remove_background", default=True, tooltip=(
                    "Replace everything around the face with grey before CLIP sees it, as in training "
                    "(recommended).")),
                io.Boolean.Input("grayscale", default=False, tooltip=(
                    "Give CLIP a grey-scale face: keeps the identity but not skin tone or make-up colours.")),
                io.Combo.Input("face_selection", options=list(SELECT_MODES), default="largest", tooltip=(
                    "Which face to use when a photo has several: the largest, the most confident, or the one at "
                    "face_index.")),
                io.Int.Input("face_index", default=0, min=0, max=63, tooltip=(
                    "With face_selection 'index': the face number, counted from the left starting at 0 (see "
                    "detections).")),
                io.Boolean.Input("skip_images_without_face", default=False, tooltip=(
                    "Leave out photos where no face is found instead of stopping with an error.")),
                io.Boolean.Input("base_condition", default=True, tooltip=(
                    "Also encode the face-blurred photo for the Base-LoRA (used only by checkpoints that have "
                    "one; off saves a CLIP pass).")),
                _crop_factor("left"),
                _crop_factor("right"),
                _crop_factor("top"),
                _crop_factor("bottom"),
            ],
            outputs=[
                output(Face, "face", "The identity features: connect to Predict Coefficients."),
                output(io.Image, "face_crops", "The face crops CLIP saw, one per kept photo (check that the face is "
                                               "centred and the background grey)."),
                output(io.Image, "detections", "Each photo with every detected face boxed and numbered from the "
                                               "left; the chosen one is highlighted."),
            ])

    @classmethod
    def execute(cls, images, clip_vision, face_analyzer, remove_background, grayscale, face_selection, face_index,
               skip_images_without_face, base_condition, base_crop_left, base_crop_right, base_crop_top,
               base_crop_bottom):
        check_choices(cls, face_selection=(face_selection, SELECT_MODES))
        check_booleans(cls, remove_background=remove_background, grayscale=grayscale,
                       skip_images_without_face=skip_images_without_face, base_condition=base_condition)
        conditioning, pils = encode_images(
            images, clip_vision, face_analyzer, remove_background=remove_background, grayscale=grayscale,
            face_selection=face_selection, face_index=face_index,
            skip_images_without_face=skip_images_without_face, base_condition=base_condition,
            base_crop=(base_crop_left, base_crop_right, base_crop_top, base_crop_bottom))
        detections = detection_previews(pils, conditioning)
        ui = {"hyperlora_faces": face_boxes(pils, conditioning, save_temp_previews(detections)),
              "hyperlora_summary": [result_summary(len(pils), conditioning)]}
        return io.NodeOutput(conditioning, crop_previews(conditioning), to_image_batch(detections), ui=ui)
