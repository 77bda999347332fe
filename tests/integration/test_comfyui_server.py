"""The ComfyUI server starts with the pack installed and lists our nodes and the installed models."""

from __future__ import annotations

import json
import urllib.request

from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.workflow_validation import combo_options

START_TIMEOUT_S = 180


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_server_lists_our_nodes_and_installed_checkpoints(tmp_path):
    from tests.synthetic_checkpoint import write_synthetic_checkpoint

    install_pack(tmp_path)
    write_synthetic_checkpoint(tmp_path / "models" / "hyper_lora" / "hyper_lora" / "my_variant")
    with running_comfyui(tmp_path, START_TIMEOUT_S) as (base_url, log_path):
        info = get_json(f"{base_url}/object_info")
        setup = get_json(f"{base_url}/hyperlora/setup")  # the web extension's setup report
    ours = {key for key in info if info[key]["category"].startswith("HyperLoRA")}
    assert ours == {
        "HyperLoRACheckpointLoader", "HyperLoRAFaceAnalyzerLoader", "HyperLoRACLIPVisionLoader", "HyperLoRAEncodeFace",
        "HyperLoRAPredictCoefficients", "HyperLoRAApply", "HyperLoRAApplyFace", "HyperLoRAConceptSlider",
        "HyperLoRAMixIdentities", "HyperLoRAExportLoRA", "HyperLoRATriggerWords"} | {
        "HyperLoRAApplyConditioning", "HyperLoRAIdentityHook", "HyperLoRAFaceMask"} | {
        "HyperLoRALikeness", "HyperLoRASaveIdentity", "HyperLoRALoadIdentity", "HyperLoRARepeatLatent"}
    loader = info["HyperLoRACheckpointLoader"]
    assert combo_options(loader["input"]["required"]["checkpoint"]) == ["my_variant"]
    assert loader["output"] == ["HYPERLORA"]
    assert all(info[key]["output_tooltips"] for key in ours)
    assert setup["variants"] == ["my_variant"]
    assert_no_problems_of_ours(log_path.read_text())
