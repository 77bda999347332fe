"""An exported identity LoRA where core LoRA tools look: Load LoRA reads it as Apply, Train LoRA continues it."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file

from tests.integration.tiny_models import identity, patched_weights
from tests.workflow_validation import combo_options


@pytest.fixture(scope="module")
def loras(comfyui, tmp_path_factory):
    """A loras folder first in the list (exports go there), never ComfyUI's own models folder."""
    folder = str(tmp_path_factory.mktemp("loras"))
    comfyui.folder_paths.add_model_folder_path("loras", folder, is_default=True)
    return folder


def train_one_step(train_node, model, latents, positive, existing_lora: str):
    """Core Train LoRA for one step at lr 1e-6: (lora, loss, steps), on either node API of core."""
    options = {"batch_size": 1, "steps": 1, "grad_accumulation_steps": 1, "learning_rate": 1e-6, "rank": 4,
               "optimizer": "AdamW", "loss_function": "MSE", "seed": 0, "training_dtype": "fp32",
               "lora_dtype": "fp32", "algorithm": "LoRA", "gradient_checkpointing": False,
               "existing_lora": existing_lora}
    if not hasattr(train_node, "define_schema"):  # ComfyUI 0.3.x: a classic node
        _, lora, loss, steps = train_node().train(model, latents, positive, **options)
        return lora, loss, steps
    # V3 (ComfyUI 0.14 on): every input arrives as a list (is_input_list), by name; the inputs this test does
    # not set (0.14's checkpoint_depth, offloading..., 0.33's quantized_backward) at the schema's own defaults
    inputs = train_node.INPUT_TYPES()
    specs = {**inputs["required"], **inputs.get("optional", {})}
    options.update({name: spec[1]["default"] for name, spec in specs.items()
                    if name not in options and len(spec) > 1 and "default" in spec[1]})
    missing = set(inputs["required"]) - set(options) - {"model", "latents", "positive"}
    assert not missing, f"Train LoRA has new required inputs without a default: {missing}"
    result = train_node.execute(model=[model], latents=[latents], positive=[positive],
                                **{key: [value] for key, value in options.items()})
    return tuple(result.result)


def test_exported_lora_in_models_loras_loads_and_trains_in_core_nodes(comfyui, node, loras, checkpoint,
                                                                      tiny_sdxl):
    import comfy_extras.nodes_train as core_train

    coefficients = identity(comfyui, node)
    listed_before = comfyui.folder_paths.get_filename_list("loras")  # fills ComfyUI's cache
    path = node("HyperLoRAExportLoRA").save(coefficients, "loras/cast/alice", "comfy_trainer", 0.5, 0.8, "fp32",
                                            "loras")["result"][0]
    name = os.path.relpath(path, os.path.realpath(loras)).replace(os.sep, "/")
    assert name == "cast/alice_0_steps_00001_.safetensors" and name not in listed_before
    assert name in comfyui.folder_paths.get_filename_list("loras")  # no restart needed
    assert name in combo_options(core_train.TrainLoraNode.INPUT_TYPES()["required"]["existing_lora"])

    # core Load LoRA (model only) at 0.8 == HyperLoRA Apply at 0.8 with Base 0.8 x 0.5
    (by_core,) = comfyui.nodes.LoraLoaderModelOnly().load_lora_model_only(tiny_sdxl, name, 0.8)
    (by_apply,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, 0.8, 0.4)
    a, b = patched_weights(comfyui, by_core), patched_weights(comfyui, by_apply)
    for key in coefficients.factors("id").up:
        assert not torch.equal(a[key], tiny_sdxl.model.state_dict()[key].float())
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)

    # core Train LoRA: one step, continuing from our factors (a fresh LoRA would start with down = 0)
    latents = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))}
    positive = [[torch.randn(1, 77, 2048), {"pooled_output": torch.randn(1, 1280)}]]
    lora, loss, steps = train_one_step(core_train.TrainLoraNode, tiny_sdxl, latents, positive, name)
    assert steps == 1 and len(loss["loss"]) == 1 and torch.isfinite(torch.as_tensor(loss["loss"][0]))
    exported = load_file(path)
    for key in coefficients.factors("id").up:
        module = key[: -len(".weight")]
        for part in ("lora_up.weight", "lora_down.weight"):
            trained, start = lora[f"{module}.{part}"].detach().float(), exported[f"{module}.{part}"]
            assert trained.shape == start.shape
            assert float((trained - start).abs().max()) < 1e-4  # one step at lr 1e-6 from our weights
