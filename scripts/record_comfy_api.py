"""Records what a ComfyUI release's comfy_api.latest offers of the V3 node API, into tests/data/comfy_api/.

    COMFYUI_PATH=/path/to/ComfyUI /path/to/its/python scripts/record_comfy_api.py

No API version is pinned in both supported releases (comfy_api/v0_0_2 re-exports latest), so the nodes use
comfy_api.latest and tests/test_comfy_api_surface.py checks, without ComfyUI, that every schema field,
class and argument the node modules use is in each recorded release. Written: the io.Schema fields, the
parameters of every io type's Input and Output class and of io.Custom(...)'s, NodeOutput's parameters, the
io.Hidden members, the ComfyNode classmethods and ComfyExtension's methods.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "comfy_api"
NODE_METHODS = ("define_schema", "execute", "validate_inputs", "fingerprint_inputs", "check_lazy_status",
                "GET_SCHEMA", "PREPARE_CLASS_CLONE", "EXECUTE_NORMALIZED")


def parameters(callable_) -> list[str]:
    return [name for name in inspect.signature(callable_).parameters if name not in ("self", "cls")]


def surface(latest) -> dict:
    io = latest.io
    types = {}
    for name, value in sorted(vars(io).items()):
        for side in ("Input", "Output"):
            inner = getattr(value, side, None) if inspect.isclass(value) else None
            if inspect.isclass(inner) and hasattr(value, "io_type"):
                types[f"{name}.{side}"] = parameters(inner.__init__)
    custom = io.Custom("HYPERLORA_RECORDING")
    types["Custom.Input"], types["Custom.Output"] = parameters(custom.Input.__init__), parameters(custom.Output.__init__)
    return {
        "schema_fields": [field.name for field in dataclasses.fields(io.Schema)],
        "types": types,
        "node_output": parameters(io.NodeOutput.__init__),
        "hidden": [member.name for member in io.Hidden],
        "comfy_node": {name: parameters(getattr(io.ComfyNode, name)) for name in NODE_METHODS
                       if hasattr(io.ComfyNode, name)},
        "extension": sorted(name for name in vars(latest.ComfyExtension) if not name.startswith("_")),
    }


def main() -> None:
    path = os.environ.get("COMFYUI_PATH")
    if not path:
        sys.exit("Set COMFYUI_PATH to a ComfyUI checkout, and run this with that ComfyUI's Python.")
    comfyui = Path(path).resolve()
    sys.path.insert(0, str(comfyui))
    os.chdir(comfyui)
    sys.argv = sys.argv[:1]  # comfy.cli_args parses the command line on import
    from comfy_api import latest

    sys.path.insert(0, str(OUT_DIR.parents[2]))
    from scripts.record_object_info import comfyui_version

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"comfyui-{comfyui_version(comfyui)}.json"
    out.write_text(json.dumps(surface(latest), indent=1, sort_keys=True) + "\n")
    print(f"{out}: recorded")


if __name__ == "__main__":
    main()
