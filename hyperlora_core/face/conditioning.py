"""From reference photos to the HyperLoRA conditions: ArcFace embeddings and CLIP tokens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from PIL import Image

from . import feature_cache
from .clip import CLIPEncoder, clip_pixel_values
from .detection import SELECT_MODES, DetectedFace, detect_faces, select_face
from .identity import arcface_embedding
from .preprocess import check_base_crop, prepare_base_image, prepare_id_face

logger = logging.getLogger(__name__)

# How messages name the user's options: the nodes' by default; the CLI passes its own flags (it has
# neither node options nor a detection preview).
NODE_HINTS = {"skip": "turn on 'skip_images_without_face' on the Encode Face node",
              "pick": "the detection preview shows the numbers"}


@dataclass
class FaceConditioning:
    """The conditions of the images that had a face (in input order), and what the model saw."""

    arcface: torch.Tensor                    # (B, 512) float32, L2-normalised
    clip_tokens: torch.Tensor                # (B, 257, E) float32, penultimate CLIP hidden states
    base_clip_tokens: torch.Tensor | None    # (B, 257, E) for the Base-LoRA, or None
    id_crops: list[Image.Image]              # the face crops given to CLIP
    base_crops: list[Image.Image] | None     # the face-blurred images given to CLIP, or None
    detections: list[DetectedFace]           # the chosen face of each kept image
    kept: list[int]                          # input indices of the kept images
    all_faces: list[list[DetectedFace]] | None = None  # every face of each kept image, left to right

    def _comfy_cache_tensors(self) -> list[torch.Tensor]:
        """The tensors held, by the name ComfyUI's RAM-pressure cache asks for to size a cached output."""
        return [t for t in (self.arcface, self.clip_tokens, self.base_clip_tokens) if t is not None]


def _where(number: int, total: int, image: Image.Image, names: list[str] | None) -> str:
    """How a message names an image: its position, its name if known, and its size to tell it apart."""
    name = f", {names[number - 1]}" if names else ""
    return f"image {number} of {total}{name} ({image.width}x{image.height} pixels)"


def _all_faces(analyzer, image: Image.Image) -> tuple[DetectedFace, ...]:
    return tuple(detect_faces(analyzer, image))


def _encode_clip(encoder: CLIPEncoder, crops: list[Image.Image]) -> torch.Tensor:
    """CLIP tokens of the crops (B, 257, E) float32; crops whose pixels the same model encoded before
    come from the feature cache, the others are encoded in one batch."""
    pixels = clip_pixel_values(crops)
    owner = getattr(encoder, "cache_owner", encoder)
    keys = [(feature_cache.array_digest(p.numpy()),) for p in pixels]
    tokens = [feature_cache.CLIP_TOKENS.get(owner, key) for key in keys]
    missing = [i for i, t in enumerate(tokens) if t is None]
    if missing:
        encoded = encoder.encode(pixels[missing]).float().cpu()
        for n, i in enumerate(missing):
            tokens[i] = encoded[n].clone()  # its own storage: a kept row must not hold the whole batch
            feature_cache.CLIP_TOKENS.put(owner, keys[i], tokens[i])
    return torch.stack(tokens)


def encode_faces(images: list[Image.Image], analyzer, encoder: CLIPEncoder, *, remove_background: bool = True,
                 grayscale: bool = False, select: str = "largest", face_index: int = 0,
                 skip_missing: bool = False, with_base: bool = False,
                 base_crop=(1.0, 1.0, 1.0, 1.0),
                 progress: Callable[[int, int], None] | None = None,
                 hints: dict[str, str] | None = None, names: list[str] | None = None) -> FaceConditioning:
    """Detect, select, crop (section 7) and encode the face of every image.

    select: "largest" (default), "score" or "index" (face_index counted left to right from 0).
    skip_missing: leave out images without a face instead of failing (at least one must remain).
    with_base: also build the Base condition; base_crop = (left, right, top, bottom) factors or None.
    progress(done, total) is called after each image. hints: see NODE_HINTS. names: how messages name the
    images (e.g. file names), beside their position and size.
    """
    hints = {**NODE_HINTS, **(hints or {})}
    if not images:
        raise ValueError("No reference images were given.")
    if select not in SELECT_MODES:
        raise ValueError(f"Unknown face selection '{select}'. Use one of: {', '.join(SELECT_MODES)}.")
    if with_base:
        check_base_crop(base_crop)
    total = len(images)
    kept, chosen, all_faces, embeddings, id_crops, base_crops = [], [], [], [], [], []
    for number, image in enumerate(images, start=1):
        where = _where(number, total, image, names)
        digest = feature_cache.image_digest(image)
        faces = list(feature_cache.DETECTIONS.get_or_compute(analyzer, (digest,),
                                                             partial(_all_faces, analyzer, image)))
        if not faces:
            if not skip_missing:
                raise ValueError(
                    f"No face found in {where}. Use a photo where the face is clearly visible, not tiny and "
                    f"not turned away, or leave such images out: {hints['skip']}.")
            logger.warning("No face found in %s; skipped.", where)
        else:
            face = select_face(faces, select, face_index, where, hints["pick"])
            kept.append(number - 1)
            chosen.append(face)
            all_faces.append(faces)
            id_crops.append(prepare_id_face(image, face.landmarks, remove_background, grayscale))
            embeddings.append(feature_cache.EMBEDDINGS.get_or_compute(
                analyzer, (digest, feature_cache.array_digest(face.bbox, face.kps, face.landmarks)),
                partial(arcface_embedding, analyzer, image, face, where)))
            if with_base:
                base_crops.append(prepare_base_image(image, face.landmarks, base_crop))
        if progress is not None:
            progress(number, total)
    if not kept:
        raise ValueError(f"No face found in any of the {total} images. Use photos where the face is clearly "
                         f"visible, not tiny and not turned away.")
    clip_tokens = _encode_clip(encoder, id_crops)
    base_tokens = _encode_clip(encoder, base_crops) if with_base else None
    return FaceConditioning(
        arcface=torch.from_numpy(np.stack(embeddings).astype(np.float32)),
        clip_tokens=clip_tokens,
        base_clip_tokens=base_tokens,
        id_crops=id_crops,
        base_crops=base_crops if with_base else None,
        detections=chosen,
        kept=kept,
        all_faces=all_faces,
    )
