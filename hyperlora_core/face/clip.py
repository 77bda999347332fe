"""CLIP ViT-L/14 image features: the official preprocessing and the transformers encoder.

The preprocessing is implemented here (not taken from whichever CLIP loader is used) so that every
encoder, the official transformers folder or a ComfyUI CLIP_VISION model, sees identical pixels.
It is the math of transformers' CLIPImageProcessor (PIL backend) with the released
preprocessor_config.json: shortest side to 224 (bicubic), centre crop 224, /255, CLIP mean/std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

CLIP_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPEncoder(Protocol):
    """Anything that turns CLIP pixel values (B, 3, 224, 224) into penultimate hidden states (B, 257, E)."""

    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor: ...


def _pixels(image: Image.Image) -> np.ndarray:
    image = image.convert("RGB")
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(CLIP_SIZE * long / short)  # truncated, as transformers does
    size = (CLIP_SIZE, new_long) if width <= height else (new_long, CLIP_SIZE)
    array = np.asarray(image.resize(size, Image.Resampling.BICUBIC))
    top, left = (array.shape[0] - CLIP_SIZE) // 2, (array.shape[1] - CLIP_SIZE) // 2
    array = array[top:top + CLIP_SIZE, left:left + CLIP_SIZE]
    unit = (array.astype(np.float64) * (1.0 / 255.0)).astype(np.float32)
    normalised = (unit - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)
    return normalised.transpose(2, 0, 1)


def clip_pixel_values(images: list[Image.Image]) -> torch.Tensor:
    """CLIP pixel values (B, 3, 224, 224) float32 of the images."""
    if not images:
        raise ValueError("No images to encode with CLIP.")
    return torch.from_numpy(np.stack([_pixels(image) for image in images]))


class TransformersCLIPEncoder:
    """The official encoder: a transformers CLIP vision model folder, penultimate hidden states."""

    def __init__(self, model, device="cpu", dtype: torch.dtype = torch.float32, drop_unused_layer: bool = True):
        """drop_unused_layer: remove the model's last layer in place (drop_last_layer); False for a model the
        caller also uses for something else."""
        self.model = model.eval()
        self.device = torch.device(device)
        self.dtype = dtype
        self.penultimate_last = drop_last_layer(model) if drop_unused_layer else False

    @classmethod
    def from_folder(cls, clip_folder, device="cpu", dtype: torch.dtype = torch.float32) -> TransformersCLIPEncoder:
        """Load models/hyper_lora/clip_vit/clip_vit_large_14 (config.json + model.safetensors; a full CLIP
        model's folder works too, its text half is ignored)."""
        folder = Path(clip_folder).expanduser()
        missing = [name for name in ("config.json", "model.safetensors") if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"The CLIP image encoder folder {folder} lacks {', '.join(missing)}. Download config.json and "
                f"model.safetensors of openai/clip-vit-large-patch14 into models/hyper_lora/clip_vit/"
                f"clip_vit_large_14/, or use a ViT-L/14 CLIP vision model from models/clip_vision instead.")
        from ..engine.safetensors_io import SafetensorsFile
        from ..validate import load_json_file

        # Our own header and JSON checks first: they name the file and the fix (a pickle renamed to
        # model.safetensors, a truncated download), where transformers would say "header too large".
        SafetensorsFile(folder / "model.safetensors")
        load_json_file(folder / "config.json", "Download config.json of openai/clip-vit-large-patch14 again.")
        from transformers import CLIPVisionModel

        try:
            model = CLIPVisionModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
        except Exception as exc:  # transformers raises many types for a damaged or foreign folder
            raise RuntimeError(f"Could not load the CLIP image encoder from {folder} ({exc}). Download "
                               f"openai/clip-vit-large-patch14's config.json and model.safetensors again.") from exc
        return cls(model.to(device=device, dtype=dtype), device, dtype)

    @torch.inference_mode()
    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Penultimate hidden states (hidden_states[-2], before the final layer norm), float32 on the CPU."""
        pixel_values = pixel_values.to(self.device, self.dtype)
        if self.penultimate_last:  # the last layer is gone: its input is the encoder's output
            return self.model(pixel_values=pixel_values).last_hidden_state.float().cpu()
        return self.model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-2].float().cpu()


def drop_last_layer(model) -> bool:
    """Remove the last transformer layer of a transformers CLIP vision model, whose output HyperLoRA never
    uses (it takes the penultimate hidden states): 1/24 of ViT-L/14's work and 50 MB of fp32 weights.
    The encoder's output is then what hidden_states[-2] was, bit for bit. False (model untouched) where
    the layers are not found (transformers nests them under vision_model up to 4.x, not in 5.x)."""
    vision = getattr(model, "vision_model", model)
    layers = getattr(getattr(vision, "encoder", None), "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) < 2:
        return False
    vision.encoder.layers = layers[:-1]
    return True
