"""Our nodes' /object_info on a real server is what the V1 nodes sent, save what V3 legitimately says otherwise.

tests/data/node_info/v1-comfyui-<release>.json was recorded from the V1 nodes (before the port to the V3 node
API) with `scripts/record_object_info.py --pack`, in an empty base folder as here. Equal node ids, input
names, types, defaults, limits, input order, outputs, output node flags and categories mean every saved
workflow (ours and converted official ones) loads as before. The texts (tooltips, descriptions, display
names, aliases) were equal too at the port (scripts/compare_node_info.py without --no-texts); they are left
out here so that editing a tooltip needs no new recording.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from scripts.compare_node_info import differences
from scripts.record_object_info import comfyui_version
from tests.integration.conftest import COMFYUI_PATH, import_comfyui, install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours

RECORDED = Path(__file__).resolve().parents[1] / "data" / "node_info"
START_TIMEOUT_S = 180
AFTER_THE_PORT = {"HyperLoRARepeatLatent"}  # nodes added after the V1 recording: nothing to compare them with


# Optional inputs added after the V1 nodes were recorded (issue 27): left out of the comparison, each one
# required to be there, so the list cannot outlive the inputs it names.
ADDED_SINCE_V1 = {"HyperLoRAApplyConditioning": ("region_mode", "strengths")}


def without_added_inputs(info: dict) -> dict:
    info = json.loads(json.dumps(info))
    for node, names in ADDED_SINCE_V1.items():
        optional = info[node]["input"]["optional"]
        order = info[node].get("input_order", {}).get("optional")
        for name in names:
            assert name in optional, f"{node}.{name} is listed as added since V1 but is gone"
            del optional[name]
            if order is not None:
                order.remove(name)
    return info


def test_object_info_of_our_nodes_matches_the_v1_nodes(tmp_path):
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    release = comfyui_version(Path(COMFYUI_PATH))
    recorded = RECORDED / f"v1-comfyui-{release}.json"
    if not recorded.exists():
        pytest.skip(f"no /object_info of the V1 nodes was recorded on ComfyUI {release}")
    install_pack(tmp_path)
    with running_comfyui(tmp_path, START_TIMEOUT_S) as (base_url, log_path), \
            urllib.request.urlopen(f"{base_url}/object_info", timeout=30) as response:
        info = json.loads(response.read())
    ours = {key: node for key, node in info.items() if node.get("python_module", "").startswith("custom_nodes.")}
    assert len(ours) == 18 and AFTER_THE_PORT <= set(ours)
    ported = {key: node for key, node in ours.items() if key not in AFTER_THE_PORT}
    assert differences(json.loads(recorded.read_text()), without_added_inputs(ported), texts=False) == []
    assert_no_problems_of_ours(log_path.read_text())


def test_a_dropdown_value_the_node_does_not_know_is_refused_by_name(node):
    """ComfyUI 0.3.64 lets any value of a V3 dropdown through to execute; ours refuse it first, through the
    real comfy_api (the choices are read from io.Combo.Input of the running release)."""
    with pytest.raises(ValueError, match=r"^HyperLoRA Checkpoint Loader: device 'gpu0' is not one of auto, "):
        node("HyperLoRACheckpointLoader").load("not_installed", "fp16", "gpu0")
    with pytest.raises(ValueError, match=r"^HyperLoRA Face Mask: shape 'circle' is not one of outline, box\."):
        node("HyperLoRAFaceMask").mask(None, None, "all", 0, "circle", 0.1, "face fraction", 8.0, False)


def test_the_beginner_nodes_are_in_essentials_where_the_release_has_it(tmp_path):
    """The 2026 schema field essentials_category: the quick start's nodes on 0.33, and no error where core lacks it."""
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    import_comfyui()
    from comfy_api.latest import io
    # the quick start's nodes (nodes/metadata.py's ESSENTIALS; ComfyUI's nodes.py shadows our nodes/ here)
    essentials = {"HyperLoRAApplyFace", "HyperLoRACheckpointLoader", "HyperLoRAFaceAnalyzerLoader", "HyperLoRATriggerWords"}
    category = "HyperLoRA"

    install_pack(tmp_path)
    with running_comfyui(tmp_path, START_TIMEOUT_S) as (base_url, log_path), \
            urllib.request.urlopen(f"{base_url}/object_info", timeout=30) as response:
        info = json.loads(response.read())
    ours = {key: node for key, node in info.items() if node.get("python_module", "").startswith("custom_nodes.")}
    assert len(ours) == 18
    listed = {key for key, node in ours.items() if node.get("essentials_category")}
    if "essentials_category" in io.Schema.__dataclass_fields__:
        assert listed == essentials
        assert {ours[key]["essentials_category"] for key in listed} == {category}
    else:
        assert listed == set()
    assert_no_problems_of_ours(log_path.read_text())
