"""The conversion offer in a real browser: an official workflow opened in the frontend is converted.

Same set-up as test_web_extension.py (Chromium, playwright-core; skipped with the reason without them).
Checked by hand on frontend 1.58.1 too (--front-end-root): the offer, the Confirm button and the
converted graph are the same; this test runs on whichever frontend the server serves.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.test_web_extension import CHROMIUM, prepare_frontend, run_browser, skip_reason
from tests.official_workflows import official

OFFICIAL_TYPES = {"HyperLoRAConfig", "HyperLoRALoader", "HyperLoRAIDCond", "HyperLoRAFaceAttr",
                  "HyperLoRAGenerateIDLoRA", "HyperLoRAApplyLoRA"}
TIMEOUT_S = 90


def test_official_workflow_is_converted_when_opened(tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    install_pack(tmp_path)
    workflow = official("HyperLoRA-T2I-FaceDetailer")  # built from tests/data (the real file where one is named)
    with running_comfyui(tmp_path, 60) as (url, log_path):
        report = run_browser({"url": url, "chromium": CHROMIUM, "profileDir": str(tmp_path / "profile"),
                              **prepare_frontend(url),
                              "timeoutMs": TIMEOUT_S * 1000, "workflow": workflow},
                             tmp_path, "convert_browser_check.mjs", TIMEOUT_S)
    assert report["failures"] == [], report
    assert "hyperlora.convert_official_workflows" in report["extensions"]
    assert "official ComfyUI-HyperLoRA pack (6 kind(s) of its nodes)" in report["offer"]  # plain words, and
    assert "HyperLoRAIDCond" not in report["offer"]  # no internal type names
    assert report["buttons"] == ["Open without converting", "Convert to HyperLoRA for ComfyUI"]  # what each does
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
    assert_no_problems_of_ours(log_path.read_text())
