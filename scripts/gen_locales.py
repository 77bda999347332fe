"""Keep locales/<lang>/nodeDefs.json (the frontend's node translations) in step with the node schemas.

    python scripts/gen_locales.py           # add a "TODO: <English>" entry for everything untranslated,
                                            # drop entries of nodes/inputs that no longer exist
    python scripts/gen_locales.py --check   # exit 1 and list what is missing, untranslated or obsolete

The translations themselves are written by hand in the JSON file: after adding a node or an input,
run the first command, then replace each "TODO: ..." with the translation. The format is ComfyUI's
(its server merges every pack's locales/<lang>/nodeDefs.json into /i18n for the frontend):
{NodeName: {display_name, description, inputs: {input: {name, tooltip}}, outputs: {"0": {name, tooltip}}}}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.node_schemas import NodeSchema, input_options, node_schemas

LANGUAGES = ("zh",)
TODO = "TODO: "


def locale_path(language: str) -> Path:
    return ROOT / "locales" / language / "nodeDefs.json"


def english(schema: NodeSchema) -> dict:
    """The texts to translate for one node, in the nodeDefs.json layout."""
    entry = {"display_name": schema.display, "description": schema.description, "inputs": {}, "outputs": {}}
    for _, name, spec in schema.inputs:
        entry["inputs"][name] = {"name": name, "tooltip": input_options(spec).get("tooltip", "")}
    for index, (name, _, tooltip) in enumerate(schema.outputs):
        entry["outputs"][str(index)] = {"name": name, "tooltip": tooltip}
    return entry


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _merge(source: dict, existing) -> dict:
    """`source` (English) with every text replaced by its translation from `existing` where there is one."""
    merged = {}
    for key, value in source.items():
        old = existing.get(key) if isinstance(existing, dict) else None
        if isinstance(value, dict):
            merged[key] = _merge(value, old)
        else:
            merged[key] = old if isinstance(old, str) and old.strip() else f"{TODO}{value}"
    return merged


def synced(translations: dict, schemas: list[NodeSchema]) -> dict:
    """The translations for exactly the current nodes, inputs and outputs, in schema order; what is new
    gets a TODO entry holding the English text, what no longer exists is left out."""
    return {schema.key: _merge(english(schema), translations.get(schema.key)) for schema in schemas}


def problems(translations: dict, schemas: list[NodeSchema]) -> list[str]:
    """Everything that keeps the file from matching the nodes: missing or untranslated texts (as
    dotted paths with the English), and entries for nodes or inputs that do not exist."""
    expected = dict(_leaves({schema.key: english(schema) for schema in schemas}))
    present = dict(_leaves(translations))
    found = []
    for path, text in expected.items():
        value = present.get(path)
        if not isinstance(value, str) or not value.strip():
            found.append(f"missing {path} (English: {text!r})")
        elif value.startswith(TODO):
            found.append(f"untranslated {path} (English: {text!r})")
    found += [f"obsolete {path}" for path in present if path not in expected]
    return found


def load(language: str) -> dict:
    path = locale_path(language)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def dump(translations: dict) -> str:
    return json.dumps(translations, ensure_ascii=False, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only list what does not match the nodes")
    args = parser.parse_args()
    schemas = node_schemas()
    status = 0
    for language in LANGUAGES:
        translations = load(language)
        if args.check:
            found = problems(translations, schemas)
            if found:
                print(f"{locale_path(language).relative_to(ROOT)}:\n  " + "\n  ".join(found), file=sys.stderr)
                status = 1
            continue
        path = locale_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(synced(translations, schemas)), encoding="utf-8")
        todo = [p for p in problems(load(language), schemas) if p.startswith("untranslated")]
        print(f"{path.relative_to(ROOT)}: {len(todo)} text(s) to translate (marked {TODO!r})")
    return status


if __name__ == "__main__":
    sys.exit(main())
