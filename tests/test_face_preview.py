"""Preview pictures: numbered detections and same-size crops."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hyperlora_core.face import DetectedFace, preview_crops, preview_detections
from hyperlora_core.face.preview import CHOSEN_COLOUR, OTHER_COLOUR


def fake_face(index: int, box) -> DetectedFace:
    x1, y1 = box[:2]
    kps = np.array([[x1 + 10, y1 + 10]] * 5, dtype=np.float64)
    return DetectedFace(bbox=np.array(box, np.float64), score=0.9, kps=kps, landmarks=np.zeros((106, 2)),
                        index=index)


@pytest.mark.parametrize("chosen", [0, 1])
def test_boxes_and_chosen_face(chosen):
    image = Image.new("RGB", (600, 300), (20, 20, 20))
    faces = [fake_face(0, (50, 100, 200, 250)), fake_face(1, (350, 80, 550, 280))]
    preview = np.asarray(preview_detections(image, faces, chosen))
    assert preview.shape == (300, 600, 3)
    assert np.asarray(image).max() == 20  # the input is not drawn on
    for face in faces:
        colour = CHOSEN_COLOUR if face.index == chosen else OTHER_COLOUR
        x1, y1, x2, y2 = face.bbox.astype(int)
        middle = (y1 + y2) // 2
        assert tuple(preview[middle, x1]) == colour and tuple(preview[middle, x2 - 1]) == colour
        # a filled label with the number sits just above the box
        label = preview[max(y1 - 40, 0):y1, x1:x1 + 40].reshape(-1, 3)
        assert (label == colour).all(axis=1).sum() > 100
        assert (label == 0).all(axis=1).sum() > 5  # the black digit


def test_label_stays_inside_the_image():
    image = Image.new("RGB", (200, 200), (20, 20, 20))
    preview = np.asarray(preview_detections(image, [fake_face(0, (-30, -30, 100, 100))], 0))
    assert (preview[:20, :20] == CHOSEN_COLOUR).all(axis=-1).sum() > 50


def test_crops_share_one_size_and_keep_their_shape():
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    square = Image.new("L", (30, 30), 200)
    previews = preview_crops([wide, square], size=256)
    assert [p.size for p in previews] == [(256, 256), (256, 256)]
    wide_preview = np.asarray(previews[0])
    assert tuple(wide_preview[128, 128]) == (255, 0, 0)
    assert tuple(wide_preview[10, 128]) == (127, 127, 127)  # letterboxed above
    assert tuple(wide_preview[64, 128]) == (255, 0, 0)      # the 2:1 image spans rows 64..191
    assert (np.asarray(previews[1]) == 200).all()
