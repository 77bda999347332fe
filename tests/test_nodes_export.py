"""Export LoRA: a normal LoRA file, written safely inside the output folder, equal to what Apply does."""

import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from tests import reference
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401

VARIANT = ("models", "hyper_lora", "hyper_lora", "sdxl_tiny_fidelity")


@pytest.fixture
def coefficients(comfy):  # noqa: F811
    """A made-up identity (unit tokens), predicted-like, for the tiny checkpoint."""
    (hyperlora,) = comfy.node("HyperLoRACheckpointLoader").load(
        "sdxl_tiny_fidelity", "auto", "cpu")
    gen = torch.Generator().manual_seed(5)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    alpha, beta = (torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1) for _ in range(2))
    return comfy.pack.nodes.types.Coefficients(hyperlora, alpha, beta)


def export(comfy, coefficients, prefix="loras/me", style="comfy", base=0.0, precision="fp32"):  # noqa: F811
    node = comfy.node("HyperLoRAExportLoRA")
    return node.save(coefficients, prefix, style, base, 0.85, precision)["result"][0]


def file_deltas(path):
    """Per kohya module: alpha / rank * up @ down, as ComfyUI's LoRA loader computes it."""
    sd = load_file(path)
    out = {}
    for key in sd:
        if key.endswith(".lora_up.weight"):
            name = key[: -len(".lora_up.weight")]
            down = sd[f"{name}.lora_down.weight"].double()
            out[name] = float(sd[f"{name}.alpha"]) / down.shape[0] * sd[key].double() @ down
    return out


def spec_deltas(models_root, weighted, style):  # noqa: F811
    """sum_i s_i * 0.5 * up_i @ down_i from the naive reference, named as the chosen key style."""
    folder = models_root.joinpath(*VARIANT)
    out = {}
    for coefficients, kind, strength in weighted:
        lora = reference.kohya_lora(folder, coefficients, kind)
        for key in lora:
            if key.endswith(".lora_up.weight"):
                name = key[: -len(".lora_up.weight")]
                delta = strength * 0.5 * lora[key] @ lora[f"{name}.lora_down.weight"]
                name = reference.ldm_name(name) if style == "kohya" else name
                out[name] = out.get(name, 0) + delta
    return out


@pytest.mark.parametrize("style", ["comfy", "kohya"])
def test_file_holds_the_spec_lora(comfy, coefficients, models_root, style):  # noqa: F811
    path = export(comfy, coefficients, style=style, base=0.5)
    expected = spec_deltas(models_root, [(coefficients.alpha, "id", 1.0), (coefficients.beta, "base", 0.5)], style)
    got = file_deltas(path)
    assert set(got) == set(expected) and len(got) == 24
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5)
    if style == "kohya":
        assert all(name.startswith(("lora_unet_input_blocks_", "lora_unet_middle_block_1",
                                    "lora_unet_output_blocks_")) for name in got)


def test_single_id_lora_keeps_the_release_alpha_and_metadata(comfy, coefficients):  # noqa: F811
    path = export(comfy, coefficients, precision="fp16")
    sd = load_file(path)
    rank = coefficients.hyperlora.config.rank
    assert all(float(v) == rank / 2 for k, v in sd.items() if k.endswith(".alpha"))
    assert all(v.dtype == torch.float16 for k, v in sd.items() if k.endswith(".weight"))
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert meta["hyperlora.trigger_words"] == "fcsks fxhks fhyks"
    assert meta["hyperlora.source_checkpoint"] == "sdxl_tiny_fidelity"
    assert meta["hyperlora.recommended_strength"] == "0.85"


def test_numbered_files_inside_the_output_folder(comfy, coefficients):  # noqa: F811
    first = export(comfy, coefficients)
    second = export(comfy, coefficients)
    output = comfy.folder_paths.output_directory
    assert first == os.path.join(os.path.realpath(output), "loras", "me_00001_.safetensors")
    assert second.endswith("me_00002_.safetensors")
    assert sorted(os.listdir(os.path.join(output, "loras"))) == ["me_00001_.safetensors", "me_00002_.safetensors"]


@pytest.mark.parametrize("prefix", ["../escape", "loras/../../escape", "/tmp/escape", ".."])
def test_prefix_cannot_leave_the_output_folder(comfy, coefficients, prefix):  # noqa: F811
    with pytest.raises(ValueError, match="outside ComfyUI's output folder"):
        export(comfy, coefficients, prefix=prefix)
    assert not os.path.exists(os.path.join(os.path.dirname(comfy.folder_paths.output_directory), "escape_00001_.safetensors"))


def test_a_failed_write_leaves_nothing_behind(comfy, coefficients, monkeypatch):  # noqa: F811
    import errno

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(RuntimeError, match=r"Could not write .*me_00001_\.safetensors \(No space left on device\); "
                                           "nothing was saved. Free some disk space"):
        export(comfy, coefficients)
    output = comfy.folder_paths.output_directory
    assert not os.path.exists(os.path.join(output, "loras"))  # the folder made for the prefix went again (issue 25)
    os.makedirs(os.path.join(output, "loras", "kept"))
    with pytest.raises(RuntimeError, match="nothing was saved"):
        export(comfy, coefficients)
    assert os.listdir(os.path.join(output, "loras")) == ["kept"]  # a folder that was there stays
