"""An exported LoRA, loaded by core LoraLoaderModelOnly, patches exactly what HyperLoRA Apply patches."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from tests.integration.tiny_models import identity, patched_weights


@pytest.mark.parametrize("style", ["comfy", "kohya"])
def test_exported_lora_round_trips_through_core_lora_loader(comfyui, node, tiny_sdxl, checkpoint, style,
                                                           caplog):
    coefficients = identity(comfyui, node, seed=7)
    result = node("HyperLoRAExportLoRA").save(coefficients, f"loras/roundtrip_{style}", style, 0.5, 0.8, "fp32")
    path = result["result"][0]
    output = os.path.realpath(comfyui.folder_paths.get_output_directory())
    assert path.startswith(output + os.sep) and os.path.isfile(path)

    comfyui.folder_paths.add_model_folder_path("loras", os.path.join(output, "loras"))
    strength = 0.7
    with caplog.at_level(logging.WARNING):
        (loaded,) = comfyui.nodes.LoraLoaderModelOnly().load_lora_model_only(
            tiny_sdxl, os.path.basename(path), strength)
    assert "lora key not loaded" not in caplog.text
    (applied,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, strength, strength * 0.5)

    keys = list(coefficients.factors("id").up)
    assert set(loaded.patches) == set(keys)
    from_file, from_apply = patched_weights(comfyui, loaded), patched_weights(comfyui, applied)
    for key in from_file:
        torch.testing.assert_close(from_file[key], from_apply[key], rtol=1e-5, atol=1e-6, msg=key)


def test_prefix_escaping_the_output_folder_is_refused(comfyui, node, checkpoint):
    coefficients = identity(comfyui, node, seed=8)
    with pytest.raises(ValueError, match="outside ComfyUI's output folder"):
        node("HyperLoRAExportLoRA").save(coefficients, "../../escaped", "comfy", 0.0, 0.8, "fp16")
