"""Repeat Latent (same noise) on the stand-in: copies, batch_index, masks, the strengths it passes on, refusals.

That equal batch_index means equal noise, and that a sweep then equals separate runs image for image, is shown
on real ComfyUI (tests/integration/test_comfyui_control.py, "per-image strengths").
"""

import pytest
import torch

from tests.comfy_standin import comfy, models_root, run_node  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401

KEY = "HyperLoRARepeatLatent"


def repeat(comfy, latent, strengths="0.6, 0.8, 1.0"):  # noqa: F811
    return run_node(comfy.nodes[KEY], latent, strengths).args


def one_image(**extra):
    return {"samples": torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(3)), **extra}


def test_one_copy_per_strength_all_with_the_original_images_noise_index(comfy):  # noqa: F811
    latent = one_image()
    out, strengths = repeat(comfy, latent)
    assert out["samples"].shape == (3, 4, 6, 5)
    for copy in out["samples"]:
        assert torch.equal(copy, latent["samples"][0])
    assert out["batch_index"] == [0, 0, 0]  # no batch_index: core's noise for image 0, on every copy
    assert strengths == "0.6, 0.8, 1"
    assert set(latent) == {"samples"} and latent["samples"].shape[0] == 1  # the input is not changed


def test_a_picked_image_keeps_its_own_index_and_mask_and_other_keys(comfy):  # noqa: F811
    mask = torch.rand(1, 6, 5, generator=torch.Generator().manual_seed(4))
    latent = one_image(batch_index=[5], noise_mask=mask, type="test")
    out, strengths = repeat(comfy, latent, "0.5; 1 1.5 0.7")
    assert out["batch_index"] == [5, 5, 5, 5] and strengths == "0.5, 1, 1.5, 0.7"
    assert out["noise_mask"].shape == (4, 6, 5) and all(torch.equal(m, mask[0]) for m in out["noise_mask"])
    assert out["type"] == "test"


def test_one_strength_is_one_copy_and_a_number_from_the_api_is_read(comfy):  # noqa: F811
    out, strengths = repeat(comfy, one_image(), 0.8)
    assert out["samples"].shape[0] == 1 and out["batch_index"] == [0] and strengths == "0.8"


@pytest.mark.parametrize("text, message", [
    ("", "strengths is empty"), (None, "strengths is empty"), (" , ;", "strengths is empty"),
    ("0.6, strong", "'strong' is not a number"), ("0.6, 9", "outside -4 to 4"), (True, "'True' is not a number"),
    (", ".join(["0.8"] * 65), "lists 65 values; at most 64"),
])
def test_a_strength_list_it_cannot_use_is_refused(comfy, text, message):  # noqa: F811
    with pytest.raises(ValueError, match=message):
        repeat(comfy, one_image(), text)


def test_a_latent_of_several_images_is_refused_naming_the_number(comfy):  # noqa: F811
    with pytest.raises(ValueError, match="the latent has 2 images, but a sweep repeats ONE image"):
        repeat(comfy, {"samples": torch.zeros(2, 4, 6, 5)})


@pytest.mark.parametrize("latent", [None, "latent", {"noise_mask": torch.zeros(1, 6, 5)}, torch.zeros(1, 4, 6, 5)])
def test_something_that_is_no_latent_is_refused(comfy, latent):  # noqa: F811
    with pytest.raises(ValueError, match="latent must be a LATENT"):
        repeat(comfy, latent)
