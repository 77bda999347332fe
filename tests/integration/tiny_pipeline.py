"""A whole tiny SDXL pipeline built from real ComfyUI classes: UNet (ModelPatcher), text encoder (comfy.sd.CLIP
with SDXL's CLIP-L + CLIP-G at a tiny width), VAE (comfy.sd.VAE, AutoencoderKL), ControlNet, CLIP vision.

Sized so that a shipped workflow (1024x1024, 30 steps) runs in seconds on a CPU: 32 channels at the
latent's full size, attention only at the lowest level. ComfyUI creates layers without initialising
them (weights normally come from a file), so every parameter is filled from a seeded generator.
Self-contained (imports only torch and ComfyUI): the test-only stand-in package standin_nodes/ loads it
inside the server, and the test loads it to build the HyperLoRA checkpoint that matches the UNet.
"""

from __future__ import annotations

import json
import os
import tempfile

import torch

TEXT_WIDTH = 32  # each of CLIP-L and CLIP-G: the UNet's context is both side by side
POOLED_WIDTH = 32  # CLIP-G's projection: the pooled output in SDXL's adm vector
UNET_CONFIG = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "num_classes": "sequential", "adm_in_channels": POOLED_WIDTH + 6 * 256, "in_channels": 4,
    "model_channels": 32, "num_res_blocks": [1, 1, 1], "transformer_depth": [0, 0, 1],
    "channel_mult": [1, 1, 2], "transformer_depth_middle": 1, "use_linear_in_transformer": True,
    "context_dim": 2 * TEXT_WIDTH, "num_head_channels": 16, "transformer_depth_output": [0, 0, 0, 0, 1, 1],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
TEXT_CONFIG = {"hidden_size": TEXT_WIDTH, "intermediate_size": 2 * TEXT_WIDTH, "num_attention_heads": 2,
               "num_hidden_layers": 3, "projection_dim": POOLED_WIDTH}
VAE_CONFIG = {"ddconfig": {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3,
                           "ch": 32, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [],
                           "dropout": 0.0}, "embed_dim": 4}
CLIP_VISION_WIDTHS = (1024, 1280, 1664)
PATCH_EMBEDDING = "embeddings.patch_embedding.weight"  # transformers saves it with or without "vision_model."  # ViT-L, ViT-H, ViT-bigG: real files, left to ComfyUI


def initialise(module: torch.nn.Module, seed: int, scale: float = 0.05) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module


def build_unet(seed: int = 0):
    """MODEL: comfy.supported_models.SDXL at a tiny width, float32."""
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    model_config = comfy.supported_models.SDXL(dict(UNET_CONFIG))
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({})
    initialise(model.diffusion_model, seed)
    device = comfy.model_management.get_torch_device()
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=device)
    # how core's loaders let a node rebuild the model (0.33's Train LoRA deep-copies it through this)
    patcher.cached_patcher_init = (_rebuild_unet, (seed,))
    return patcher


def _rebuild_unet(seed: int, disable_dynamic: bool = False):
    return build_unet(seed)


def build_clip(seed: int = 1):
    """CLIP: SDXL's own tokenizer and SDXLClipModel, both text models at TEXT_CONFIG's size."""
    import comfy.sd
    import comfy.supported_models

    target = comfy.supported_models.SDXL(dict(UNET_CONFIG)).clip_target()
    options = {"clip_l_model_config": dict(TEXT_CONFIG), "clip_g_model_config": dict(TEXT_CONFIG),
               "dtype": torch.float32}
    clip = comfy.sd.CLIP(target, model_options=options)
    initialise(clip.cond_stage_model, seed, scale=0.2)
    return clip


def build_vae(seed: int = 2):
    """VAE: comfy.sd.VAE with an AutoencoderKL of 32 channels (latents 4 x H/8 x W/8, as SDXL's)."""
    import comfy.ldm.models.autoencoder
    import comfy.sd

    config = {"params": VAE_CONFIG}
    weights = initialise(comfy.ldm.models.autoencoder.AutoencoderKL(**VAE_CONFIG), seed, scale=0.2).state_dict()
    return comfy.sd.VAE(sd=weights, config=config, dtype=torch.float32)


def build_controlnet(seed: int = 3):
    """CONTROL_NET for the tiny UNet, as comfy.controlnet builds one from a file."""
    import comfy.cldm.cldm
    import comfy.controlnet
    import comfy.model_management
    import comfy.ops

    config = dict(UNET_CONFIG)
    config.pop("out_channels")
    config.update(hint_channels=3, dtype=torch.float32, device=torch.device("cpu"),
                  operations=comfy.ops.disable_weight_init)
    control_model = initialise(comfy.cldm.cldm.ControlNet(**config), seed)
    return comfy.controlnet.ControlNet(control_model, load_device=comfy.model_management.get_torch_device())


def clip_vision_config(path: str) -> dict | None:
    """The transformers config of a tiny CLIP vision file (config.json beside it, or in its metadata), or
    None for a real-size file."""
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
        patches = [name for name in f.keys() if name.endswith(PATCH_EMBEDDING)]  # noqa: SIM118
        width = f.get_slice(patches[0]).get_shape()[0] if len(patches) == 1 else None
    if width is None or width in CLIP_VISION_WIDTHS:
        return None
    if "config" in metadata:
        return json.loads(metadata["config"])
    beside = os.path.join(os.path.dirname(path), "config.json")
    with open(beside, encoding="utf-8") as f:
        return json.load(f)


def load_clip_vision(path: str):
    """CLIP_VISION: comfy.clip_vision.ClipVisionModel (ComfyUI's ViT) with a tiny file's weights."""
    import comfy.clip_vision
    import comfy.utils

    config = clip_vision_config(path)
    keys = ("hidden_size", "image_size", "intermediate_size", "num_attention_heads", "num_hidden_layers",
            "patch_size", "hidden_act", "layer_norm_eps", "num_channels")
    config = {key: config[key] for key in keys if key in config} | {"model_type": "clip_vision_model"}
    with tempfile.TemporaryDirectory() as folder:
        config_path = os.path.join(folder, "config.json")
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        clip_vision = comfy.clip_vision.ClipVisionModel(config_path)
    weights = {name if name.startswith("vision_model.") else f"vision_model.{name}": tensor
               for name, tensor in comfy.utils.load_torch_file(path).items()}
    missing, _ = clip_vision.load_sd(weights)
    missing = [key for key in missing if "position_ids" not in key]
    if missing:
        raise RuntimeError(f"tiny CLIP vision file {path} lacks {missing[:5]}")
    return clip_vision
