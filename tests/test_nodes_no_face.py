"""The no-face error as a user meets it in each place: which image (position and size), and only the
remedies that place offers (Encode Face has a skip switch and a detections preview; Apply Face has
neither; the command line has --skip-missing and names the files)."""

import pytest
from PIL import Image

from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import GREY, analyzer, antelope_dir, tiny_clip_dir  # noqa: F401
from tests.test_nodes_pipeline import ENCODE_DEFAULTS, as_batch, node, photos


@pytest.fixture
def loaded(comfy):  # noqa: F811
    (hyperlora,) = node(comfy, "HyperLoRACheckpointLoader").load("sdxl_tiny_fidelity", "auto", "auto")
    (analyzer_,) = node(comfy, "HyperLoRAFaceAnalyzerLoader").load("antelopev2", "cpu")
    (clip_vision,) = node(comfy, "HyperLoRACLIPVisionLoader").load("clip_vit_tiny")
    return hyperlora, analyzer_, clip_vision


def batch_with_a_blank_second_photo():
    face_photo = photos((250, 150, 400, 300))[0]
    return as_batch([face_photo, Image.new("RGB", (640, 480), GREY), face_photo])


def test_encode_face_names_the_photo_and_offers_its_skip_switch(comfy, loaded):  # noqa: F811
    _, analyzer_, clip_vision = loaded
    with pytest.raises(ValueError) as error:
        node(comfy, "HyperLoRAEncodeFace").encode(batch_with_a_blank_second_photo(), clip_vision, analyzer_,
                                                  **ENCODE_DEFAULTS)
    message = str(error.value)
    assert message.startswith("No face found in image 2 of 3 (640x480 pixels).")
    assert "leave such images out: turn on 'skip_images_without_face' on the Encode Face node" in message
    assert "--skip-missing" not in message
    out = node(comfy, "HyperLoRAEncodeFace").encode(batch_with_a_blank_second_photo(), clip_vision, analyzer_,
                                                    **{**ENCODE_DEFAULTS, "skip_images_without_face": True})
    assert out["result"][0].kept == [0, 2]  # what the message promised


def test_encode_face_index_error_points_to_its_detection_preview(comfy, loaded):  # noqa: F811
    _, analyzer_, clip_vision = loaded
    with pytest.raises(ValueError, match=r"Face index 2 does not exist in image 1 of 1 \(640x480 pixels\): 1 face "
                                         r"found.*the detection preview shows the numbers"):
        node(comfy, "HyperLoRAEncodeFace").encode(as_batch(photos((250, 150, 400, 300))), clip_vision, analyzer_,
                                                  **{**ENCODE_DEFAULTS, "face_selection": "index", "face_index": 2})


def test_apply_face_offers_only_what_exists(comfy, loaded):  # noqa: F811
    """Apply Face has no skip option: it says so, and points to Encode Face's."""
    hyperlora, analyzer_, clip_vision = loaded
    with pytest.raises(ValueError) as error:
        node(comfy, "HyperLoRAApplyFace").apply(object(), hyperlora, clip_vision, analyzer_,
                                                batch_with_a_blank_second_photo(), 0.8)
    message = str(error.value)
    assert message.startswith("No face found in image 2 of 3 (640x480 pixels).")
    assert "or leave such images out: Apply Face cannot, so use HyperLoRA Encode Face with " \
           "'skip_images_without_face' on, then Predict Coefficients and HyperLoRA Apply." in message
    assert "on the Encode Face node" not in message and "--skip-missing" not in message


def test_the_command_line_names_the_file_and_its_flag(analyzer):  # noqa: F811
    from hyperlora_core.cli.make_lora import CLI_HINTS
    from hyperlora_core.face import encode_faces

    with pytest.raises(ValueError, match=r"image 1 of 1, me\.png \(300x200 pixels\)\. .*add --skip-missing\.$"):
        encode_faces([Image.new("RGB", (300, 200), GREY)], analyzer, encoder=None, hints=CLI_HINTS,
                     names=["me.png"])
