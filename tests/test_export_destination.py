"""Export LoRA into models/loras, and the comfy_trainer key style core Train LoRA can continue from."""

import os

import pytest
import torch
from safetensors.torch import load_file

from hyperlora_core.engine.trainer_lora import trainer_state_dict
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401
from tests.reference import factor_delta
from tests.test_cli import models, photo_files  # noqa: F401


@pytest.fixture
def coefficients(comfy):  # noqa: F811
    (hyperlora,) = comfy.node("HyperLoRACheckpointLoader").load(
        "sdxl_tiny_fidelity", "auto", "cpu")
    gen = torch.Generator().manual_seed(5)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    alpha, beta = (torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1) for _ in range(2))
    return comfy.pack.nodes.types.Coefficients(hyperlora, alpha, beta)


@pytest.fixture
def loras(comfy, tmp_path):  # noqa: F811
    folder = tmp_path / "models_loras"
    comfy.folder_paths.add_model_folder_path("loras", str(folder))
    comfy.folder_paths.filename_list_cache = {"loras": (["stale.safetensors"], {}, 0.0)}
    return folder


def export(comfy, coefficients, prefix, style, base, destination):  # noqa: F811
    node = comfy.node("HyperLoRAExportLoRA")
    return node.save(coefficients, prefix, style, base, 0.8, "fp32", destination)["result"][0]


def test_trainer_style_equals_the_weighted_sum_with_alpha_one(coefficients):
    weighted = [(coefficients.factors("id"), 1.0), (coefficients.factors("base"), 0.4)]
    sd = trainer_state_dict(weighted, dtype=torch.float32)
    for key in weighted[0][0].up:
        module = key[: -len(".weight")]
        up, down = sd[f"{module}.lora_up.weight"].double(), sd[f"{module}.lora_down.weight"].double()
        assert float(sd[f"{module}.alpha"]) == 1.0 and module.startswith("diffusion_model.")
        expected = sum(factor_delta(f, key, s).double() for f, s in weighted)
        got = up @ down / down.shape[0]
        assert float((got - expected).norm() / expected.norm()) < 1e-5  # float32 factors


def test_export_into_models_loras_for_core_train_lora(comfy, coefficients, loras):  # noqa: F811
    path = export(comfy, coefficients, "loras/cast/alice", "comfy_trainer", 0.0, "loras")
    assert path == os.path.join(os.path.realpath(loras), "cast", "alice_0_steps_00001_.safetensors")
    name = os.path.relpath(path, os.path.realpath(loras))
    assert int(name.split("_steps_")[0].split("_")[-1]) == 0  # how core Train LoRA reads existing_lora
    assert "loras" not in comfy.folder_paths.filename_list_cache  # Load LoRA lists it at once
    sd = load_file(path)
    factors = coefficients.factors("id")
    key = next(iter(factors.up))
    module = key[: -len(".weight")]
    torch.testing.assert_close(sd[f"{module}.lora_up.weight"].double() @ sd[f"{module}.lora_down.weight"].double()
                               / factors.down[key].shape[0], factor_delta(factors, key).double(), rtol=1e-5, atol=1e-7)
    again = export(comfy, coefficients, "cast/alice", "comfy", 0.0, "loras")
    assert os.path.basename(again) == "alice_00001_.safetensors" and os.path.dirname(again) == os.path.dirname(path)


def test_output_stays_the_default_and_loras_refuse_escapes(comfy, coefficients, loras):  # noqa: F811
    path = export(comfy, coefficients, "loras/me", "comfy", 0.0, "output")
    assert path.startswith(os.path.realpath(comfy.folder_paths.output_directory))
    with pytest.raises(ValueError, match="points outside"):
        export(comfy, coefficients, "../../escape", "comfy", 0.0, "loras")
    with pytest.raises(ValueError, match="destination .elsewhere. is not one of output, loras"):
        export(comfy, coefficients, "x", "comfy", 0.0, "elsewhere")
    for style in ("comfy", "comfy_trainer"):
        with pytest.raises(ValueError, match="control character"):
            export(comfy, coefficients, "loras/me\r", style, 0.0, "loras")
    assert not loras.exists() or not any(loras.rglob("*.safetensors"))
    folder_only = export(comfy, coefficients, "loras/cast/", "comfy_trainer", 0.0, "loras")
    assert os.path.basename(folder_only) == "hyperlora_0_steps_00001_.safetensors"


def test_cli_comfy_trainer_style_matches_the_comfy_file(tmp_path, models, photo_files):  # noqa: F811
    """make-lora --style comfy_trainer: the same weight change as the comfy file, in Train LoRA's layout."""
    from hyperlora_core.cli import main
    from tests.test_cli import make_args

    comfy_file, trainer_file = tmp_path / "me.safetensors", tmp_path / "me_0_steps.safetensors"
    assert main(make_args(models, photo_files, comfy_file, "--precision", "fp32")) == 0
    assert main(make_args(models, photo_files, trainer_file, "--precision", "fp32", "--style",
                          "comfy_trainer")) == 0
    reference, trainer = load_file(comfy_file), load_file(trainer_file)
    modules = [k[: -len(".lora_up.weight")] for k in trainer if k.endswith(".lora_up.weight")]
    names = [k[: -len(".alpha")] for k in reference if k.endswith(".alpha")]
    assert len(modules) == len(names) and all(m.startswith("diffusion_model.") for m in modules)
    for module, name in zip(modules, names):  # both follow the checkpoint's module order
        rank = reference[f"{name}.lora_down.weight"].shape[0]
        want = float(reference[f"{name}.alpha"]) / rank * (
            reference[f"{name}.lora_up.weight"].double() @ reference[f"{name}.lora_down.weight"].double())
        got = trainer[f"{module}.lora_up.weight"].double() @ trainer[f"{module}.lora_down.weight"].double() / rank
        assert float(trainer[f"{module}.alpha"]) == 1.0
        assert float((got - want).norm() / want.norm()) < 1e-5


def test_a_refusal_in_models_loras_names_that_folder_and_the_prefix_as_typed(comfy, coefficients, loras):  # noqa: F811
    with pytest.raises(ValueError) as caught:
        export(comfy, coefficients, "loras/../../escape", "comfy", 0.0, "loras")
    message = str(caught.value)
    assert "'loras/../../escape'" in message and "outside the loras folder" in message, message
    assert "output folder" not in message


@pytest.mark.parametrize("destination", ["output", "loras"])
def test_a_folder_name_too_long_for_the_file_system_is_named(comfy, coefficients, loras, destination):  # noqa: F811
    for prefix in ("a" * 260 + "/me", "ok/" + "é" * 130 + "/me"):
        with pytest.raises(ValueError, match=r"folder name of 26\d bytes.*255"):
            export(comfy, coefficients, prefix, "comfy", 0.0, destination)
