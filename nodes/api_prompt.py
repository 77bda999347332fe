"""API prompts: values the frontend never sends, marked before ComfyUI's own validation misreads them.

ComfyUI converts a BOOLEAN input with bool(value) before any node sees it, so the text "false" arrives
as True (Save Identity's overwrite would replace a file); and a node whose validate_inputs takes a file
dropdown sees a null exactly as it sees a link (None). This handler runs on every POST /prompt before
validation (PromptServer.add_on_prompt_handler) and replaces such values of our nodes by an ApiValue, which
ComfyUI's validation then refuses with our message naming the node and the input. Links and real
true/false pass untouched; the fixed-choice dropdowns need nothing here (ComfyUI 0.14+ checks them at
queue time; on 0.3.64 check_choices refuses them when the node runs).
"""

from __future__ import annotations

import functools

from .v3 import ApiValue, boolean_message, shown_choices


@functools.cache
def checked_inputs(node) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(BOOLEAN input ids, ids of dropdowns the node checks itself in validate_inputs) of a node class."""
    inputs = node.define_schema().inputs
    booleans = tuple(i.id for i in inputs if i.get_io_type() == "BOOLEAN")
    own_check = "validate_inputs" in vars(node)  # the base class has one that only raises NotImplementedError
    self_checked = tuple(i.id for i in inputs if i.get_io_type() == "COMBO") if own_check else ()
    return booleans, self_checked


@functools.lru_cache(maxsize=1)
def our_nodes() -> dict:
    """Our node classes by node id (fixed once the pack is loaded)."""
    from . import NODES

    return {node.define_schema().node_id: node for node in NODES}


def mark_prompt(json_data):
    """The on_prompt handler: `json_data` with our nodes' non-boolean BOOLEANs and null file dropdowns marked."""
    prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
    if not isinstance(prompt, dict):
        return json_data
    ours = our_nodes()
    for item in prompt.values():
        node = ours.get(item.get("class_type")) if isinstance(item, dict) else None
        inputs = item.get("inputs") if node is not None else None
        if not isinstance(inputs, dict):
            continue
        booleans, self_checked = checked_inputs(node)
        for name in booleans:
            value = unwrapped(inputs.get(name))
            if name in inputs and not isinstance(value, (bool, list)):  # a list is a link
                inputs[name] = ApiValue(value, boolean_message(node.define_schema().display_name, name, value))
        for name in self_checked:
            if name in inputs and unwrapped(inputs[name]) is None:
                listed = next(i.options for i in node.define_schema().inputs if i.id == name)
                inputs[name] = ApiValue(None, (
                    f"{node.define_schema().display_name}: {name} is null (no value). Pick one of "
                    f"{shown_choices(listed)} in the node; an API prompt must send one of the names as text."))
    return json_data


def unwrapped(value):
    """What ComfyUI reads of an input value: {"__value__": x} stands for x."""
    return value["__value__"] if isinstance(value, dict) and "__value__" in value else value


def register_prompt_check() -> bool:
    """Add mark_prompt to ComfyUI's server; False where no server runs (tests, scripts, the CLI)."""
    from .routes import comfyui_server

    instance = comfyui_server()
    if instance is None:
        return False
    instance.add_on_prompt_handler(mark_prompt)
    return True
