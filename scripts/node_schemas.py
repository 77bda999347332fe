"""The pack's nodes as the generators see them (README reference, web/docs help pages, locales).

The nodes are imported with the documented ComfyUI stand-in (tests/comfy_standin.py, comfy_api's in
tests/comfy_api_standin.py) and an empty models folder, so file lists show as "installed ..." rather than
someone's disk. Each node's V3 schema (io.Schema from define_schema) is read as the node reference shows it:
a dropdown's choices stand in place of its type.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class NodeSchema:
    key: str
    display: str
    category: str
    description: str
    inputs: list[tuple[str, str, tuple]]  # (section, name, (type or a dropdown's choices, options))
    outputs: list[tuple[str, str, str]]  # (name, type, tooltip)


def input_spec(schema_input) -> tuple:
    """(type, options) of one io.Input; a dropdown's (choices, options), as the generators show it."""
    options = schema_input.as_dict()
    options.pop("optional", None)
    kind = schema_input.get_io_type()
    if kind == "COMBO":
        options.pop("multiselect", None)
        return list(options.pop("options")), options
    return kind, options


def node_schemas() -> list[NodeSchema]:
    """Every registered node's schema, in registration order."""
    import pytest

    from tests.comfy_standin import install, load_pack, node_classes

    with tempfile.TemporaryDirectory() as empty, pytest.MonkeyPatch.context() as patch:
        install(patch, Path(empty))
        pack = load_pack()
        pack.nodes.folders.register_folders()
        schemas = []
        for key, node in node_classes(pack).items():
            schema = node.GET_SCHEMA()
            inputs = [("optional" if i.optional else "required", i.id, input_spec(i)) for i in schema.inputs]
            outputs = [(o.display_name, o.io_type, o.tooltip) for o in schema.outputs]
            schemas.append(NodeSchema(key, schema.display_name, schema.category, schema.description, inputs,
                                      outputs))
    return schemas


def input_options(entry) -> dict:
    return entry[1] if len(entry) > 1 else {}
