"""Shared fixtures: synthetic checkpoints in the released layout."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.synthetic_checkpoint import write_synthetic_checkpoint

TINY_HEADS = {"heads": 2, "dim_head": 8}


@pytest.fixture(autouse=True)
def _no_face_features_from_earlier_tests():
    """Face features are remembered by pixel digest (face/feature_cache.py): each test starts without."""
    from hyperlora_core.face import feature_cache

    feature_cache.clear_all()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """fp16 checkpoint with a Base-LoRA, diffusers-style names (like the release)."""
    return write_synthetic_checkpoint(tmp_path_factory.mktemp("ckpt") / "sdxl_hyper_id_lora_v1_fidelity",
                                      **TINY_HEADS)


@pytest.fixture(scope="session")
def tiny_checkpoint_fp32(tmp_path_factory) -> Path:
    """fp32 weights, so engine and reference can be compared tightly."""
    return write_synthetic_checkpoint(tmp_path_factory.mktemp("ckpt32") / "fp32", dtype=torch.float32, seed=1,
                                      **TINY_HEADS)


@pytest.fixture(scope="session")
def tiny_checkpoint_no_base(tmp_path_factory) -> Path:
    return write_synthetic_checkpoint(tmp_path_factory.mktemp("ckpt_nb") / "nobase", with_base=False, seed=2,
                                      **TINY_HEADS)


@pytest.fixture
def face_features():
    """Random but valid conditioning for the tiny checkpoints: 3 images."""
    gen = torch.Generator().manual_seed(7)
    arcface = torch.nn.functional.normalize(torch.randn(3, 512, generator=gen), dim=-1)
    clip = torch.randn(3, 257, 24, generator=gen)
    return arcface, clip
