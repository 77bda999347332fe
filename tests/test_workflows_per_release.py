"""Every shipped workflow loads on every ComfyUI release it is for, checked against that release's
recorded /object_info (tests/data/object_info, scripts/record_object_info.py): a core node renamed or
changed by a release shows up here, without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.build_example_workflows import OUT_DIR
from tests.workflow_validation import (
    RELEASE_VARIANT,
    combo_options,
    load_pack_schemas,
    release_schemas,
    supported_releases,
    validate_workflow,
    workflow_releases,
)

RELEASES = supported_releases()
PACK = load_pack_schemas()
WORKFLOWS = sorted(OUT_DIR.glob("*.json"))
CASES = [(path, release) for path in WORKFLOWS for release in workflow_releases(path)]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_recorded_releases_are_the_tested_ones():
    assert RELEASES == ["0.3.64", "0.14.1"]
    for release in RELEASES:
        schemas = release_schemas(release)
        assert {"KSampler", "CheckpointLoaderSimple", "LoadImage"} <= set(schemas), release
        assert not any(kind.startswith("HyperLoRA") for kind in schemas), f"{release}: core nodes only"


@pytest.mark.parametrize("path, release", CASES, ids=[f"{path.stem}@{release}" for path, release in CASES])
def test_workflow_loads_on_its_release(path, release):
    problems = validate_workflow(load(path), {**release_schemas(release), **PACK})
    assert not problems, f"{path.name} on ComfyUI {release}:\n" + "\n".join(map(str, problems))


def test_every_workflow_is_shipped_for_every_release():
    """A workflow and its `_comfyui-<series>` variants together cover each supported release exactly once."""
    plain = [path for path in WORKFLOWS if not RELEASE_VARIANT.match(path.stem)]
    for path in plain:
        family = [path] + [other for other in WORKFLOWS if (m := RELEASE_VARIANT.match(other.stem))
                           and m.group("name") == path.stem]
        covered = [release for member in family for release in workflow_releases(member)]
        assert sorted(covered) == sorted(RELEASES), f"{path.name}: {covered}"
    orphans = [p.name for p in WORKFLOWS if (m := RELEASE_VARIANT.match(p.stem)) and not (OUT_DIR / f"{m['name']}.json").is_file()]
    assert not orphans, f"variants without their plain workflow: {orphans}"


def test_a_variant_exists_only_where_the_plain_workflow_does_not_load():
    """The reason for a `_comfyui-0.3` file: the workflow for the newest release fails on 0.3.x."""
    variants = [path for path in WORKFLOWS if RELEASE_VARIANT.match(path.stem)]
    assert variants, "the Train LoRA refine workflow needs a variant for ComfyUI 0.3"
    for variant in variants:
        plain = OUT_DIR / f"{RELEASE_VARIANT.match(variant.stem)['name']}.json"
        for release in workflow_releases(variant):
            assert validate_workflow(load(plain), {**release_schemas(release), **PACK}), (plain.name, release)


def test_a_renamed_core_node_is_caught():
    schemas = {**release_schemas(RELEASES[-1]), **PACK}
    workflow = load(OUT_DIR / "hyperlora_one_photo.json")
    schemas["CheckpointLoader_renamed"] = schemas.pop("CheckpointLoaderSimple")
    assert [p.code for p in validate_workflow(workflow, schemas)] == ["unknown_node_type"]


def test_lists_are_read_in_both_object_info_formats():
    old, new = release_schemas("0.3.64"), release_schemas("0.14.1")
    old_spec = old["TrainLoraNode"]["input"]["required"]["optimizer"]
    new_spec = new["TrainLoraNode"]["input"]["required"]["optimizer"]
    assert isinstance(old_spec[0], list) and new_spec[0] == "COMBO"  # the two formats, as recorded
    assert combo_options(old_spec) == combo_options(new_spec) == ["AdamW", "Adam", "SGD", "RMSprop"]


def test_readme_and_pyproject_state_the_tested_releases():
    import tomllib

    from tests.workflow_validation import REPO_ROOT

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["comfy"]["requires-comfyui"] == f">={RELEASES[0]}"
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    supported = readme.split("**Supported ComfyUI releases, as tested**", 1)[1].split("\n\n", 1)[0]
    assert all(f"**{release}**" in supported for release in RELEASES), supported
    matrix = readme.split("**The version matrix.**", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    assert {row.split("|")[1].strip() for row in matrix.splitlines()[2:]} == set(RELEASES), matrix
