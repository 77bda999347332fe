"""Finding the faces of a photo robustly, and choosing one of them.

Section 7 of the format notes: detection is retried at 640, 512, 384 and 256 until a face is found.
On top of that, when every size fails, the photo is padded and tried again: SCRFD often misses a face
that fills the whole frame (close-up selfies, tight crops) because it is larger than the detector's
largest anchors; a border makes it smaller relative to the input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

DET_SIZES = (640, 512, 384, 256)
# Padding fallback: the photo in the middle of a canvas twice its width and height, in mid-grey:
# a flat colour adds no edges that could be read as a face, and #7f7f7f is the background colour the
# section-7 preprocessing uses anyway.
PAD_FACTOR = 2.0
PAD_COLOUR = (127, 127, 127)
SELECT_MODES = ("largest", "score", "index")


@dataclass
class DetectedFace:
    """One face, in pixel coordinates of the original image."""

    bbox: np.ndarray        # (4,) x1, y1, x2, y2
    score: float            # detector confidence
    kps: np.ndarray         # (5, 2) eyes, nose, mouth corners
    landmarks: np.ndarray   # (106, 2) 2d106 landmarks
    index: int = 0          # position counted left to right (by box centre x), what "index" selects
    det_size: int = 640     # detector input size that found it
    padded: bool = False    # found only on the padded copy

    @property
    def area(self) -> float:
        return float(max(self.bbox[2] - self.bbox[0], 0.0) * max(self.bbox[3] - self.bbox[1], 0.0))

    @property
    def centre_x(self) -> float:
        return float(self.bbox[0] + self.bbox[2]) / 2.0


def to_bgr(image: Image.Image) -> np.ndarray:
    """PIL image -> contiguous BGR uint8 array, insightface's input."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def fits_detector(height: int, width: int, size: int) -> bool:
    """Whether the detector can scale an image into its size x size input: as SCRFD does it (the long
    side to `size`, the short one in proportion, rounded down), the short side must keep a pixel.
    A photo thinner than that (3000 x 10 at 256) would make OpenCV's resize fail with an assertion."""
    if height <= 0 or width <= 0:
        return False
    ratio = float(height) / width
    return int(size / ratio) >= 1 if ratio > 1 else int(size * ratio) >= 1


def _analyse(analyzer, bgr: np.ndarray, offset: tuple[float, float], padded: bool) -> list[DetectedFace]:
    for size in DET_SIZES:
        if not fits_detector(bgr.shape[0], bgr.shape[1], size):
            continue  # far too thin or empty: no face can be found at this size
        found = analyzer.detect(bgr, size)
        if found:
            shift = np.asarray(offset, dtype=np.float64)
            return [DetectedFace(bbox=face.bbox - np.tile(shift, 2), score=face.det_score,
                                 kps=face.kps - shift, landmarks=analyzer.landmarks(bgr, face) - shift,
                                 det_size=size, padded=padded)
                    for face in found]
    return []


def pad_image(image: Image.Image) -> tuple[Image.Image, tuple[int, int]]:
    """The image centred on a PAD_FACTOR-times larger grey canvas, and its top-left offset there."""
    width, height = image.size
    canvas = Image.new("RGB", (round(width * PAD_FACTOR), round(height * PAD_FACTOR)), PAD_COLOUR)
    offset = ((canvas.width - width) // 2, (canvas.height - height) // 2)
    canvas.paste(image.convert("RGB"), offset)
    return canvas, offset


def detect_faces(analyzer, image: Image.Image) -> list[DetectedFace]:
    """All faces of `image`, numbered and sorted left to right; [] when none is found.

    Tries the sizes of DET_SIZES on the image, then on a padded copy (coordinates mapped back).
    """
    if 0 in image.size:
        return []  # an empty image holds no face
    faces = _analyse(analyzer, to_bgr(image), (0.0, 0.0), padded=False)
    if not faces:
        padded, offset = pad_image(image)
        faces = _analyse(analyzer, to_bgr(padded), offset, padded=True)
        if faces:
            logger.info("Face found only after padding the image (it probably fills the frame).")
    faces.sort(key=lambda face: face.centre_x)
    for index, face in enumerate(faces):
        face.index = index
    return faces


def select_face(faces: list[DetectedFace], select: str = "largest", face_index: int = 0,
                where: str = "the image", pick_hint: str = "the detection preview shows the numbers") -> DetectedFace:
    """Choose one face: "largest" box area, highest detection "score", or "index" (0 = leftmost).

    where: how error messages name the image, e.g. "image 2 of 3".
    """
    if not faces:
        raise ValueError(f"No face found in {where}.")
    if select == "largest":
        return max(faces, key=lambda face: face.area)
    if select == "score":
        return max(faces, key=lambda face: face.score)
    if select == "index":
        if not 0 <= face_index < len(faces):
            count = f"{len(faces)} face" + ("s" if len(faces) != 1 else "")
            raise ValueError(
                f"Face index {face_index} does not exist in {where}: {count} found, numbered 0 to "
                f"{len(faces) - 1} from left to right. Pick one of those ({pick_hint}), or select the largest "
                f"face instead.")
        return faces[face_index]
    raise ValueError(f"Unknown face selection '{select}'. Use one of: {', '.join(SELECT_MODES)}.")
