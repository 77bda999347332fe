"""A real ComfyUI server: the identity list refreshes without a restart, and the thumbnail route is path-safe."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import torch
from PIL import Image

from hyperlora_core.library import identity_file
from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.workflow_validation import combo_options

START_TIMEOUT_S = 180
ROUTE = "/hyperlora/identity_thumbnail"


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def identity_list(base_url: str) -> list[str]:
    _, body, _ = get(f"{base_url}/object_info/HyperLoRALoadIdentity")
    return combo_options(json.loads(body)["HyperLoRALoadIdentity"]["input"]["required"]["identity"])


def write_identity(folder, name: str, colour) -> np.ndarray:
    thumbnail = np.full((128, 128, 3), colour, np.uint8)
    saved = identity_file.SavedIdentity(torch.zeros(4, 4), None, name, "v", "sha256:0", "2026-01-01",
                                        thumbnail=thumbnail)
    identity_file.save_identity(identity_file.identity_path(folder, name), saved)
    return thumbnail


def test_identity_list_and_thumbnails_from_a_running_server(tmp_path):
    install_pack(tmp_path)
    folder = tmp_path / "models" / "hyper_lora" / "identities"
    folder.mkdir(parents=True)
    write_identity(folder, "cast/alice", (200, 30, 30))
    (tmp_path / "secret.safetensors").write_bytes(b"x" * 16)
    with running_comfyui(tmp_path, START_TIMEOUT_S) as (base_url, log_path):
        assert identity_list(base_url) == ["cast/alice.safetensors"]
        blue = write_identity(folder, "cast/bob", (30, 30, 200))  # while the server runs
        assert identity_list(base_url) == ["cast/alice.safetensors", "cast/bob.safetensors"]

        status, body, kind = get(f"{base_url}{ROUTE}?name={urllib.parse.quote('cast/bob.safetensors')}")
        assert status == 200 and kind == "image/png"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")), blue)
        # a name no identity can have is a bad request (400), a missing identity is not found (404)
        for bad, expected in (("../../secret.safetensors", 400), ("/etc/passwd", 400), ("cast/../../../secret", 400),
                              ("", 400), ("nothing", 404)):
            status, body, _ = get(f"{base_url}{ROUTE}?name={urllib.parse.quote(bad)}")
            assert status == expected and "error" in json.loads(body), (bad, status)
        assert get(f"{base_url}/object_info")[0] == 200  # still serving
    assert_no_problems_of_ours(log_path.read_text())
