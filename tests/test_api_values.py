"""Every BOOLEAN and every dropdown of every node, given what only an API prompt sends (a text for a switch,
null, a number, a list, a dict), is refused with a message naming the node and the input; never read as
true because a text is truthy (issue 25: Save Identity's overwrite "false" replaced a file).

Parametrised over the nodes' schemas: a BOOLEAN or dropdown added tomorrow is covered the day it appears.
The real ComfyUI's side (its bool() conversion, our on_prompt handler) is in
tests/integration/test_comfyui_api_values.py."""

from __future__ import annotations

import re

import pytest

from tests.comfy_standin import comfy, models_root, run_node  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401
from tests.test_nodes_schema import FIXED_CHOICES

NOT_BOOLEANS = ["false", "true", "", "0", 0, 1, 2.5, None, [True], {"a": 1}]
NOT_NAMES = [None, 0, 3.5, ["sdxl_tiny_fidelity"], {"a": 1}, True]


def schema_inputs(kind: str):
    """(node key, input id) of every input of that ComfyUI type, read from the schemas (the generators' view,
    loaded with the stand-in at collection time)."""
    from scripts.node_schemas import node_schemas

    return [(node.key, name) for node in node_schemas() for _, name, (type_, _) in node.inputs
            if (isinstance(type_, list) if kind == "COMBO" else type_ == kind)]


BOOLEANS = schema_inputs("BOOLEAN")
DROPDOWNS = schema_inputs("COMBO")


def test_the_schemas_have_the_inputs_this_file_covers():
    """Not a hard-coded list to keep in step: only a guard that the discovery found something."""
    assert ("HyperLoRASaveIdentity", "overwrite") in BOOLEANS and len(BOOLEANS) >= 6
    assert ("HyperLoRACheckpointLoader", "checkpoint") in DROPDOWNS and len(DROPDOWNS) >= 13


def other_inputs(node, key: str) -> dict:
    """Every input None (the checks come before any is used), valid choices and switches."""
    inputs = {item.id: None for item in node.define_schema().inputs}
    inputs.update(FIXED_CHOICES.get(key, {}))
    inputs.update({other: False for k, other in BOOLEANS if k == key})
    return inputs


@pytest.mark.parametrize("key, name", BOOLEANS)
@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
def test_every_boolean_refuses_anything_but_true_or_false_when_the_node_runs(comfy, key, name, value):  # noqa: F811
    node = comfy.nodes[key]
    display = node.define_schema().display_name
    with pytest.raises(ValueError, match=rf"^{re.escape(display)}: {name} must be true or false, got ") as refused:
        run_node(node, **{**other_inputs(node, key), name: value})
    assert "JSON true or false" in str(refused.value)


@pytest.mark.parametrize("key, name", BOOLEANS)
@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
def test_the_prompt_handler_marks_every_non_boolean_before_comfyui_converts_it(comfy, key, name, value):  # noqa: F811
    """ComfyUI reads a BOOLEAN with bool(value): the marked value raises our message there instead."""
    api_prompt = comfy.pack.nodes.api_prompt
    prompt = {"7": {"class_type": key, "inputs": {name: value, "other": "kept"}}}
    if isinstance(value, list):  # a list is a link in a prompt: ComfyUI checks it as one
        api_prompt.mark_prompt({"prompt": prompt})
        assert prompt["7"]["inputs"][name] is value
        return
    assert api_prompt.mark_prompt({"prompt": prompt})["prompt"] is prompt
    marked = prompt["7"]["inputs"][name]
    display = comfy.nodes[key].define_schema().display_name
    with pytest.raises(ValueError, match=rf"^{re.escape(display)}: {name} must be true or false, got "):
        bool(marked)
    assert prompt["7"]["inputs"]["other"] == "kept"


@pytest.mark.parametrize("key, name", BOOLEANS)
def test_the_prompt_handler_leaves_true_false_and_links_alone(comfy, key, name):  # noqa: F811
    api_prompt = comfy.pack.nodes.api_prompt
    for value in (True, False, ["3", 0], {"__value__": False}):
        prompt = {"1": {"class_type": key, "inputs": {name: value}}}
        api_prompt.mark_prompt({"prompt": prompt})
        assert prompt["1"]["inputs"][name] is value
    prompt = {"1": {"class_type": key, "inputs": {name: {"__value__": "false"}}}}  # ComfyUI unwraps __value__
    api_prompt.mark_prompt({"prompt": prompt})
    with pytest.raises(ValueError, match="must be true or false, got the text 'false'"):
        bool(prompt["1"]["inputs"][name])


def test_the_prompt_handler_survives_prompts_of_any_shape(comfy):  # noqa: F811
    mark = comfy.pack.nodes.api_prompt.mark_prompt
    for data in (None, [], {}, {"prompt": None}, {"prompt": {"1": None, "2": {"class_type": "KSampler"},
                                                             "3": {"class_type": "HyperLoRASaveIdentity"},
                                                             "4": {"class_type": "HyperLoRASaveIdentity",
                                                                   "inputs": ["x"]}}}):
        assert mark(data) is data


@pytest.mark.parametrize("key, name", DROPDOWNS)
@pytest.mark.parametrize("value", NOT_NAMES, ids=repr)
def test_every_dropdown_refuses_null_numbers_lists_and_dicts_when_the_node_runs(comfy, key, name, value):  # noqa: F811
    node = comfy.nodes[key]
    display = node.define_schema().display_name
    with pytest.raises(ValueError, match=rf"^{re.escape(display)}: {name} ") as refused:
        run_node(node, **{**other_inputs(node, key), name: value})
    message = str(refused.value)
    assert "is not one of" in message or "not a name from its list" in message
    choices = next(item.options for item in node.define_schema().inputs if item.id == name)
    assert all(str(choice) in message for choice in choices)


@pytest.mark.parametrize("key, name", [(k, n) for k, n in DROPDOWNS if n not in FIXED_CHOICES.get(k, {})])
def test_a_null_file_dropdown_is_refused_at_queue_time_naming_its_choices(comfy, key, name):  # noqa: F811
    """ComfyUI hands validate_inputs a link and a null alike (None): the handler tells them apart first."""
    node = comfy.nodes[key]
    prompt = {"1": {"class_type": key, "inputs": {name: None}}, "2": {"class_type": key, "inputs": {name: ["9", 0]}}}
    comfy.pack.nodes.api_prompt.mark_prompt({"prompt": prompt})
    message = node.validate_inputs(**{name: prompt["1"]["inputs"][name]})
    display = node.define_schema().display_name
    assert isinstance(message, str) and message.startswith(f"{display}: {name} is null (no value). Pick one of [")
    choices = next(item.options for item in node.define_schema().inputs if item.id == name)
    assert all(choice in message for choice in choices)
    assert prompt["2"]["inputs"][name] == ["9", 0]  # a link stays a link


HUGE_TEXT = "x" * 1_000_000
HUGE_NUMBER = "9" * 10_000


def test_huge_values_are_not_echoed_in_full(comfy):  # noqa: F811
    """A 1 MB text or a 10,000-digit number in an error message would flood the UI and the log."""
    from hyperlora_core.validate import finite, parse_number_list

    failures = []
    for call in (lambda: finite(HUGE_TEXT, "strength"), lambda: finite(HUGE_NUMBER, "strength"),
                 lambda: parse_number_list(HUGE_TEXT, "image_weights"),
                 lambda: parse_number_list(HUGE_NUMBER + ", 1", "image_weights"),
                 lambda: run_node(comfy.nodes["HyperLoRAExportLoRA"], None, HUGE_TEXT, HUGE_TEXT, 0.0, 0.8, "fp16"),
                 lambda: run_node(comfy.nodes["HyperLoRACheckpointLoader"], HUGE_TEXT, "auto", "cpu"),
                 lambda: comfy.pack.nodes.identity.save(None, HUGE_TEXT),
                 lambda: comfy.pack.nodes.identity.resolve_identity(HUGE_TEXT),
                 lambda: comfy.pack.nodes.save.output_file(comfy.folder_paths.output_directory, "a/" + HUGE_TEXT),
                 lambda: comfy.pack.nodes.save.output_file(comfy.folder_paths.output_directory, "\x00" + HUGE_TEXT)):
        with pytest.raises(ValueError) as refused:
            call()
        failures.append(str(refused.value))
    for message in failures:
        assert len(message) < 600, message[:300]
        assert "xxxxxxxxxx" in message or "9999999999" in message, message[:300]  # still shown, cut
    assert comfy.nodes["HyperLoRALoadIdentity"].validate_inputs(identity=HUGE_TEXT).count("x") < 200
