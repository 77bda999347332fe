"""Validate ComfyUI UI-format workflows (what the frontend saves) against node schemas.

An example workflow that does not load, or loads with red nodes, is the first thing a user
sees of a pack. This checks what breaks one: unknown node types, nodes the release marks
deprecated, links between sockets of different types, required inputs left open, widget values
that do not line up with the node's widgets (as the frontend lays them out: a
control_after_generate after every seed), combo values that do not exist and numbers outside
their range.

Schemas have the shape of ComfyUI's /object_info answer: core nodes come from the answer of each
supported release, recorded under tests/data/object_info/ (scripts/record_object_info.py), ours are
built from NODE_CLASS_MAPPINGS. Both list formats are read: `[[...], {...}]` and, from V3 nodes,
`["COMBO", {"options": [...]}]`.

A shipped workflow is for every supported release, unless a variant `<name>_comfyui-<major.minor>.json`
exists: then the variant is for the releases of that series and the plain file for the others.

Usage: python tests/workflow_validation.py [--release 0.14.1] example_workflows/*.json
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OBJECT_INFO_DIR = REPO_ROOT / "tests" / "data" / "object_info"
OBJECT_INFO_FILE = re.compile(r"^comfyui-(\d+\.\d+\.\d+)\.json$")
# A workflow for one release series only: <name>_comfyui-0.3.json
RELEASE_VARIANT = re.compile(r"^(?P<name>.+)_comfyui-(?P<series>\d+\.\d+)$")

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
UPLOAD_OPTIONS = ("image_upload", "video_upload", "audio_upload", "file_upload")
# The frontend's legacy rule (every release's bundle, 1.27 to 1.58: `control_after_generate ?? ["seed",
# "noise_seed"].includes(name)` for INT widgets): these INT inputs get a control widget unless the schema
# says control_after_generate false.
SEED_NAMES = ("seed", "noise_seed")
# V3 inputs that grow a socket per connection (BatchImagesNode's images): sockets "<name>.<prefix><i>"
AUTOGROW = "COMFY_AUTOGROW_V3"
# Options that look like file names: such lists depend on the user's disk, so any string is accepted.
FILE_NAME = re.compile(r"\.[A-Za-z0-9]{2,12}$")
INACTIVE_MODES = {2, 4}  # muted, bypassed
NOTE_TYPES = {"Note", "MarkdownNote"}
# Frontend-only nodes whose sockets take the type of what they are connected to.
PASS_THROUGH_TYPES = {"Reroute", "PrimitiveNode"}
LINK_FIELDS = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")


@dataclass(frozen=True)
class Problem:
    node: int | str | None  # node id, or None for workflow-level problems
    code: str  # unknown_node_type, bad_link, link_type_mismatch, required_input_missing, unknown_input,
    #            widget_count, bad_value, combo_value, out_of_range, control_value, deprecated_node
    message: str

    def __str__(self) -> str:
        return self.message if self.node is None else f"node {self.node}: {self.message}"


@dataclass(frozen=True)
class WidgetSlot:
    input_name: str
    spec: list
    kind: str  # "value" | "control" (control_after_generate) | "upload" (saved by older frontends only)


# ---------------------------------------------------------------- schemas


def _version(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split("."))


def supported_releases(folder: Path = OBJECT_INFO_DIR) -> list[str]:
    """The ComfyUI releases whose /object_info is recorded, oldest first."""
    found = [m.group(1) for path in folder.glob("*.json") if (m := OBJECT_INFO_FILE.match(path.name))]
    return sorted(found, key=_version)


def object_info_path(release: str) -> Path:
    return OBJECT_INFO_DIR / f"comfyui-{release}.json"


# The oldest supported release: the default schemas (what the workflow converter targets).
CORE_OBJECT_INFO = object_info_path(supported_releases()[0])


def load_core_schemas(path: Path = CORE_OBJECT_INFO) -> dict:
    """Stock ComfyUI's /object_info (core nodes only), as recorded from a running server."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def release_schemas(release: str) -> dict:
    """The core nodes of one supported release."""
    return load_core_schemas(object_info_path(release))


def releases_of(name: str, names: list[str], releases: list[str] | None = None) -> list[str]:
    """The supported releases the workflow `name` is for, among the shipped `names` (no extension)."""
    releases = supported_releases() if releases is None else releases
    variant = RELEASE_VARIANT.match(name)
    if variant:
        return [r for r in releases if r.startswith(variant.group("series") + ".")]
    series = {m.group("series") for other in names if (m := RELEASE_VARIANT.match(other)) and m.group("name") == name}
    return [r for r in releases if not any(r.startswith(s + ".") for s in series)]


def workflow_releases(path: Path, releases: list[str] | None = None) -> list[str]:
    """The supported releases a shipped workflow file is for, by the files beside it."""
    return releases_of(path.stem, [other.stem for other in path.parent.glob("*.json")], releases)


def schemas_from_node_classes(mappings: dict[str, type]) -> dict:
    """Our nodes in the /object_info shape, as ComfyUI's server builds it from the classes."""
    schemas = {}
    for name, cls in mappings.items():
        inputs = cls.INPUT_TYPES()
        input_json = {section: {key: _spec_json(spec) for key, spec in inputs.get(section, {}).items()}
                      for section in ("required", "optional", "hidden") if section in inputs}
        outputs = [list(t) if isinstance(t, (list, tuple)) else t for t in cls.RETURN_TYPES]
        schemas[name] = {
            "input": input_json,
            "input_order": {section: list(values) for section, values in input_json.items()},
            "output": outputs,
            "output_name": list(getattr(cls, "RETURN_NAMES", None) or outputs),
            "name": name,
            "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
        }
    return schemas


def load_pack_schemas(root: Path = REPO_ROOT) -> dict:
    """Import the pack like ComfyUI does (stand-in folder_paths and comfy_api if ComfyUI is absent) and
    describe its nodes.

    Without ComfyUI, every model-file list is empty, which the validator treats as a free string.
    """
    stand_in = "folder_paths" not in sys.modules and importlib.util.find_spec("folder_paths") is None
    if stand_in:
        sys.modules["folder_paths"] = _stand_in_folder_paths()
    api_stand_in = {}
    if "comfy_api" not in sys.modules and importlib.util.find_spec("comfy_api") is None:
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        from tests.comfy_api_standin import make_comfy_api

        api_stand_in = make_comfy_api()
        sys.modules.update(api_stand_in)
    try:
        spec = importlib.util.spec_from_file_location(
            "hyperlora_pack_under_test", root / "__init__.py", submodule_search_locations=[str(root)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return schemas_from_node_classes(node_classes(module))
    finally:
        if stand_in:
            del sys.modules["folder_paths"]
        for name in api_stand_in:
            del sys.modules[name]


def node_classes(pack) -> dict[str, type]:
    """The pack's nodes by id, as ComfyUI registers them from comfy_entrypoint()."""
    async def listed():
        return await (await pack.comfy_entrypoint()).get_node_list()

    return {node.GET_SCHEMA().node_id: node for node in asyncio.run(listed())}


def _stand_in_folder_paths() -> types.ModuleType:
    module = types.ModuleType("folder_paths")
    module.models_dir = str(Path(tempfile.gettempdir()) / "no-comfyui-models")
    module.folder_names_and_paths = {}
    module.supported_pt_extensions = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"}

    def add_model_folder_path(name, path, is_default=False):
        module.folder_names_and_paths.setdefault(name, ([], set()))[0].append(path)

    module.add_model_folder_path = add_model_folder_path
    module.get_folder_paths = lambda name: list(module.folder_names_and_paths.get(name, ([], set()))[0])
    module.get_filename_list = lambda name: []
    module.get_full_path = lambda name, filename: None
    for directory in ("input", "output", "temp"):
        setattr(module, f"get_{directory}_directory", lambda: tempfile.gettempdir())
    return module


def _spec_json(spec) -> list:
    spec = list(spec)
    if isinstance(spec[0], (list, tuple)):
        spec[0] = list(spec[0])
    return spec


# ---------------------------------------------------------------- widget layout


def _options(spec) -> dict:
    return spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}


def _is_widget(spec) -> bool:
    if _options(spec).get("forceInput"):
        return False
    return isinstance(spec[0], list) or spec[0] in WIDGET_TYPES


def _socket_type(spec) -> str:
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def widget_slots(schema: dict) -> list[WidgetSlot]:
    """The widget values the frontend saves for a node, in order."""
    slots = []
    order = schema.get("input_order", {})
    for section in ("required", "optional"):
        specs = schema["input"].get(section, {})
        for name in order.get(section) or list(specs):
            spec = specs[name]
            if not _is_widget(spec):
                continue
            slots.append(WidgetSlot(name, spec, "value"))
            if has_control_widget(name, spec):
                slots.append(WidgetSlot(name, spec, "control"))
            if any(_options(spec).get(key) for key in UPLOAD_OPTIONS):
                slots.append(WidgetSlot(name, spec, "upload"))
    return slots


def has_control_widget(name: str, spec) -> bool:
    """Whether the frontend adds a control_after_generate widget after this widget (see SEED_NAMES)."""
    control = _options(spec).get("control_after_generate")
    if _socket_type(spec) == "INT" and control is None:
        return name in SEED_NAMES
    return bool(control)


def autogrow_sockets(name: str, spec) -> list[tuple[str, str]] | None:
    """(socket name, type) of every socket an Autogrow input may grow, or None for another input."""
    if spec[0] != AUTOGROW:
        return None
    template = _options(spec).get("template", {})
    inner = {**template.get("input", {}).get("required", {}), **template.get("input", {}).get("optional", {})}
    kind = next(iter(inner.values()))[0] if inner else "*"
    names = template.get("names") or [f"{template.get('prefix', '')}{i}" for i in range(template.get("max", 100))]
    return [(f"{name}.{item}", kind) for item in names]


def input_specs(schema: dict) -> dict:
    """Every input name a node's saved sockets may carry -> its spec (Autogrow sockets by their own names)."""
    specs = {}
    for section in ("required", "optional"):
        for name, spec in schema["input"].get(section, {}).items():
            grown = autogrow_sockets(name, spec)
            specs.update({socket: [kind, {}] for socket, kind in grown} if grown else {name: spec})
    return specs


def combo_options(spec) -> list:
    """The choices of a list input in either /object_info format: `[[...], {...}]` or
    `["COMBO", {"options": [...]}]` (V3 nodes)."""
    return list(spec[0]) if isinstance(spec[0], (list, tuple)) else list(_options(spec).get("options", []))



def _is_file_list(spec) -> bool:
    options = combo_options(spec)
    flags = _options(spec)
    return (not options or any(flags.get(key) for key in (*UPLOAD_OPTIONS, "remote"))
            or any(isinstance(o, str) and FILE_NAME.search(o) for o in options)
            or options == ["[None]"])  # a file list holding only its "none" choice (Train LoRA's existing_lora)


# ---------------------------------------------------------------- validation


def validate_workflow(workflow: dict, schemas: dict) -> list[Problem]:
    """Every problem found in a UI-format workflow; an empty list means it is valid."""
    problems: list[Problem] = []
    nodes = {}
    for node in workflow.get("nodes", []):
        if node.get("id") in nodes:
            problems.append(Problem(node.get("id"), "duplicate_id", f"id {node.get('id')} is used twice"))
        nodes[node.get("id")] = node
    links = _links(workflow, problems)
    subgraphs = {g.get("id") for g in workflow.get("definitions", {}).get("subgraphs", [])}

    for node_id, node in nodes.items():
        kind = node.get("type")
        if kind in NOTE_TYPES or kind in PASS_THROUGH_TYPES:
            continue
        if kind not in schemas:
            why = ("is a subgraph; this validator does not support subgraphs" if kind in subgraphs
                   else "is not a core node nor one of this pack's nodes")
            problems.append(Problem(node_id, "unknown_node_type", f"node type '{kind}' {why}"))
            continue
        if schemas[kind].get("deprecated"):
            problems.append(Problem(node_id, "deprecated_node", f"node type '{kind}' is marked deprecated by this "
                                                                "release (the frontend shows it as DEPRECATED)"))
        problems += _check_inputs(node_id, node, schemas[kind], links)
        problems += _check_widgets(node_id, node, schemas[kind])

    for link in links.values():
        problems += _check_link(link, nodes, schemas)
    return problems


def _links(workflow: dict, problems: list[Problem]) -> dict:
    """Links by id as dicts; accepts the array form (schema 0.4) and the object form (schema 1)."""
    result = {}
    for raw in workflow.get("links", []):
        if isinstance(raw, dict):
            link = {k: raw.get(k) for k in LINK_FIELDS}
        elif isinstance(raw, list) and len(raw) >= 6:
            link = dict(zip(LINK_FIELDS, raw))
        else:
            message = f"link {raw!r} is not [id, from, slot, to, slot, type]"
            problems.append(Problem(None, "bad_link", message))
            continue
        result[link["id"]] = link
    return result


def _check_inputs(node_id, node: dict, schema: dict, links: dict) -> list[Problem]:
    problems = []
    specs = input_specs(schema)
    connected = set()
    for slot in node.get("inputs") or []:
        name = slot.get("name")
        if name not in specs:
            problems.append(Problem(node_id, "unknown_input", f"{node['type']} has no input '{name}'"))
        elif slot.get("link") is not None:
            if slot["link"] in links:
                connected.add(name)
            else:
                problems.append(Problem(node_id, "bad_link", f"input '{name}' uses link {slot['link']}, "
                                                             "which is not in the workflow's link list"))
    if node.get("mode", 0) in INACTIVE_MODES:
        return problems
    for name, spec in schema["input"].get("required", {}).items():
        grown = autogrow_sockets(name, spec)
        if grown:
            needed = _options(spec).get("template", {}).get("min", 1)
            if len(connected & {socket for socket, _ in grown}) < needed:
                problems.append(Problem(node_id, "required_input_missing",
                                        f"{node['type']} input '{name}' needs {needed} connection(s)"))
        elif not _is_widget(spec) and name not in connected:
            problems.append(Problem(node_id, "required_input_missing",
                                    f"{node['type']} input '{name}' ({_socket_type(spec)}) is not connected"))
    return problems


def _check_widgets(node_id, node: dict, schema: dict) -> list[Problem]:
    values = node.get("widgets_values") or []
    if isinstance(values, dict):  # some frontends save named values; only lists are positional
        return []
    slots = widget_slots(schema)
    required = [s for s in slots if s.kind != "upload"]
    if len(values) == len(required):
        slots = required
    elif len(values) != len(slots):
        names = ", ".join(s.input_name if s.kind == "value" else f"{s.input_name}:{s.kind}" for s in required)
        return [Problem(node_id, "widget_count", f"{node['type']} has {len(values)} widget values, "
                                                 f"expected {len(required)} ({names})")]
    problems = []
    for slot, value in zip(slots, values):
        message = _value_problem(slot, value)
        if message:
            code, text = message
            problems.append(Problem(node_id, code, f"{node['type']} widget '{slot.input_name}': {text}"))
    return problems


def _value_problem(slot: WidgetSlot, value) -> tuple[str, str] | None:
    if slot.kind == "upload":
        return None
    if slot.kind == "control":
        if value not in CONTROL_VALUES:
            return "control_value", f"control_after_generate {value!r} is not one of {sorted(CONTROL_VALUES)}"
        return None
    spec, options = slot.spec, _options(slot.spec)
    kind = _socket_type(spec)
    if kind == "COMBO":
        if _is_file_list(spec):
            ok = isinstance(value, str) or (options.get("multiselect") and isinstance(value, list))
            return None if ok else ("bad_value", f"{value!r} is not a file name")
        choices = combo_options(spec)
        return None if value in choices else ("combo_value", f"{value!r} is not one of {choices}")
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else ("bad_value", f"{value!r} is not true/false")
    if kind == "STRING":
        return None if isinstance(value, str) else ("bad_value", f"{value!r} is not text")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (kind == "INT" and value != int(value)):
        return "bad_value", f"{value!r} is not {'an integer' if kind == 'INT' else 'a number'}"
    low, high = options.get("min"), options.get("max")
    if (low is not None and value < low - 1e-9) or (high is not None and value > high + 1e-9):
        return "out_of_range", f"{value} is outside [{low}, {high}]"
    return None


def _compatible(a, b) -> bool:
    """ComfyUI's rule: '*' matches anything, otherwise the comma-separated type sets must overlap."""
    a, b = ("COMBO" if isinstance(t, list) else str(t) for t in (a, b))
    if a == b or "*" in (a, b) or "" in (a, b):
        return True
    return bool({t.strip() for t in a.split(",")} & {t.strip() for t in b.split(",")})


def _check_link(link: dict, nodes: dict, schemas: dict) -> list[Problem]:
    origin, target = nodes.get(link["origin_id"]), nodes.get(link["target_id"])
    if origin is None or target is None:
        missing = link["origin_id"] if origin is None else link["target_id"]
        return [Problem(None, "bad_link", f"link {link['id']} refers to node {missing}, which is missing")]
    out_slots, in_slots = origin.get("outputs") or [], target.get("inputs") or []
    if not 0 <= link["origin_slot"] < len(out_slots) or not 0 <= link["target_slot"] < len(in_slots):
        return [Problem(None, "bad_link", f"link {link['id']} uses a slot its nodes do not have")]
    out_slot, in_slot = out_slots[link["origin_slot"]], in_slots[link["target_slot"]]
    problems = []
    if in_slot.get("link") != link["id"] or link["id"] not in (out_slot.get("links") or []):
        problems.append(Problem(None, "bad_link", f"link {link['id']} is not recorded on both of its nodes"))

    source_type = _output_type(origin, link["origin_slot"], schemas)
    target_type = _input_type(target, in_slot, schemas)
    if source_type is None or target_type is None:
        return problems  # an unknown node or input, reported on its own
    if not _compatible(source_type, target_type):
        problems.append(Problem(target["id"], "link_type_mismatch",
                                f"input '{in_slot.get('name')}' ({target_type}) of {target['type']} is fed "
                                f"{source_type} from node {origin['id']} ({origin['type']})"))
    elif not (_compatible(link["type"], source_type) and _compatible(link["type"], target_type)):
        problems.append(Problem(target["id"], "link_type_mismatch",
                                f"link {link['id']} is saved as {link['type']} but joins {source_type} "
                                f"to {target_type}"))
    return problems


def _output_type(node: dict, slot: int, schemas: dict):
    schema = schemas.get(node.get("type"))
    if schema is None:
        if node.get("type") not in PASS_THROUGH_TYPES:
            return None
        return (node.get("outputs") or [{}])[slot].get("type")
    outputs = schema.get("output", [])
    return outputs[slot] if slot < len(outputs) else None


def _input_type(node: dict, slot: dict, schemas: dict):
    schema = schemas.get(node.get("type"))
    if schema is None:
        return slot.get("type") if node.get("type") in PASS_THROUGH_TYPES else None
    spec = input_specs(schema).get(slot.get("name"))
    return None if spec is None else _socket_type(spec)


# ---------------------------------------------------------------- command line


def main(argv: list[str]) -> int:
    release = None
    if argv[:1] == ["--release"]:
        release, argv = argv[1], argv[2:]
    schemas = release_schemas(release) if release else load_core_schemas()
    if (REPO_ROOT / "__init__.py").is_file():
        schemas.update(load_pack_schemas())
    failed = 0
    for path in argv:
        problems = validate_workflow(json.loads(Path(path).read_text(encoding="utf-8")), schemas)
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
