"""The pack's nodes as the generators see them (README reference, web/docs help pages, locales).

The nodes are imported with the documented ComfyUI stand-in (tests/comfy_standin.py) and an empty
models folder, so file lists show as "installed ..." rather than someone's disk.
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
    inputs: list[tuple[str, str, tuple]]  # (section, name, spec as INPUT_TYPES gives it)
    outputs: list[tuple[str, str, str]]  # (name, type, tooltip)


def node_schemas() -> list[NodeSchema]:
    """Every registered node's schema, in registration order."""
    import pytest

    from tests.comfy_standin import install, load_pack

    with tempfile.TemporaryDirectory() as empty, pytest.MonkeyPatch.context() as patch:
        install(patch, Path(empty))
        pack = load_pack()
        pack.nodes.folders.register_folders()
        schemas = []
        for key, node in pack.NODE_CLASS_MAPPINGS.items():
            spec = node.INPUT_TYPES()
            inputs = [(section, name, entry) for section in ("required", "optional")
                      for name, entry in spec.get(section, {}).items()]
            names = getattr(node, "RETURN_NAMES", node.RETURN_TYPES)
            outputs = list(zip(names, node.RETURN_TYPES, node.OUTPUT_TOOLTIPS))
            schemas.append(NodeSchema(key, pack.NODE_DISPLAY_NAME_MAPPINGS[key], node.CATEGORY, node.DESCRIPTION,
                                      inputs, outputs))
    return schemas


def input_options(entry) -> dict:
    return entry[1] if len(entry) > 1 else {}
