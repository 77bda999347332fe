"""A real ComfyUI server converts the official pack's workflows, and the result fits its own /object_info."""

from __future__ import annotations

import json
import urllib.request

from tests.integration.conftest import install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.official_workflows import official_workflows
from tests.workflow_validation import validate_workflow

START_TIMEOUT_S = 180


def post_json(url: str, body: dict):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_official_workflows_convert_on_the_server(tmp_path):
    install_pack(tmp_path)
    workflows = official_workflows()  # the five built ones, and the real files when HYPERLORA_OFFICIAL_WORKFLOWS
    with running_comfyui(tmp_path, START_TIMEOUT_S) as (base_url, log_path):
        with urllib.request.urlopen(f"{base_url}/object_info", timeout=30) as response:
            schemas = json.loads(response.read())
        answers = {name: post_json(f"{base_url}/hyperlora/convert_workflow", {"workflow": workflow})
                   for name, workflow in workflows.items()}
    for name, answer in answers.items():
        others = {entry["node"]: entry for entry in answer["report"]["third_party"]}
        # the server's own node list: core nodes are never reported missing, other packs' nodes are
        assert all(entry["pack"] != "not installed on this server" for entry in others.values()), name
        problems = validate_workflow(answer["workflow"], schemas)
        assert [p for p in problems if not (p.code == "unknown_node_type" and p.node in others)] == [], name
    assert_no_problems_of_ours(log_path.read_text())
