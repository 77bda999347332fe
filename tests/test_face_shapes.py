"""Every image shape through the face tools: 1x1 to extreme aspect ratios and 0-sized (issue 19).

The detector scales a photo into a square; a photo thinner than that square's side to one scales to
zero pixels, which OpenCV refuses with an assertion. Each face tool must instead name the image, or
skip it when skipping is on.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from hyperlora_core.face import detect_faces
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import GREY, analyzer, antelope_dir, paint_marker, tiny_clip_dir  # noqa: F401
from tests.test_cli import models  # noqa: F401
from tests.test_likeness import ENCODE_DEFAULTS, as_batch, marker, nodes  # noqa: F401

SHAPES = [(1, 1), (2, 3), (16, 16), (3000, 10), (10, 3000), (20000, 10), (10, 20000), (700, 1), (1, 700),
          (257, 1), (1, 300)]
EMPTY = [(0, 0), (0, 64), (64, 0)]


def grey_batch(width, height) -> torch.Tensor:
    return torch.full((1, height, width, 3), 0.5)


@pytest.mark.parametrize("width, height", SHAPES)
def test_detection_takes_every_shape(analyzer, width, height):  # noqa: F811
    assert detect_faces(analyzer, Image.new("RGB", (width, height), GREY)) == []


def test_a_wide_photo_with_a_face_still_finds_it(analyzer):  # noqa: F811
    photo = paint_marker(Image.new("RGB", (1600, 120), GREY), (700, 10, 800, 110), 1.0, 0.5)
    assert len(detect_faces(analyzer, photo)) == 1


@pytest.mark.parametrize("width, height", SHAPES)
def test_face_mask_names_the_image_or_skips_it(comfy, nodes, width, height):  # noqa: F811
    _, _, analyzer_, _ = nodes
    node = comfy.node("HyperLoRAFaceMask")
    args = ("all", 0, "outline", 0.1, "face fraction", 8.0)
    with pytest.raises(ValueError, match=rf"No face found in the image \({width}x{height} pixels\)"):
        node.mask(grey_batch(width, height), analyzer_, *args, False)
    mask, count, _ = node.mask(grey_batch(width, height), analyzer_, *args, True)  # no ui: a plain tuple
    assert mask.shape == (1, height, width) and count == 0 and not mask.any()


@pytest.mark.parametrize("width, height", SHAPES)
def test_encode_face_names_the_image_or_skips_it(comfy, nodes, width, height):  # noqa: F811
    _, _, analyzer_, clip_vision = nodes
    encode = comfy.node("HyperLoRAEncodeFace")
    with pytest.raises(ValueError, match=rf"image 1 of 1 \({width}x{height}"):
        encode.encode(grey_batch(width, height), clip_vision, analyzer_, **ENCODE_DEFAULTS)
    with pytest.raises(ValueError, match="No face found in any"):
        encode.encode(grey_batch(width, height), clip_vision, analyzer_,
                      **{**ENCODE_DEFAULTS, "skip_images_without_face": True})


@pytest.mark.parametrize("width, height", SHAPES)
def test_likeness_scores_no_face_for_every_shape(comfy, nodes, width, height):  # noqa: F811
    _, _, analyzer_, clip_vision = nodes
    face = comfy.node("HyperLoRAEncodeFace").encode(as_batch([marker()]), clip_vision, analyzer_,
                                                   **ENCODE_DEFAULTS)["result"][0]
    scores = comfy.node("HyperLoRALikeness").measure(grey_batch(width, height), analyzer_, face=face)["result"][0]
    assert scores == [0.0]


@pytest.mark.parametrize("width, height", EMPTY)
@pytest.mark.parametrize("skip", [False, True])
def test_empty_images_are_named_by_every_face_node(comfy, nodes, width, height, skip):  # noqa: F811
    _, _, analyzer_, clip_vision = nodes
    face = comfy.node("HyperLoRAEncodeFace").encode(as_batch([marker()]), clip_vision, analyzer_,
                                                   **ENCODE_DEFAULTS)["result"][0]
    empty = grey_batch(width, height)
    calls = {
        "image": lambda: comfy.node("HyperLoRAFaceMask").mask(empty, analyzer_, "all", 0, "outline", 0.1,
                                                             "face fraction", 8.0, skip),
        "images": lambda: comfy.node("HyperLoRAEncodeFace").encode(
            empty, clip_vision, analyzer_, **{**ENCODE_DEFAULTS, "skip_images_without_face": skip}),
        "images ": lambda: comfy.node("HyperLoRALikeness").measure(empty, analyzer_, face=face),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"The {name.strip()} input holds empty images \({width}x{height} pixels"):
            call()


def test_face_mask_names_an_empty_batch(comfy, nodes):  # noqa: F811
    _, _, analyzer_, _ = nodes
    with pytest.raises(ValueError, match="Face Mask got an empty image batch"):
        comfy.node("HyperLoRAFaceMask").mask(torch.zeros(0, 64, 64, 3), analyzer_, "all", 0, "outline", 0.1,
                                            "face fraction", 8.0, True)


@pytest.mark.parametrize("width, height", [(3000, 10), (10, 3000), (20000, 10), (1, 1)])
def test_cli_names_the_photo(models, tmp_path, capsys, width, height):  # noqa: F811
    from hyperlora_core.cli import main

    photo = tmp_path / "thin.png"
    Image.fromarray(np.full((height, width, 3), 127, np.uint8)).save(photo)
    assert main(["make-lora", "--face", str(photo), "--models", str(models), "--out",
                 str(tmp_path / "x.safetensors"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert str(photo) in err and "No face found" in err and "Traceback" not in err
