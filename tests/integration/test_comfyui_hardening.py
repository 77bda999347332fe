"""Hostile model folders and inputs against real ComfyUI: the server keeps answering, nothing is written."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.tiny_models import identity
from tests.workflow_validation import combo_choices

START_TIMEOUT_S = 180
ANSWER_TIMEOUT_S = 30  # ComfyUI's own walk of two self-referencing links would take days


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=ANSWER_TIMEOUT_S) as response:
        return response.status, json.loads(response.read())


def test_symlink_loops_and_hostile_files_do_not_stop_the_server(tmp_path):
    from tests.synthetic_checkpoint import write_synthetic_checkpoint

    install_pack(tmp_path)
    variants = tmp_path / "models" / "hyper_lora" / "hyper_lora"
    write_synthetic_checkpoint(variants / "my_variant")
    (variants / "broken").mkdir()
    (variants / "broken" / "hyper_lora_modules.json").write_text("[" * 100_000 + "]" * 100_000)
    faces = tmp_path / "models" / "insightface"
    for folder in (variants, faces, tmp_path / "models" / "hyper_lora" / "clip_vit"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "loop_a").symlink_to(".", target_is_directory=True)
        (folder / "loop_b").symlink_to(".", target_is_directory=True)

    with running_comfyui(tmp_path, START_TIMEOUT_S) as (base_url, log_path):
        status, info = get_json(f"{base_url}/object_info")
        setup_status, setup = get_json(f"{base_url}/hyperlora/setup")
        again, _ = get_json(f"{base_url}/object_info/HyperLoRAFaceAnalyzerLoader")  # still serving

    assert status == 200 and setup_status == 200 and again == 200
    assert combo_choices(info["HyperLoRACheckpointLoader"]["input"]["required"]["checkpoint"]) == ["broken", "my_variant"]
    assert setup["variants"] == ["my_variant"]
    broken = [item for item in setup["items"] if item["variant"] == "broken" and item["status"] == "damaged"]
    assert [item["name"] for item in broken] == ["hyper_lora_modules.json"]
    assert "nest far too deeply" in broken[0]["hint"]
    assert_no_problems_of_ours(log_path.read_text())


@pytest.mark.parametrize("field", ["base_strength", "recommended_strength"])
def test_export_with_a_nan_strength_writes_nothing(comfyui, node, checkpoint, field):
    """ComfyUI's own input validation lets NaN through min/max (every comparison with NaN is false)."""
    coefficients = identity(comfyui, node, seed=9)
    output = comfyui.folder_paths.get_output_directory()
    before = sorted(os.listdir(os.path.join(output, "loras"))) if os.path.isdir(os.path.join(output, "loras")) else []
    values = {"base_strength": 0.0, "recommended_strength": 0.8, field: float("nan")}
    with pytest.raises(ValueError, match=f"^{field} must be a finite number"):
        node("HyperLoRAExportLoRA").save(coefficients, "loras/nan", "comfy", values["base_strength"],
                                         values["recommended_strength"], "fp16")
    after = sorted(os.listdir(os.path.join(output, "loras"))) if os.path.isdir(os.path.join(output, "loras")) else []
    assert after == before


def test_apply_with_a_nan_strength_is_refused(comfyui, node, tiny_sdxl, checkpoint):
    coefficients = identity(comfyui, node, seed=10)
    with pytest.raises(ValueError, match="^id_strength must be a finite number"):
        node("HyperLoRAApply").apply(tiny_sdxl, coefficients, float("nan"), 0.0)
