"""`python -m hyperlora_core convert-workflow IN.json -o OUT.json`: the converter from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..engine.lora_file import check_target, write_bytes_atomically
from ..validate import load_json_file

NOT_JSON_ADVICE = ("So it is not a JSON workflow: use the .json file ComfyUI saved (a PNG with an embedded "
                   "workflow: drag it into ComfyUI and save it as .json).")


def add_parser(commands) -> None:
    convert = commands.add_parser(
        "convert-workflow", help="convert a workflow of the official ComfyUI-HyperLoRA pack to this pack's nodes",
        description=("Convert a workflow saved with the official ComfyUI-HyperLoRA pack's nodes to this pack's "
                     "nodes, keeping the rest of the graph, and print what was replaced and what to check."))
    convert.add_argument("workflow", metavar="IN.json", help="the workflow saved with the official pack's nodes")
    convert.add_argument("-o", "--out", required=True, metavar="OUT.json", help="where to write the converted one")
    convert.add_argument("--force", action="store_true", help="overwrite OUT.json if it exists")
    convert.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from ..workflows.convert import convert_workflow

    source, out = Path(args.workflow).expanduser(), Path(args.out).expanduser()
    check_target(out, overwrite=True)  # a folder, FIFO, device or link is refused even with --force
    if os.path.lexists(out) and not args.force:
        raise ValueError(f"{out} already exists. Choose another -o, or add --force to overwrite it.")
    if not out.parent.is_dir():
        raise ValueError(f"The folder {out.parent} does not exist; create it first.")
    try:
        workflow = load_json_file(source, NOT_JSON_ADVICE)
    except FileNotFoundError:
        raise ValueError(f"The workflow {source} does not exist.") from None
    conversion = convert_workflow(workflow)
    text = json.dumps(conversion.workflow, indent=2, ensure_ascii=False) + "\n"
    write_bytes_atomically(out, text.encode("utf-8"), overwrite=args.force)
    if args.json:
        print(json.dumps(conversion.report.to_json(), indent=2))
    else:
        print(f"Wrote {out}\n{conversion.report.text()}")
    return 0

