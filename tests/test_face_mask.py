"""Face Mask: mask geometry checked against brute force, and the node on the tiny marker detector."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from hyperlora_core.face import DetectedFace
from hyperlora_core.face.mask import choose_faces, convex_hull, faces_mask, polygon_mask, signed_distance
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import GREY, expected_box, paint_marker, tiny_clip_dir  # noqa: F401


def face_at(box, index=0, landmarks=None) -> DetectedFace:
    box = np.asarray(box, np.float64)
    return DetectedFace(bbox=box, score=0.9, kps=np.zeros((5, 2)), index=index,
                        landmarks=landmarks if landmarks is not None else np.zeros((106, 2)))


def brute_distance(polygon, x, y):
    """Distance to the polygon's edges, negative inside by ray casting: independent of the vectorised code."""
    best, inside = math.inf, False
    for (ax, ay), (bx, by) in zip(polygon, np.roll(polygon, -1, axis=0)):
        ex, ey = bx - ax, by - ay
        t = min(1.0, max(0.0, ((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey)))
        best = min(best, math.hypot(x - ax - t * ex, y - ay - t * ey))
        if (ay > y) != (by > y) and x < ax + (y - ay) * ex / ey:
            inside = not inside
    return -best if inside else best


def test_signed_distance_matches_brute_force():
    gen = np.random.default_rng(0)
    polygon = convex_hull(gen.uniform(10, 50, size=(40, 2)))
    xs, ys = torch.arange(0, 60, 3.7), torch.arange(0, 60, 4.3)
    got = signed_distance(polygon, xs, ys)
    for r, y in enumerate(ys.tolist()):
        for c, x in enumerate(xs.tolist()):
            assert got[r, c].item() == pytest.approx(brute_distance(polygon, x, y), abs=1e-9)


def test_box_mask_covers_exactly_the_pixel_centres_inside_and_grows_by_a_rounded_offset():
    box = np.array([[10.0, 20.0], [50.0, 20.0], [50.0, 80.0], [10.0, 80.0]])
    mask = polygon_mask(box, 100, 120)
    assert mask.sum() == 40 * 60 and mask[20:80, 10:50].min() == 1 and set(mask.unique().tolist()) == {0.0, 1.0}
    grown = polygon_mask(box, 100, 120, grow=5.0)
    assert grown.sum().item() == pytest.approx(40 * 60 + 2 * 5 * (40 + 60) + math.pi * 25, rel=0.01)
    shrunk = polygon_mask(box, 100, 120, grow=-5.0)
    assert shrunk.sum() == 30 * 50


def test_feather_falls_off_linearly_outside_the_grown_edge():
    box = np.array([[40.0, 40.0], [60.0, 40.0], [60.0, 60.0], [40.0, 60.0]])
    mask = polygon_mask(box, 100, 100, grow=4.0, feather=10.0)
    row = mask[50].tolist()  # pixel centres x + 0.5; the grown edge is at x = 64
    assert row[40:60] == [1.0] * 20 and row[63] == 1.0
    assert row[64] == pytest.approx(0.95) and row[68] == pytest.approx(0.55) and row[73] == pytest.approx(0.05)
    assert row[74:] == [0.0] * 26 and row[64:74] == sorted(row[64:74], reverse=True)
    with pytest.raises(ValueError, match="feather"):
        polygon_mask(box, 100, 100, feather=-1.0)
    with pytest.raises(ValueError, match="finite"):
        polygon_mask(box, 100, 100, grow=float("nan"))


def test_outline_is_the_hull_of_the_landmarks_and_fraction_grows_by_face_size():
    gen = np.random.default_rng(1)
    landmarks = gen.uniform([30, 40], [70, 90], size=(106, 2))
    face = face_at((28, 38, 72, 92), landmarks=landmarks)
    mask = faces_mask([face], 128, 128, "outline")
    for x, y in landmarks:
        assert mask[int(y), int(x)] == 1 or abs(brute_distance(convex_hull(landmarks), x, y)) < 1
    assert mask[:35].sum() == 0 and mask[:, :25].sum() == 0
    by_fraction = faces_mask([face], 128, 128, "box", grow=0.1, grow_unit="face fraction")
    assert torch.equal(by_fraction, faces_mask([face], 128, 128, "box", grow=0.1 * 54))


def test_choosing_faces():
    faces = [face_at((0, 0, 10, 10), 0), face_at((20, 0, 50, 30), 1), face_at((60, 0, 70, 10), 2)]
    assert choose_faces(faces, "all") == faces
    assert choose_faces(faces, "largest") == [faces[1]] and choose_faces(faces, "index", 2) == [faces[2]]
    with pytest.raises(ValueError, match="Face index 3 does not exist in the image: 3 faces"):
        choose_faces(faces, "index", 3)
    with pytest.raises(ValueError, match="No face found"):
        choose_faces([], "all")


# ------------------------------------------------------------------------------- the node

LEFT, RIGHT = (64, 64, 192, 192), (400, 200, 560, 360)  # 640 x 480: detector scale 1, anchors = top-left
SIZES = {LEFT: 0.1, RIGHT: 0.3}


def marker_image(*boxes) -> torch.Tensor:
    image = Image.new("RGB", (640, 480), GREY)
    for box in boxes:
        image = paint_marker(image, box, size=SIZES[box])
    return torch.from_numpy(np.array(image)).float().unsqueeze(0) / 255


def detector_box(box):
    return expected_box(box[0], box[1], round(255 * SIZES[box]), det_scale=1.0)


def box_pixels(box):
    x1, y1, x2, y2 = box
    xs, ys = np.arange(640) + 0.5, np.arange(480) + 0.5
    return torch.from_numpy(((ys[:, None] >= y1) & (ys[:, None] <= y2) & (xs >= x1) & (xs <= x2)).astype(np.float32))


@pytest.fixture
def face_mask(comfy):  # noqa: F811
    (analyzer,) = comfy.node("HyperLoRAFaceAnalyzerLoader").load("models/antelopev2", "cpu")
    node = comfy.node("HyperLoRAFaceMask")

    def run(image, selection="all", index=0, shape="box", grow=0.0, unit="pixels", feather=0.0, skip=False):
        out = node.mask(image, analyzer, selection, index, shape, grow, unit, feather, skip)
        return out if isinstance(out, dict) else {"result": out}  # the stand-in gives a node without ui a tuple
    return run


@pytest.mark.parametrize(("selection", "index", "covered"), [
    ("all", 0, [LEFT, RIGHT]), ("index", 0, [LEFT]), ("index", 1, [RIGHT]), ("largest", 0, [RIGHT]),
])
def test_masks_lie_on_the_markers_numbered_from_the_left(face_mask, selection, index, covered):
    image = marker_image(RIGHT, LEFT)
    out = face_mask(image, selection, index)
    mask, count, preview = out["result"]
    assert mask.shape == (1, 480, 640) and count == 2 and preview.shape == (1, 480, 640, 3)
    expected = torch.zeros(480, 640)
    for box in covered:
        expected = torch.maximum(expected, box_pixels(detector_box(box)))
    assert torch.equal(mask[0], expected)
    for box in covered:  # the marker's first detector cell is under the mask
        assert mask[0, box[1] + 4, box[0] + 4] == 1
    grey = (image[0] * 255).round().eq(torch.tensor(GREY)).all(-1)
    tinted, plain = preview[0][(mask[0] == 1) & grey], preview[0][(mask[0] == 0) & grey]
    assert (tinted[:, 1] > tinted[:, 0] + 0.2).float().mean() > 0.9  # green tint over the masked faces
    assert (plain[:, 1] == plain[:, 0]).float().mean() > 0.95  # grey elsewhere (but boxes and labels)
    assert "ui" not in out  # the preview is shown once: through 'preview', not also on the node (it grew over the next)


def test_outline_grow_and_feather_on_detected_faces(face_mask):
    image = marker_image(LEFT)
    (box_mask, _, _) = face_mask(image)["result"]
    (outline, _, _) = face_mask(image, shape="outline")["result"]
    (grown, _, _) = face_mask(image, shape="outline", grow=0.2, unit="face fraction", feather=6.0)["result"]
    assert 0 < outline.sum() < box_mask.sum() and (outline <= box_mask).all()  # landmarks lie inside the box
    assert (grown >= outline).all() and grown.sum() > 1.3 * outline.sum()
    soft = grown[(grown > 0) & (grown < 1)]
    assert soft.numel() > 0 and ((outline == 1) <= (grown == 1)).all()


def test_no_face_is_an_error_naming_the_option_or_an_empty_mask(face_mask):
    batch = torch.cat([marker_image(LEFT), marker_image()])
    with pytest.raises(ValueError, match=r"No face found in image 2 of 2.*'skip_images_without_face' on the Face "
                                         r"Mask node"):
        face_mask(batch)
    mask, count, preview = face_mask(batch, skip=True)["result"]
    assert mask.shape == (2, 480, 640) and count == 1 and preview.shape[0] == 2
    assert mask[0].sum() > 0 and mask[1].sum() == 0
    with pytest.raises(ValueError, match="Face index 1 does not exist"):
        face_mask(marker_image(LEFT), "index", 1)


def dense_polygon_mask(polygon, height, width, grow=0.0, feather=0.0):
    """The previous computation: every pixel of the image measured (the reference for the fast one)."""
    beyond = signed_distance(polygon, torch.arange(width, dtype=torch.float64) + 0.5,
                             torch.arange(height, dtype=torch.float64) + 0.5) - grow
    if feather > 0:
        return (1.0 - beyond / feather).clamp(0.0, 1.0).float()
    return (beyond <= 0).float()


@pytest.mark.parametrize("seed", range(6))
def test_measuring_only_near_the_edge_gives_the_mask_of_measuring_every_pixel(seed):
    gen = np.random.default_rng(seed)
    height, width = int(gen.integers(40, 260)), int(gen.integers(40, 260))
    centre, radius = gen.uniform(0, [width, height]), gen.uniform(1, 90, size=2)
    angles = gen.uniform(0, 2 * math.pi, 106)
    polygon = convex_hull(np.stack([centre[0] + radius[0] * np.cos(angles),
                                    centre[1] + radius[1] * np.sin(angles)], axis=1))
    for grow, feather in ((0.0, 0.0), (0.0, 8.0), (12.5, 3.0), (-7.0, 0.0), (-20.0, 40.0), (3.3, 0.5)):
        got = polygon_mask(polygon, height, width, grow, feather)
        assert torch.equal(got, dense_polygon_mask(polygon, height, width, grow, feather)), (grow, feather)


@pytest.mark.parametrize("grow, unit", [(-1024.0, "pixels"), (-0.6, "face fraction")])
def test_a_grow_that_shrinks_the_face_away_says_so(face_mask, grow, unit):
    with pytest.raises(ValueError, match=rf"grow {grow:g} \({unit}\) shrinks the mask of the image \(640x480 "
                                         r"pixels\) to nothing.*face is about \d+ pixels"):
        face_mask(marker_image(LEFT), shape="outline", grow=grow, unit=unit)
    (mask, count, _) = face_mask(marker_image(LEFT), shape="outline", grow=grow / 100, unit=unit)["result"]
    assert count == 1 and mask.sum() > 0
