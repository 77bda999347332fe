"""Identity library and Likeness in real ComfyUI: its folder_paths (with its file-list cache), its CLIP vision."""

from __future__ import annotations

import os

import pytest
import torch

from tests.face_fixtures import analyzer, antelope_dir, tiny_clip_dir  # noqa: F401
from tests.integration.test_comfyui_face import comfy_clip_vision, encode_options, photo_batch  # noqa: F401
from tests.integration.tiny_models import VARIANT, patched_weights
from tests.workflow_validation import combo_options

FOLDER = "hyper_lora_identities"


@pytest.fixture(scope="module")
def identities(comfyui, tmp_path_factory):
    """Our identities folder first in the list (saves go there), never ComfyUI's own models folder."""
    folder = str(tmp_path_factory.mktemp("identities"))
    comfyui.folder_paths.add_model_folder_path(FOLDER, folder, is_default=True)
    assert comfyui.folder_paths.get_folder_paths(FOLDER)[0] == folder
    return folder


def test_the_identities_folder_is_registered_for_extra_model_paths(comfyui):
    paths, extensions = comfyui.folder_paths.folder_names_and_paths[FOLDER]
    assert extensions == {".safetensors"}
    assert os.path.join(comfyui.folder_paths.models_dir, "hyper_lora", "identities") in paths


def test_save_load_apply_and_likeness_in_comfyui(comfyui, node, identities, checkpoint, tiny_sdxl,
                                                 comfy_clip_vision, analyzer):  # noqa: F811
    (hyperlora,) = node("HyperLoRACheckpointLoader").load(VARIANT, "auto", "auto")
    batch, _ = photo_batch()
    face = node("HyperLoRAEncodeFace").encode(batch, comfy_clip_vision, analyzer,
                                              **encode_options(base_condition=True))["result"][0]
    (predicted,) = node("HyperLoRAPredictCoefficients").predict(hyperlora, face, "")

    load = node("HyperLoRALoadIdentity")
    node("HyperLoRASaveIdentity").save(predicted, "cast/bob", False)
    assert "cast/bob.safetensors" in combo_options(load.INPUT_TYPES()["required"]["identity"])  # fills ComfyUI's cache
    path = node("HyperLoRASaveIdentity").save(predicted, "cast/alice", False)["result"][0]
    assert path.startswith(os.path.realpath(identities))
    # the list is read again at once: no restart, no stale cache
    assert "cast/alice.safetensors" in combo_options(load.INPUT_TYPES()["required"]["identity"])
    with pytest.raises(ValueError, match="already exists"):
        node("HyperLoRASaveIdentity").save(predicted, "cast/alice", False)

    (loaded,) = load.load(hyperlora, "cast/alice.safetensors")
    assert torch.equal(loaded.alpha, predicted.alpha) and torch.equal(loaded.beta, predicted.beta)
    (from_photos,) = node("HyperLoRAApply").apply(tiny_sdxl, predicted, 0.8, 0.5)
    (from_file,) = node("HyperLoRAApply").apply(tiny_sdxl, loaded, 0.8, 0.5)
    a, b = patched_weights(comfyui, from_photos), patched_weights(comfyui, from_file)
    assert all(torch.equal(a[k], b[k]) for k in a)

    likeness = node("HyperLoRALikeness")
    by_face = likeness.measure(batch, analyzer, face=face, top_k=1)
    by_identity = likeness.measure(batch, analyzer, coefficients=loaded, top_k=1)
    scores = by_face["result"][0]
    assert len(scores) == 2 and all(0.0 < s <= 1.0 + 1e-6 for s in scores)
    assert by_identity["result"][0] == pytest.approx(scores, abs=1e-6)
    assert by_face["result"][1].shape[0] == 1
    assert by_face["result"][2].shape == batch.shape  # the scored previews, through the 'preview' output
    assert "images" not in by_face["ui"]  # not shown a second time on the node (it grew over the next one)
    assert [line.split(":")[0] for line in by_face["ui"]["text"][1:]] == ["image 1", "image 2"]
