"""Where Export LoRA writes: ComfyUI's output folder, or models/loras so LoRA tools list the file at once."""

from __future__ import annotations

from ..hyperlora_core.trainer_lora import trainer_file_prefix

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
    prefix = prefix.strip()
    if destination == "loras" and prefix.replace("\\", "/").startswith("loras/"):
        prefix = prefix[len("loras/"):]
    return trainer_file_prefix(prefix or "hyperlora") if key_style == TRAINER_STYLE else prefix


def refresh_lists(destination: str) -> None:
    """Drop ComfyUI's cached loras list, so Load LoRA and Train LoRA show the new file without a restart."""
    if destination == "loras":
        import folder_paths

        getattr(folder_paths, "filename_list_cache", {}).pop("loras", None)
