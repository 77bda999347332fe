"""Where Export LoRA writes: ComfyUI's output folder, or models/loras so LoRA tools list the file at once."""

from __future__ import annotations

from ..hyperlora_core.engine.trainer_lora import trainer_file_prefix
from .folders import forget_cached_list

DESTINATIONS = ("output", "loras")
TRAINER_STYLE = "comfy_trainer"


def destination_folder(destination: str) -> str:
    """The root folder of a destination: the output folder, or the first registered loras folder."""
    import folder_paths

    if destination == "output":
        return folder_paths.get_output_directory()
    if destination == "loras":
        folders = folder_paths.get_folder_paths("loras")
        if not folders:
            raise ValueError("ComfyUI has no loras folder registered; choose destination 'output'.")
        return folders[0]
    raise ValueError(f"Unknown destination '{destination}'. Use one of: {', '.join(DESTINATIONS)}.")


def destination_prefix(prefix: str, destination: str, key_style: str) -> str:
    """The file prefix inside the destination: in models/loras a leading 'loras/' (the default prefix, meant
    for the output folder) is dropped; files for core Train LoRA get the '_0_steps' it reads from the name."""
    # Only spaces are trimmed here: output_file refuses control characters, so they must reach it.
    if destination == "loras" and prefix.strip(" ").replace("\\", "/").startswith("loras/"):
        prefix = prefix.strip(" ")[len("loras/"):]
    if key_style != TRAINER_STYLE:
        return prefix
    if not prefix.strip(" ") or prefix.rstrip(" ").endswith(("/", "\\")):
        prefix = prefix.rstrip(" ") + "hyperlora"  # a folder only: Train LoRA still needs a name
    return trainer_file_prefix(prefix.rstrip(" "))


def refresh_lists(destination: str) -> None:
    """Drop ComfyUI's cached loras list, so Load LoRA and Train LoRA show the new file without a restart."""
    if destination == "loras":
        forget_cached_list("loras")
