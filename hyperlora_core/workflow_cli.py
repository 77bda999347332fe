"""`python -m hyperlora_core convert-workflow IN.json -o OUT.json`: the converter from the command line."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def add_parser(commands) -> None:
    convert = commands.add_parser(
        "convert-workflow", help="convert a workflow of the official ComfyUI-HyperLoRA pack to this pack's nodes")
    convert.add_argument("workflow", metavar="IN.json", help="the workflow saved with the official pack's nodes")
    convert.add_argument("-o", "--out", required=True, metavar="OUT.json", help="where to write the converted one")
    convert.add_argument("--force", action="store_true", help="overwrite OUT.json if it exists")
    convert.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from .workflow_convert import convert_workflow

    source, out = Path(args.workflow).expanduser(), Path(args.out).expanduser()
    if out.exists() and not args.force:
        raise ValueError(f"{out} already exists. Choose another -o, or add --force to overwrite it.")
    if not out.parent.is_dir():
        raise ValueError(f"The folder {out.parent} does not exist; create it first.")
    try:
        workflow = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"The workflow {source} does not exist.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source} is not a JSON workflow ({exc}). Use the .json file ComfyUI saved "
                         "(a PNG with an embedded workflow: drag it into ComfyUI and save it as .json).") from None
    conversion = convert_workflow(workflow)
    write_json_atomically(out, conversion.workflow)
    if args.json:
        print(json.dumps(conversion.report.to_json(), indent=2))
    else:
        print(f"Wrote {out}\n{conversion.report.text()}")
    return 0


def write_json_atomically(path: Path, data: dict) -> None:
    """Write beside the target and rename, so a failure never leaves half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2, ensure_ascii=False)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
