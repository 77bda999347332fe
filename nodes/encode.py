"""Encode Face: reference photos -> ArcFace + CLIP features (the HYPERLORA_FACE socket) and previews."""

from __future__ import annotations

from ..hyperlora_core.face.detection import SELECT_MODES
from ..hyperlora_core.face.preview import fit_preview
from .clip_vision import ComfyCLIPEncoder
from .images import save_temp_previews, to_image_batch, to_pil_list
from .loaders import face_dependencies
from .types import CATEGORY, FACE, FACE_ANALYZER

PREVIEW_SIZE = 512


def _crop_factor(side: str):
    return ("FLOAT", {"default": 1.0, "min": 0.1, "max": 4.0, "step": 0.05,
                      "tooltip": f"Base condition only: how far the crop around the face reaches to the {side}, "
                                 "as a multiple of the face size (1 = as trained; clamped to the image)."})


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


def face_boxes(pils, conditioning) -> list[dict]:
    """What the web extension needs to let a click pick a face: per input image its size and every
    face box (original pixels), left to right, so a box's position is its face_index."""
    boxes = {index: faces for index, faces in zip(conditioning.kept, all_faces(conditioning))}
    return [{"image": index, "width": image.width, "height": image.height,
             "boxes": [[round(float(v), 1) for v in f.bbox] for f in boxes.get(index, [])]}
            for index, image in enumerate(pils)]


def crop_previews(conditioning):
    """The CLIP crops at one size, so they form one IMAGE batch."""
    from ..hyperlora_core import face

    return to_image_batch(face.preview_crops(conditioning.id_crops, PREVIEW_SIZE))


class HyperLoRAEncodeFace:
    DESCRIPTION = ("Finds the face in each reference photo, crops it as HyperLoRA was trained (grey background, "
                   "square around the face) and encodes it with ArcFace and CLIP. Several photos of one person "
                   "are averaged into one identity. Re-running with the same photos reuses the result.")
    CATEGORY = f"{CATEGORY}/face"
    FUNCTION = "encode"
    RETURN_TYPES = (FACE, "IMAGE", "IMAGE")
    RETURN_NAMES = ("face", "face_crops", "detections")
    OUTPUT_TOOLTIPS = (
        "The identity features: connect to Predict Coefficients.",
        "The face crops CLIP saw, one per kept photo (check that the face is centred and the background grey).",
        "Each photo with every detected face boxed and numbered from the left; the chosen one is highlighted.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "One or more photos of the same person (a batch). Clear, frontal, "
                                            "well lit faces work best."}),
            "clip_vision": ("CLIP_VISION", {"tooltip": "CLIP ViT-L/14 image encoder (Load CLIP Vision, or "
                                                       "HyperLoRA CLIP Vision Loader)."}),
            "face_analyzer": (FACE_ANALYZER, {"tooltip": "From HyperLoRA Face Analyzer Loader."}),
            "remove_background": ("BOOLEAN", {"default": True, "tooltip": "Replace everything around the face "
                                              "with grey before CLIP sees it, as in training (recommended)."}),
            "grayscale": ("BOOLEAN", {"default": False, "tooltip": "Give CLIP a grey-scale face: keeps the "
                                      "identity but not skin tone or make-up colours."}),
            "face_selection": (SELECT_MODES, {"default": "largest", "tooltip": "Which face to use when a photo "
                               "has several: the largest, the most confident, or the one at face_index."}),
            "face_index": ("INT", {"default": 0, "min": 0, "max": 63, "tooltip": "With face_selection 'index': "
                                   "the face number, counted from the left starting at 0 (see detections)."}),
            "skip_images_without_face": ("BOOLEAN", {"default": False, "tooltip": "Leave out photos where no "
                                         "face is found instead of stopping with an error."}),
            "base_condition": ("BOOLEAN", {"default": True, "tooltip": "Also encode the face-blurred photo for the "
                               "Base-LoRA (used only by checkpoints that have one; off saves a CLIP pass)."}),
            "base_crop_left": _crop_factor("left"),
            "base_crop_right": _crop_factor("right"),
            "base_crop_top": _crop_factor("top"),
            "base_crop_bottom": _crop_factor("bottom"),
        }}

    def encode(self, images, clip_vision, face_analyzer, remove_background, grayscale, face_selection, face_index,
               skip_images_without_face, base_condition, base_crop_left, base_crop_right, base_crop_top,
               base_crop_bottom):
        conditioning, pils = encode_images(
            images, clip_vision, face_analyzer, remove_background=remove_background, grayscale=grayscale,
            face_selection=face_selection, face_index=face_index,
            skip_images_without_face=skip_images_without_face, base_condition=base_condition,
            base_crop=(base_crop_left, base_crop_right, base_crop_top, base_crop_bottom))
        detections = detection_previews(pils, conditioning)
        ui = {"images": save_temp_previews(detections), "hyperlora_faces": face_boxes(pils, conditioning)}
        return {"ui": ui, "result": (conditioning, crop_previews(conditioning), to_image_batch(detections))}
