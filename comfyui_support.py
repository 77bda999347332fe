"""What the pack needs of ComfyUI's core, checked once when ComfyUI imports the pack.

A release the pack cannot support (a core too old for the V3 node API or the model wrappers, or a future core
where one of them is gone) gets one line at start that names the release and everything missing, and the pack
registers no node, route or web extension: never half of its nodes, and never a node that fails only when a
workflow reaches it. Read without importing the nodes, so that it runs before anything can fail half-way.
Outside ComfyUI (the unit tests, the CLI) there is no `comfy` package: only the node API is checked then.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

MINIMUM_COMFYUI = "0.3.64"  # pyproject.toml's requires-comfyui
NEWEST_TESTED = "0.33.0"  # the newest release of the README's version matrix

# (module, attribute path, what the pack uses it for). comfy_api first: without it nothing else is looked at.
NODE_API = ("comfy_api.latest", "ComfyExtension", "the V3 node API (comfy_api.latest.ComfyExtension)")
CORE_NEEDS = (
    ("comfy_api.latest", "io.ComfyNode", "the V3 node API (comfy_api.latest.io.ComfyNode)"),
    ("comfy.patcher_extension", "WrappersMP.APPLY_MODEL",
     "the model wrapper APPLY_MODEL (comfy.patcher_extension.WrappersMP), which scheduled and regional identities use"),
    ("comfy.patcher_extension", "WrappersMP.CALC_COND_BATCH",
     ("the model wrapper CALC_COND_BATCH (comfy.patcher_extension.WrappersMP), which scheduled and regional "
      "identities use")),
    ("comfy.model_patcher", "ModelPatcher.add_wrapper_with_key", "keyed model wrappers (ModelPatcher.add_wrapper_with_key)"),
    ("comfy.model_patcher", "ModelPatcher.remove_wrappers_with_key",
     "keyed model wrappers (ModelPatcher.remove_wrappers_with_key)"),
    ("comfy.weight_adapter", "LoRAAdapter", "LoRA weight patches (comfy.weight_adapter.LoRAAdapter)"),
)


def _has(module: str, path: str, import_module) -> bool:
    try:
        found = import_module(module)
    except ModuleNotFoundError as error:  # that module is not there; a broken import inside it is raised
        if not (error.name and (module == error.name or module.startswith(error.name + "."))):
            raise
        return False
    for name in path.split("."):
        if not hasattr(found, name):
            return False
        found = getattr(found, name)
    return True


def missing_features(import_module=importlib.import_module, in_comfyui: bool | None = None) -> list[str]:
    """What the running ComfyUI lacks of what the pack needs (empty: it can run)."""
    if not _has(*NODE_API[:2], import_module):
        return [NODE_API[2]]
    if in_comfyui is None:
        in_comfyui = "comfy" in sys.modules or importlib.util.find_spec("comfy") is not None
    needs = CORE_NEEDS if in_comfyui else [need for need in CORE_NEEDS if not need[0].startswith("comfy.")]
    return [what for module, path, what in needs if not _has(module, path, import_module)]


def running_release(import_module=importlib.import_module) -> str | None:
    """ComfyUI's version (comfyui_version.py at its root, since 0.3), or None where there is none."""
    try:
        return str(import_module("comfyui_version").__version__)
    except (ImportError, AttributeError):
        return None


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def refusal(release: str | None, missing: list[str]) -> str:
    """The one line a user sees: which ComfyUI, what it lacks, what to do."""
    named = f"ComfyUI {release}" if release else "this ComfyUI (it reports no version)"
    if release and _version(release) > _version(NEWEST_TESTED):
        advice = (f"This ComfyUI is newer than the pack was tested on ({MINIMUM_COMFYUI} to {NEWEST_TESTED}): "
                  "update the HyperLoRA pack, or use a ComfyUI release it supports")
    elif release and _version(release) >= _version(MINIMUM_COMFYUI):
        advice = f"Update to ComfyUI {NEWEST_TESTED} or newer (the pack is tested on {MINIMUM_COMFYUI} to {NEWEST_TESTED})"
    else:
        advice = f"Update to ComfyUI {MINIMUM_COMFYUI} or newer"
    return (f"HyperLoRA cannot run on {named}: it lacks {'; '.join(missing)}. {advice}. "
            "The HyperLoRA nodes are not loaded.")
