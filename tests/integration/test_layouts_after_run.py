"""After a run, as well as before it (test_workflow_layouts.py): no node of a shipped workflow covers another and
our text is not cut off, in either renderer (issue 26: likeness previews once spilled over the next node, the
score text was clipped, and in Nodes 2.0 the face picker grew over Predict).

Each workflow of this release runs end to end on the tiny models (test_example_workflows_run.py's server and
prompt); the page then gets every node's real output as "executed" messages, as it would during the run, and
the layout is measured once the previews have loaded.
"""

from __future__ import annotations

import pytest

from tests.face_fixtures import tiny_clip_dir  # noqa: F401
from tests.integration.conftest import for_this_release
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.test_example_workflows_run import (  # noqa: F401
    WORKFLOWS,
    load_workflow,
    runnable_prompt,
    server,
    tiny_unet,
    wait_for_history,
)
from tests.integration.test_example_workflows_server import post_prompt
from tests.integration.test_web_extension import CHROMIUM, prepare_frontend, run_browser, skip_reason
from tests.integration.test_workflow_layouts import TIMEOUT_S, VIEWPORT, overlaps

_OUTPUTS: dict[str, dict] = {}
ONE_STEP = {"KSampler", "KSamplerAdvanced"}


def outputs_of_a_run(server) -> dict[str, dict]:  # noqa: F811
    """workflow stem -> {node id: ui output} from one run of each of this release's workflows."""
    if not _OUTPUTS:
        base_url, object_info, log_path, _ = server
        outputs = {}
        for path in WORKFLOWS:
            if not for_this_release(path):
                prompt = runnable_prompt(load_workflow(path), object_info)
                for node in prompt.values():  # the layout needs the outputs, not good pictures: one sampler step
                    if node["class_type"] in ONE_STEP:
                        node["inputs"]["steps"] = 1
                status, answer = post_prompt(base_url, prompt)
                assert status == 200, (path.name, answer)
                result = wait_for_history(base_url, answer["prompt_id"], log_path)
                assert result["status"]["status_str"] == "success", (path.name, result["status"])
                outputs[path.stem] = result["outputs"]
        _OUTPUTS.update(outputs)  # all or nothing: a failed run leaves no partial set for the next test
    return _OUTPUTS


@pytest.mark.parametrize("renderer", ["classic", "nodes2"])
def test_no_node_covers_another_and_no_text_is_cut_off_after_a_run(server, renderer, tmp_path):  # noqa: F811
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    outputs = outputs_of_a_run(server)
    base_url, _, log_path, _ = server
    report = run_browser({"url": base_url, "chromium": CHROMIUM, "profileDir": str(tmp_path / "profile"),
                          "timeoutMs": TIMEOUT_S * 1000, "viewport": VIEWPORT, **prepare_frontend(base_url, renderer),
                          "workflows": [{"name": stem, "path": str(path), "outputs": outputs[stem]}
                                        for path in WORKFLOWS if (stem := path.stem) in outputs]},
                         tmp_path, "layout_browser_check.mjs", TIMEOUT_S)
    if report.get("unsupported"):
        pytest.skip(report["unsupported"])
    assert not report["failures"], "\n".join(report["failures"])
    problems = []
    for stem in outputs:
        layout = report["layouts"][stem]
        assert not [n["title"] for n in layout["nodes"] if n["box"] is None], f"{stem}: nodes not on the page"
        problems += [f"{stem}: {text}" for text in overlaps(layout["nodes"])]
        problems += [f"{stem}: {node['title']} ({node['id']}): {name} hides {extra} px of its text"
                     for node in layout["nodes"] for name, extra in node.get("hidden", {}).items() if extra > 2]
    assert not problems, f"{renderer}, frontend {report['steps']['load']['frontendVersion']}:\n" + "\n".join(problems)
    assert_no_problems_of_ours(log_path.read_text())
