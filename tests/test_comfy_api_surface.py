"""Everything the node modules use of comfy_api.latest exists in every supported release.

No V3 API version is pinned in both releases (comfy_api/v0_0_2 re-exports latest in 0.3.64 and 0.14.1), so
the nodes use comfy_api.latest. What each release offers is recorded in tests/data/comfy_api/ by
scripts/record_comfy_api.py (run with that release's Python); what the nodes use is read from their source.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from scripts.record_comfy_api import surface
from tests.comfy_api_standin import make_comfy_api

ROOT = Path(__file__).resolve().parents[1]
RELEASES = sorted((ROOT / "tests" / "data" / "comfy_api").glob("comfyui-*.json"))
NODE_BASES = {"io.ComfyNode"}


def optional_schema_fields() -> tuple[str, ...]:
    """nodes/v3.py's OPTIONAL_SCHEMA_FIELDS (read from the source: importing the nodes needs comfy_api)."""
    tree = ast.parse((ROOT / "nodes" / "v3.py").read_text())
    (value,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                and [dotted(t) for t in node.targets] == ["OPTIONAL_SCHEMA_FIELDS"]]
    return ast.literal_eval(value)


def dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def used_api() -> dict[str, set]:
    """{"types": {"Combo.Input:options", ...}, "schema_fields", "node_output", "hidden", "comfy_node",
    "extension"}: what nodes/*.py use of comfy_api.latest, from their source."""
    trees = {path.name: ast.parse(path.read_text()) for path in sorted((ROOT / "nodes").glob("*.py"))}
    customs = {target.id for node in ast.walk(trees["v3.py"]) if isinstance(node, ast.Assign)
               and dotted(getattr(node.value, "func", None)) == "io.Custom" for target in node.targets}
    used: dict[str, set] = {key: set() for key in ("types", "schema_fields", "node_output", "hidden", "comfy_node",
                                                    "extension")}

    def kind_of(expression) -> str:
        name = dotted(expression)
        return "Custom" if name in customs else name.removeprefix("io.")

    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = dotted(node.func)
                keywords = {k.arg for k in node.keywords if k.arg}
                head, _, side = name.rpartition(".")
                if side in ("Input", "Output") and (head.startswith("io.") or head in customs):
                    used["types"] |= {f"{kind_of(node.func.value)}.{side}:{k}" for k in keywords}
                    used["types"].add(f"{kind_of(node.func.value)}.{side}:" + ("id" if node.args else ""))
                elif name == "output":  # v3.output(kind, name, tooltip, **options): kind.Output(display_name, tooltip)
                    used["types"] |= {f"{kind_of(node.args[0])}.Output:{k}"
                                      for k in keywords | {"display_name", "tooltip"}}
                elif name in ("schema", "io.Schema"):
                    used["schema_fields"] |= keywords | {"node_id"}
                elif name == "io.NodeOutput":
                    used["node_output"] |= keywords
            elif isinstance(node, ast.Attribute) and dotted(node.value) in ("io.Hidden", "cls.hidden"):
                used["hidden"].add(node.attr)
            elif isinstance(node, ast.ClassDef):
                bases = {dotted(base) for base in node.bases}
                methods = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
                if bases & NODE_BASES:
                    used["comfy_node"] |= methods
                if "ComfyExtension" in bases:
                    used["extension"] |= methods
    used["schema_fields"].add("search_aliases")  # v3.schema() fills it in for every node
    used["types"] = {entry.rstrip(":") for entry in used["types"] if not entry.endswith(":")}
    return used


def offered(recorded: dict) -> dict[str, set]:
    return {"types": {f"{kind}:{param}" for kind, params in recorded["types"].items() for param in params},
            "schema_fields": set(recorded["schema_fields"]), "node_output": set(recorded["node_output"]),
            "hidden": set(recorded["hidden"]), "comfy_node": set(recorded["comfy_node"]),
            "extension": set(recorded["extension"])}


def test_the_source_scan_sees_what_the_nodes_use():
    used = used_api()
    assert {"Combo.Input:options", "Combo.Input:default", "Float.Input:step", "Custom.Input:tooltip",
            "Custom.Input:optional", "Float.Output:is_output_list", "Model.Output:display_name", "Hooks.Input:id",
            "String.Input:multiline", "Mask.Input:optional"} <= used["types"]
    assert {"node_id", "display_name", "category", "description", "inputs", "outputs", "is_output_node", "hidden",
            "search_aliases"} <= used["schema_fields"]
    assert used["node_output"] == {"ui"} and used["hidden"] == {"unique_id"}
    assert used["comfy_node"] == {"define_schema", "execute", "validate_inputs", "fingerprint_inputs"}
    assert used["extension"] == {"get_node_list"}


def test_the_supported_releases_are_recorded():
    assert [path.name for path in RELEASES] == ["comfyui-0.14.1.json", "comfyui-0.3.64.json", "comfyui-0.33.0.json"]


@pytest.mark.parametrize("release", RELEASES, ids=lambda path: path.stem)
def test_every_release_has_what_the_nodes_use(release):
    has = offered(json.loads(release.read_text()))
    for key, names in used_api().items():
        missing = names - has[key]
        if key == "schema_fields":  # left out by v3.schema() where the release lacks them
            missing -= set(optional_schema_fields())
        assert not missing, f"{release.stem} lacks {key}: {sorted(missing)}"


def test_optional_schema_fields_are_really_missing_somewhere_and_present_elsewhere():
    fields = [set(json.loads(path.read_text())["schema_fields"]) for path in RELEASES]
    assert optional_schema_fields() == ("search_aliases", "essentials_category")
    for name in optional_schema_fields():
        assert any(name in f for f in fields) and not all(name in f for f in fields), name


def test_the_stand_in_offers_nothing_the_releases_lack():
    """tests/comfy_api_standin.py must not let a unit test pass with an argument no release accepts."""
    stand_in = offered(surface(make_comfy_api()["comfy_api.latest"]))
    for release in RELEASES:
        has = offered(json.loads(release.read_text()))
        for key in ("types", "schema_fields", "node_output", "hidden", "extension"):
            extra = stand_in[key] - has[key]
            if key == "schema_fields" and release.stem == "comfyui-0.3.64":
                extra -= {"search_aliases"}  # the stand-in's 0.3.64 mode (make_comfy_api(search_aliases=False))
            assert not extra, f"{release.stem} lacks the stand-in's {key}: {sorted(extra)}"
