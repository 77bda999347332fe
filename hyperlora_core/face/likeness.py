"""Likeness: the ArcFace cosine similarity between a reference identity and the faces of generated images.

This is the "ID similarity" (or "face similarity") that identity-preserving generation papers report:
the cosine of two L2-normalised ArcFace embeddings. The reference is the mean of the reference
photos' embeddings, computed exactly as the model saw them (the `2l` re-crop of section 7, step 5),
re-normalised. Each generated image is scored by its best-matching face, embedded the same way;
an image without a face scores 0 and gets a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from .detection import DetectedFace, detect_faces
from .identity import arcface_embedding
from .preview import _font

MATCH_COLOUR = (40, 220, 60)
NO_FACE_NOTE = "no face found"


@dataclass
class Likeness:
    """The score of one image: its best-matching face (None without a face) and a note for the user."""

    score: float
    face: DetectedFace | None
    faces_found: int
    note: str = ""


def reference_embedding(arcface, weights=None) -> torch.Tensor:
    """(512,) unit vector: the (weighted) mean of the L2-normalised ArcFace embeddings, normalised again."""
    embeddings = torch.as_tensor(arcface, dtype=torch.float32)
    if embeddings.ndim == 1:
        embeddings = embeddings.unsqueeze(0)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"Expected ArcFace embeddings of shape (images, 512); got {tuple(embeddings.shape)}.")
    if not torch.isfinite(embeddings).all():
        raise ValueError("The reference ArcFace embeddings contain NaN or infinite values; encode the face again.")
    embeddings = torch.nn.functional.normalize(embeddings, dim=1)
    if weights is None:
        mean = embeddings.mean(dim=0)
    else:
        weights = torch.as_tensor(weights, dtype=torch.float32).flatten()
        if weights.numel() != embeddings.shape[0] or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"Give one non-negative weight per reference image ({embeddings.shape[0]}), "
                             "not all zero.")
        mean = (weights[:, None] * embeddings).sum(dim=0) / weights.sum()
    norm = mean.norm()
    if norm < 1e-6:
        raise ValueError("The reference photos' ArcFace embeddings cancel out (they point in opposite directions); "
                         "use photos of one person.")
    return mean / norm


def identity_reference(arcface, label: str) -> torch.Tensor:
    """The unit reference of a saved or predicted identity; a zero vector (a damaged file, or one written by
    another tool) is named as the identity's fault, not as photos that cancel out."""
    vector = torch.as_tensor(arcface, dtype=torch.float32)
    if vector.numel() == 0 or not torch.isfinite(vector).all() or vector.norm() < 1e-6:
        raise ValueError(f"The identity '{label}' has an ArcFace reference of zeros (or NaN): its file is damaged "
                         "or was written by another tool. Save the identity again from its photos, or give the "
                         "reference photos instead.")
    return reference_embedding(vector)


def _unit(reference) -> np.ndarray:
    vector = np.asarray(torch.as_tensor(reference, dtype=torch.float32).flatten(), dtype=np.float64)
    if vector.size == 0 or not np.all(np.isfinite(vector)) or np.linalg.norm(vector) < 1e-6:
        raise ValueError("The reference identity has no usable ArcFace embedding (empty, zero or NaN).")
    return vector / np.linalg.norm(vector)


def score_image(analyzer, image: Image.Image, reference, where: str = "the image") -> Likeness:
    """Cosine similarity between `reference` and the best-matching face of `image` (0 and a note without one)."""
    unit = _unit(reference)
    faces = detect_faces(analyzer, image)
    if not faces:
        return Likeness(0.0, None, 0, NO_FACE_NOTE)
    best, best_score = None, -2.0
    for face in faces:
        embedding = np.asarray(arcface_embedding(analyzer, image, face, where), dtype=np.float64)
        if embedding.shape != unit.shape:
            raise ValueError(f"The face model gives {embedding.size}-d embeddings but the reference has "
                             f"{unit.size}: use the same ArcFace model (AntelopeV2) for both.")
        score = float(embedding @ unit / max(np.linalg.norm(embedding), 1e-12))
        if score > best_score:
            best, best_score = face, score
    note = f"best of {len(faces)} faces" if len(faces) > 1 else ""
    return Likeness(best_score, best, len(faces), note)


def score_images(analyzer, images: list[Image.Image], reference, progress=None) -> list[Likeness]:
    """Likeness of every image, in input order; progress(done, total) after each."""
    results = []
    for number, image in enumerate(images, start=1):
        results.append(score_image(analyzer, image, reference, f"image {number} of {len(images)}"))
        if progress is not None:
            progress(number, len(images))
    return results


def ranking(results: list[Likeness], top_k: int = 0) -> list[int]:
    """Image indices from the most to the least alike (ties keep input order); the first top_k when > 0."""
    if top_k < 0:
        raise ValueError(f"top_k must be 0 (all images) or a positive number; got {top_k}.")
    order = sorted(range(len(results)), key=lambda i: -results[i].score)
    return order[:top_k] if top_k else order


def summary(results: list[Likeness]) -> str:
    """One line: the scores in input order, the best image, and which images had no face."""
    if not results:
        return "No images."
    best = ranking(results)[0]
    parts = [f"{r.score:.3f}" + (f" ({r.note})" if r.note == NO_FACE_NOTE else "") for r in results]
    mean = sum(r.score for r in results) / len(results)
    return (f"ID similarity (ArcFace cosine) of {len(results)} image(s): {', '.join(parts)}; "
            f"best: image {best + 1} ({results[best].score:.3f}), mean {mean:.3f}")


def preview_likeness(image: Image.Image, result: Likeness) -> Image.Image:
    """The image with its matched face boxed and the score written above it (or the note, top left)."""
    preview = image.convert("RGB")
    draw = ImageDraw.Draw(preview)
    line = max(2, round(max(preview.size) / 300))
    font = _font(max(14, round(max(preview.size) / 20)))
    label = f"{result.score:.3f}" if result.face is not None else f"0 ({NO_FACE_NOTE})"
    x, y = 0.0, 0.0
    if result.face is not None:
        x1, y1, x2, y2 = (float(v) for v in result.face.bbox)
        draw.rectangle((x1, y1, x2, y2), outline=MATCH_COLOUR, width=line)
        x, y = x1, y1
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    width, height = right - left + 2 * line, bottom - top + 2 * line
    x = min(max(x, 0.0), max(preview.width - width, 0.0))
    y = max(y - height, 0.0)
    draw.rectangle((x, y, x + width, y + height), fill=MATCH_COLOUR)
    draw.text((x + line - left, y + line - top), label, fill=(0, 0, 0), font=font)
    return preview
