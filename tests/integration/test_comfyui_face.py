"""The face nodes with ComfyUI's own CLIP vision model: same penultimate features as transformers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tests.face_fixtures import GREY, analyzer, antelope_dir, paint_marker, tiny_clip_dir  # noqa: F401
from tests.integration.tiny_models import VARIANT, patched_weights
from tests.reference import factor_delta

CONFIG_KEYS = ("hidden_size", "image_size", "intermediate_size", "num_attention_heads", "num_hidden_layers",
               "patch_size", "hidden_act", "layer_norm_eps", "num_channels")


@pytest.fixture(scope="module")
def comfy_clip_vision(comfyui, tiny_clip_dir, tmp_path_factory):  # noqa: F811
    """comfy.clip_vision.ClipVisionModel (ComfyUI's own ViT code) holding the tiny CLIP's weights."""
    import comfy.clip_vision

    config = json.loads((tiny_clip_dir / "config.json").read_text())
    config = {key: config[key] for key in CONFIG_KEYS} | {"model_type": "clip_vision_model"}
    path = tmp_path_factory.mktemp("clip_config") / "config.json"
    path.write_text(json.dumps(config))
    clip_vision = comfy.clip_vision.ClipVisionModel(str(path))
    weights = {k if k.startswith("vision_model.") else f"vision_model.{k}": v
               for k, v in load_file(str(tiny_clip_dir / "model.safetensors")).items()}
    missing, _ = clip_vision.load_sd(weights)
    assert not [k for k in missing if "position_ids" not in k], missing
    return clip_vision


def encode_options(**changes) -> dict:
    options = {"remove_background": True, "grayscale": False, "face_selection": "largest", "face_index": 0,
               "skip_images_without_face": False, "base_condition": False, "base_crop_left": 1.0,
               "base_crop_right": 1.0, "base_crop_top": 1.0, "base_crop_bottom": 1.0}
    return {**options, **changes}


def photo_batch() -> tuple[torch.Tensor, list[Image.Image]]:
    images = [paint_marker(Image.new("RGB", (640, 480), GREY), box) for box in ((250, 150, 400, 300),
                                                                                (100, 200, 250, 350))]
    return torch.stack([torch.from_numpy(np.array(i)).float() / 255 for i in images]), images


def test_encode_face_node_with_comfyui_clip_vision(comfyui, node, comfy_clip_vision, analyzer, tiny_clip_dir):  # noqa: F811
    from hyperlora_core.face import TransformersCLIPEncoder, encode_faces

    batch, images = photo_batch()
    out = node("HyperLoRAEncodeFace").encode(batch, comfy_clip_vision, analyzer, **encode_options(base_condition=True))
    face, crops, detections = out["result"]
    direct = encode_faces(images, analyzer, TransformersCLIPEncoder.from_folder(tiny_clip_dir), with_base=True)
    torch.testing.assert_close(face.arcface, direct.arcface)
    # ComfyUI keeps CLIP vision weights in fp16 on the CPU: the features agree to fp16 precision
    for got, expected in ((face.clip_tokens, direct.clip_tokens), (face.base_clip_tokens, direct.base_clip_tokens)):
        assert got.shape == expected.shape == (2, 257, 32)
        assert (got - expected).norm() / expected.norm() < 5e-3
    assert crops.shape == (2, 512, 512, 3) and detections.shape == batch.shape
    temp = comfyui.folder_paths.get_temp_directory()
    assert all(os.path.isfile(os.path.join(temp, p["subfolder"], p["filename"])) for p in
               (entry["preview"] for entry in out["ui"]["hyperlora_faces"]))
    assert [len(entry["boxes"]) for entry in out["ui"]["hyperlora_faces"]] == [1, 1]


def test_apply_face_shortcut_in_comfyui(comfyui, node, comfy_clip_vision, analyzer, tiny_sdxl, checkpoint):  # noqa: F811
    (hyperlora,) = node("HyperLoRACheckpointLoader").load(VARIANT, "auto", "auto")
    batch, _ = photo_batch()
    base = {k: v.detach().clone() for k, v in tiny_sdxl.model.state_dict().items()}
    (patched,) = node("HyperLoRAApplyFace").apply(tiny_sdxl, hyperlora, comfy_clip_vision, analyzer, batch, 0.8)
    face, _, _ = node("HyperLoRAEncodeFace").encode(batch, comfy_clip_vision, analyzer, **encode_options())["result"]
    (coefficients,) = node("HyperLoRAPredictCoefficients").predict(hyperlora, face, "")
    factors = coefficients.factors("id")
    got = patched_weights(comfyui, patched)
    for key in factors.up:
        expected = base[key].double() + 0.8 * factor_delta(factors, key).double()
        torch.testing.assert_close(got[key].double(), expected, rtol=1e-5, atol=1e-6)
