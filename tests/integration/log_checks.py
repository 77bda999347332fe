"""Server-log checks that tell our regressions apart from other modules' noise.

A user's ComfyUI logs tracebacks that are not ours (core audio nodes without torchaudio, other
custom node packs, API nodes without their extras). A test that fails on any "Traceback" fails for
them too, and a test that ignores them all misses ours. `our_log_problems` parses the log into
tracebacks (chained ones kept together) and import-failure lines, and keeps those that name our
pack: its folder name, its real path, or the engine module.
"""

from __future__ import annotations

import re

from tests.integration.conftest import PACK_DIR_NAME, PACK_ROOT

# Case-sensitive on purpose: the official pack's folder is "ComfyUI-HyperLoRA".
OUR_MARKERS = (f"custom_nodes/{PACK_DIR_NAME}", f"custom_nodes\\{PACK_DIR_NAME}", str(PACK_ROOT), "hyperlora_core")

TRACEBACK_START = "Traceback (most recent call last):"
CHAINED = ("During handling of the above exception, another exception occurred:",
           "The above exception was the direct cause of the following exception:")
IMPORT_FAILURE = re.compile(r"IMPORT FAILED|Cannot import .* module for custom nodes")


def tracebacks(log_text: str) -> list[str]:
    """Every traceback in the log as one text: its frames, its exception line, and the tracebacks
    chained to it ("During handling of the above exception ...")."""
    lines = log_text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if TRACEBACK_START not in lines[i]:
            i += 1
            continue
        block, i = [lines[i]], i + 1
        while True:
            # frames and source lines are indented; the exception line that ends them is not
            while i < len(lines) and (lines[i].startswith((" ", "\t")) or not lines[i].strip()):
                block.append(lines[i])
                i += 1
            if i < len(lines):
                block.append(lines[i])
                i += 1
            chained = _skip_blank(lines, i)
            if chained >= len(lines) or lines[chained].strip() not in CHAINED:
                break
            start = _skip_blank(lines, chained + 1)
            if start >= len(lines) or TRACEBACK_START not in lines[start]:
                break
            block.extend(lines[i:start + 1])
            i = start + 1
        blocks.append("\n".join(block))
    return blocks


def _skip_blank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def import_failures(log_text: str) -> list[str]:
    return [line for line in log_text.splitlines() if IMPORT_FAILURE.search(line)]


def our_log_problems(log_text: str, markers: tuple[str, ...] = OUR_MARKERS) -> list[str]:
    """The tracebacks and import failures in a ComfyUI log that involve our pack (empty: none)."""
    return [problem for problem in tracebacks(log_text) + import_failures(log_text)
            if any(marker in problem for marker in markers)]


def assert_no_problems_of_ours(log_text: str) -> None:
    problems = our_log_problems(log_text)
    assert not problems, "the server log shows problems in our pack:\n\n" + "\n\n".join(problems)
