"""API prompt values the frontend never sends, through the real ComfyUI's validation (issue 25, defects 3-5).

ComfyUI reads a BOOLEAN with bool(value) before any node runs, so without our on_prompt handler the text
"false" arrives as True (Save Identity's overwrite replaced a file). Every BOOLEAN and every dropdown of our
nodes, read from the running release's schemas, given a text, a number, null or a dict: refused with a
message naming the node or the input, at queue time, or (fixed choices on 0.3.64, which checks no V3
dropdown) when the node runs, before it does anything.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours

NOT_BOOLEANS = ["false", "False", "0", 0, 1, None, {"a": 1}, {"__value__": "false"}]
NOT_NAMES = [None, 0, {"a": 1}]
START_TIMEOUT_S = 180


def our_inputs(comfyui, kind: str):
    """(node key, input id, the io.Input) of every input of that type in our registered nodes."""
    found = []
    for key, node in comfyui.nodes.NODE_CLASS_MAPPINGS.items():
        if key.startswith("HyperLoRA") and hasattr(node, "define_schema"):
            found += [(key, item.id, item) for item in node.define_schema().inputs if item.get_io_type() == kind]
    return found


def errors_of(comfyui, key: str, inputs: dict, handler: bool = True) -> tuple[list[dict], dict]:
    """ComfyUI's own validation of one node of ours (after our on_prompt handler unless handler=False):
    its errors, and the inputs as ComfyUI converted them."""
    import execution

    prompt = {"1": {"class_type": key, "inputs": copy.deepcopy(inputs)}}
    if handler:
        comfyui.pack.nodes.api_prompt.mark_prompt({"prompt": prompt})
    errors = asyncio.run(execution.validate_inputs("test", prompt, "1", {}))[1]
    return errors, prompt["1"]["inputs"]


def test_without_our_handler_comfyui_reads_the_text_false_as_true(comfyui):
    """Why the handler exists: core's conversion, on this release."""
    _, converted = errors_of(comfyui, "HyperLoRASaveIdentity", {"overwrite": "false"}, handler=False)
    assert converted["overwrite"] is True


@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
def test_every_boolean_refuses_anything_but_true_or_false_at_queue_time(comfyui, value):
    booleans = our_inputs(comfyui, "BOOLEAN")
    assert ("HyperLoRASaveIdentity", "overwrite") in [(key, name) for key, name, _ in booleans]
    for key, name, _ in booleans:
        errors, _ = errors_of(comfyui, key, {name: value})
        ours = [error for error in errors if "must be true or false" in json.dumps(error)]
        assert len(ours) == 1, (key, name, errors)
        assert f"{name} must be true or false, got " in ours[0]["details"], ours[0]
        json.dumps(errors)  # the server sends them back as JSON
    for key, name, _ in booleans:  # true and false themselves pass
        for switch in (True, False):
            errors, converted = errors_of(comfyui, key, {name: switch})
            assert not [error for error in errors if name in json.dumps(error)] and converted[name] is switch


@pytest.mark.parametrize("value", NOT_NAMES, ids=repr)
def test_every_dropdown_refuses_null_numbers_and_dicts_naming_the_input_and_choices(comfyui, node, value):
    from tests.comfy_standin import run_node

    for key, name, item in our_inputs(comfyui, "COMBO"):
        errors, _ = errors_of(comfyui, key, {name: value})
        about = [error for error in errors if error.get("extra_info", {}).get("input_name") == name
                 and error["type"] != "required_input_missing"]
        if about:  # refused at queue time: ComfyUI's own list check, or our validate_inputs
            text = json.dumps(about)
            assert name in text and all(str(choice) in text for choice in item.options[:20]), (key, name, about)
            continue
        # 0.3.64 checks no V3 dropdown at queue time: the node refuses it before doing anything
        node_class = comfyui.nodes.NODE_CLASS_MAPPINGS[key]
        inputs = {other.id: None for other in node_class.define_schema().inputs}
        inputs.update({other.id: other.options[0] for other in node_class.define_schema().inputs
                       if other.get_io_type() == "COMBO" and other.options})
        inputs.update({other.id: False for other in node_class.define_schema().inputs
                       if other.get_io_type() == "BOOLEAN"})
        inputs[name] = value
        display = node_class.define_schema().display_name
        with pytest.raises(ValueError, match=rf"^{re.escape(display)}: {name} ") as refused:
            run_node(node_class, **inputs)
        assert all(str(choice) in str(refused.value) for choice in item.options[:20]), (key, name)


def post_prompt(base_url: str, prompt: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{base_url}/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_server_refuses_a_text_boolean_and_a_null_checkpoint_by_name(tmp_path):
    """The handler is registered on the real server: POST /prompt answers 400 naming our inputs."""
    install_pack(tmp_path)
    prompt = {
        "1": {"class_type": "HyperLoRACheckpointLoader", "inputs": {"checkpoint": None, "dtype": "auto",
                                                                     "device": "cpu"}},
        "2": {"class_type": "HyperLoRALoadIdentity", "inputs": {"hyperlora": ["1", 0], "identity": None}},
        "3": {"class_type": "HyperLoRASaveIdentity", "inputs": {"coefficients": ["2", 0], "name": "kept",
                                                                "overwrite": "false"}},
    }
    with running_comfyui(tmp_path, START_TIMEOUT_S) as (base_url, log_path):
        status, answer = post_prompt(base_url, prompt)
    assert status == 400, answer
    text = json.dumps(answer["node_errors"])
    assert "HyperLoRA Save Identity: overwrite must be true or false, got the text 'false'" in text
    assert "HyperLoRA Checkpoint Loader: checkpoint is null (no value). Pick one of" in text
    assert "HyperLoRA Load Identity: identity is null (no value). Pick one of" in text
    assert_no_problems_of_ours(log_path.read_text())
