"""ComfyUI's V3 node API as our nodes use it, and the one thing that differs between supported releases.

No pinned API version exists in both releases (comfy_api/v0_0_2 re-exports comfy_api.latest in 0.3.64
and in 0.14.1), so the nodes use comfy_api.latest; tests/test_comfy_api_surface.py checks everything we
use of it against what each release has (tests/data/comfy_api/, recorded by scripts/record_comfy_api.py).
"""

from __future__ import annotations

import dataclasses

from comfy_api.latest import ComfyExtension, io  # noqa: F401  (re-exported for the node modules)

from ..hyperlora_core.validate import described, shown
from .metadata import essentials_category, search_aliases
from .types import COEFFS, FACE, FACE_ANALYZER, HYPERLORA

# Our own sockets. Core sockets use core's classes (io.Model, io.Conditioning, io.Image, ...).
Hyperlora = io.Custom(HYPERLORA)
FaceAnalyzer = io.Custom(FACE_ANALYZER)
Face = io.Custom(FACE)
Coeffs = io.Custom(COEFFS)

# Schema fields only some supported releases have: left out where the running one lacks them. 0.3.64's
# Schema has no search_aliases (its server sent no aliases for V1 nodes either); essentials_category (the node
# library's Essentials) is new in the 2026 schema (0.33 has it, 0.14.1 not).
OPTIONAL_SCHEMA_FIELDS = ("search_aliases", "essentials_category")


def schema(node_id: str, **fields) -> io.Schema:
    """io.Schema of one of our nodes, with its search words from metadata.SEARCH_ALIASES and, for the
    beginner's nodes, metadata.ESSENTIALS_CATEGORY."""
    fields["search_aliases"] = search_aliases(node_id)
    fields["essentials_category"] = essentials_category(node_id)
    known = {field.name for field in dataclasses.fields(io.Schema)}
    for name in OPTIONAL_SCHEMA_FIELDS:
        if name not in known or fields[name] is None:
            fields.pop(name)
    return io.Schema(node_id=node_id, **fields)


class ApiValue(str):
    """A value an API prompt sent that the frontend never sends (null for a dropdown, a text for a BOOLEAN),
    marked by nodes/api_prompt.py before ComfyUI's validation reads it: `message` says what was wrong.

    A str, so ComfyUI's error answer still serialises it; bool() of it raises the message, which is how
    ComfyUI's BOOLEAN conversion (bool(value), before any node sees it) reports the refusal."""

    def __new__(cls, value, message: str):
        marked = super().__new__(cls, shown(value))
        marked.message = message
        return marked

    def __bool__(self):
        raise ValueError(self.message)


def listed_or_message(value, listed: list[str], what: str, where: str):
    """validate_inputs of a dropdown of installed files: True, or what is missing and where it goes.

    ComfyUI 0.3.64's executor does not check a V3 dropdown's value against its choices (0.14.1 does), so our
    file dropdowns check themselves: a missing file is refused at queue time on both releases, with a
    message saying where to put it. A linked value (None here) is checked when the node runs; a null the
    API sent arrives marked (ApiValue) and is refused here.
    """
    if isinstance(value, ApiValue):
        return value.message
    if value is None or (isinstance(value, str) and value in listed):
        return True
    return (f"{what} {shown(value)} not in {shown_choices(listed)}. Put it in {where}, then press 'r' in ComfyUI to "
            "refresh the lists and pick it.")


def shown_choices(listed) -> str:
    """A dropdown's choices as a message lists them: all of up to 20, else how many."""
    listed = list(listed)
    return str(listed) if len(listed) <= 20 else f"(a list of {len(listed)})"


def chosen_file(node, name: str, value, listed) -> str:
    """The name picked in a file dropdown, when the node runs: a link or an API prompt can bring anything."""
    if isinstance(value, str) and not isinstance(value, ApiValue):
        return value
    raise ValueError(f"{node.define_schema().display_name}: {name} is {described(value)}, not a name from its "
                     f"list {shown_choices(listed)}. Pick one in the node (an API prompt must send one of the "
                     "names as text).")


def check_choices(node, **inputs) -> None:
    """Refuse a dropdown value that is not one of its fixed choices, naming the node, the input and the choices.

    inputs: name=(value, choices), the choices being the constants the node's schema lists as options.
    ComfyUI 0.3.64 lets any value of a V3 dropdown through (0.14.1 refuses it at queue time), so a value
    this version does not know (an API prompt, a workflow edited by hand or saved by another version) would
    otherwise fail deep inside the node. null, numbers, lists and dicts are refused the same way (only a
    text can be a choice; a dict is not looked up in a table). Checked when the node runs, not in
    validate_inputs: ComfyUI reports a validate_inputs refusal once for every input that function takes, so
    the message would land on the wrong inputs. The schema (which lists installed files for the loaders) is
    built only to name the node.
    """
    for name, (value, choices) in inputs.items():
        if not (isinstance(value, str) and value in list(choices)):
            raise ValueError(f"{node.define_schema().display_name}: {name} {shown(value)} is not one of "
                             f"{', '.join(map(str, choices))}. Pick one of them in the node (a workflow "
                             "saved by another version or edited by hand can hold an old value).")


def check_booleans(node, **inputs) -> None:
    """Refuse a BOOLEAN input that is not true or false, naming the node and the input.

    The text "false" is truthy: read as a switch it would turn it on (Save Identity's overwrite replacing a
    file). Through ComfyUI's server such values are marked by nodes/api_prompt.py before ComfyUI converts
    them; this is the same rule where a node is called otherwise."""
    for name, value in inputs.items():
        if not isinstance(value, bool):
            raise ValueError(boolean_message(node.define_schema().display_name, name, value))  # noqa: TRY004 (a user's input)


def boolean_message(display_name: str, name: str, value) -> str:
    return (f"{display_name}: {name} must be true or false, got {described(value)}. Switch it in the node; an "
            "API prompt must send JSON true or false (the text \"false\" would count as true).")


def output(kind, name: str, tooltip: str, **options):
    """An output shown with its V1 name (RETURN_NAMES): without display_name 0.3.64 shows the type. No id:
    ids of inputs and outputs must differ (model in, model out), and the schema numbers outputs itself."""
    return kind.Output(display_name=name, tooltip=tooltip, **options)
