"""`hyperlora` (installed) or `python -m hyperlora_core`: make an SDXL LoRA from face photos, check the model files, score likeness,
or convert workflows of the official pack.

For people who want the LoRA file without building a ComfyUI graph (or on a server): it runs
the same engine and face pipeline as the nodes. MODELS is a ComfyUI-style models folder:
hyper_lora/hyper_lora/<variant>, hyper_lora/clip_vit/clip_vit_large_14, insightface/models/antelopev2.
One module per command; each imports only `arguments`, so there is no import circle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import check, likeness, make_lora, workflow
from .arguments import EXPECTED_ERRORS

COMMANDS = {"make-lora": make_lora, "check": check, "convert-workflow": workflow, "likeness": likeness}


def program_name() -> str:
    """How the user started us, for the usage lines: the installed `hyperlora` command or the module."""
    started = Path(sys.argv[0])
    if started.stem == "hyperlora":
        return "hyperlora"
    return f"python {sys.argv[0]}" if started.is_dir() else "python -m hyperlora_core"  # the folder form


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program_name(), description=(
        "HyperLoRA without ComfyUI: make an SDXL LoRA from face photos, check the model files, score likeness, "
        "or convert workflows of the official pack."))
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(commands)
    for name, sub in commands.choices.items():  # `help` only shows in the parent's list; `X --help` shows this
        listed = next(action.help for action in commands._choices_actions if action.dest == name)
        sub.description = sub.description or (listed[:1].upper() + listed[1:] + ".")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except EXPECTED_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
