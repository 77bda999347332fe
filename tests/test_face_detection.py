"""Detection retries, the padding fallback, face selection and missing-face errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hyperlora_core.face import (
    DET_SIZES,
    FaceAnalyzer,
    TransformersCLIPEncoder,
    detect_faces,
    encode_faces,
    select_face,
)
from hyperlora_core.face.detection import to_bgr
from tests.face_fixtures import (  # noqa: F401  (pytest fixtures)
    GREY,
    analyzer,
    antelope_dir,
    expected_box,
    paint_marker,
    tiny_clip_dir,
)
from tests.tiny_onnx import marker_colour

# 1280 x 640 -> detector scale 0.5 at 640. Marker box (x1, y1, x2, y2), score, size, and the anchor
# point (detector pixels) of its first fully covered 8-pixel cell.
GROUP = [
    ((100, 150, 250, 300), 0.70, 0.6, (56, 80)),    # left: largest box
    ((540, 260, 690, 410), 1.00, 0.1, (272, 136)),  # middle: best score
    ((1000, 90, 1150, 240), 0.85, 0.35, (504, 48)),  # right
]


@pytest.fixture(scope="module")
def group_photo() -> Image.Image:
    image = Image.new("RGB", (1280, 640), GREY)
    for box, score, size, _ in GROUP:
        image = paint_marker(image, box, score, size)
    return image


@pytest.fixture(scope="module")
def encoder(tiny_clip_dir):  # noqa: F811
    return TransformersCLIPEncoder.from_folder(tiny_clip_dir)


def test_every_marker_is_one_face_numbered_left_to_right(analyzer, group_photo):  # noqa: F811
    faces = detect_faces(analyzer, group_photo)
    assert [face.index for face in faces] == [0, 1, 2]
    for face, (_, score, size, anchor) in zip(faces, GROUP):
        green = marker_colour(score, size)[1]
        np.testing.assert_allclose(face.bbox, expected_box(*anchor, green, det_scale=0.5), atol=1e-3)
        assert face.score == pytest.approx(marker_colour(score, size)[0] / 255, abs=1e-4)
        assert face.det_size == 640 and not face.padded
        assert face.landmarks.shape == (106, 2) and face.kps.shape == (5, 2)


@pytest.mark.parametrize("select, face_index, expected", [
    ("largest", 0, 0), ("score", 0, 1), ("index", 2, 2), ("index", 0, 0), ("largest", 2, 0),
])
def test_selection_modes(analyzer, group_photo, select, face_index, expected):  # noqa: F811
    faces = detect_faces(analyzer, group_photo)
    assert select_face(faces, select, face_index).index == expected


def test_index_out_of_range_says_how_many_faces(analyzer, group_photo):  # noqa: F811
    faces = detect_faces(analyzer, group_photo)
    with pytest.raises(ValueError, match=r"Face index 3 does not exist in image 2 of 4: 3 faces found, "
                                         r"numbered 0 to 2"):
        select_face(faces, "index", 3, "image 2 of 4")
    with pytest.raises(ValueError, match="Unknown face selection"):
        select_face(faces, "biggest")


def test_retries_smaller_detector_sizes(analyzer):  # noqa: F811
    class OnlySmallSizes(FaceAnalyzer):
        def detect(self, bgr, size):
            self.sizes.append(size)
            return super().detect(bgr, size) if size <= 384 else []

    picky = OnlySmallSizes(analyzer.folder, analyzer.detector, analyzer.landmarker, analyzer.recognizer,
                           analyzer.providers)
    picky.sizes = []
    image = paint_marker(Image.new("RGB", (640, 640), GREY), (250, 250, 400, 400))
    faces = detect_faces(picky, image)
    assert picky.sizes == [640, 512, 384]
    assert len(faces) == 1 and faces[0].det_size == 384 and not faces[0].padded


def test_face_filling_the_frame_is_found_on_a_padded_copy(analyzer):  # noqa: F811
    image = Image.new("RGB", (200, 160), marker_colour(0.9, 0.5))
    bgr = to_bgr(image)
    assert all(analyzer.detect(bgr, size) == [] for size in DET_SIZES)  # the fallback is really needed
    faces = detect_faces(analyzer, image)
    assert len(faces) == 1 and faces[0].padded
    # the documented padding: centred on a grey canvas twice as large
    canvas = Image.new("RGB", (400, 320), (127, 127, 127))
    canvas.paste(image, (100, 80))
    padded_bgr = to_bgr(canvas)
    direct = analyzer.detect(padded_bgr, faces[0].det_size)
    assert len(direct) == 1
    offset = np.array([100.0, 80.0])
    np.testing.assert_allclose(faces[0].bbox, direct[0].bbox - np.tile(offset, 2), atol=1e-4)
    np.testing.assert_allclose(faces[0].kps, direct[0].kps - offset, atol=1e-4)
    np.testing.assert_allclose(faces[0].landmarks, analyzer.landmarks(padded_bgr, direct[0]) - offset, atol=1e-3)
    # and the face lies on the marker, i.e. inside the original image
    centre = faces[0].bbox.reshape(2, 2).mean(axis=0)
    assert 0 < centre[0] < 200 and 0 < centre[1] < 160


def test_no_face_names_the_image(analyzer, encoder, group_photo):  # noqa: F811
    blank = Image.new("RGB", (300, 300), GREY)
    with pytest.raises(ValueError, match=r"No face found in image 2 of 3 \(300x300 pixels\)\..*skip_images_without_face") as error:
        encode_faces([group_photo, blank, group_photo], analyzer, encoder)
    assert "--skip-missing" not in str(error.value)  # the CLI's flag has no place in a node's message


def test_skip_missing_keeps_the_others(analyzer, encoder, group_photo, caplog):  # noqa: F811
    blank = Image.new("RGB", (300, 300), GREY)
    calls = []
    with caplog.at_level("WARNING"):
        cond = encode_faces([blank, group_photo, blank, group_photo], analyzer, encoder, skip_missing=True,
                            select="index", face_index=1, progress=lambda done, total: calls.append((done, total)))
    assert cond.kept == [1, 3]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert cond.arcface.shape == (2, 512) and cond.clip_tokens.shape == (2, 257, 32)
    assert [face.index for face in cond.detections] == [1, 1]
    assert [len(faces) for faces in cond.all_faces] == [3, 3]
    assert "image 1 of 4" in caplog.text and "image 3 of 4" in caplog.text


def test_skip_missing_still_needs_one_face(analyzer, encoder):  # noqa: F811
    blank = Image.new("RGB", (300, 300), GREY)
    with pytest.raises(ValueError, match="No face found in any of the 2 images"):
        encode_faces([blank, blank], analyzer, encoder, skip_missing=True)


def test_bad_index_fails_even_with_skip_missing(analyzer, encoder, group_photo):  # noqa: F811
    with pytest.raises(ValueError, match=r"image 1 of 1 \(1280x640 pixels\): 3 faces found"):
        encode_faces([group_photo], analyzer, encoder, select="index", face_index=5, skip_missing=True)


def test_arcface_embeds_the_chosen_face_never_its_neighbour(analyzer):  # noqa: F811
    """Group photo: the close-up re-crop around the chosen (left, less confident) face also holds its
    neighbour, which the detector ranks first. The embedding is still the chosen person's: the same as
    that person photographed alone."""
    from hyperlora_core.face import arcface_embedding

    empty = Image.new("RGB", (800, 480), GREY)
    alone = paint_marker(empty, (300, 200, 360, 260), 0.7, 0.2)
    neighbour_alone = paint_marker(empty, (400, 200, 460, 260), 1.0, 0.2)
    group = paint_marker(alone, (400, 200, 460, 260), 1.0, 0.2)
    (face,) = detect_faces(analyzer, alone)
    (neighbour,) = detect_faces(analyzer, neighbour_alone)
    chosen = select_face(detect_faces(analyzer, group), "index", 0)
    person = arcface_embedding(analyzer, alone, face)
    other = arcface_embedding(analyzer, neighbour_alone, neighbour)
    got = arcface_embedding(analyzer, group, chosen)
    assert float(np.dot(got, person)) > 0.999
    assert float(np.dot(got, person)) > float(np.dot(got, other))
