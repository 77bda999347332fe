"""Pictures of what the model sees: detected faces with their numbers, and the CLIP crops."""

from __future__ import annotations

from collections.abc import Collection

from PIL import Image, ImageDraw, ImageFont

from .detection import DetectedFace

CHOSEN_COLOUR = (40, 220, 60)
OTHER_COLOUR = (255, 200, 0)
CANVAS = (127, 127, 127)
DETECTION_PREVIEW_SIDE = 1024  # a preview's longest side: enough to read the numbers, small to keep


def fit_preview(image: Image.Image, max_side: int = DETECTION_PREVIEW_SIDE) -> tuple[Image.Image, float]:
    """An RGB copy of `image` no larger than `max_side`, and the scale from image to preview pixels.

    A node's outputs stay in ComfyUI's cache: a full-size preview of an 8000 x 8000 photo would keep
    gigabytes resident for a picture shown a few hundred pixels wide.
    """
    scale = min(1.0, max_side / max(image.size))
    if scale == 1.0:
        return image.convert("RGB"), 1.0
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0).convert("RGB"), scale


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def preview_detections(image: Image.Image, faces: list[DetectedFace], chosen: int | Collection[int],
                       max_side: int = DETECTION_PREVIEW_SIDE) -> Image.Image:
    """The image (at most `max_side` wide and high) with every face's box and its left-to-right
    number (the chosen face(s) in green), so a user can see which face_index to pick."""
    chosen = {chosen} if isinstance(chosen, int) else set(chosen)
    preview, scale = fit_preview(image, max_side)  # a copy
    draw = ImageDraw.Draw(preview)
    line = max(2, round(max(preview.size) / 300))
    font = _font(max(14, round(max(preview.size) / 25)))
    for face in faces:
        colour = CHOSEN_COLOUR if face.index in chosen else OTHER_COLOUR
        x1, y1, x2, y2 = (float(v) * scale for v in face.bbox)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        for x, y in face.kps * scale:
            draw.ellipse((x - line, y - line, x + line, y + line), fill=colour)
        label = str(face.index)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        pad = line
        x = min(max(x1, 0.0), preview.width - (right - left) - 2 * pad)
        y = max(y1 - (bottom - top) - 2 * pad, 0.0)
        draw.rectangle((x, y, x + right - left + 2 * pad, y + bottom - top + 2 * pad), fill=colour)
        draw.text((x + pad - left, y + pad - top), label, fill=(0, 0, 0), font=font)
    return preview


def preview_crops(images: list[Image.Image], size: int = 512) -> list[Image.Image]:
    """The crops at one common size (fitted, aspect kept, on grey), so they form one image batch."""
    previews = []
    for image in images:
        image = image.convert("RGB")
        scale = size / max(image.size)
        fitted = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                              Image.Resampling.BICUBIC)
        canvas = Image.new("RGB", (size, size), CANVAS)
        canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
        previews.append(canvas)
    return previews
