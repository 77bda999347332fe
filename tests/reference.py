"""An independent, deliberately naive implementation of the spec (hyperlora-format.md, sections 4-6).

Written from the spec text only, in float64, one layer and one projection at a time,
so the engine's batched and fused code has something honest to be compared with.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file

PROJ = ["to_q", "to_k", "to_v", "to_out"]

# Section 2's table, copied literally.
LDM_PREFIX = {
    "lora_unet_down_blocks_1_attentions_0": "lora_unet_input_blocks_4_1",
    "lora_unet_down_blocks_1_attentions_1": "lora_unet_input_blocks_5_1",
    "lora_unet_down_blocks_2_attentions_0": "lora_unet_input_blocks_7_1",
    "lora_unet_down_blocks_2_attentions_1": "lora_unet_input_blocks_8_1",
    "lora_unet_mid_block_attentions_0": "lora_unet_middle_block_1",
    "lora_unet_up_blocks_0_attentions_0": "lora_unet_output_blocks_0_1",
    "lora_unet_up_blocks_0_attentions_1": "lora_unet_output_blocks_1_1",
    "lora_unet_up_blocks_0_attentions_2": "lora_unet_output_blocks_2_1",
    "lora_unet_up_blocks_1_attentions_0": "lora_unet_output_blocks_3_1",
    "lora_unet_up_blocks_1_attentions_1": "lora_unet_output_blocks_4_1",
    "lora_unet_up_blocks_1_attentions_2": "lora_unet_output_blocks_5_1",
}


def ldm_name(name: str) -> str:
    for old, new in LDM_PREFIX.items():
        if name.startswith(old + "_"):
            return new + name[len(old):]
    return name


def comfy_key(name: str, proj: str) -> str:
    """diffusion_model.<LDM path>.<proj>.weight, from the LDM-style name."""
    ldm = ldm_name(name)[len("lora_unet_"):]
    head, tail = ldm.split("_transformer_blocks_")
    parts = head.split("_")
    if parts[0] == "middle":
        path = "middle_block.1"
    else:
        path = f"{parts[0]}_blocks.{parts[2]}.{parts[3]}"
    tb, attn = tail.split("_")
    p = "to_out.0" if proj == "to_out" else proj
    return f"diffusion_model.{path}.transformer_blocks.{tb}.{attn}.{p}.weight"


def load64(path: Path) -> dict[str, torch.Tensor]:
    return {k: v.double() for k, v in load_file(str(path)).items()}


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def attention(q_in, kv_in, sd, prefix, heads):
    q = q_in @ sd[prefix + ".to_q.weight"].T
    k = kv_in @ sd[prefix + ".to_k.weight"].T
    v = kv_in @ sd[prefix + ".to_v.weight"].T
    d = q.shape[-1] // heads
    outs = []
    for h in range(heads):
        s = slice(h * d, (h + 1) * d)
        scores = q[..., s] @ k[..., s].transpose(-1, -2) / math.sqrt(d)
        outs.append(torch.softmax(scores, dim=-1) @ v[..., s])
    return torch.cat(outs, dim=-1) @ sd[prefix + ".to_out.0.weight"].T


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def resampler(sd, heads, x, y=None):
    lat = sd["latents"].repeat(x.shape[0], 1, 1)
    x = x @ sd["proj_in.weight"].T + sd["proj_in.bias"]
    if y is not None:
        y = y @ sd["proj_in_2.weight"].T + sd["proj_in_2.bias"]
    j = 0
    while f"layers.{j}.norm_attn1.weight" in sd:
        def ln(name, t, j=j):
            return layer_norm(t, sd[f"layers.{j}.{name}.weight"], sd[f"layers.{j}.{name}.bias"])
        n = ln("norm_attn1", lat)
        lat = lat + attention(n, n, sd, f"layers.{j}.attn1", heads)
        lat = lat + attention(ln("norm_attn2_l", lat), ln("norm_attn2_x", x), sd, f"layers.{j}.attn2", heads)
        if y is not None:
            lat = lat + attention(ln("norm_attn3_l", lat), ln("norm_attn3_y", y), sd, f"layers.{j}.attn3", heads)
        h = ln("norm_ff", lat) @ sd[f"layers.{j}.ff.net.0.proj.weight"].T + sd[f"layers.{j}.ff.net.0.proj.bias"]
        lat = lat + gelu(h) @ sd[f"layers.{j}.ff.net.2.weight"].T + sd[f"layers.{j}.ff.net.2.bias"]
        j += 1
    out = lat @ sd["proj_out.weight"].T + sd["proj_out.bias"]
    out = out.mean(0)
    return out / torch.sqrt((out ** 2).sum(-1, keepdim=True) + 1e-8)


def id_coefficients(folder, heads, arcface, clip):
    proj = load64(Path(folder) / "id_projector.safetensors")
    e = proj["2.weight"].shape[0]
    tokens = (arcface.double() @ proj["0.weight"].T + proj["0.bias"]).reshape(arcface.shape[0], -1, e)
    tokens = layer_norm(tokens, proj["2.weight"], proj["2.bias"])
    return resampler(load64(Path(folder) / "resampler.safetensors"), heads, tokens, clip.double())


def base_coefficients(folder, heads, clip):
    return resampler(load64(Path(folder) / "base_resampler.safetensors"), heads, clip.double())


def kohya_lora(folder, coefficients, kind="id"):
    """Section 6, one projection at a time: the kohya state dict named as in the JSON (float64)."""
    names = list(json.loads((Path(folder) / "hyper_lora_modules.json").read_text()))
    bases = load64(Path(folder) / "hyper_lora_modules.safetensors")
    c = coefficients.double()
    out = {}
    for i, name in enumerate(names):
        chunk = c[8 * i: 8 * i + 8]
        for p, proj in enumerate(PROJ):
            c_down, c_up = chunk[2 * p], chunk[2 * p + 1]
            down = sum(c_down[k] * bases[f"{i}.{proj}.{kind}_down_basis"][k] for k in range(c.shape[1]))
            up = sum(c_up[k] * bases[f"{i}.{proj}.{kind}_up_basis"][k] for k in range(c.shape[1]))
            pk = "to_out_0" if proj == "to_out" else proj
            out[f"{name}_{pk}.lora_down.weight"] = down.T
            out[f"{name}_{pk}.lora_up.weight"] = up.T
            out[f"{name}_{pk}.alpha"] = torch.tensor(down.shape[1] / 2)
    return out


def factor_delta(factors, key: str, strength: float = 1.0) -> torch.Tensor:
    """The weight change one model weight gets from LoRA factors: strength * alpha / rank * up @ down."""
    down = factors.down[key]
    return strength * factors.alpha / down.shape[0] * (factors.up[key] @ down)
