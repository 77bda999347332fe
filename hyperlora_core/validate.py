"""Checks for numbers and JSON that come from users or files, with errors that name the input.

A NaN or infinite strength reaching torch does not fail: it silently turns every patched weight
into NaN (and a saved LoRA into garbage). Every strength, weight and text-box number therefore
passes through `finite` before it is used, and every JSON file through `load_json_file`, whose
size is bounded and whose too-deep nesting gives a ValueError naming the file, not a RecursionError.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

MAX_JSON_BYTES = 16 * 1024 * 1024  # the released JSONs are a few KB; a config.json is under 10 KB
SHOWN_CHARACTERS = 80  # how much of a user's value a message repeats


def shown(value, limit: int = SHOWN_CHARACTERS) -> str:
    """`value` as a message quotes it (repr; None as null), cut to `limit` characters: a 1 MB text or a
    10,000-digit number sent through the API is not echoed back in full."""
    text = "null" if value is None else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def described(value) -> str:
    """What kind of value the API sent, for messages: "the text 'false'", "the number 1", "null", "a list [...]"."""
    if value is None:
        return "null (no value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {shown(value)}"
    if isinstance(value, (int, float)):
        return f"the number {shown(value)}"
    return f"a {type(value).__name__} {shown(value)}"


def finite(value, name: str) -> float:
    """`value` as a finite float, or a ValueError naming the input `name` and what to type instead."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number; got {shown(value)}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number; got {shown(value)}. Type an ordinary number such as 0.8 "
                         "(NaN and infinity would make every weight of the model invalid).")
    return number


def parse_number_list(text: str, name: str, example: str = "1, 1, 0.5") -> list[float]:
    """'1, 1, 0.5' (commas or semicolons) -> finite floats; a ValueError naming `name` otherwise."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    numbers = []
    for part in parts:
        try:
            number = float(part)
        except ValueError:
            raise ValueError(f"{name} must be numbers separated by commas, e.g. '{example}'; got {shown(text)}.") from None
        if not math.isfinite(number):
            raise ValueError(f"{name} must hold ordinary finite numbers, e.g. '{example}'; {shown(part)} is not one "
                             f"(got {shown(text)}).")
        numbers.append(number)
    if numbers and not math.isfinite(sum(abs(n) for n in numbers)):
        raise ValueError(f"{name} are too large to add up ({shown(text)}); use small numbers such as '{example}' "
                         "(only their ratios matter).")
    return numbers


def parse_json_text(raw: str | bytes, where: str, what_to_do: str) -> object:
    """json.loads whose every failure (bad text, numbers too long, nesting too deep) is a ValueError naming `where`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON (not UTF-8 text: {exc}). {what_to_do}") from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark (Windows editors write one) is no JSON error
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{where} is not a usable JSON file: its brackets nest far too deeply. {what_to_do}") from None
    except ValueError as exc:  # JSONDecodeError, and numbers too long to convert
        raise ValueError(f"{where} is not valid JSON ({exc}). {what_to_do}") from None


def load_json_file(path: str | Path, what_to_do: str = "Download it again.", max_bytes: int | None = None):
    """Read and parse a small JSON file; a ValueError naming the file when it is too big, deep or broken.

    At most `max_bytes` (MAX_JSON_BYTES) + 1 bytes are read, whatever the file claims to be: a pipe or
    /dev/zero has no size to check beforehand."""
    path = Path(path)
    limit = MAX_JSON_BYTES if max_bytes is None else max_bytes
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(limit + 1) if size <= limit else b""
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"Could not read {path} ({exc.strerror or exc}). {what_to_do}") from None
    if size > limit or len(raw) > limit:
        told = f"is {size} bytes" if size > limit else f"is larger than {limit} bytes"
        raise ValueError(f"{path} {told}, far too large for this JSON file (at most {limit}); it is probably "
                         f"another file under this name. {what_to_do}")
    return parse_json_text(raw, str(path), what_to_do)
