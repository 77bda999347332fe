"""Workflows saved with the earlier Apply to Conditioning (no model input or output) are upgraded on load.

The old form of each shipped control workflow is made here from the shipped one (model sockets removed, the
sampler fed by the checkpoint again, as the earlier version saved it); upgrading it must give back the shipped
wiring, and a valid workflow.
"""

from __future__ import annotations

import copy
import json

import pytest

from hyperlora_core.workflows.convert import convert_workflow
from hyperlora_core.workflows.upgrade import is_outdated
from tests.test_example_workflows import load
from tests.workflow_validation import load_core_schemas, load_pack_schemas, validate_workflow

CONTROL_WORKFLOWS = ["hyperlora_two_people", "hyperlora_identity_from_30_percent", "hyperlora_face_redraw"]


def as_saved_before(workflow: dict) -> dict:
    """The workflow as the earlier version saved it: Apply to Conditioning without model sockets, and every
    model link that left one of them coming from the model that entered the first of them instead."""
    old = copy.deepcopy(workflow)
    nodes = {n["id"]: n for n in old["nodes"]}
    links = {link[0]: link for link in old["links"]}

    def model_origin(node_id):
        (entry,) = [i for i in nodes[node_id]["inputs"] if i["name"] == "model"]
        origin = links[entry["link"]][1]
        return model_origin(origin) if nodes[origin]["type"] == "HyperLoRAApplyConditioning" else links[entry["link"]]

    origins = {n["id"]: model_origin(n["id"]) for n in old["nodes"] if n["type"] == "HyperLoRAApplyConditioning"}
    for node in old["nodes"]:
        if node["type"] != "HyperLoRAApplyConditioning":
            continue
        origin = origins[node["id"]]
        (model_out,) = [o for o in node["outputs"] if o["name"] == "model"]
        for link_id in model_out["links"]:
            target = links[link_id][3]
            if nodes[target]["type"] != "HyperLoRAApplyConditioning":
                links[link_id] = [link_id, origin[1], origin[2], target, links[link_id][4], "MODEL"]
                nodes[origin[1]]["outputs"][origin[2]]["links"].append(link_id)
            else:
                del links[link_id]
    for node in old["nodes"]:
        if node["type"] == "HyperLoRAApplyConditioning":
            (entry,) = [i for i in node["inputs"] if i["name"] == "model"]
            if entry["link"] in links and nodes[links[entry["link"]][1]]["type"] != "HyperLoRAApplyConditioning":
                del links[entry["link"]]
            node["inputs"] = [i for i in node["inputs"] if i["name"] != "model"]
            node["outputs"] = [o for o in node["outputs"] if o["name"] != "model"]
    for node in old["nodes"]:
        for output in node.get("outputs") or []:
            output["links"] = [link for link in output.get("links") or [] if link in links]
    old["links"] = list(links.values())
    return old


def model_wiring(workflow: dict) -> dict:
    """(node type, title) -> the (type, title) of the node its model input comes from."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}
    wiring = {}
    for node in workflow["nodes"]:
        for entry in node.get("inputs") or []:
            if entry["name"] == "model" and entry.get("link") in links:
                origin = nodes[links[entry["link"]][1]]
                wiring[(node["type"], node.get("title"))] = (origin["type"], origin.get("title"))
    return wiring


@pytest.mark.parametrize("name", CONTROL_WORKFLOWS)
def test_an_old_control_workflow_is_upgraded_to_the_shipped_wiring(name):
    shipped = load(name)
    old = as_saved_before(shipped)
    assert sum(is_outdated(n) for n in old["nodes"]) == sum(n["type"] == "HyperLoRAApplyConditioning"
                                                            for n in shipped["nodes"]) > 0
    assert model_wiring(old) != model_wiring(shipped)
    conversion = convert_workflow(json.loads(json.dumps(old)))
    upgraded = conversion.workflow
    assert model_wiring(upgraded) == model_wiring(shipped)
    assert not any(is_outdated(n) for n in upgraded["nodes"])
    assert len(conversion.report.upgraded) == sum(is_outdated(n) for n in old["nodes"])
    assert "Upgraded" in conversion.report.text() and conversion.report.to_json()["upgraded"]
    problems = validate_workflow(upgraded, {**load_core_schemas(), **load_pack_schemas()})
    assert problems == [], problems
    for node in upgraded["nodes"]:  # the node's sockets are in the schema's order: model first in, third out
        if node["type"] == "HyperLoRAApplyConditioning":
            assert node["inputs"][0]["name"] == "model" and node["outputs"][2]["name"] == "model"


def test_current_workflows_are_left_as_they_are():
    shipped = load("hyperlora_two_people")
    conversion = convert_workflow(copy.deepcopy(shipped))
    assert conversion.report.upgraded == []
    assert model_wiring(conversion.workflow) == model_wiring(shipped)


def test_an_old_node_that_feeds_no_sampler_gets_its_sockets_and_a_note():
    old = as_saved_before(load("hyperlora_identity_from_30_percent"))
    for node in old["nodes"]:
        if node["type"] == "HyperLoRAApplyConditioning":
            for output in node["outputs"]:
                output["links"] = []
    old["links"] = [link for link in old["links"] if link[1] not in
                    {n["id"] for n in old["nodes"] if n["type"] == "HyperLoRAApplyConditioning"}]
    conversion = convert_workflow(old)
    ((_, text),) = conversion.report.upgraded
    assert "connect the model through it to your sampler by hand" in text
    (node,) = [n for n in conversion.workflow["nodes"] if n["type"] == "HyperLoRAApplyConditioning"]
    assert node["inputs"][0]["name"] == "model" and node["inputs"][0]["link"] is None


def test_a_crafted_cycle_of_old_nodes_ends():
    old = as_saved_before(load("hyperlora_two_people"))
    first, second = [n for n in old["nodes"] if n["type"] == "HyperLoRAApplyConditioning"]
    link_id = max(link[0] for link in old["links"]) + 1
    old["links"].append([link_id, second["id"], 0, first["id"], 0, "CONDITIONING"])  # second feeds first back
    first["inputs"][0]["link"] = link_id
    conversion = convert_workflow(old)  # must end; the wiring of a cycle is the user's to fix
    assert len(conversion.report.upgraded) == 2
