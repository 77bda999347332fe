"""POST /hyperlora/convert_workflow, served through a stand-in for ComfyUI's server module."""

import json
import sys
import types

import pytest

from tests.official_workflows import official
from tests.test_setup_route import call_route, pack_module, stand_in_server


def serve(monkeypatch, installed=None):
    """Register the route on a stand-in PromptServer; `installed` becomes ComfyUI's node list."""
    routes = stand_in_server(monkeypatch)
    comfy_nodes = types.ModuleType("nodes")
    comfy_nodes.NODE_CLASS_MAPPINGS = {name: object for name in installed or ()}
    monkeypatch.setitem(sys.modules, "nodes", comfy_nodes)
    assert pack_module("nodes.convert_route").register_convert_route() is True
    return routes


def post(routes, data: bytes):
    return call_route(routes, "POST", "/hyperlora/convert_workflow", data=data,
                      headers={"Content-Type": "application/json"})


def test_route_converts_and_reports_what_is_missing(monkeypatch):
    routes = serve(monkeypatch, installed={"KSampler", "CheckpointLoaderSimple", "CLIPTextEncode"})
    workflow = official("HyperLoRA-T2I-InstantID")
    status, answer = post(routes, json.dumps({"workflow": workflow}).encode())
    assert status == 200
    kinds = {node["type"] for node in answer["workflow"]["nodes"]}
    assert "HyperLoRAApply" in kinds and "HyperLoRAIDCond" not in kinds
    third_party = {entry["type"]: entry["pack"] for entry in answer["report"]["third_party"]}
    assert third_party["ApplyInstantIDAdvanced"] == "ComfyUI_InstantID"
    assert third_party["EmptyLatentImage"] == "not installed on this server"  # not in this server's list
    assert "KSampler" not in third_party
    assert "Replaced" in answer["report"]["text"]


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not JSON"),
    (b"[" * 100_000, "not JSON"),  # nested too deeply for json: a RecursionError, not a 500
    (b"[1, 2]", '{"workflow"'),
    (json.dumps({"workflow": {"3": {"class_type": "KSampler", "inputs": {}}}}).encode(), "API-format"),
    (json.dumps({"workflow": {"nodes": [{"id": 1}]}}).encode(), "no id or type"),
])
def test_bad_requests_get_a_clear_error(monkeypatch, data, message):
    status, answer = post(serve(monkeypatch), data)
    assert status == 400 and message in answer["error"]


def test_oversized_requests_are_refused(monkeypatch):
    route = pack_module("nodes.convert_route")
    monkeypatch.setattr(route, "MAX_BYTES", 100)
    status, answer = post(serve(monkeypatch), json.dumps({"workflow": {"nodes": [], "pad": "x" * 200}}).encode())
    assert status == 413 and "too large" in answer["error"]


def test_without_a_comfyui_server_no_route_is_registered(monkeypatch):
    monkeypatch.setitem(sys.modules, "server", None)
    assert pack_module("nodes.convert_route").register_convert_route() is False


def padded_workflow(size: int) -> bytes:
    """A valid request of about `size` bytes: a small official workflow with a long note."""
    workflow = official("HyperLoRA-T2I-InstantID")
    workflow["nodes"].append({"id": 999, "type": "Note", "pos": [0, 0], "size": [100, 100],
                              "widgets_values": ["x" * size]})
    return json.dumps({"workflow": workflow}).encode()


def test_a_large_valid_workflow_is_read_whole(monkeypatch):
    """A body larger than what the server has buffered is read to its end, not cut at the first chunk."""
    status, answer = post(serve(monkeypatch), padded_workflow(3 * 1024 * 1024))
    assert status == 200, answer
    assert any(node["id"] == 999 for node in answer["workflow"]["nodes"])


def test_a_chunked_body_over_the_limit_is_refused_as_too_large(monkeypatch):
    route = pack_module("nodes.convert_route")
    monkeypatch.setattr(route, "MAX_BYTES", 1000)

    async def body():  # chunked transfer: no Content-Length to refuse up front
        import asyncio
        for _ in range(10):
            yield b" " * 300
            await asyncio.sleep(0.01)

    status, answer = call_route(serve(monkeypatch), "POST", "/hyperlora/convert_workflow", data=body(),
                                headers={"Content-Type": "application/json"})
    assert status == 413 and "too large" in answer["error"]


@pytest.mark.parametrize("workflow, message", [
    ({"nodes": [], "state": []}, None),
    ({"nodes": [], "last_node_id": float("nan"), "state": {"lastNodeId": float("inf")}}, None),
    ({"nodes": [], "definitions": {"subgraphs": [{"id": {"a": 1}}, {"id": [1]}]}}, None),
    ({"nodes": [], "groups": [{"bounding": [float("nan"), 0, 1, 1]}]}, "'groups' holds a number that is not finite"),
    ({"nodes": [{"id": 1, "type": "Note", "inputs": 5}]}, "has damaged inputs or outputs"),
])
def test_crafted_fields_get_a_clear_answer_never_a_500(monkeypatch, workflow, message):
    data = json.dumps({"workflow": workflow}).encode()  # json.dumps writes NaN and Infinity, as json.loads reads
    status, answer = post(serve(monkeypatch), data)
    if message is None:
        assert status == 200 and answer["workflow"]["last_node_id"] == 0
    else:
        assert status == 400 and message in answer["error"]
