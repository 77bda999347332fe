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
