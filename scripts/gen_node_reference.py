"""Write the README's node reference from the node schemas, so the two cannot drift apart.

    python scripts/gen_node_reference.py           # rewrite the section in README.md
    python scripts/gen_node_reference.py --check   # exit 1 if README.md is stale

The nodes come from scripts/node_schemas.py (the ComfyUI stand-in, an empty models folder), which
the web/docs and locale generators share.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.node_schemas import NodeSchema, input_options, node_schemas
from scripts.readme_section import replace_section

README = ROOT / "README.md"
START, END = "<!-- node-reference:start -->", "<!-- node-reference:end -->"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _input_type(spec) -> str:
    kind = spec[0]
    if isinstance(kind, (list, tuple)):
        return "choice: " + " / ".join(map(str, kind)) if kind else "choice of installed files"
    return str(kind)


def _default(options: dict) -> str:
    if "default" not in options:
        return ""
    value = options["default"]
    text = f"`{value}`" if value != "" else '`""`'
    if "min" in options or "max" in options:
        text += f" ({options.get('min', '')}..{options.get('max', '')})"
    return text


def node_markdown(schema: NodeSchema, heading: str = "###") -> str:
    """One node's section: description, then a table of inputs and one of outputs."""
    lines = [f"{heading} {schema.display} (`{schema.key}`)", "", f"*{schema.category}*. {schema.description}", "",
             "| input | type | default | what it does |", "|---|---|---|---|"]
    for section, name, entry in schema.inputs:
        options = input_options(entry)
        optional = " (optional)" if section == "optional" else ""
        lines.append(f"| `{name}`{optional} | {_cell(_input_type(entry))} | {_cell(_default(options))} | "
                     f"{_cell(options.get('tooltip', ''))} |")
    lines += ["", "| output | type | what it gives |", "|---|---|---|"]
    for name, kind, tip in schema.outputs:
        lines.append(f"| `{name}` | {kind} | {_cell(tip)} |")
    return "\n".join(lines)


def reference_markdown() -> str:
    return "\n\n".join(node_markdown(schema) for schema in node_schemas())


def updated_readme(text: str, reference: str) -> str:
    return replace_section(text, START, END, reference)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    new = updated_readme(text, reference_markdown())
    if args.check:
        if new != text:
            print("README.md's node reference is stale: run python scripts/gen_node_reference.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
