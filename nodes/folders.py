"""Model folders: register HyperLoRA's folders with ComfyUI and list what is actually installed.

Folders go through `folder_paths` so that extra_model_paths.yaml works for them like for
core folders. Each folder gets an explicit set of file extensions: a folder registered
with an empty set would list every file to any node that asks for it.
"""

from __future__ import annotations

import os

from ..hyperlora_core.checkpoint import MODULES_JSON
from ..hyperlora_core.face.antelopev2 import REQUIRED_FILES as ANTELOPEV2_FILES

CLIP_WEIGHTS = "model.safetensors"

# folder name -> (default location under ComfyUI/models, extensions of the files we look for)
FOLDERS = {
    "hyper_lora": (("hyper_lora", "hyper_lora"), {".json", ".safetensors"}),
    "hyper_lora_clip_vit": (("hyper_lora", "clip_vit"), {".json", ".safetensors"}),
    "hyper_lora_clip_processor": (("hyper_lora", "clip_processor"), {".json"}),
    "insightface": (("insightface",), {".onnx"}),
    "hyper_lora_identities": (("hyper_lora", "identities"), {".safetensors"}),  # Save / Load Identity
}
OUR_FOLDERS = ("hyper_lora", "hyper_lora_clip_vit", "hyper_lora_clip_processor", "hyper_lora_identities")


def register_folders() -> None:
    """Add our default folders (after any the user set in extra_model_paths.yaml)."""
    import folder_paths

    for name, (parts, extensions) in FOLDERS.items():
        existed = name in folder_paths.folder_names_and_paths
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, *parts))
        paths, current = folder_paths.folder_names_and_paths[name]
        if name in OUR_FOLDERS or not existed:
            merged = set(extensions)
        elif current:
            merged = set(current) | extensions  # another pack owns "insightface": keep its files listed too
        else:
            continue  # another pack lists every file in it already
        folder_paths.folder_names_and_paths[name] = (paths, merged)


def _folders_with(folder_name: str, required: tuple[str, ...]) -> list[str]:
    """Sub-folders (relative, '/'-separated) of a registered folder that contain all `required` files."""
    import folder_paths

    found: dict[str, set[str]] = {}
    for relative in folder_paths.get_filename_list(folder_name):
        relative = relative.replace(os.sep, "/")
        folder, _, filename = relative.rpartition("/")
        found.setdefault(folder, set()).add(filename)
    return sorted(folder for folder, files in found.items() if folder and set(required) <= files)


def list_checkpoints() -> list[str]:
    """HyperLoRA variants: folders that contain hyper_lora_modules.json."""
    return _folders_with("hyper_lora", (MODULES_JSON,))


def list_clip_models() -> list[str]:
    """CLIP ViT folders in the official transformers layout (config.json + model.safetensors)."""
    return _folders_with("hyper_lora_clip_vit", ("config.json", CLIP_WEIGHTS))


def list_face_models() -> list[str]:
    """AntelopeV2 folders: the detector, landmark and recognition ONNX files side by side."""
    return _folders_with("insightface", ANTELOPEV2_FILES)


def _inside(base: str, path: str) -> bool:
    base, path = os.path.abspath(base), os.path.abspath(path)
    try:
        return os.path.commonpath([base, path]) == base
    except ValueError:  # another drive on Windows
        return False


def resolve_folder(folder_name: str, relative: str, what: str) -> str:
    """Absolute path of a listed sub-folder; a clear error naming the places searched if it is gone."""
    import folder_paths

    bases = folder_paths.get_folder_paths(folder_name)
    for base in bases:
        path = os.path.normpath(os.path.join(base, relative))
        if _inside(base, path) and os.path.isdir(path):
            return path
    searched = "\n  ".join(bases) or "(no folder registered)"
    raise ValueError(f"The {what} '{relative}' was not found. Searched:\n  {searched}\n"
                     "Check the folder name, or press 'r' in ComfyUI to refresh the lists after installing.")
