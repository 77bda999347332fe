"""Records how the official HyperLoRA workflows save each node type into tests/data/official_nodes.json.

    python scripts/record_official_nodes.py /path/to/official-workflows

The official pack's example workflows (ComfyUI-HyperLoRA, `assets/*.json`) are not ours to ship, so the
tests build official-format workflows themselves (tests/official_workflows.py) from what this records per
node type: the input and output sockets as the frontend saves them, the size, and the widget values of
the first node of that type (long texts are blanked: they are prompts, not schema). Run it again when the
official pack changes its nodes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "official_nodes.json"
LONG_TEXT = 60


def saved_form(node: dict) -> dict:
    return {
        "inputs": [[entry["name"], entry["type"], *(["widget"] if "widget" in entry else [])]
                   for entry in node.get("inputs") or []],
        "outputs": [[entry["name"], entry["type"]] for entry in node.get("outputs") or []],
        "widgets_values": [("" if isinstance(value, str) and len(value) > LONG_TEXT else value)
                           for value in node.get("widgets_values") or []],
        "size": [round(float(v)) for v in node["size"]],
    }


def record(folder: Path) -> dict:
    files = sorted(folder.glob("*.json"))
    if not files:
        sys.exit(f"No .json workflows in {folder}: name the official pack's workflow folder.")
    forms: dict = {}
    for path in files:
        for node in json.loads(path.read_text(encoding="utf-8"))["nodes"]:
            forms.setdefault(node["type"], saved_form(node))
    return dict(sorted(forms.items()))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.exit(__doc__)
    forms = record(Path(argv[0]))
    lines = ",\n".join(f"  {json.dumps(kind)}: {json.dumps(form)}" for kind, form in forms.items())
    OUT.write_text("{\n" + lines + "\n}\n", encoding="utf-8")
    print(f"{len(forms)} node types -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
