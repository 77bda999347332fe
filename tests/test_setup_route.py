"""GET /hyperlora/setup, served through stand-ins for ComfyUI's folder_paths and server modules."""

import asyncio
import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest

from tests.comfy_api_standin import make_comfy_api
from tests.test_setup_check import install_antelope, install_clip_folder, install_variant

ROOT = Path(__file__).resolve().parents[1]


def pack_module(name: str):
    """Import a module of the pack as ComfyUI does (as a package, so relative imports work; the nodes need
    comfy_api, ComfyUI's V3 node API: its stand-in when ComfyUI is absent)."""
    if "comfy_api" not in sys.modules and importlib.util.find_spec("comfy_api") is None:
        sys.modules.update(make_comfy_api())
    if "hyperlora_pack" not in sys.modules:
        package = types.ModuleType("hyperlora_pack")
        package.__path__ = [str(ROOT)]
        sys.modules["hyperlora_pack"] = package
    return importlib.import_module(f"hyperlora_pack.{name}")


def stand_in_server(monkeypatch):
    """ComfyUI's `server` module with a PromptServer whose routes table our register_* functions fill."""
    web = pytest.importorskip("aiohttp.web")
    server = types.ModuleType("server")
    server.PromptServer = types.SimpleNamespace(instance=types.SimpleNamespace(routes=web.RouteTableDef()))
    monkeypatch.setitem(sys.modules, "server", server)
    return server.PromptServer.instance.routes


def call_route(routes, method: str, path: str, **request) -> tuple[int, object]:
    """(status, JSON answer) of one request to `routes`, served by aiohttp's test server."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    async def run():
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app)) as client:
            response = await client.request(method, path, **request)
            return response.status, await response.json()

    return asyncio.run(run())


def fake_folder_paths(models: Path, folders: dict[str, list[Path]]):
    """What ComfyUI's folder_paths offers the route: models_dir and registered folder names."""
    module = types.ModuleType("folder_paths")
    module.models_dir = str(models)
    module.folder_names_and_paths = {name: ([str(p) for p in paths], {".safetensors"})
                                     for name, paths in folders.items()}
    module.get_folder_paths = lambda name: list(module.folder_names_and_paths[name][0])
    return module


def test_report_uses_the_folders_comfyui_registered(tmp_path):
    route = pack_module("nodes.setup_route")
    models, extra = tmp_path / "models", tmp_path / "extra"
    install_variant(extra)
    install_antelope(extra / "faces" / "models" / "antelopev2")
    install_clip_folder(models)
    folder_paths = fake_folder_paths(models, {
        "hyper_lora": [models / "hyper_lora" / "hyper_lora", extra / "hyper_lora" / "hyper_lora"],
        "insightface": [extra / "faces"],
    })

    report = route.setup_report(folder_paths)

    assert report["ok"], report
    assert report["variants"] == ["sdxl_hyper_id_lora_v1_fidelity"]
    found = {item["name"]: item["path"] for item in report["items"] if item["status"] == "found"}
    assert found["glintr100.onnx"].startswith(str(extra / "faces"))


def test_report_without_files_names_default_folders(tmp_path):
    route = pack_module("nodes.setup_route")

    report = route.setup_report(fake_folder_paths(tmp_path, {}))

    assert not report["ok"]
    missing = {item["name"]: item["folder"] for item in report["items"] if item["status"] == "missing"}
    assert missing["glintr100.onnx"] == str(tmp_path / "insightface" / "models" / "antelopev2")


def test_route_serves_the_report_as_json(tmp_path, monkeypatch):
    install_variant(tmp_path)
    routes = stand_in_server(monkeypatch)
    monkeypatch.setitem(sys.modules, "folder_paths", fake_folder_paths(tmp_path, {}))

    assert pack_module("nodes.setup_route").register_routes() is True

    status, report = call_route(routes, "GET", "/hyperlora/setup")
    assert status == 200
    assert report["variants"] == ["sdxl_hyper_id_lora_v1_fidelity"]
    assert report["ok"] is False  # no face models, no CLIP
    assert {item["component"] for item in report["items"]} == {"hyper_lora", "antelopev2", "clip"}


def test_without_a_comfyui_server_no_route_is_registered(monkeypatch):
    monkeypatch.setitem(sys.modules, "server", None)  # makes `import server` raise ImportError
    assert pack_module("nodes.setup_route").register_routes() is False
