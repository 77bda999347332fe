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
    widget_slots,
    workflow_releases,
)

RELEASES = supported_releases()
PACK = load_pack_schemas()
WORKFLOWS = sorted(OUT_DIR.glob("*.json"))
CASES = [(path, release) for path in WORKFLOWS for release in workflow_releases(path)]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_recorded_releases_are_the_tested_ones():
    assert RELEASES == ["0.3.64", "0.14.1", "0.33.0"]
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
    """The reason for a `_comfyui-<series>` file: the workflow for the newest release fails on that series."""
    variants = [path for path in WORKFLOWS if RELEASE_VARIANT.match(path.stem)]
    assert {"hyperlora_refine_with_train_lora_comfyui-0.3", "hyperlora_refine_with_train_lora_comfyui-0.14",
            "hyperlora_several_photos_comfyui-0.3"} <= {path.stem for path in variants}
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


# ---------------------------------------------------------------- the frontend's widget rules, per release


def test_no_shipped_workflow_uses_a_node_its_release_marks_deprecated():
    """ImageBatch is deprecated from 0.14 on (replaced by BatchImagesNode, which 0.3.64 lacks)."""
    assert release_schemas("0.14.1")["ImageBatch"]["deprecated"] and "BatchImagesNode" not in release_schemas("0.3.64")
    for path, release in CASES:
        schemas = release_schemas(release)
        used = {node["type"] for node in load(path)["nodes"]}
        assert not [kind for kind in used if schemas.get(kind, {}).get("deprecated")], (path.name, release)
    workflow = load(OUT_DIR / "hyperlora_several_photos_comfyui-0.3.json")
    assert "ImageBatch" in {node["type"] for node in workflow["nodes"]}
    codes = [p.code for p in validate_workflow(workflow, {**release_schemas("0.14.1"), **PACK})]
    assert codes and set(codes) == {"deprecated_node"}, codes


def test_a_seed_without_its_control_widget_is_a_misaligned_widget():
    """The frontend gives every INT `seed`/`noise_seed` a control_after_generate widget unless the schema says
    otherwise; core Train LoRA's seed does not say, so its saved values carry one after the seed."""
    for release in RELEASES:
        spec = release_schemas(release)["TrainLoraNode"]["input"]["required"]["seed"]
        assert spec[0] == "INT" and "control_after_generate" not in spec[1]
        slots = widget_slots(release_schemas(release)["TrainLoraNode"])
        names = [s.input_name if s.kind == "value" else f"{s.input_name}:{s.kind}" for s in slots]
        assert names[names.index("seed") + 1] == "seed:control", (release, names)
    schema = {"input": {"required": {"seed": ["INT", {"default": 0}], "noise_seed": ["INT", {}],
                                     "steps": ["INT", {}], "other": ["INT", {"control_after_generate": True}],
                                     "fixed_seed": ["INT", {}], "quiet": ["INT", {"control_after_generate": False}],
                                     "pick": [["a", "b"], {"control_after_generate": True}]}}}
    slots = widget_slots(schema)
    assert [s.input_name for s in slots if s.kind == "control"] == ["seed", "noise_seed", "other", "pick"]
    schema = {"input": {"required": {"seed": ["FLOAT", {}], "noise_seed": ["INT", {"control_after_generate": False}]}}}
    assert [s.kind for s in widget_slots(schema)] == ["value", "value"]

    workflow = load(OUT_DIR / "hyperlora_refine_with_train_lora.json")
    train = next(node for node in workflow["nodes"] if node["type"] == "TrainLoraNode")
    schemas = {**release_schemas(RELEASES[-1]), **PACK}
    assert not validate_workflow(workflow, schemas)
    slots = [s for s in widget_slots(schemas["TrainLoraNode"]) if s.kind != "upload"]
    control = [i for i, s in enumerate(slots) if s.kind == "control"]
    assert train["widgets_values"][control[0]] in ("fixed", "randomize", "increment", "decrement")
    del train["widgets_values"][control[0]]  # as 0.14.1's refine workflow was shipped: one value short
    assert "widget_count" in {p.code for p in validate_workflow(workflow, schemas)}


def test_each_widget_value_lands_on_the_widget_it_means():
    """Values by name, as the frontend lays the slots out: the refine workflow's Train LoRA values are the ones
    the description gives, on every release (0.14.1 shipped `algorithm=True` once: one slot off)."""
    expected = {"steps": 100, "learning_rate": 0.0001, "existing_lora": "hyperlora/my_face_0_steps_00001_.safetensors"}
    for path, release in CASES:
        workflow = load(path)
        schemas = {**release_schemas(release), **PACK}
        for node in workflow["nodes"]:
            if node["type"] != "TrainLoraNode":
                continue
            slots = [s for s in widget_slots(schemas["TrainLoraNode"]) if s.kind != "upload"]
            named = {s.input_name: v for s, v in zip(slots, node["widgets_values"]) if s.kind == "value"}
            assert {k: named[k] for k in expected} == expected, (path.name, release)
            spec = schemas["TrainLoraNode"]["input"]["required"]
            for name, value in named.items():  # booleans on booleans, choices from their own list
                if spec[name][0] == "BOOLEAN":
                    assert isinstance(value, bool), (path.name, name, value)
                elif combo_options(spec[name]) and name != "existing_lora":
                    assert value in combo_options(spec[name]), (path.name, name, value)


def test_batch_images_grows_a_socket_per_photo():
    """BatchImagesNode's Autogrow input: sockets images.image0, image1, ... and one free one, as the frontend saves."""
    workflow = load(OUT_DIR / "hyperlora_several_photos.json")
    batch = next(node for node in workflow["nodes"] if node["type"] == "BatchImagesNode")
    assert [(i["name"], i["link"] is not None) for i in batch["inputs"]] == [
        ("images.image0", True), ("images.image1", True), ("images.image2", True), ("images.image3", False)]
    schemas = {**release_schemas(RELEASES[-1]), **PACK}
    assert not validate_workflow(workflow, schemas)
    for slot in batch["inputs"]:
        slot["link"] = None
    assert "required_input_missing" in {p.code for p in validate_workflow(workflow, schemas)}
    batch["inputs"][0]["name"] = "images.photo0"
    assert "unknown_input" in {p.code for p in validate_workflow(workflow, schemas)}
