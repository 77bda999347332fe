"""Section 7 of the format notes: the exact image crops HyperLoRA was trained on.

Every step uses the same PIL operations as the official node pack, because the model learnt from
their output. Two PIL facts matter:
- Image.crop rounds a float box to whole pixels (Python round()) and fills the part outside the
  image with zeros (black), so crops near the border are padded with black, as in the official pack;
- the official pack pastes at int() of the same float corner (truncation), which can differ from
  the crop's rounding by one pixel. Kept as is: that is what the model saw in training.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Closed face outline through the 2d106 landmarks: jaw from 1 over the chin (0) to 17, then the brows.
OUTLINE_INDICES = (1, 9, 10, 11, 12, 13, 14, 15, 16, 2, 3, 4, 5, 6, 7, 8, 0,
                   24, 23, 22, 21, 20, 19, 18, 32, 31, 30, 29, 28, 27, 26, 25, 17,
                   101, 105, 104, 103, 102, 50, 51, 49, 48, 43)
BACKGROUND = "#7f7f7f"
MASK_BLUR = 15          # Gaussian radius of the paste mask, at 512 x 512
BASE_FACE_BLUR = 45     # Gaussian radius of the blurred face for the Base condition, at 512 x 512
BASE_MASK_SCALE = 1.4   # the Base condition blurs a region 1.4 times the face outline
BLUR_SIZE = (512, 512)


def check_landmarks(landmarks) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 106 or points.shape[1] < 2 or not np.isfinite(points).all():
        raise ValueError(f"Expected 106 face landmarks as a (106, 2) array of numbers, got shape {points.shape}.")
    return points[:106, :2]


def face_box(landmarks) -> tuple[float, float, float]:
    """Centre (cx, cy) and half-side l of the face square: l = 0.75 * the landmarks' larger extent,
    centre of their bounding box moved up by l / 8."""
    points = check_landmarks(landmarks)
    (x_min, y_min), (x_max, y_max) = points.min(axis=0), points.max(axis=0)
    half = 0.75 * max(x_max - x_min, y_max - y_min)
    return float(x_min + x_max) / 2.0, float(y_min + y_max) / 2.0 - 0.125 * half, float(half)


def _square(cx: float, cy: float, half: float) -> tuple[float, float, float, float]:
    return cx - half, cy - half, cx + half, cy + half


def _outline_region(image: Image.Image, landmarks: np.ndarray, mask_scale: float):
    """The square about the outline's centroid (half-side 0.8 * its larger extent), cut from the image
    and from the outline mask scaled by `mask_scale` about the centroid."""
    outline = landmarks[list(OUTLINE_INDICES)]
    centre = outline.mean(axis=0)
    mask = Image.new("L", image.size, 0)
    polygon = (outline - centre) * mask_scale + centre
    ImageDraw.Draw(mask).polygon([tuple(point) for point in polygon.tolist()], fill=255)
    half = 0.8 * float((outline.max(axis=0) - outline.min(axis=0)).max())
    box = _square(float(centre[0]), float(centre[1]), half)
    corner = (int(box[0]), int(box[1]))  # truncation, as the official pack (see module docstring)
    return image.crop(box), mask.crop(box), corner


def _blur_at_512(image: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur with a radius meant for a 512 x 512 version of the image, at the image's size."""
    return image.resize(BLUR_SIZE).filter(ImageFilter.GaussianBlur(radius=radius)).resize(image.size)


def grey_background(image: Image.Image, landmarks) -> Image.Image:
    """The face (inside its outline, soft edge) pasted on a #7f7f7f canvas the size of the image."""
    image = image.convert("RGB")
    crop, mask, corner = _outline_region(image, check_landmarks(landmarks), mask_scale=1.0)
    canvas = Image.new("RGB", image.size, BACKGROUND)
    canvas.paste(crop, corner, _blur_at_512(mask, MASK_BLUR))
    return canvas


def prepare_id_face(image: Image.Image, landmarks: np.ndarray, remove_background: bool = True,
                    grayscale: bool = False) -> Image.Image:
    """The square face crop fed to CLIP for the ID condition (an RGB image; grey values if grayscale)."""
    points = check_landmarks(landmarks)
    source = grey_background(image, points) if remove_background else image.convert("RGB")
    face = source.crop(_square(*face_box(points)))
    if grayscale:
        face = face.convert("L").convert("RGB")  # CLIP takes RGB; grey replicated, as CLIP's own conversion
    return face


def arcface_box(landmarks) -> tuple[float, float, float, float]:
    """The square (twice the face square) re-cropped from the original image for ArcFace."""
    cx, cy, half = face_box(landmarks)
    return _square(cx, cy, 2.0 * half)


def check_base_crop(base_crop) -> tuple[float, float, float, float] | None:
    if base_crop is None:
        return None
    factors = tuple(float(value) for value in base_crop)
    if len(factors) != 4 or any(not np.isfinite(v) or v < 0 for v in factors) \
            or factors[0] + factors[1] <= 0 or factors[2] + factors[3] <= 0:
        raise ValueError(f"The Base crop needs four factors (left, right, top, bottom), each 0 or more, with "
                         f"left + right and top + bottom above 0; got {base_crop}. The default is 1, 1, 1, 1.")
    return factors


def prepare_base_image(image: Image.Image, landmarks, base_crop=(1.0, 1.0, 1.0, 1.0)) -> Image.Image:
    """The Base condition image: the face region blurred away, then an optional crop about the face.

    base_crop: (left, right, top, bottom) multiples of the face square's half-side, clamped to the
    image; None keeps the whole image.
    """
    points = check_landmarks(landmarks)
    factors = check_base_crop(base_crop)
    result = image.convert("RGB")  # a copy: the caller's image is not modified
    crop, mask, corner = _outline_region(result, points, mask_scale=BASE_MASK_SCALE)
    result.paste(_blur_at_512(crop, BASE_FACE_BLUR), corner, _blur_at_512(mask, MASK_BLUR))
    if factors is None:
        return result
    cx, cy, half = face_box(points)
    left, right, top, bottom = factors
    box = (max(0.0, cx - half * left), max(0.0, cy - half * top),
           min(float(result.width), cx + half * right), min(float(result.height), cy + half * bottom))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError("The Base crop around the face lies outside the image. Use larger crop factors.")
    return result.crop(box)
