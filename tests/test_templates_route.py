"""The template browser's list of our workflows, per release: tested against the shipped files and the rule
tests/workflow_validation.workflow_releases states independently (which files are for which release)."""

from __future__ import annotations

import json

import pytest

from scripts.build_example_workflows import OUT_DIR
from tests.comfy_standin import PACK_ROOT
from tests.workflow_validation import supported_releases, workflow_releases

NAMES = sorted(path.stem for path in OUT_DIR.glob("*.json"))


def load_templates_route():
    """nodes/templates_route.py on its own (it needs nothing of ComfyUI until it registers its middleware); the
    integration tests hold the server's answer to the same module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("templates_route_under_test", PACK_ROOT / "nodes" / "templates_route.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def route():
    return load_templates_route()


@pytest.mark.parametrize("release", supported_releases())
def test_each_release_lists_exactly_its_workflows_quick_start_first(route, release):
    shown = route.listed(list(reversed(NAMES)), release)  # core's order is the disk's: any order
    expected = [path.stem for path in sorted(OUT_DIR.glob("*.json")) if workflow_releases(path, [release])]
    assert sorted(shown) == expected
    assert shown[0] == "hyperlora_one_photo"  # the quick start first, the rest as TITLES orders them
    assert [route.family(name) for name in shown] == [name for name in route.TITLES if name in map(route.family, shown)]


def test_every_shipped_workflow_has_its_own_title_that_a_file_name_and_a_url_take(route):
    families = {route.family(name) for name in NAMES}
    assert families == set(route.TITLES), "a shipped workflow without a title (or a title without a workflow)"
    titles = list(route.TITLES.values())
    assert len(set(titles)) == len(titles)
    for title in titles:  # saved under this name by the frontend; fetched as /api/workflow_templates/<pack>/<title>.json
        assert route.TITLE_CHARACTERS.match(title) and len(title) <= 60, title
        assert title.startswith("HyperLoRA ") and "hyperlora_" not in title


@pytest.mark.parametrize("release", supported_releases())
def test_each_listed_title_leads_to_the_file_of_that_release(route, release):
    for shown in route.titled(NAMES, release):
        name = route.file_behind(shown, NAMES, release)
        assert name in NAMES and workflow_releases(OUT_DIR / f"{name}.json", [release]), (shown, name)
        assert route.title(name) == shown
    assert route.file_behind("hyperlora_one_photo", NAMES, release) is None  # a file's own name: core serves it
    assert route.file_behind("../README", NAMES, release) is None


def test_the_0_3_refine_variant_is_offered_on_0_3_only(route):
    refine = "hyperlora_refine_with_train_lora"
    assert [n for n in route.listed(NAMES, "0.3.64") if n.startswith(refine)] == [f"{refine}_comfyui-0.3"]
    assert [n for n in route.listed(NAMES, "0.14.1") if n.startswith(refine)] == [f"{refine}_comfyui-0.14"]
    assert [n for n in route.listed(NAMES, "0.33.0") if n.startswith(refine)] == [refine]
    assert [n for n in route.listed(NAMES, "0.48.0") if n.startswith(refine)] == [refine]  # a newer series
    assert [n for n in route.listed(NAMES, None) if n.startswith(refine)] == [refine]


def test_only_our_entry_of_cores_answer_is_rewritten(route):
    body = json.dumps({"other_pack": ["z", "a_comfyui-0.3"], route.PACK_FOLDER: ["b", "hyperlora_one_photo",
                                                                                  "b_comfyui-0.3"]}).encode()
    answer = json.loads(route.rewritten(body, "0.3.64"))
    assert answer == {"other_pack": ["z", "a_comfyui-0.3"],
                      route.PACK_FOLDER: [route.TITLES["hyperlora_one_photo"], "b_comfyui-0.3"]}
    assert route.rewritten(json.dumps({"other_pack": ["z"]}).encode(), "0.3.64") is None
