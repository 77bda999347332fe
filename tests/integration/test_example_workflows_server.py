"""A real ComfyUI server accepts every example workflow, short of the model files it lacks.

Each UI-format file is turned into the API format (what the frontend POSTs when you press Queue)
with the server's own /object_info, then sent to /prompt. The server has the input images but no
models, so the only errors allowed are "value not in list" on the model file widgets; an unknown
node, a wrong link type, a widget value out of place or out of range would show up here too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from scripts.build_example_workflows import EXAMPLES, OUT_DIR
from tests.integration.conftest import (
    COMFYUI_PATH,
    PACK_DIR_NAME,
    comfyui_release,
    for_this_release,
    install_pack,
    running_comfyui,
)
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.test_templates_route import load_templates_route
from tests.workflow_validation import NOTE_TYPES, widget_slots

# The model file widgets: with an empty models folder, exactly these fail, on every node that has one.
MODEL_FILE_INPUTS = {
    "CheckpointLoaderSimple": "ckpt_name",
    "HyperLoRACheckpointLoader": "checkpoint",
    "HyperLoRAFaceAnalyzerLoader": "face_model",
    "CLIPVisionLoader": "clip_name",
    "ControlNetLoader": "control_net_name",
    "HyperLoRALoadIdentity": "identity",  # a saved identity file
    "TrainLoraNode": "existing_lora",  # the exported LoRA it continues
}
# Loaders that check their file name themselves (validate_inputs).
CUSTOM_VALIDATION = {"HyperLoRAFaceAnalyzerLoader": "custom_validation_failed",  # old saved names accepted too
                     # V3 dropdowns of files check themselves (0.3.64 checks no V3 dropdown: nodes/v3.py)
                     "HyperLoRACheckpointLoader": "custom_validation_failed",
                     "HyperLoRALoadIdentity": "custom_validation_failed"}
REQUEST_TIMEOUT_S = 30
START_TIMEOUT_S = 120


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
        return json.loads(response.read())


def to_api_prompt(workflow: dict, object_info: dict) -> dict:
    """The API-format prompt of a UI-format workflow, as the frontend's graphToPrompt builds it."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in NOTE_TYPES:  # frontend-only, never sent
            continue
        slots = widget_slots(object_info[node["type"]])
        values = node["widgets_values"]
        if len(values) != len(slots):
            slots = [slot for slot in slots if slot.kind != "upload"]
        assert len(values) == len(slots), f"node {node['id']} ({node['type']}): widget values do not line up"
        inputs = {slot.input_name: value for slot, value in zip(slots, values) if slot.kind == "value"}
        for slot in node["inputs"]:
            if slot["link"] is not None:
                link = links[slot["link"]]
                inputs[slot["name"]] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs,
                                   "_meta": {"title": node.get("title", node["type"])}}
    return prompt


def post_prompt(base_url: str, prompt: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{base_url}/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def input_images(workflows: list[dict]) -> set[str]:
    return {node["widgets_values"][0] for wf in workflows for node in wf["nodes"] if node["type"] == "LoadImage"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """main.py --cpu with our pack, the workflows' input images, and an empty models folder."""
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    from PIL import Image

    base = tmp_path_factory.mktemp("comfy_workflows")
    install_pack(base)
    (base / "input").mkdir()
    workflows = [json.loads((OUT_DIR / f"{e.name}.json").read_text(encoding="utf-8")) for e in EXAMPLES]
    for name in input_images(workflows):
        Image.new("RGB", (64, 64), "grey").save(base / "input" / name)
    with running_comfyui(base, START_TIMEOUT_S) as (url, log_path):
        yield url, get_json(f"{url}/object_info"), log_path


@pytest.mark.parametrize("name", [example.name for example in EXAMPLES])
def test_server_rejects_only_the_missing_model_files(server, name):
    if for_this_release(OUT_DIR / f"{name}.json"):
        pytest.skip(for_this_release(OUT_DIR / f"{name}.json"))
    base_url, object_info, log_path = server
    workflow = json.loads((OUT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    status, answer = post_prompt(base_url, to_api_prompt(workflow, object_info))
    if status == 200:  # it would run: stop it before failing
        urllib.request.urlopen(urllib.request.Request(f"{base_url}/interrupt", method="POST"), timeout=10)
        pytest.fail(f"the server queued {name} although no model file exists")
    assert status == 400 and answer["error"]["type"] == "prompt_outputs_failed_validation", answer["error"]

    errors = {(node_id, error["type"], error["extra_info"].get("input_name"))
              for node_id, node in answer["node_errors"].items() for error in node["errors"]}
    expected = {(str(node["id"]), CUSTOM_VALIDATION.get(node["type"], "value_not_in_list"), MODEL_FILE_INPUTS[node["type"]])
                for node in workflow["nodes"] if node["type"] in MODEL_FILE_INPUTS}
    assert errors == expected, json.dumps(answer["node_errors"], indent=1)[:4000]
    assert_no_problems_of_ours(log_path.read_text())


def test_the_server_knows_every_node_type_used(server):
    _, object_info, _ = server
    for example in EXAMPLES:
        if for_this_release(OUT_DIR / f"{example.name}.json"):
            continue  # a variant for another release (the unit tests check it against that release's nodes)
        workflow = json.loads((OUT_DIR / f"{example.name}.json").read_text(encoding="utf-8"))
        unknown = {n["type"] for n in workflow["nodes"]} - set(object_info) - set(NOTE_TYPES)
        assert unknown == set(), f"{example.name}: {unknown}"


def test_comfyui_lists_them_as_templates_of_the_pack(server):
    """The template browser's list: this release's workflows only, by title, the quick start first; each title
    fetches its workflow and thumbnail (what the frontend asks for), and a file's own name still works."""
    base_url, _, _ = server
    templates = get_json(f"{base_url}/workflow_templates")
    route = load_templates_route()
    for_here = [path.stem for path in sorted(OUT_DIR.glob("*.json")) if not for_this_release(path)]
    behind = {route.file_behind(shown, for_here, comfyui_release()): shown for shown in templates[PACK_DIR_NAME]}
    assert sorted(behind) == for_here  # this release's files, each under its title: no variant for another series
    assert list(map(route.title, behind)) == templates[PACK_DIR_NAME]
    assert templates[PACK_DIR_NAME][0] == "HyperLoRA quick start - one face photo"
    assert get_json(f"{base_url}/api/workflow_templates") == templates  # the frontend's path
    for name, shown in behind.items():
        url = f"{base_url}/api/workflow_templates/{PACK_DIR_NAME}/{urllib.parse.quote(shown)}"
        assert get_json(url + ".json") == json.loads((OUT_DIR / f"{name}.json").read_text(encoding="utf-8"))
        with urllib.request.urlopen(url + ".jpg", timeout=30) as answer:
            assert answer.read() == (OUT_DIR / f"{name}.jpg").read_bytes()
    served = get_json(f"{base_url}/api/workflow_templates/{PACK_DIR_NAME}/{EXAMPLES[0].name}.json")
    assert served == json.loads((OUT_DIR / f"{EXAMPLES[0].name}.json").read_text(encoding="utf-8"))

