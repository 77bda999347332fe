"""scripts/compare_node_info.py: what a V3 node may say differently in /object_info, and what it may not."""

import copy

from scripts.compare_node_info import differences

V1 = {"Loader": {
    "input": {"required": {"name": [["a", "b"], {"default": "a", "tooltip": "pick"}],
                           "text": ["STRING", {"default": "", "tooltip": "type"}],
                           "strength": ["FLOAT", {"default": 0.8, "min": -4.0, "max": 4.0, "tooltip": "how much"}]}},
    "input_order": {"required": ["name", "text", "strength"]},
    "output": ["MODEL"], "output_name": ["model"], "output_tooltips": ["the model"], "output_node": False,
    "category": "HyperLoRA", "description": "loads", "display_name": "Loader", "python_module": "custom_nodes.x"}}


def as_v3(info: dict) -> dict:
    """What the V3 port of V1 sends: a COMBO dropdown, multiline false, hidden inputs, silent new fields."""
    out = copy.deepcopy(info)
    node = out["Loader"]
    choices, options = node["input"]["required"]["name"]
    node["input"]["required"]["name"] = ["COMBO", {**options, "options": choices, "multiselect": False}]
    node["input"]["required"]["text"][1]["multiline"] = False
    node["input"]["hidden"] = {"unique_id": ["UNIQUE_ID"]}
    node["input_order"]["hidden"] = ["unique_id"]
    node.update(deprecated=False, price_badge=None)
    return out


def test_what_v3_legitimately_sends_otherwise_is_no_difference():
    assert differences(V1, as_v3(V1)) == []


def test_changed_choices_limits_order_outputs_and_texts_are_differences():
    changes = [
        lambda n: n["input"]["required"]["name"][1]["options"].pop(),
        lambda n: n["input"]["required"]["strength"][1].__setitem__("max", 5.0),
        lambda n: n["input_order"]["required"].reverse(),
        lambda n: n.__setitem__("output_name", ["MODEL"]),
        lambda n: n.__setitem__("output_node", True),
        lambda n: n["input"]["required"]["text"][1].__setitem__("multiline", True),
        lambda n: n.__setitem__("experimental", True),
        lambda n: n["input"]["required"]["strength"][1].__setitem__("tooltip", "other"),
    ]
    for change in changes:
        after = as_v3(V1)
        change(after["Loader"])
        assert differences(V1, after), change


def test_without_texts_a_changed_tooltip_is_no_difference_but_a_limit_still_is():
    after = as_v3(V1)
    after["Loader"]["input"]["required"]["strength"][1]["tooltip"] = "other"
    after["Loader"]["description"] = "loads better"
    assert differences(V1, after, texts=False) == []
    after["Loader"]["input"]["required"]["strength"][1]["min"] = 0.0
    assert differences(V1, after, texts=False)


def test_missing_and_new_nodes_are_differences():
    assert differences(V1, {}) == ["Loader: missing"]
    assert differences({}, V1) == ["Loader: new"]
