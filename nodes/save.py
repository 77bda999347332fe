"""Export LoRA: write an identity as an ordinary SDXL LoRA file into ComfyUI's output folder."""

from __future__ import annotations

import os
import re

import torch

from .. import hyperlora_core as hl
from ..hyperlora_core.engine.lora_file import (
    READ_ONLY,
    folder_advice,
    lora_metadata,
    make_folders,
    remove_empty_folders,
    write_lora_atomically,
)
from ..hyperlora_core.engine.trainer_lora import trainer_state_dict
from ..hyperlora_core.paths import is_inside
from ..hyperlora_core.validate import finite, shown
from .lora_destination import (
    DESTINATIONS,
    TRAINER_STYLE,
    destination_folder,
    destination_prefix,
    refresh_lists,
)
from .types import CATEGORY
from .v3 import Coeffs, check_choices, io, output, schema

KEY_STYLES = ("comfy", "kohya", "comfy_trainer")
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


MAX_NAME_BYTES = 255  # the usual file name limit (ext4, NTFS, APFS)


def output_file(output_dir: str, filename_prefix: str, default_name: str = "hyperlora",
                extension: str = ".safetensors", folder_label: str = "ComfyUI's output folder",
                typed: str | None = None, created: list | None = None) -> str:
    """`<root>/<prefix>_00001_<extension>` with the next free number, like ComfyUI's Save nodes.

    The prefix may name sub-folders ('loras/me'); one ending in '/' (or '.', or empty) names only a
    folder and gets `default_name`. It may not leave `output_dir` (also not through a symlink), nor
    hold control characters, and the final name must fit the file system's 255-byte limit. Messages quote
    `typed`, the prefix as the user typed it (before a destination dropped a leading 'loras/'). The folders
    made for the prefix are appended to `created`, for the caller to remove if its write fails.
    """
    typed = filename_prefix if typed is None else typed
    if any(ord(char) < 32 or char == "\x7f" for char in filename_prefix):
        raise ValueError(f"The filename_prefix {shown(typed)} contains a control character (such as a "
                         "line break or NUL), which cannot be part of a file name. Type a plain name such as "
                         "'loras/my_face'.")
    root = os.path.realpath(output_dir)
    prefix = filename_prefix.strip()
    folder_only = not prefix or prefix.endswith(("/", os.sep)) or os.path.basename(os.path.normpath(prefix)) in (".", "")
    target = os.path.realpath(os.path.join(root, prefix))
    if folder_only:
        folder, base = target, default_name
    else:
        folder, base = os.path.split(target)
    if not is_inside(root, folder) or (not folder_only and target == root):
        raise ValueError(f"The filename_prefix {shown(typed)} points outside {folder_label} ({root}). "
                         "Use a name such as 'loras/my_face' (sub-folders are fine).")
    name_bytes = len(f"{base}_00001_{extension}".encode())
    if name_bytes > MAX_NAME_BYTES:
        raise ValueError(f"The filename_prefix gives a file name of {name_bytes} bytes, more than the "
                         f"{MAX_NAME_BYTES} a file system allows; shorten the name '{base[:40]}...'.")
    for part in os.path.relpath(folder, root).split(os.sep):
        if len(part.encode()) > MAX_NAME_BYTES:
            raise ValueError(f"The filename_prefix {shown(typed)} has a folder name of {len(part.encode())} bytes, "
                             f"more than the {MAX_NAME_BYTES} a file system allows; shorten '{part[:40]}...'.")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"The filename_prefix {shown(typed)} uses {folder} as a folder, but it is a file. "
                         "Choose another name.")
    try:
        made = make_folders(folder)
    except OSError as exc:
        advice = folder_advice(exc) if exc.errno in READ_ONLY else "Choose a shorter or simpler name"
        raise ValueError(f"Could not create the folder {folder} for the filename_prefix {shown(typed)} "
                         f"({exc.strerror or exc}). {advice}.") from None
    if created is not None:
        created += made
    pattern = re.compile(re.escape(base) + r"_(\d+)_" + re.escape(extension) + "$")
    numbers = [int(m.group(1)) for name in os.listdir(folder) if (m := pattern.match(name))]
    return os.path.join(folder, f"{base}_{max(numbers, default=0) + 1:05}_{extension}")


class HyperLoRAExportLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAExportLoRA", display_name="HyperLoRA Export LoRA", category=f"{CATEGORY}",
            description=("Saves the identity as a normal SDXL LoRA (.safetensors) in ComfyUI's output folder, usable "
                         "without HyperLoRA (Load LoRA, other tools) or as a start for fine-tuning. Loaded at "
                         "strength s it equals HyperLoRA Apply with ID strength s and Base strength s x "
                         "base_strength."),
            inputs=[
                Coeffs.Input("coefficients", tooltip="The identity to save, from Predict Coefficients or Mix "
                                                     "Identities."),
                io.String.Input("filename_prefix", default="loras/hyperlora", tooltip=(
                    "File name inside the output folder; a number is added. Sub-folders allowed, leaving the "
                    "folder not.")),
                io.Combo.Input("key_style", options=list(KEY_STYLES), default="comfy", tooltip=(
                    "comfy: the checkpoint's own (diffusers-style) names, read by ComfyUI and most UIs. kohya: "
                    "LDM-style names for kohya sd-scripts and tools built on it (e.g. for fine-tuning). "
                    "comfy_trainer: ComfyUI model keys and alpha 1, what core Train LoRA can continue training "
                    "from (existing_lora); core Load LoRA reads it too.")),
                io.Float.Input("base_strength", default=0.0, min=-4.0, max=4.0, step=0.01, tooltip=(
                    "Bake the Base-LoRA in, relative to the ID-LoRA (0: ID only; needs a Base-LoRA).")),
                io.Float.Input("recommended_strength", default=0.8, min=0.0, max=4.0, step=0.01, tooltip=(
                    "Written into the file's metadata for whoever loads it; does not change it.")),
                io.Combo.Input("precision", options=list(DTYPES), default="fp16", tooltip=(
                    "fp16 is the usual LoRA precision; fp32 doubles the size and keeps every digit.")),
                io.Combo.Input("destination", optional=True, options=list(DESTINATIONS), default="output", tooltip=(
                    "output: ComfyUI's output folder. loras: models/loras (a leading 'loras/' in the prefix is "
                    "dropped), so core Load LoRA and Train LoRA list the file at once.")),
            ],
            outputs=[output(io.String, "path", "Where the file was written.")],
            is_output_node=True)

    @classmethod
    def execute(cls, coefficients, filename_prefix, key_style, base_strength, recommended_strength, precision,
                destination="output"):
        check_choices(cls, key_style=(key_style, KEY_STYLES), precision=(precision, DTYPES),
                      destination=(destination, DESTINATIONS))
        base_strength = finite(base_strength, "base_strength")
        recommended_strength = finite(recommended_strength, "recommended_strength")

        weighted = [(coefficients.factors("id"), 1.0)]
        if base_strength != 0:
            weighted.append((coefficients.factors("base"), base_strength))
        if key_style == TRAINER_STYLE:
            tensors = trainer_state_dict(weighted, dtype=DTYPES[precision])
        else:
            tensors = hl.kohya_state_dict(weighted, style=key_style, dtype=DTYPES[precision])
        root = destination_folder(destination)
        label = "ComfyUI's output folder" if destination == "output" else "the loras folder"
        created = []
        path = output_file(root, destination_prefix(filename_prefix, destination, key_style), folder_label=label,
                           typed=filename_prefix, created=created)
        metadata = lora_metadata(coefficients.hyperlora.name, key_style, base_strength, recommended_strength)
        try:
            write_lora_atomically(path, tensors, metadata, overwrite=False)  # a numbered name of its own
        except BaseException:
            remove_empty_folders(created)  # the prefix's new sub-folders go again: nothing is left behind
            raise
        refresh_lists(destination)
        return io.NodeOutput(path, ui={"text": [path]})
