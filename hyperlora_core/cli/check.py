"""`python -m hyperlora_core check`: which model files are installed, and where the missing ones go."""

from __future__ import annotations

import json

from .arguments import path_text


def add_parser(commands) -> None:
    check = commands.add_parser("check", help="list the model files, and where missing ones go", description=(
        "Look in a ComfyUI models folder for the files HyperLoRA needs (the HyperLoRA checkpoint, CLIP "
        "ViT-L/14, InsightFace AntelopeV2) and say, for each missing one, where to put it. Exits 0 when "
        "everything required is there, 1 otherwise."))
    check.add_argument("--models", required=True, metavar="DIR", type=path_text, help="ComfyUI models folder")
    check.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from pathlib import Path

    from ..setup.check import check_setup, render_text

    models = Path(args.models).expanduser()
    if not models.is_dir():
        what = "is a file, not a folder" if models.exists() else "does not exist"
        raise ValueError(f"The models folder {models} {what}. Give ComfyUI's models folder, e.g. "
                         "--models ComfyUI/models (the one holding checkpoints/ and loras/).")
    report = check_setup(models)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(render_text(report))
    return 0 if report.ok else 1
