"""Compares our nodes' /object_info before and after a change of node API (V1 -> V3), release by release.

    python scripts/compare_node_info.py [--no-texts] tests/data/node_info/v1-comfyui-0.3.64.json NOW.json

NOW.json comes from `scripts/record_object_info.py --pack` (or a live server; the integration test
tests/integration/test_comfyui_node_info.py does that). Prints every difference a saved workflow or the
frontend could notice and exits 1 if there is one. What a V3 node legitimately sends differently is
accepted, and only that:

* a dropdown: V1 `[[choices], {...}]`, V3 `["COMBO", {"options": [choices], "multiselect": false, ...}]`;
* a text box: V3 says `"multiline": false` where V1 said nothing (the default);
* hidden inputs: the server fills them (output nodes get prompt/extra_pnginfo, Apply Face its node id);
  they are no sockets or widgets;
* fields a V3 node info has and the V1 one lacked, when they say nothing (null, false or empty).

--no-texts leaves out what people read but workflows do not depend on (tooltips, descriptions, display
names, search aliases, the Essentials section): what the integration test keeps checking after the port, so that later edits of
a text need no new recording (the generated docs and locales tests keep the texts current).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SILENT = (None, False, [], {})
# essentials_category (where the node library's Essentials list a node, 2026 schema) was added after the port
TEXTS = ("tooltip", "output_tooltips", "description", "display_name", "search_aliases", "essentials_category")


def without_texts(info: dict) -> dict:
    """/object_info with the texts people read taken out (see --no-texts)."""
    out = {}
    for node, entry in info.items():
        entry = {k: v for k, v in entry.items() if k not in TEXTS}
        entry["input"] = {section: {name: [spec[0], {k: v for k, v in spec[1].items() if k not in TEXTS}]
                                    if len(spec) > 1 else spec for name, spec in specs.items()}
                          for section, specs in entry.get("input", {}).items()}
        out[node] = entry
    return out


def normalised_input(spec: list) -> list:
    """A V3 input spec as the V1 node wrote it, for what V3 legitimately writes otherwise."""
    kind, options = spec[0], dict(spec[1]) if len(spec) > 1 else {}
    if kind == "COMBO" and "options" in options:
        kind = options.pop("options")
        if options.get("multiselect") is False:
            options.pop("multiselect")
    if kind == "STRING" and options.get("multiline") is False:
        options.pop("multiline")
    return [kind, options] if options or len(spec) > 1 else [kind]


def differences(before: dict, after: dict, texts: bool = True) -> list[str]:
    """Each difference between two /object_info answers (node id -> info), V1 before, V3 after."""
    if not texts:
        before, after = without_texts(before), without_texts(after)
    found = [f"{node}: missing" for node in sorted(set(before) - set(after))]
    found += [f"{node}: new" for node in sorted(set(after) - set(before))]
    for node in sorted(set(before) & set(after)):
        old, new = before[node], dict(after[node])
        new_input = {section: {name: normalised_input(spec) for name, spec in specs.items()}
                     for section, specs in new.get("input", {}).items() if section != "hidden"}
        old_input = {section: specs for section, specs in old.get("input", {}).items() if section != "hidden"}
        if json.loads(json.dumps(old_input)) != json.loads(json.dumps(new_input)):
            found += [f"{node}.input.{section}.{name}: {old_input.get(section, {}).get(name)} -> "
                      f"{new_input.get(section, {}).get(name)}"
                      for section in sorted(set(old_input) | set(new_input))
                      for name in sorted(set(old_input.get(section, {})) | set(new_input.get(section, {})))
                      if old_input.get(section, {}).get(name) != new_input.get(section, {}).get(name)]
        for key in sorted(set(old) | set(new)):
            if key in ("input", "input_order"):
                continue
            if key not in old:
                if new[key] not in SILENT:
                    found.append(f"{node}.{key}: only after: {new[key]!r}")
            elif key not in new:
                found.append(f"{node}.{key}: only before: {old[key]!r}")
            elif old[key] != new[key]:
                found.append(f"{node}.{key}: {old[key]!r} -> {new[key]!r}")
        order = {k: v for k, v in new.get("input_order", {}).items() if k != "hidden"}
        if order != {k: v for k, v in old.get("input_order", {}).items() if k != "hidden"}:
            found.append(f"{node}.input_order: {old.get('input_order')} -> {new.get('input_order')}")
    return list(dict.fromkeys(found))


def main() -> None:
    texts = "--no-texts" not in sys.argv
    names = [arg for arg in sys.argv[1:] if arg != "--no-texts"]
    if len(names) != 2:
        sys.exit("usage: python scripts/compare_node_info.py [--no-texts] BEFORE.json AFTER.json")
    before, after = (json.loads(Path(name).read_text()) for name in names)
    found = differences(before, after, texts)
    for line in found:
        print(line)
    print(f"{len(before)} nodes before, {len(after)} after: {len(found)} difference(s)")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
