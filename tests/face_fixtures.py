"""Shared helpers and fixtures of the face tests: tiny AntelopeV2 models, marker images, real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.tiny_onnx import FIRE_STRIDE, box_half_pixels, marker_colour, write_antelopev2

GREY = (128, 128, 128)


def insightface_image(name: str) -> Image.Image:
    """A photo shipped with the insightface package (Tom_Hanks_54745.png, t1.jpg)."""
    import insightface

    return Image.open(Path(insightface.__file__).parent / "data" / "images" / name).convert("RGB")


def paint_marker(image: Image.Image, box: tuple[int, int, int, int], score: float = 1.0,
                 size: float = 0.5) -> Image.Image:
    """A copy of `image` with a tiny-detector face marker filling `box` (x1, y1, x2, y2)."""
    pixels = np.array(image.convert("RGB"))
    x1, y1, x2, y2 = box
    pixels[y1:y2, x1:x2] = marker_colour(score, size)
    return Image.fromarray(pixels)


def expected_box(anchor_x: float, anchor_y: float, green: int, det_scale: float) -> np.ndarray:
    """The box the tiny detector reports for a marker whose top-left full cell has this anchor point
    (detector pixels), in original-image pixels."""
    half, shift = box_half_pixels(green), FIRE_STRIDE
    offsets = np.array([shift - half, shift - half, shift + half, shift + half])
    return (np.array([anchor_x, anchor_y] * 2) + offsets) / det_scale


@pytest.fixture(scope="session")
def antelope_dir(tmp_path_factory) -> Path:
    """<tmp>/insightface/models/antelopev2 with the tiny models."""
    root = tmp_path_factory.mktemp("insightface")
    return write_antelopev2(root / "models" / "antelopev2")


@pytest.fixture(scope="session")
def analyzer(antelope_dir):
    from hyperlora_core.face import load_face_analyzer

    return load_face_analyzer(antelope_dir, provider="cpu")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A random tiny CLIP vision model (224 px, patch 14 -> 257 tokens) saved as a transformers folder."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                              image_size=224, patch_size=14, projection_dim=16)
    folder = tmp_path_factory.mktemp("clip_vit_tiny")
    CLIPVisionModel(config).eval().save_pretrained(folder, safe_serialization=True)
    return folder
