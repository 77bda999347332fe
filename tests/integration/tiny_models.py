"""Tiny models built with real ComfyUI classes: an SDXL-shaped UNet, an SD1.5 one, a ControlNet,
and a HyperLoRA checkpoint whose module list is read off the tiny UNet's transformer blocks.

ComfyUI creates layers without initialising them (its weights normally come from a file), so every
parameter is filled from a seeded generator here.
"""

from __future__ import annotations

import re

import torch

from tests.synthetic_checkpoint import write_synthetic_checkpoint

SDXL_CONFIG = {  # SDXL's layout (levels, adm, 2048-wide context) at a fraction of the width and depth
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4,
    "model_channels": 32, "num_res_blocks": [2, 2, 2], "transformer_depth": [0, 0, 1, 1, 2, 2],
    "channel_mult": [1, 2, 4], "transformer_depth_middle": 1, "use_linear_in_transformer": True,
    "context_dim": 2048, "num_head_channels": 16, "transformer_depth_output": [0, 0, 0, 1, 1, 1, 2, 2, 2],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
SD15_CONFIG = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 32, "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
    "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
ATTN_KEY = re.compile(r"^diffusion_model\.(input_blocks\.\d+\.1|middle_block\.1|output_blocks\.\d+\.1)"
                      r"\.transformer_blocks\.(\d+)\.(attn[12])\.to_q\.weight$")


def _initialise(module: torch.nn.Module, seed: int, fan_in: bool = False) -> None:
    """Every parameter random, times 0.05; with fan_in, matrices times 1/sqrt(fan-in) and the rest times 0.02, so
    that a full-width, full-depth UNet (70 transformer blocks) keeps finite activations."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            scale = (p[0].numel() ** -0.5 if p.ndim > 1 else 0.02) if fan_in else 0.05
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


def build_unet(config_class_name: str = "SDXL", unet_config: dict | None = None, seed: int = 0,
               fan_in: bool = False):
    """A ComfyUI MODEL (ModelPatcher) of the named supported-model class, float32 on the CPU (weights scaled by
    fan-in with `fan_in`: see _initialise)."""
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    unet_config = dict(unet_config or SDXL_CONFIG)
    model_config = getattr(comfy.supported_models, config_class_name)(unet_config)
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({})
    _initialise(model.diffusion_model, seed, fan_in)
    device = comfy.model_management.get_torch_device()
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=device)
    # how core's loaders let a node rebuild the model (0.33's Train LoRA deep-copies it through this)
    patcher.cached_patcher_init = (_rebuild_unet, (config_class_name, unet_config, seed, fan_in))
    return patcher


def _rebuild_unet(config_class_name: str, unet_config: dict, seed: int, fan_in: bool = False,
                  disable_dynamic: bool = False):
    return build_unet(config_class_name, unet_config, seed, fan_in)


def attention_modules(model) -> list[tuple[str, int, int | None]]:
    """(LDM-style kohya name, hidden size, cross-attention width or None) of every attn1/attn2, in key order."""
    state = model.model_state_dict()
    modules = []
    for key in state:
        m = ATTN_KEY.match(key)
        if m:
            block, tb, attn = m.groups()
            name = f"lora_unet_{block.replace('.', '_')}_transformer_blocks_{tb}_{attn}"
            hidden = state[key].shape[0]
            cross = state[key.replace("to_q", "to_k")].shape[1] if attn == "attn2" else None
            modules.append((name, hidden, cross))
    return modules


def write_matching_checkpoint(folder, model, **kwargs):
    """A synthetic HyperLoRA checkpoint for exactly this UNet's attention layers (released head split)."""
    options = {"heads": 12, "dim_head": 64, "dim": 32, "depth": 1, "clip_dim": 32, "dtype": torch.float32, "seed": 11,
               **kwargs}  # clip_dim: the width of the tiny CLIP of tests/face_fixtures.py
    return write_synthetic_checkpoint(folder, modules=attention_modules(model), **options)


def build_controlnet(seed: int = 1):
    """A ControlNet for the tiny SDXL UNet, as comfy.controlnet builds one from a file."""
    import comfy.cldm.cldm
    import comfy.controlnet
    import comfy.model_management
    import comfy.ops

    config = dict(SDXL_CONFIG)
    config.pop("out_channels")
    config.update(hint_channels=3, dtype=torch.float32, device=torch.device("cpu"),
                  operations=comfy.ops.disable_weight_init)
    control_model = comfy.cldm.cldm.ControlNet(**config)
    _initialise(control_model, seed)
    return comfy.controlnet.ControlNet(control_model, load_device=comfy.model_management.get_torch_device())


VARIANT = "tiny_sdxl_variant"  # the checkpoint folder name the conftest registers


def identity(comfyui, node, seed=0, policy="auto"):
    """Coefficients for the tiny checkpoint, loaded through our loader node: unit tokens, like the resampler's."""
    (hyperlora,) = node("HyperLoRACheckpointLoader").load(VARIANT, "auto", policy)
    gen = torch.Generator().manual_seed(seed)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    alpha, beta = (torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1) for _ in range(2))
    return comfyui.pack.nodes.types.Coefficients(hyperlora, alpha, beta)


def patched_weights(comfyui, model) -> dict[str, torch.Tensor]:
    """The weights ComfyUI actually computes with: load the patcher (applies the patches), read, unpatch."""
    import comfy.model_management

    comfy.model_management.load_models_gpu([model], force_full_load=True)
    weights = {k: v.detach().clone().float() for k, v in model.model.state_dict().items()}
    model.unpatch_model(model.offload_device)
    return weights
