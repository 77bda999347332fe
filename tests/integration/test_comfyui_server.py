"""The ComfyUI server starts with the pack installed and lists our nodes and the installed models."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import COMFYUI_PATH, PACK_DIR_NAME, PACK_ROOT

START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def server(tmp_path):
    """main.py --cpu on a free loopback port, base directory in tmp, our pack symlinked into custom_nodes."""
    if not COMFYUI_PATH:
        pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the integration tests")
    from tests.synthetic_checkpoint import write_synthetic_checkpoint

    (tmp_path / "custom_nodes").mkdir()
    (tmp_path / "custom_nodes" / PACK_DIR_NAME).symlink_to(PACK_ROOT, target_is_directory=True)
    write_synthetic_checkpoint(tmp_path / "models" / "hyper_lora" / "hyper_lora" / "my_variant")
    port = free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115  (closed below)
    process = subprocess.Popen(
        [sys.executable, os.path.join(COMFYUI_PATH, "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
         "--base-directory", str(tmp_path), "--disable-auto-launch"],
        cwd=COMFYUI_PATH, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", process, tmp_path / "server.log"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def wait_for(url: str, process, log_path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ComfyUI exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            return get_json(url)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


def test_server_lists_our_nodes_and_installed_checkpoints(server):
    base_url, process, log_path = server
    info = wait_for(f"{base_url}/object_info", process, log_path)
    ours = {key for key in info if info[key]["category"].startswith("HyperLoRA")}
    assert ours == {
        "HyperLoRACheckpointLoader", "HyperLoRAFaceAnalyzerLoader", "HyperLoRACLIPVisionLoader", "HyperLoRAEncodeFace",
        "HyperLoRAPredictCoefficients", "HyperLoRAApply", "HyperLoRAApplyFace", "HyperLoRAConceptSlider",
        "HyperLoRAMixIdentities", "HyperLoRAExportLoRA", "HyperLoRATriggerWords"}
    loader = info["HyperLoRACheckpointLoader"]
    assert loader["input"]["required"]["checkpoint"][0] == ["my_variant"]
    assert loader["output"] == ["HYPERLORA"]
    assert all(info[key]["output_tooltips"] for key in ours)
    setup = get_json(f"{base_url}/hyperlora/setup")  # the web extension's setup report
    assert setup["variants"] == ["my_variant"]
    log = log_path.read_text()
    assert "IMPORT FAILED" not in log and "Traceback" not in log, log[-4000:]
