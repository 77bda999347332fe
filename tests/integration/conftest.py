"""Real ComfyUI for the integration tests: COMFYUI_PATH points at a ComfyUI checkout (0.3.64 and 0.14.1 tested).

Without COMFYUI_PATH every test here is skipped. ComfyUI runs on the CPU (--cpu is set before
comfy.model_management is imported), and nothing is written into the checkout: the output folder
and our model folders live in pytest's temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
# A frontend's `static` folder (e.g. from `pip download comfyui-frontend-package==1.58.1`, unzipped) that
# the servers started here serve with --front-end-root; unset: the server's own frontend.
COMFYUI_FRONTEND_ROOT = os.environ.get("COMFYUI_FRONTEND_ROOT")
PACK_ROOT = Path(__file__).resolve().parents[2]
PACK_DIR_NAME = "comfyui-hyperlora"


def comfyui_release() -> str:
    """The release of the ComfyUI at COMFYUI_PATH, e.g. "0.14.1"."""
    from scripts.record_object_info import comfyui_version

    return comfyui_version(Path(COMFYUI_PATH))


def for_this_release(workflow: Path) -> str | None:
    """Why a shipped workflow does not run on this ComfyUI (it is for another release), or None."""
    from tests.workflow_validation import workflow_releases

    release = comfyui_release()
    if workflow_releases(workflow, [release]):
        return None
    return f"{workflow.name} is for ComfyUI {' and '.join(workflow_releases(workflow))}, not {release}"


def import_comfyui():
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    if sys.path[0] != COMFYUI_PATH:
        sys.path.insert(0, COMFYUI_PATH)  # before the repo root, whose nodes/ would shadow ComfyUI's nodes.py
    from comfy.cli_args import args

    args.cpu = True
    import comfy.model_management  # noqa: F401  (after args.cpu)
    import folder_paths

    import nodes

    return folder_paths, nodes


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory):
    """ComfyUI's modules with our pack loaded the way ComfyUI loads a custom node folder."""
    folder_paths, nodes = import_comfyui()
    base = tmp_path_factory.mktemp("comfy_base")
    custom_nodes = base / "custom_nodes"
    custom_nodes.mkdir()
    (custom_nodes / PACK_DIR_NAME).symlink_to(PACK_ROOT, target_is_directory=True)
    folder_paths.set_output_directory(str(base / "output"))
    folder_paths.set_temp_directory(str(base / "temp"))
    loaded = asyncio.run(nodes.load_custom_node(str(custom_nodes / PACK_DIR_NAME)))
    assert loaded, "ComfyUI failed to load the pack (see the log above)"
    pack_path = str(custom_nodes / PACK_DIR_NAME)
    pack = sys.modules[pack_path.replace(".", "_x_")]  # the module name ComfyUI gives a custom node folder
    return types.SimpleNamespace(folder_paths=folder_paths, nodes=nodes, base=base, pack_path=pack_path, pack=pack)


@pytest.fixture(autouse=True)
def models_unloaded_after_each_test():
    """ComfyUI keeps the last sampled model loaded with its patches written into the weights; the session's
    tiny models are shared, so a test that reads their weights must not see the previous test's patches."""
    yield
    if "comfy.model_management" in sys.modules:
        sys.modules["comfy.model_management"].unload_all_models()


@pytest.fixture(scope="session")
def tiny_sdxl(comfyui):
    from tests.integration.tiny_models import build_unet

    return build_unet("SDXL")


@pytest.fixture(scope="session")
def checkpoint(comfyui, tiny_sdxl, tmp_path_factory):
    """A matching checkpoint, found through an extra model path as extra_model_paths.yaml would add it."""
    from tests.integration.tiny_models import VARIANT, write_matching_checkpoint

    root = tmp_path_factory.mktemp("hyper_lora")
    folder = write_matching_checkpoint(root / VARIANT, tiny_sdxl)
    comfyui.folder_paths.add_model_folder_path("hyper_lora", str(root))
    return folder


@pytest.fixture
def node(comfyui):
    """One of our nodes from ComfyUI's registry, by key, called as the V1 node was (tests/comfy_standin.V1Call:
    `node.load(...)` runs the V3 execute through the real comfy_api's class clone)."""
    from tests.comfy_standin import V1Call

    return lambda key: V1Call(comfyui.nodes.NODE_CLASS_MAPPINGS[key])


# ---------------------------------------------------------------- a real ComfyUI server (main.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_pack(base_dir: Path) -> None:
    """Symlink the pack into base_dir/custom_nodes, as a user's git clone would sit there."""
    (base_dir / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base_dir / "custom_nodes" / PACK_DIR_NAME).symlink_to(PACK_ROOT, target_is_directory=True)


@contextlib.contextmanager
def running_comfyui(base_dir: Path, start_timeout_s: float = 60):
    """main.py --cpu on a free loopback port with `base_dir` as --base-directory.

    Yields (base_url, log_path) once /object_info answers; the server is always stopped afterwards,
    also when starting it failed or timed out.
    """
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    port = free_port()
    log_path = base_dir / "server.log"
    # The database (0.3.64 and 0.14.1 both have --database-url) defaults to <ComfyUI>/user/comfyui.db, a
    # folder --base-directory leaves absent: it could not be opened, and 0.14.1's asset scanner then logs
    # tracebacks of its own. In the base folder it opens, and nothing is written into the checkout.
    (base_dir / "user").mkdir(parents=True, exist_ok=True)
    database = f"sqlite:///{(base_dir / 'user' / 'comfyui.db').as_posix()}"
    # 0.14.1 also scans the model folders into that database before it serves; on a folder with symlink
    # loops (test_comfyui_hardening) that takes minutes. It is core's, not ours: off where it exists.
    autoscan = ["--disable-assets-autoscan"] if server_has_flag("--disable-assets-autoscan") else []
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, os.path.join(COMFYUI_PATH, "main.py"), "--cpu", "--listen", "127.0.0.1",
             "--port", str(port), "--base-directory", str(base_dir), "--disable-auto-launch",
             "--database-url", database, *autoscan]
            + (["--front-end-root", COMFYUI_FRONTEND_ROOT] if COMFYUI_FRONTEND_ROOT else []),
            cwd=COMFYUI_PATH, stdout=log, stderr=subprocess.STDOUT)
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_up(f"{base_url}/object_info", process, log_path, start_timeout_s)
            yield base_url, log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def server_has_flag(flag: str) -> bool:
    """Whether the ComfyUI at COMFYUI_PATH has a command-line flag (read from its argument parser)."""
    source = Path(COMFYUI_PATH, "comfy", "cli_args.py").read_text(encoding="utf-8")
    return f'"{flag}"' in source


def _wait_until_up(url: str, process, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ComfyUI exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                json.loads(response.read())
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"ComfyUI did not answer within {timeout_s} s:\n{log_path.read_text()[-4000:]}")
