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


def spread_link_ids(workflow: dict) -> dict:
    """The same workflow with link ids 7n + 100 (ids need not be dense): renumbering must change them all."""
    workflow = copy.deepcopy(workflow)
    new = {link[0]: 7 * link[0] + 100 for link in workflow["links"]}
    for link in workflow["links"]:
        link[0] = new[link[0]]
    for node in workflow["nodes"]:
        for entry in node.get("inputs") or []:
            if entry.get("link") is not None:
                entry["link"] = new[entry["link"]]
        for entry in node.get("outputs") or []:
            entry["links"] = [new[i] for i in entry.get("links") or []]
    workflow["last_link_id"] = max(new.values())
    return workflow


def with_native_reroutes(old: dict, schema: int) -> tuple[dict, dict]:
    """`old` with a native reroute on the model link into each sampler (rewired by the upgrade) and one on
    each conditioning link into a sampler (kept), in the schema's form; and reroute id -> (target node id,
    input name) of the link it carries."""
    old = spread_link_ids(old)
    nodes = {n["id"]: n for n in old["nodes"]}
    carried, reroutes, extensions = {}, [], []
    for link in old["links"]:
        target = nodes[link[3]]
        name = target["inputs"][link[4]]["name"]
        if "Sampler" in target["type"] and name in ("model", "positive"):
            reroute_id = len(reroutes) + 1
            reroutes.append({"id": reroute_id, "pos": [10.0 * reroute_id, 20.0], "linkIds": [link[0]]})
            extensions.append({"id": link[0], "parentId": reroute_id})
            carried[reroute_id] = (link[3], name)
    assert carried
    chained = {"id": len(reroutes) + 1, "parentId": 1, "pos": [0.0, 0.0], "linkIds": list(reroutes[0]["linkIds"])}
    reroutes.append(chained)  # origin -> reroute 1 -> chained -> target: its parentId must survive
    extensions[0]["parentId"] = chained["id"]  # a link names the reroute nearest its target
    carried[chained["id"]] = carried[1]
    old = copy.deepcopy(old)
    if schema == 1:
        by_link = {e["id"]: e["parentId"] for e in extensions}
        old["links"] = [{**dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link)),
                         **({"parentId": by_link[link[0]]} if link[0] in by_link else {})} for link in old["links"]]
        old["reroutes"], old["version"] = reroutes, 1
        old["state"] = {"lastNodeId": old["last_node_id"], "lastLinkId": old["last_link_id"], "lastGroupId": 0,
                        "lastRerouteId": len(reroutes)}
    else:
        old.setdefault("extra", {}).update(reroutes=reroutes, linkExtensions=extensions)
    return old, carried


@pytest.mark.parametrize("schema", [0.4, 1])
@pytest.mark.parametrize("name", CONTROL_WORKFLOWS)
def test_native_reroutes_follow_the_renumbered_links(name, schema):
    """Issue 25: the upgrade renumbers links; every reroute must still name the link into the same input."""
    old, carried = with_native_reroutes(as_saved_before(load(name)), schema)
    upgraded = convert_workflow(json.loads(json.dumps(old))).workflow
    as_arrays = [[link[k] for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")]
                 if isinstance(link, dict) else link for link in upgraded["links"]]
    links = {link[0]: link for link in as_arrays}
    nodes = {n["id"]: n for n in upgraded["nodes"]}
    reroutes = upgraded["reroutes"] if schema == 1 else upgraded["extra"]["reroutes"]
    assert {r["id"] for r in reroutes} == set(carried)
    for reroute in reroutes:
        (link_id,) = reroute["linkIds"]
        target, slot = links[link_id][3], links[link_id][4]
        assert (target, nodes[target]["inputs"][slot]["name"]) == carried[reroute["id"]], reroute
    assert [r.get("parentId") for r in reroutes][-1] == 1
    if schema == 1:
        by_link = {link["id"]: link.get("parentId") for link in upgraded["links"]}
        assert upgraded["state"]["lastRerouteId"] == len(reroutes)
    else:
        by_link = {e["id"]: e["parentId"] for e in upgraded["extra"]["linkExtensions"]}
    for reroute in reroutes[:-1]:  # each link names the reroute nearest its target
        assert by_link[reroute["linkIds"][0]] == (reroutes[-1]["id"] if reroute["id"] == 1 else reroute["id"])
    model_reroutes = [r for r in reroutes if carried[r["id"]][1] == "model"]
    for reroute in model_reroutes:  # the rewired model link: now from Apply to Conditioning, reroute kept
        origin = nodes[links[reroute["linkIds"][0]][1]]
        assert origin["type"] == "HyperLoRAApplyConditioning"


def test_a_link_that_is_gone_is_dropped_from_the_reroutes():
    old, _ = with_native_reroutes(as_saved_before(load("hyperlora_two_people")), 0.4)
    old["extra"]["reroutes"].append({"id": 99, "pos": [0, 0], "linkIds": [123456]})
    old["extra"]["linkExtensions"].append({"id": 123456, "parentId": 99})
    upgraded = convert_workflow(old).workflow
    assert [r["linkIds"] for r in upgraded["extra"]["reroutes"] if r["id"] == 99] == [[]]
    assert 123456 not in {e["id"] for e in upgraded["extra"]["linkExtensions"]}
    link_ids = {link[0] for link in upgraded["links"]}
    assert all(e["id"] in link_ids for e in upgraded["extra"]["linkExtensions"])


def test_duplicate_link_ids_are_refused_unless_they_are_copies():
    old = as_saved_before(load("hyperlora_two_people"))
    copies = copy.deepcopy(old)
    copies["links"].append(list(copies["links"][0]))
    convert_workflow(copies)  # an identical copy (a frontend bug the frontend repairs itself) is harmless
    clash = copy.deepcopy(old)
    first = clash["links"][0]
    clash["links"].append([first[0], first[1], first[2], first[3], first[4] + 1, first[5]])
    with pytest.raises(ValueError, match=rf"Link id {first[0]} is used twice"):
        convert_workflow(clash)


@pytest.mark.parametrize("field", ["node", "link"])
def test_ids_past_the_frontends_range_are_refused_by_name(field):
    old = as_saved_before(load("hyperlora_two_people"))
    if field == "node":
        old["nodes"][0]["id"] = 2**31
        match = "has a damaged id"
    else:
        old["links"][0][0] = 2**31
        match = "is not \\[id, from, slot, to, slot, type\\]"
    with pytest.raises(ValueError, match=match):
        convert_workflow(old)


def inside_a_subgraph(workflow: dict) -> dict:
    """`workflow` moved into a subgraph (schema 1 links, as the frontend saves subgraphs), placed once at the
    top level."""
    fields = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
    subgraph = {"id": "5b1c7d2e-0000-4000-8000-000000000001", "name": "Person", "version": 1,
                "state": {"lastNodeId": 0, "lastLinkId": 0, "lastGroupId": 0, "lastRerouteId": 0},
                "config": {}, "revision": 0, "inputNode": {"id": -10, "bounding": [0, 0, 75, 100]},
                "outputNode": {"id": -20, "bounding": [900, 0, 75, 100]}, "inputs": [], "outputs": [],
                "widgets": [], "groups": [], "extra": {},
                "nodes": copy.deepcopy(workflow["nodes"]),
                "links": [dict(zip(fields, link)) for link in workflow["links"]]}
    return {"id": "5b1c7d2e-0000-4000-8000-000000000000", "revision": 0, "last_node_id": 1, "last_link_id": 0,
            "nodes": [{"id": 1, "type": subgraph["id"], "pos": [0, 0], "size": [200, 100], "flags": {}, "order": 0,
                       "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": []}],
            "links": [], "groups": [], "config": {}, "extra": {}, "version": 0.4,
            "definitions": {"subgraphs": [subgraph]}}


def as_top_level(subgraph: dict) -> dict:
    fields = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
    return {"nodes": subgraph["nodes"], "links": [[link[k] for k in fields] for link in subgraph["links"]]}


@pytest.mark.parametrize("name", CONTROL_WORKFLOWS)
def test_old_nodes_inside_a_subgraph_are_upgraded_too(name):
    """Issue 25: the top level was upgraded, the same nodes in a subgraph were not."""
    shipped = load(name)
    old = inside_a_subgraph(spread_link_ids(as_saved_before(shipped)))
    old["definitions"]["subgraphs"][0]["reroutes"] = [{"id": 1, "pos": [0, 0], "linkIds": [
        link["id"] for link in old["definitions"]["subgraphs"][0]["links"] if link["type"] == "MODEL"][:1]}]
    conversion = convert_workflow(json.loads(json.dumps(old)))
    (subgraph,) = conversion.workflow["definitions"]["subgraphs"]
    assert not any(is_outdated(n) for n in subgraph["nodes"])
    assert model_wiring(as_top_level(subgraph)) == model_wiring(shipped)
    assert len(conversion.report.upgraded) == sum(n["type"] == "HyperLoRAApplyConditioning" for n in shipped["nodes"])
    assert all("in the subgraph 'Person'" in text for _, text in conversion.report.upgraded)
    problems = validate_workflow(as_top_level(subgraph), {**load_core_schemas(), **load_pack_schemas()})
    assert problems == [], problems
    links = {link["id"]: link for link in subgraph["links"]}
    assert len(links) == len(subgraph["links"])  # no id twice
    for node in subgraph["nodes"]:  # every link recorded on both of its nodes
        for slot, entry in enumerate(node.get("inputs") or []):
            if entry.get("link") is not None:
                assert (links[entry["link"]]["target_id"], links[entry["link"]]["target_slot"]) == (node["id"], slot)
        for slot, entry in enumerate(node.get("outputs") or []):
            for link_id in entry.get("links") or []:
                assert (links[link_id]["origin_id"], links[link_id]["origin_slot"]) == (node["id"], slot)
    (reroute,) = subgraph["reroutes"]
    assert reroute["linkIds"] and all(i in links for i in reroute["linkIds"])
    assert conversion.workflow["last_link_id"] >= max(links)  # the frontend's one counter passes every id


def test_a_damaged_subgraph_with_old_nodes_is_refused_by_name():
    old = inside_a_subgraph(as_saved_before(load("hyperlora_two_people")))
    links = old["definitions"]["subgraphs"][0]["links"]
    links.append({**links[0], "target_slot": links[0]["target_slot"] + 1})
    with pytest.raises(ValueError, match="The subgraph 'Person' uses link id .* twice"):
        convert_workflow(copy.deepcopy(old))
    links.pop()
    old["definitions"]["subgraphs"][0]["nodes"][0]["id"] = 2**31
    with pytest.raises(ValueError, match="The subgraph 'Person' has a node with a damaged or repeated id"):
        convert_workflow(old)
