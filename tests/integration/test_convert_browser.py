"""The conversion offer in a real browser: an official workflow opened in the frontend is converted.

Same set-up as test_web_extension.py (Chromium, playwright-core; skipped with the reason without them).
Checked by hand on frontend 1.58.1 too (--front-end-root): the offer, the Confirm button and the
converted graph are the same; this test runs on whichever frontend the server serves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import COMFYUI_PATH, install_pack, running_comfyui
from tests.workflow_validation import REPO_ROOT

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

OFFICIAL = REPO_ROOT.parent / "shared" / "official-workflows" / "HyperLoRA-T2I-FaceDetailer.json"
OFFICIAL_TYPES = {"HyperLoRAConfig", "HyperLoRALoader", "HyperLoRAIDCond", "HyperLoRAFaceAttr",
                  "HyperLoRAGenerateIDLoRA", "HyperLoRAApplyLoRA"}
TIMEOUT_S = 90


def skip_reason() -> str | None:
    if not COMFYUI_PATH:
        return "set COMFYUI_PATH to a ComfyUI checkout to run the integration tests"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}: apt-get install -y chromium"
    if not shutil.which("node"):
        return "node is not installed"
    found = subprocess.run(["node", "-e", "require.resolve('playwright-core')"], cwd=HERE, capture_output=True,
                           check=False)
    return "playwright-core not found: see test_web_extension.py" if found.returncode else None


def run(config: dict, workdir) -> dict:
    path = workdir / "convert_config.json"
    path.write_text(json.dumps(config))
    process = subprocess.run(["node", str(HERE / "convert_browser_check.mjs"), str(path)], cwd=HERE,
                             capture_output=True, text=True, timeout=TIMEOUT_S + 30, check=False)
    if process.returncode or not process.stdout.strip():
        pytest.fail(f"convert_browser_check.mjs failed ({process.returncode}):\n{process.stderr[-4000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def test_official_workflow_is_converted_when_opened(tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    install_pack(tmp_path)
    workflow = json.loads(OFFICIAL.read_text(encoding="utf-8"))
    with running_comfyui(tmp_path, 60) as (url, log_path):
        report = run({"url": url, "chromium": CHROMIUM, "profileDir": str(tmp_path / "profile"),
                      "timeoutMs": TIMEOUT_S * 1000, "workflow": workflow}, tmp_path)
    assert report["failures"] == [], report
    assert "hyperlora.convert_official_workflows" in report["extensions"]
    assert "HyperLoRAIDCond" in report["offer"]
    assert report["loading"] == "loaded"
    types = set(report["nodeTypes"])
    assert not types & OFFICIAL_TYPES and not types & {"BNK_CLIPTextEncodeAdvanced", "ImpactMakeImageBatch"}
    assert {"HyperLoRAApply", "HyperLoRAEncodeFace", "HyperLoRACheckpointLoader", "FaceDetailer"} <= types
    assert report["linkCount"] > 15
    # the missing-nodes dialog, if any, no longer names official HyperLoRA nodes
    assert not any(kind in text for text in report["dialogs"] for kind in OFFICIAL_TYPES), report["dialogs"]
    # errors that mention the pack, except the frontend's look-ups on api.comfy.org (closed network here)
    ours = [e for e in report["consoleErrors"] + report["pageErrors"] if "hyperlora" in json.dumps(e).lower()
            and not str(e.get("url", "")).startswith("https://")]
    assert ours == [], ours
    assert "Traceback" not in log_path.read_text()
