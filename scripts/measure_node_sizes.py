"""Measure how large each node type is drawn, and write scripts/node_sizes.json for the workflow layout.

    COMFYUI_PATH=/path/to/ComfyUI [COMFYUI_FRONTEND_ROOT=.../static] python scripts/measure_node_sizes.py

Starts ComfyUI with this pack, no model files (our loaders show their setup messages) and a photo under
every name a Load Image asks for, opens every shipped workflow for that release in headless Chromium in
the classic canvas and in Nodes 2.0 (where the frontend has it, e.g. 1.58.1), and records per node type
the largest body seen: [width, height] in canvas units, title bar excluded. Sizes already in the file are
kept where they are larger, so running it with each frontend gathers the largest of all.
scripts/build_example_workflows.py gives each node at least this size and spaces the nodes by it;
tests/integration/test_workflow_layouts.py checks the result in the browser.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES_FILE = ROOT / "scripts" / "node_sizes.json"
TITLE_H = 30  # the title bar, as the workflows' layout counts it
ROUND = 10  # sizes are rounded up to this, so a pixel of difference between runs changes nothing


def largest_bodies(layouts: dict, known: dict) -> dict:
    """Per node type, the larger of `known` and every box in `layouts` (title bar taken off), rounded up."""
    sizes = {kind: list(size) for kind, size in known.items()}
    for layout in layouts.values():
        for node in layout["nodes"]:
            if node["box"] is None:
                continue
            width, height = (math.ceil(v / ROUND) * ROUND for v in (node["box"][2], node["box"][3] - TITLE_H))
            old = sizes.get(node["type"], [0, 0])
            sizes[node["type"]] = [max(old[0], width), max(old[1], height)]
    return dict(sorted(sizes.items()))


def main() -> int:
    from tests.integration.conftest import for_this_release, install_pack, running_comfyui
    from tests.integration.test_workflow_layouts import WORKFLOWS, measure_layouts, write_photos

    known = json.loads(SIZES_FILE.read_text(encoding="utf-8")) if SIZES_FILE.is_file() else {}
    workflows = [path for path in WORKFLOWS if not for_this_release(path)]
    with tempfile.TemporaryDirectory(prefix="hyperlora_sizes_") as scratch:
        base = Path(scratch)
        install_pack(base)
        write_photos(base, workflows)
        with running_comfyui(base, 120) as (url, _):
            for renderer in ("classic", "nodes2"):
                report = measure_layouts(url, base, renderer, workflows)
                if report.get("unsupported"):
                    print(f"{renderer}: {report['unsupported']}")
                    continue
                if report["failures"]:
                    raise SystemExit("the browser failed:\n" + "\n".join(report["failures"]))
                known = largest_bodies(report["layouts"], known)
                print(f"{renderer}: measured {len(report['layouts'])} workflows")
    lines = [f"  {json.dumps(kind)}: [{width}, {height}]" for kind, (width, height) in known.items()]
    SIZES_FILE.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")  # one node type a line
    print(f"wrote {SIZES_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
