"""Native reroutes survive the workflow upgrade in the real frontend (issue 25, defect 6).

An earlier-version workflow with native reroutes (on the model link the upgrade rewires, on a conditioning
link it keeps, and one chained to another) is upgraded by the converter, then opened in the frontend the
server serves: the release's own, or 1.58.1 with COMFYUI_FRONTEND_ROOT. The frontend must hold every
reroute, each carrying the link into the same input as before, and each link pointing at its reroute.
Same set-up as test_web_extension.py (Chromium, playwright-core; skipped with the reason without them).
"""

from __future__ import annotations

import json

import pytest

from hyperlora_core.workflows.convert import convert_workflow
from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.test_web_extension import CHROMIUM, prepare_frontend, run_browser, skip_reason
from tests.test_example_workflows import load
from tests.test_workflow_upgrade import as_saved_before, with_native_reroutes

TIMEOUT_S = 90


@pytest.mark.parametrize("schema", [0.4, 1])
def test_the_frontend_opens_an_upgraded_workflow_with_its_reroutes(tmp_path, schema):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    old, carried = with_native_reroutes(as_saved_before(load("hyperlora_two_people")), schema)
    upgraded = convert_workflow(json.loads(json.dumps(old))).workflow
    install_pack(tmp_path)
    with running_comfyui(tmp_path, 60) as (url, log_path):
        report = run_browser({"url": url, "chromium": CHROMIUM, "profileDir": str(tmp_path / "profile"),
                              **prepare_frontend(url), "timeoutMs": TIMEOUT_S * 1000, "workflow": upgraded},
                             tmp_path, "reroute_browser_check.mjs", TIMEOUT_S)
    assert report["failures"] == [] and report["loading"] == "loaded", report
    graph = report["steps"]["graph"]
    for link in graph["links"]:  # some frontends keep a link's node ids as text
        link.update(origin_id=int(link["origin_id"]), target_id=int(link["target_id"]))
    links = {link["id"]: link for link in graph["links"]}
    inputs = {int(node["id"]): node["inputs"] for node in graph["nodes"]}
    reroutes = {r["id"]: r for r in graph["reroutes"]}
    assert set(reroutes) == set(carried), (report["facts"], graph["reroutes"])
    for reroute_id, (target, name) in carried.items():
        (link_id,) = reroutes[reroute_id]["linkIds"]
        link = links[link_id]
        assert (link["target_id"], inputs[link["target_id"]][link["target_slot"]]) == (target, name), reroute_id
    chained = max(carried)
    assert reroutes[chained]["parentId"] == 1
    for reroute_id in carried:  # each link names the reroute nearest its target
        expected = chained if reroute_id in (1, chained) else reroute_id
        assert links[reroutes[reroute_id]["linkIds"][0]]["parentId"] == expected
    assert report["steps"]["saved"]["reroutes"], report["steps"]["saved"]  # and saves them again
    assert_no_problems_of_ours(log_path.read_text())
