"""Model folders: register HyperLoRA's folders with ComfyUI and list what is actually installed.

Folders go through `folder_paths` so that extra_model_paths.yaml works for them like for
core folders. Each folder gets an explicit set of file extensions: a folder registered
with an empty set would list every file to any node that asks for it.
"""

from __future__ import annotations

import logging
import os
import time

from ..hyperlora_core.engine.checkpoint import MODULES_JSON
from ..hyperlora_core.face.antelopev2 import REQUIRED_FILES as ANTELOPEV2_FILES
from ..hyperlora_core.paths import is_inside
from ..hyperlora_core.validate import shown

CLIP_WEIGHTS = "model.safetensors"
INSIGHTFACE_MODELS = "models"  # insightface keeps its model packs in <root>/models/<pack name>

# folder name -> (default location under ComfyUI/models, extensions of the files we look for)
FOLDERS = {
    "hyper_lora": (("hyper_lora", "hyper_lora"), {".json", ".safetensors"}),
    "hyper_lora_clip_vit": (("hyper_lora", "clip_vit"), {".json", ".safetensors"}),
    "hyper_lora_clip_processor": (("hyper_lora", "clip_processor"), {".json"}),
    "insightface": (("insightface",), {".onnx"}),
    "hyper_lora_identities": (("hyper_lora", "identities"), {".safetensors"}),  # Save / Load Identity
}
OUR_FOLDERS = ("hyper_lora", "hyper_lora_clip_vit", "hyper_lora_clip_processor", "hyper_lora_identities")

# Bounds of the folder walk behind our dropdowns. ComfyUI's own listing (os.walk with followlinks)
# never ends on a folder holding two links to itself, and /object_info would hang with it; ours
# visits each real folder once, stops at a depth no download layout needs, and gives up after a
# few seconds (listing what it found) rather than keep the server from answering.
MAX_DEPTH = 8
MAX_SECONDS = 5.0
SKIPPED_DIRS = {".git", "__pycache__"}

logger = logging.getLogger(__name__)


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

    found: set[str] = set()
    for base in folder_paths.get_folder_paths(folder_name):
        found.update(folder for folder, files in walk_folders(base) if folder and set(required) <= files)
    return sorted(found)


def walk_folders(base: str, max_depth: int = MAX_DEPTH, max_seconds: float = MAX_SECONDS):
    """(relative '/'-separated folder, names of its files) for `base` and its sub-folders.

    Follows symlinks (users link model folders in), but each real folder once: symlink loops end.
    """
    deadline = time.monotonic() + max_seconds
    visited: set[str] = set()
    pending = [(base, "", 0)]
    while pending:
        path, relative, depth = pending.pop()
        real = os.path.realpath(path)
        if real in visited:
            continue
        visited.add(real)
        try:
            entries = list(os.scandir(path))
        except OSError:  # unreadable, vanished, or a loop the kernel refuses to resolve
            continue
        files = set()
        for entry in entries:
            try:
                if entry.is_dir():
                    if depth < max_depth and entry.name not in SKIPPED_DIRS:
                        child = f"{relative}/{entry.name}" if relative else entry.name
                        pending.append((entry.path, child, depth + 1))
                elif entry.is_file():
                    files.add(entry.name)
            except OSError:
                continue
        yield relative, files
        if time.monotonic() > deadline:
            logger.warning("HyperLoRA: listing %s took over %.0f s; the list may be incomplete. Look for "
                           "symlinks pointing back into the folder.", base, max_seconds)
            return


def list_checkpoints() -> list[str]:
    """HyperLoRA variants: folders that contain hyper_lora_modules.json."""
    return _folders_with("hyper_lora", (MODULES_JSON,))


def list_clip_models() -> list[str]:
    """CLIP ViT folders in the official transformers layout (config.json + model.safetensors)."""
    return _folders_with("hyper_lora_clip_vit", ("config.json", CLIP_WEIGHTS))


def list_face_models() -> list[str]:
    """AntelopeV2 folders: the detector, landmark and recognition ONNX files side by side.

    Named as other face packs (InstantID, IP-Adapter FaceID, PuLID) name them: the README layout
    insightface/models/antelopev2 is listed as `antelopev2`, the nested unzip mistake as
    `antelopev2/antelopev2`. The `models/` that insightface itself puts in its root is left out.
    """
    return sorted({face_model_name(folder) for folder in _folders_with("insightface", ANTELOPEV2_FILES)})


def face_model_name(relative: str) -> str:
    """The listed name of a face model folder given relative to an insightface root."""
    head, _, rest = relative.replace(os.sep, "/").partition("/")
    return rest if head == INSIGHTFACE_MODELS and rest else relative


def canonical_face_model(name: str) -> str | None:
    """The listed name an old saved value stands for (`models/antelopev2` was listed before), or None."""
    if not isinstance(name, str):
        return None
    listed = list_face_models()
    if name in listed:
        return name
    renamed = face_model_name(name)
    return renamed if renamed in listed else None


def resolve_face_model(name: str) -> str:
    """Absolute path of a listed face model folder; old names (`models/antelopev2`) work too.

    The first folder with all the files wins: registered roots in order, in each the README layout
    (<insightface>/models/<name>) before a folder of that name directly under the root.
    """
    import folder_paths

    found = []
    for base in folder_paths.get_folder_paths("insightface"):
        for relative in (os.path.join(INSIGHTFACE_MODELS, name), name):
            path = os.path.normpath(os.path.join(base, relative))
            if is_inside(base, path) and os.path.isdir(path):
                found.append(path)
    complete = [path for path in found if all(os.path.isfile(os.path.join(path, f)) for f in ANTELOPEV2_FILES)]
    if complete or found:
        return (complete or found)[0]  # an incomplete folder still gets the loader's list of missing files
    return resolve_folder("insightface", name, "face model folder")  # the error naming the places searched


def forget_cached_list(folder_name: str) -> None:
    """ComfyUI caches file lists and re-reads them when a folder's date changes; a file saved into an
    existing sub-folder changes only that sub-folder's date, so drop the cached list to show it at once."""
    import folder_paths

    getattr(folder_paths, "filename_list_cache", {}).pop(folder_name, None)


def resolve_folder(folder_name: str, relative: str, what: str) -> str:
    """Absolute path of a listed sub-folder; a clear error naming the places searched if it is gone."""
    import folder_paths

    if any(ord(char) < 32 for char in relative):
        raise ValueError(f"The {what} name {shown(relative)} contains a control character; pick it from the list.")
    bases = folder_paths.get_folder_paths(folder_name)
    for base in bases:
        path = os.path.normpath(os.path.join(base, relative))
        if is_inside(base, path) and os.path.isdir(path):
            return path
    searched = "\n  ".join(bases) or "(no folder registered)"
    raise ValueError(f"The {what} {shown(relative)} was not found. Searched:\n  {searched}\n"
                     "Check the folder name, or press 'r' in ComfyUI to refresh the lists after installing.")
