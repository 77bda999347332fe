"""A ComfyUI CLIP_VISION model seen through the face pipeline's CLIP encoder interface."""

from __future__ import annotations

import torch


class ComfyCLIPEncoder:
    """encode(pixel_values (B, 3, 224, 224)) -> penultimate hidden states (B, 257, E), float32 on the CPU.

    The face pipeline has already applied CLIP's resize, crop and normalisation (the official
    processor's math), so the pixels go straight into the vision transformer and skip ComfyUI's
    own preprocessing.
    """

    def __init__(self, clip_vision):
        if not hasattr(clip_vision, "model") or not hasattr(clip_vision, "patcher"):
            raise ValueError("The clip_vision input is not a CLIP vision model. Connect Load CLIP Vision "
                             "(a ViT-L/14 file) or HyperLoRA CLIP Vision Loader.")
        self.clip_vision = clip_vision
        self.cache_owner = clip_vision  # a new wrapper per run: the loaded model is what answers (feature_cache)

    @torch.no_grad()
    def encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        import comfy.model_management as mm

        cv = self.clip_vision
        mm.load_model_gpu(cv.patcher)
        out = cv.model(pixel_values=pixel_values.to(cv.load_device).float(), intermediate_output=-2)
        return out[1].float().cpu()
