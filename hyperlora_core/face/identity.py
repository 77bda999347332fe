"""The ArcFace embedding of the ID condition (section 7, step 5)."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from .detection import DetectedFace, to_bgr
from .preprocess import arcface_box

logger = logging.getLogger(__name__)

RECROP_DET_SIZE = 640


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def arcface_embedding(analyzer, image: Image.Image, face: DetectedFace, where: str = "the image") -> np.ndarray:
    """L2-normalised 512-d embedding of `face`, as the official pack computes it.

    The square of twice the face square is cut from the original image and analysed again at 640.
    The official pack takes the first (best-scoring) face found there; here it is the face that
    overlaps the chosen one most, which is the same face for a photo of one person and never a
    neighbour for a group photo. If the re-crop shows no such face, the embedding of the face found
    in the full image is used instead (logged): the re-crop only changes the detector's view, the
    identity is the same.
    """
    box = arcface_box(face.landmarks)
    crop = image.convert("RGB").crop(box)
    origin = np.array([round(box[0]), round(box[1])] * 2, dtype=np.float64)  # PIL's rounding of the box
    bgr = to_bgr(crop)
    candidates = analyzer.detect(bgr, RECROP_DET_SIZE)
    target = face.bbox - origin
    overlaps = [_iou(candidate.bbox, target) for candidate in candidates]
    if overlaps and max(overlaps) > 0.0:
        return analyzer.embedding(bgr, candidates[int(np.argmax(overlaps))])
    logger.warning("ArcFace: no face found again in the close-up crop of %s; using the embedding of the face "
                "found in the full image.", where)
    from insightface.app.common import Face

    full = Face(bbox=face.bbox, kps=face.kps, det_score=face.score)
    return analyzer.embedding(to_bgr(image), full)
