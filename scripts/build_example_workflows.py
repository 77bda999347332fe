"""Write example_workflows/*.json (and the README's table of them) from the short descriptions of the
workflow families (workflows_generation.py, workflows_library.py, workflows_sweep.py,
train_lora_workflows.py).

    python scripts/build_example_workflows.py           # rewrite the files
    python scripts/build_example_workflows.py --check   # exit 1 if a committed file is stale

A description names nodes, the widget values that differ from the node's defaults, and links by
socket name (`model=checkpoint["MODEL"]`). Sockets, widget order, ids, execution order and layout
come from the node schemas (core /object_info + this pack), so every file is saved the way
ComfyUI's frontend saves one (UI format, version 0.4) and all of them stay alike.
"""


from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.readme_section import replace_section
from scripts.train_lora_workflows import TRAIN_LORA_EXAMPLES
from scripts.workflow_builder import Example, Workflow
from scripts.workflows_generation import GENERATION_EXAMPLES
from scripts.workflows_library import LIBRARY_EXAMPLES
from scripts.workflows_sweep import SWEEP_EXAMPLES
from tests.workflow_validation import (
    RELEASE_VARIANT,
    load_pack_schemas,
    release_schemas,
    releases_of,
    supported_releases,
    validate_workflow,
)

OUT_DIR = ROOT / "example_workflows"
README = ROOT / "README.md"
START, END = "<!-- workflows:start -->", "<!-- workflows:end -->"
EXAMPLES = GENERATION_EXAMPLES + LIBRARY_EXAMPLES + SWEEP_EXAMPLES + tuple(Example(*entry) for entry in TRAIN_LORA_EXAMPLES)


def series(release: str) -> str:
    return ".".join(release.split(".")[:2])


def build_release(name: str) -> str:
    """The release whose core nodes a workflow is built with: the newest supported one, or for a
    `<name>_comfyui-<series>` variant the newest of that series."""
    variant = RELEASE_VARIANT.match(name)
    releases = [r for r in supported_releases() if not variant or series(r) == variant.group("series")]
    if not releases:
        raise ValueError(f"{name}: no recorded /object_info of ComfyUI {variant.group('series')} in tests/data")
    return releases[-1]


def load_schemas(release: str | None = None) -> dict:
    """Core nodes from a release's recorded /object_info (default: the newest) plus this pack's nodes."""
    return {**release_schemas(release or supported_releases()[-1]), **load_pack_schemas()}


def shipped(schemas: dict | None = None) -> list[tuple[Example, str, dict]]:
    """(example, file name without extension, workflow) of every shipped file. Each example is built with the
    newest release's nodes; where that file does not load on an older release series (a node the series lacks,
    other widgets), a `<name>_comfyui-<series>` variant is built with that series' newest release's nodes.
    Given `schemas`, one file per example, built with those."""
    cache: dict[str, dict] = {}

    def built(example: Example, name: str, release: str) -> dict:
        wf = Workflow(name, schemas or cache.setdefault(release, load_schemas(release)))
        example.build(wf)
        return wf.to_json()

    newest = supported_releases()[-1]
    older = {series(r): r for r in supported_releases() if series(r) != series(newest)}  # newest of each
    files = []
    for example in EXAMPLES:
        plain = built(example, example.name, newest)
        files.append((example, example.name, plain))
        for serie, release in ([] if schemas else older.items()):
            if validate_workflow(plain, cache.setdefault(release, load_schemas(release))):
                name = f"{example.name}_comfyui-{serie}"
                files.append((example, name, built(example, name, release)))
    return files


def build_all(schemas: dict | None = None) -> dict[str, str]:
    """File name -> JSON text of every example workflow and variant (see `shipped`)."""
    return {f"{name}.json": json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"
            for _, name, workflow in shipped(schemas)}


def readme_table() -> str:
    files = shipped()
    names = [name for _, name, _ in files]
    plain = {name: workflow for example, name, workflow in files if name == example.name}
    lines = ["| file | ComfyUI | what it does | graph |", "|---|---|---|---|"]
    for example, name, _ in files:
        found = releases_of(name, names)
        releases = " and ".join([", ".join(found[:-1]), found[-1]] if len(found) > 2 else found)
        summary = example.summary if name == example.name else (
            f"The same, for ComfyUI {releases} ({variant_reason(plain[example.name], found[-1])}).")
        lines.append(f"| [`{name}.json`](example_workflows/{name}.json) | {releases} | {summary} | {example.chain} |")
    return "\n".join(lines)


def variant_reason(workflow: dict, release: str) -> str:
    """Why the newest release's file does not load on `release`, in a few words for the README's table."""
    types = {node["id"]: node["type"] for node in workflow["nodes"]}
    schemas = release_schemas(release)
    reasons = []
    for problem in validate_workflow(workflow, {**schemas, **load_pack_schemas()}):
        kind = types.get(problem.node)
        text = f"no {kind}" if kind not in schemas else f"other {kind} widgets"
        if kind and text not in reasons:
            reasons.append(text)
    return ", ".join(reasons)


def updated_readme(text: str, table: str) -> str:
    return replace_section(text, START, END, table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the committed files are current")
    args = parser.parse_args()
    files = build_all()
    readme = README.read_text(encoding="utf-8")
    new_readme = updated_readme(readme, readme_table())
    if args.check:
        stale = [name for name, text in files.items()
                 if not (OUT_DIR / name).is_file() or (OUT_DIR / name).read_text(encoding="utf-8") != text]
        stale += ["README.md"] if new_readme != readme else []
        for name in stale:
            print(f"{name} is stale: run python scripts/build_example_workflows.py", file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
    if new_readme != readme:
        README.write_text(new_readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
