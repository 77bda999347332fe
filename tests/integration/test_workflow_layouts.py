"""No node of a shipped workflow covers another, in either renderer, as a user first sees it: our loaders
showing their setup messages (no model files installed) and every Load Image showing its photo. And every
widget shows the value the workflow means for it, by name: the frontend lays a node's saved widgets_values
out over its widgets by position (a control_after_generate after every seed), so one value too few or too
many shifts all that follow (0.14.1's refine workflow once opened with Train LoRA's algorithm = True).

Classic canvas: the boxes are node.pos / node.size (what the canvas draws). Nodes 2.0 (frontend 1.58.1 via
COMFYUI_FRONTEND_ROOT; skipped, with the reason, on frontends without it) sizes nodes by their content:
the boxes are the nodes' DOM rectangles. Each workflow is checked on the release it is for. The layout
comes from scripts/build_example_workflows.py, which spaces nodes by the sizes measured here
(scripts/measure_node_sizes.py writes scripts/node_sizes.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.build_example_workflows import OUT_DIR
from tests.integration.conftest import for_this_release, install_pack, running_comfyui
from tests.integration.log_checks import assert_no_problems_of_ours
from tests.integration.test_example_workflows_server import get_json
from tests.integration.test_web_extension import CHROMIUM, prepare_frontend, run_browser, skip_reason
from tests.workflow_validation import widget_slots

TIMEOUT_S = 240
VIEWPORT = {"width": 2400, "height": 1500}
WORKFLOWS = sorted(OUT_DIR.glob("*.json"))
PHOTO_SIZE = (640, 480)


def overlaps(nodes: list[dict], tolerance: float = 1.0) -> list[str]:
    """Every pair of nodes whose boxes overlap by more than `tolerance` canvas units each way."""
    found = []
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            (ax, ay, aw, ah), (bx, by, bw, bh) = a["box"], b["box"]
            dx, dy = min(ax + aw, bx + bw) - max(ax, bx), min(ay + ah, by + bh) - max(ay, by)
            if dx > tolerance and dy > tolerance:
                found.append(f"{a['title']} ({a['id']}) and {b['title']} ({b['id']}) overlap by {dx:.0f} x {dy:.0f}")
    return found


_MEASURED: dict[str, dict] = {}


def measured(server: dict, renderer: str, workdir: Path) -> dict:
    """One browser run per renderer for this release's workflows, shared by the tests of this module."""
    if renderer not in _MEASURED:
        workflows = [path for path in WORKFLOWS if not for_this_release(path)]
        _MEASURED[renderer] = measure_layouts(server["url"], workdir, renderer, workflows)
    return _MEASURED[renderer]


def meant_values(workflow: dict, object_info: dict) -> dict[int, dict]:
    """node id -> {widget name: value} as the workflow means them: its widgets_values over the node's widget
    slots (tests/workflow_validation.widget_slots: the frontend's order, seed controls included)."""
    meant = {}
    for node in workflow["nodes"]:
        if node["type"] not in object_info:
            continue
        slots = widget_slots(object_info[node["type"]])
        values = node.get("widgets_values") or []
        if len(values) != len(slots):
            slots = [slot for slot in slots if slot.kind != "upload"]
        assert len(values) == len(slots), f"node {node['id']} ({node['type']}): {len(values)} values for {len(slots)}"
        meant[node["id"]] = {(slot.input_name if slot.kind == "value" else "control_after_generate"): value
                             for slot, value in zip(slots, values) if slot.kind != "upload"}
    return meant


def same_value(shown, meant) -> bool:
    if isinstance(meant, bool) or isinstance(shown, bool):
        return shown is meant
    if isinstance(meant, (int, float)) and isinstance(shown, (int, float)):
        return abs(shown - meant) <= 1e-9 + 1e-6 * abs(meant)
    return shown == meant


def widget_problems(layout: dict, meant: dict[int, dict]) -> list[str]:
    """Every widget whose shown value is not the one meant, and every meant widget the page lacks."""
    problems = []
    for node in layout["nodes"]:
        shown = {widget["name"]: widget["value"] for widget in node.get("widgets", [])}
        for name, value in meant.get(node["id"], {}).items():
            if name not in shown:
                problems.append(f"{node['title']} ({node['id']}): no widget '{name}' (has {sorted(shown)})")
            elif not same_value(shown[name], value):
                problems.append(f"{node['title']} ({node['id']}): {name} = {shown[name]!r}, meant {value!r}")
    return problems


def measure_layouts(base_url: str, workdir: Path, renderer: str, workflows: list[Path]) -> dict:
    """The browser's report: layouts[workflow stem] = {nodes: [{id, type, title, box}]}."""
    return run_browser({"url": base_url, "chromium": CHROMIUM, "profileDir": str(workdir / f"profile_{renderer}"),
                        "timeoutMs": TIMEOUT_S * 1000, "viewport": VIEWPORT, **prepare_frontend(base_url, renderer),
                        "workflows": [{"name": path.stem, "path": str(path)} for path in workflows]},
                       workdir, "layout_browser_check.mjs", TIMEOUT_S)


def write_photos(base: Path, workflows: list[Path]) -> None:
    """A photo under every name a Load Image asks for, so each shows a preview as it would for a user."""
    from PIL import Image, ImageDraw

    names = {node["widgets_values"][0] for path in workflows for node in json.loads(path.read_text())["nodes"]
             if node["type"] == "LoadImage"}
    (base / "input").mkdir(parents=True, exist_ok=True)
    for name in names:
        image = Image.new("RGB", PHOTO_SIZE, (120, 130, 140))
        ImageDraw.Draw(image).ellipse((220, 120, 420, 360), fill=(220, 180, 150))
        image.save(base / "input" / name, format="PNG")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("layouts")
    install_pack(base)  # no models: the loaders show what is missing
    write_photos(base, WORKFLOWS)
    with running_comfyui(base, 120) as (url, log_path):
        yield {"url": url, "base": base, "log_path": log_path}


def test_the_widget_check_finds_a_shifted_value():
    object_info = {"K": {"input": {"required": {"seed": ["INT", {}], "steps": ["INT", {}], "on": ["BOOLEAN", {}]}}}}
    workflow = {"nodes": [{"id": 1, "type": "K", "widgets_values": [42, "fixed", 30, True]}]}
    meant = meant_values(workflow, object_info)
    assert meant == {1: {"seed": 42, "control_after_generate": "fixed", "steps": 30, "on": True}}
    right = {"nodes": [{"id": 1, "title": "K", "widgets": [
        {"name": "seed", "value": 42}, {"name": "control_after_generate", "value": "fixed"},
        {"name": "steps", "value": 30}, {"name": "on", "value": True}]}]}
    assert widget_problems(right, meant) == []
    shifted = {"nodes": [{"id": 1, "title": "K", "widgets": [  # a frontend that took "fixed" for steps
        {"name": "seed", "value": 42}, {"name": "steps", "value": "fixed"}, {"name": "on", "value": 30}]}]}
    assert widget_problems(shifted, meant) == [
        "K (1): no widget 'control_after_generate' (has ['on', 'seed', 'steps'])",
        "K (1): steps = 'fixed', meant 30", "K (1): on = 30, meant True"]
    assert not same_value(1, True) and same_value(0.1 + 0.2, 0.3)


@pytest.mark.parametrize("renderer", ["classic", "nodes2"])
def test_every_widget_shows_the_value_the_workflow_means(server, renderer, tmp_path_factory):
    report = measured(server, renderer, tmp_path_factory.mktemp(renderer))
    if report.get("unsupported"):
        pytest.skip(report["unsupported"])
    assert not report["failures"], "\n".join(report["failures"])
    object_info = get_json(f"{server['url']}/object_info")
    problems = []
    for path in [path for path in WORKFLOWS if not for_this_release(path)]:
        meant = meant_values(json.loads(path.read_text(encoding="utf-8")), object_info)
        problems += [f"{path.name}: {text}" for text in widget_problems(report["layouts"][path.stem], meant)]
    assert not problems, f"{renderer}, frontend {report['steps']['load']['frontendVersion']}:\n" + "\n".join(problems)


def test_overlap_check_finds_covered_nodes():
    nodes = [{"id": 1, "title": "a", "box": [0, 0, 100, 100]}, {"id": 2, "title": "b", "box": [99.5, 0, 50, 50]},
             {"id": 3, "title": "c", "box": [50, 90, 100, 100]}]
    assert overlaps(nodes) == ["a (1) and c (3) overlap by 50 x 10"]


@pytest.mark.parametrize("renderer", ["classic", "nodes2"])
def test_no_node_covers_another(server, renderer, tmp_path_factory):
    workflows = [path for path in WORKFLOWS if not for_this_release(path)]
    report = measured(server, renderer, tmp_path_factory.mktemp(renderer))
    if report.get("unsupported"):
        pytest.skip(report["unsupported"])
    assert not report["failures"], "\n".join(report["failures"])
    problems = []
    for path in workflows:
        layout = report["layouts"][path.stem]
        unmeasured = [node["title"] for node in layout["nodes"] if node["box"] is None]
        assert not unmeasured, f"{path.name}: nodes not on the page: {unmeasured}"
        assert not layout["pending"], f"{path.name}: images or setup status never settled"
        problems += [f"{path.name}: {text}" for text in overlaps(layout["nodes"])]
    assert not problems, f"{renderer}, frontend {report['steps']['load']['frontendVersion']}:\n" + "\n".join(problems)
    assert_no_problems_of_ours(server["log_path"].read_text())
