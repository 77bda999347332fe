"""Export LoRA: write an identity as an ordinary SDXL LoRA file into ComfyUI's output folder."""

from __future__ import annotations

import os
import re

import torch

from .. import hyperlora_core as hl
from ..hyperlora_core.lora_file import lora_metadata, write_lora_atomically
from ..hyperlora_core.trainer_lora import trainer_state_dict
from .lora_destination import (
    DESTINATIONS,
    TRAINER_STYLE,
    destination_folder,
    destination_prefix,
    refresh_lists,
)
from .types import CATEGORY, COEFFS

KEY_STYLES = ("comfy", "kohya", "comfy_trainer")
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def _inside(root: str, path: str) -> bool:
    try:
        return path != root and os.path.commonpath([root, path]) == root
    except ValueError:  # another drive on Windows
        return False


def output_file(output_dir: str, filename_prefix: str) -> str:
    """`<output>/<prefix>_00001_.safetensors` with the next free number; the prefix may not leave the folder."""
    root = os.path.realpath(output_dir)
    prefix = filename_prefix.strip() or "hyperlora"
    target = os.path.realpath(os.path.join(root, prefix))
    if not _inside(root, target):
        raise ValueError(f"The filename_prefix '{filename_prefix}' points outside ComfyUI's output folder "
                         f"({root}). Use a name such as 'loras/my_face' (sub-folders are fine).")
    folder, base = os.path.split(target)
    os.makedirs(folder, exist_ok=True)
    pattern = re.compile(re.escape(base) + r"_(\d+)_\.safetensors$")
    numbers = [int(m.group(1)) for name in os.listdir(folder) if (m := pattern.match(name))]
    return os.path.join(folder, f"{base}_{max(numbers, default=0) + 1:05}_.safetensors")


class HyperLoRAExportLoRA:
    DESCRIPTION = ("Saves the identity as a normal SDXL LoRA (.safetensors) in ComfyUI's output folder, usable "
                   "without HyperLoRA (Load LoRA, other tools) or as a start for fine-tuning. Loaded at strength s it "
                   "equals HyperLoRA Apply with ID strength s and Base strength s x base_strength.")
    CATEGORY = f"{CATEGORY}"
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Where the file was written.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "coefficients": (COEFFS, {"tooltip": "The identity to save, from Predict Coefficients or Mix Identities."}),
            "filename_prefix": ("STRING", {"default": "loras/hyperlora", "tooltip": "File name inside the output "
                                           "folder; a number is added. Sub-folders allowed, leaving the folder not."}),
            "key_style": (KEY_STYLES, {"default": "comfy", "tooltip": "comfy: the checkpoint's own (diffusers-style) "
                                       "names, read by ComfyUI and most UIs. kohya: LDM-style names for kohya "
                                       "sd-scripts and tools built on it (e.g. for fine-tuning). comfy_trainer: "
                                       "ComfyUI model keys and alpha 1, what core Train LoRA can continue "
                                       "training from (existing_lora); core Load LoRA reads it too."}),
            "base_strength": ("FLOAT", {"default": 0.0, "min": -4.0, "max": 4.0, "step": 0.01, "tooltip": "Bake the "
                              "Base-LoRA in, relative to the ID-LoRA (0: ID only; needs a Base-LoRA)."}),
            "recommended_strength": ("FLOAT", {"default": 0.8, "min": 0.0, "max": 4.0, "step": 0.01, "tooltip":
                                     "Written into the file's metadata for whoever loads it; does not change it."}),
            "precision": (tuple(DTYPES), {"default": "fp16", "tooltip": "fp16 is the usual LoRA precision; fp32 "
                                          "doubles the size and keeps every digit."}),
        }, "optional": {
            "destination": (DESTINATIONS, {"default": "output", "tooltip": "output: ComfyUI's output folder. loras: "
                            "models/loras (a leading 'loras/' in the prefix is dropped), so core Load LoRA and "
                            "Train LoRA list the file at once."}),
        }}

    def save(self, coefficients, filename_prefix, key_style, base_strength, recommended_strength, precision,
             destination="output"):
        weighted = [(coefficients.factors("id"), 1.0)]
        if base_strength != 0:
            weighted.append((coefficients.factors("base"), base_strength))
        if key_style == TRAINER_STYLE:
            tensors = trainer_state_dict(weighted, dtype=DTYPES[precision])
        else:
            tensors = hl.kohya_state_dict(weighted, style=key_style, dtype=DTYPES[precision])
        root = destination_folder(destination)
        path = output_file(root, destination_prefix(filename_prefix, destination, key_style))
        metadata = lora_metadata(coefficients.hyperlora.name, key_style, base_strength, recommended_strength)
        write_lora_atomically(path, tensors, metadata)
        refresh_lists(destination)
        return {"ui": {"text": [path]}, "result": (path,)}
