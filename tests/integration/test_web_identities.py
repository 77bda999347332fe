"""The identity picker and the Likeness scores in a real browser, on the classic canvas and on Nodes 2.0.

A real ComfyUI server with two saved identities (a red and a blue face); identity_browser_check.mjs adds
HyperLoRA Load Identity to the graph and reports the thumbnail it shows. Needs what test_web_extension.py
needs (Chromium, node, playwright-core); COMFYUI_FRONTEND_ROOT picks a newer frontend (Nodes 2.0: 1.58.1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperlora_core.library import identity_file
from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.test_web_extension import CHROMIUM, prepare_frontend, run_browser, skip_reason

TIMEOUT_S = 90
LIKENESS_SUMMARY = ("ID similarity (ArcFace cosine) of 2 image(s): 0.712, 0.000 (no face found); best: image 1 "
                    "(0.712), mean 0.356")
LIKENESS_TEXT = [LIKENESS_SUMMARY, "image 1: 0.712", "image 2: 0.000 (no face found)"]  # the node's ui text
LIKENESS_SHOWN = [LIKENESS_SUMMARY, "\u2605 image 1: 0.712", "image 2: 0.000 (no face found)"]  # best marked
FACES = {"cast/alice": (220, 40, 40), "cast/bob": (40, 40, 220), "carol": (40, 200, 40)}


def write_identity(path: Path, label: str, colour) -> None:
    saved = identity_file.SavedIdentity(torch.zeros(4, 4), None, label, "v", "sha256:0", "2026-01-01",
                                        thumbnail=np.full((128, 128, 3), colour, np.uint8))
    identity_file.save_identity(path, saved)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("web_identities")
    install_pack(base)
    folder = base / "models" / "hyper_lora" / "identities"
    for name in ("cast/alice", "cast/bob"):
        write_identity(folder / f"{name}.safetensors", name, FACES[name])
    with running_comfyui(base, 180) as (url, log_path):
        yield {"url": url, "base": base, "folder": folder, "log_path": log_path}


@pytest.mark.parametrize("renderer", ["classic", "nodes2"])
def test_identity_picker_shows_the_chosen_face(server, renderer, tmp_path):
    browser_config = prepare_frontend(server["url"], renderer)
    staged = tmp_path / "carol.safetensors"
    write_identity(staged, "carol", FACES["carol"])
    target = server["folder"] / "new" / f"carol_{renderer}.safetensors"  # listed after cast/
    report = run_browser({
        "url": server["url"], "chromium": CHROMIUM, "profileDir": str(tmp_path / "profile"),
        "timeoutMs": TIMEOUT_S * 1000, **browser_config, "first": "cast/alice.safetensors",
        "second": "cast/bob.safetensors",
        "newIdentity": {"from": str(staged), "to": str(target), "name": f"new/carol_{renderer}"},
        "likenessText": LIKENESS_TEXT,
    }, tmp_path, "identity_browser_check.mjs", TIMEOUT_S)
    if report.get("unsupported"):
        pytest.skip(report["unsupported"])
    assert not report["failures"], "\n".join(report["failures"])
    assert "hyperlora.identity_thumbnails" in report["steps"]["load"]["extensions"]
    if renderer == "nodes2":
        assert report["steps"]["load"]["vueNodesMode"]

    first = report["steps"]["first"]
    assert first["values"][:2] == ["cast/alice.safetensors", "cast/bob.safetensors"]
    assert first["serialized"] == ["cast/alice.safetensors"]  # the thumbnail widget saves nothing
    assert first["shown"] and first["naturalWidth"] == 128 and "alice" in first["src"]
    assert np.allclose(first["colour"], FACES["cast/alice"], atol=3)
    second = report["steps"]["second"]
    assert second["shown"] and np.allclose(second["colour"], FACES["cast/bob"], atol=3)
    assert f"new/carol_{renderer}.safetensors" in report["steps"]["saved"]["values"]
    assert report["steps"]["likeness"] == {"shown": True, "lines": LIKENESS_SHOWN}
    ours = [e for e in report["consoleErrors"] + report["pageErrors"] if "hyperlora" in json.dumps(e).lower()]
    assert not ours, ours
    assert_no_problems_of_ours(server["log_path"].read_text())
