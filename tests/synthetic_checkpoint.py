"""Synthetic HyperLoRA checkpoints in the released layout (random weights, exact names and shapes).

Tiny widths keep tests fast; `sdxl_modules()` gives the full 140-module list for benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from hyperlora_core.engine.naming import PROJECTIONS, ldm_style_name

TINY_MODULES = [
    ("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1", 16, None),
    ("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2", 16, 24),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1", 32, None),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2", 32, 24),
    ("lora_unet_up_blocks_0_attentions_2_transformer_blocks_1_attn1", 32, None),
    ("lora_unet_up_blocks_1_attentions_1_transformer_blocks_0_attn2", 16, 24),
]


def sdxl_modules() -> list[tuple[str, int, int | None]]:
    """All 140 attention modules of the SDXL UNet as (diffusers-style name, hidden_size, cross_dim).

    Order follows the UNet (down, mid, up), attn1 before attn2 in each transformer block.
    """
    levels = [("down_blocks_1", 2, 640, 2), ("down_blocks_2", 2, 1280, 10), ("mid_block", 1, 1280, 10),
              ("up_blocks_0", 3, 1280, 10), ("up_blocks_1", 3, 640, 2)]
    modules = []
    for block, attentions, hidden, depth in levels:
        for a in range(attentions):
            for tb in range(depth):
                base = f"lora_unet_{block}_attentions_{a}_transformer_blocks_{tb}"
                modules.append((f"{base}_attn1", hidden, None))
                modules.append((f"{base}_attn2", hidden, 2048))
    return modules


def _in_features(hidden, cross, proj):
    return cross if proj in ("to_k", "to_v") and cross else hidden


def resampler_state_dict(gen, *, queries, dim, depth, inner, ff_mult, num_basis, x_dim, y_dim=None,
                         dtype=torch.float16):
    def rnd(*shape, scale=None):
        scale = scale if scale is not None else shape[-1] ** -0.5
        return (torch.randn(*shape, generator=gen) * scale).to(dtype)

    sd = {"latents": rnd(1, queries, dim, scale=dim ** -0.5),
          "proj_in.weight": rnd(dim, x_dim), "proj_in.bias": rnd(dim, scale=0.02),
          "proj_out.weight": rnd(num_basis, dim), "proj_out.bias": rnd(num_basis, scale=0.02)}
    if y_dim:
        sd["proj_in_2.weight"] = rnd(dim, y_dim)
        sd["proj_in_2.bias"] = rnd(dim, scale=0.02)
    attns = ("attn1", "attn2", "attn3") if y_dim else ("attn1", "attn2")
    norms = ["norm_attn1", "norm_attn2_l", "norm_attn2_x", "norm_ff"] + (["norm_attn3_l", "norm_attn3_y"] if y_dim else [])
    for j in range(depth):
        p = f"layers.{j}"
        for n in norms:
            sd[f"{p}.{n}.weight"] = (1 + 0.1 * torch.randn(dim, generator=gen)).to(dtype)
            sd[f"{p}.{n}.bias"] = rnd(dim, scale=0.1)
        for a in attns:
            for w in ("to_q", "to_k", "to_v"):
                sd[f"{p}.{a}.{w}.weight"] = rnd(inner, dim)
            sd[f"{p}.{a}.to_out.0.weight"] = rnd(dim, inner)
        sd[f"{p}.ff.net.0.proj.weight"] = rnd(dim * ff_mult, dim)
        sd[f"{p}.ff.net.0.proj.bias"] = rnd(dim * ff_mult, scale=0.02)
        sd[f"{p}.ff.net.2.weight"] = rnd(dim, dim * ff_mult)
        sd[f"{p}.ff.net.2.bias"] = rnd(dim, scale=0.02)
    return sd


def write_bases(path: Path, modules, num_basis, rank, with_base, gen, dtype=torch.float16):
    sd = {}
    ranks = {"id": rank, "base": rank // 2} if with_base else {"id": rank}
    for i, (_, hidden, cross) in enumerate(modules):
        for proj in PROJECTIONS:
            fan_in = _in_features(hidden, cross, proj)
            for kind, r in ranks.items():
                sd[f"{i}.{proj}.{kind}_down_basis"] = torch.randn(num_basis, fan_in, r, generator=gen).to(dtype)
                sd[f"{i}.{proj}.{kind}_up_basis"] = torch.randn(num_basis, r, hidden, generator=gen).to(dtype)
    save_file(sd, str(path))


def write_synthetic_checkpoint(folder, *, modules=TINY_MODULES, num_basis=8, rank=4, dim=32, depth=2, heads=2,
                               dim_head=8, ff_mult=4, embed_dim=24, id_tokens=4, clip_dim=None, two_conditions=True,
                               with_base=True, naming="diffusers", dtype=torch.float16, seed=0) -> Path:
    """Write a checkpoint folder in the released layout and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    clip_dim = clip_dim or embed_dim
    names = [m[0] if naming == "diffusers" else ldm_style_name(m[0]) for m in modules]
    spec = {n: {"hidden_size": h, "cross_attention_dim": c} for n, (_, h, c) in zip(names, modules)}
    (folder / "hyper_lora_modules.json").write_text(json.dumps(spec, indent=1))
    write_bases(folder / "hyper_lora_modules.safetensors", modules, num_basis, rank, with_base, gen, dtype)
    queries = 8 * len(modules)
    common = {"queries": queries, "dim": dim, "depth": depth, "inner": heads * dim_head, "ff_mult": ff_mult,
                  "num_basis": num_basis, "dtype": dtype}
    save_file(resampler_state_dict(gen, x_dim=embed_dim, y_dim=clip_dim if two_conditions else None, **common),
              str(folder / "resampler.safetensors"))
    projector = {"0.weight": (torch.randn(id_tokens * embed_dim, 512, generator=gen) * 512 ** -0.5).to(dtype),
                 "0.bias": (torch.randn(id_tokens * embed_dim, generator=gen) * 0.02).to(dtype),
                 "2.weight": torch.ones(embed_dim, dtype=dtype),
                 "2.bias": torch.zeros(embed_dim, dtype=dtype)}
    save_file(projector, str(folder / "id_projector.safetensors"))
    if with_base:
        save_file(resampler_state_dict(gen, x_dim=clip_dim, **common), str(folder / "base_resampler.safetensors"))
    return folder
