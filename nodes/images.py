"""ComfyUI IMAGE tensors (B, H, W, C floats in 0..1) to and from PIL images, and UI preview files."""

from __future__ import annotations

import os
import uuid

import numpy as np
import torch
from PIL import Image


def to_pil_list(images: torch.Tensor, name: str = "images") -> list[Image.Image]:
    """An IMAGE batch as PIL images; images of no pixels (0 high or wide) are refused, naming the input."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"Expected an IMAGE batch (B, H, W, C); got shape {tuple(images.shape)}.")
    if images.shape[0] and 0 in images.shape[1:3]:
        raise ValueError(f"The {name} input holds empty images ({images.shape[2]}x{images.shape[1]} pixels); "
                         "connect pictures that have pixels.")
    rgb = images[..., :3] if images.shape[-1] != 1 else images.expand(*images.shape[:-1], 3)
    arrays = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return [Image.fromarray(a, "RGB") for a in arrays]


def to_image_batch(pils: list[Image.Image]) -> torch.Tensor:
    """Stack PIL images of one size into an IMAGE batch."""
    arrays = [np.asarray(p.convert("RGB"), dtype=np.float32) / 255.0 for p in pils]
    return torch.from_numpy(np.stack(arrays))


def save_temp_previews(pils: list[Image.Image], prefix: str = "hyperlora_faces") -> list[dict]:
    """Save preview PNGs into ComfyUI's temp folder; the entries a node returns in ui["images"]."""
    import folder_paths

    folder = folder_paths.get_temp_directory()
    os.makedirs(folder, exist_ok=True)
    run = uuid.uuid4().hex[:8]
    entries = []
    for number, image in enumerate(pils):
        filename = f"{prefix}_{run}_{number:03}.png"
        image.save(os.path.join(folder, filename), compress_level=1)
        entries.append({"filename": filename, "subfolder": "", "type": "temp"})
    return entries
