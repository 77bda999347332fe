"""Keep locales/<lang>/nodeDefs.json (the frontend's node translations) in step with the node schemas.

    python scripts/gen_locales.py           # add a "TODO: <English>" entry for everything untranslated or
                                            # whose English changed, drop entries of nodes/inputs that no
                                            # longer exist, record the English each entry translates
    python scripts/gen_locales.py --check   # exit 1 and list what is missing, untranslated, outdated or obsolete

The translations themselves are written by hand in the JSON file: after adding a node or an input,
run the first command, then replace each "TODO: ..." with the translation. locales/<lang>.source.json
records the English each translation was made from, so a changed tooltip shows up as outdated (its
TODO keeps the old translation after "(was: ...)" to start from). The format is ComfyUI's
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


def _merge(source: dict, existing, recorded: dict, prefix: str = "") -> dict:
    """`source` (English) with every text replaced by its translation from `existing` where there is a
    current one; a translation of English that has changed since (`recorded`) becomes a TODO again."""
    merged = {}
    for key, value in source.items():
        old = existing.get(key) if isinstance(existing, dict) else None
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            merged[key] = _merge(value, old, recorded, f"{path}.")
        elif not isinstance(old, str) or not old.strip() or old.startswith(TODO):
            merged[key] = f"{TODO}{value}"
        elif recorded.get(path, value) != value:
            merged[key] = f"{TODO}{value} (was: {old})"
        else:
            merged[key] = old
    return merged


def english_texts(schemas: list[NodeSchema]) -> dict[str, str]:
    """Every text to translate, by dotted path (HyperLoRAApply.inputs.model.tooltip), in English."""
    return dict(_leaves({schema.key: english(schema) for schema in schemas}))


def synced(translations: dict, schemas: list[NodeSchema], recorded: dict | None = None) -> dict:
    """The translations for exactly the current nodes, inputs and outputs, in schema order; what is new,
    or whose English differs from the `recorded` source, gets a TODO entry holding the English text;
    what no longer exists is left out."""
    return {schema.key: _merge(english(schema), translations.get(schema.key), recorded or {}, f"{schema.key}.")
            for schema in schemas}


def problems(translations: dict, schemas: list[NodeSchema], recorded: dict | None = None) -> list[str]:
    """Everything that keeps the file from matching the nodes: missing, untranslated or outdated texts
    (as dotted paths with the English), and entries for nodes or inputs that do not exist. With
    `recorded` (the English each translation was made from), a changed English text is outdated."""
    expected = english_texts(schemas)
    present = dict(_leaves(translations))
    found = []
    for path, text in expected.items():
        value = present.get(path)
        if not isinstance(value, str) or not value.strip():
            found.append(f"missing {path} (English: {text!r})")
        elif value.startswith(TODO):
            found.append(f"untranslated {path} (English: {text!r})")
        elif recorded is not None and path not in recorded:
            found.append(f"unrecorded {path} (its English source is not in the .source.json file)")
        elif recorded is not None and recorded[path] != text:
            found.append(f"outdated {path} (English was {recorded[path]!r}, now {text!r})")
    found += [f"obsolete {path}" for path in present if path not in expected]
    return found


def source_path(language: str) -> Path:
    return ROOT / "locales" / f"{language}.source.json"


def load_source(language: str) -> dict:
    path = source_path(language)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


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
            found = problems(translations, schemas, load_source(language))
            if found:
                print(f"{locale_path(language).relative_to(ROOT)}:\n  " + "\n  ".join(found), file=sys.stderr)
                status = 1
            continue
        path = locale_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(synced(translations, schemas, load_source(language))), encoding="utf-8")
        source_path(language).write_text(dump(english_texts(schemas)), encoding="utf-8")
        todo = [p for p in problems(load(language), schemas, load_source(language)) if p.startswith("untranslated")]
        print(f"{path.relative_to(ROOT)}: {len(todo)} text(s) to translate (marked {TODO!r})")
    return status


if __name__ == "__main__":
    sys.exit(main())
