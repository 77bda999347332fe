"""LoRA weights as plain data: factors keyed by the model weight they patch, and kohya files.

A HyperLoRA module is applied as delta_W = strength * alpha / r * up @ down.
Several weighted LoRAs (a slider, an ID plus a Base LoRA) can be written as one
file exactly by concatenating their ranks and folding each weight into `down`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..validate import finite
from .naming import ldm_style_name


@dataclass
class LoraFactors:
    """Low-rank weight changes keyed by ComfyUI model key."""

    up: dict[str, torch.Tensor]  # (out, r)
    down: dict[str, torch.Tensor]  # (r, in)
    alpha: float
    names: dict[str, str]  # model key -> kohya module name, e.g. "lora_unet_..._attn1_to_q"

    def to(self, device=None, dtype=None) -> LoraFactors:
        def move(d):
            return {k: v.to(device=device, dtype=dtype) for k, v in d.items()}

        return LoraFactors(move(self.up), move(self.down), self.alpha, dict(self.names))


WeightedLoras = list[tuple[LoraFactors, float]]


def _kohya_name(name: str, style: str) -> str:
    if style == "comfy":
        return name
    if style == "kohya":
        module, projection = name.rsplit("_to_", 1)
        return f"{ldm_style_name(module)}_to_{projection}"
    raise ValueError(f"Unknown LoRA key style '{style}'. Use 'comfy' or 'kohya'.")


def kohya_state_dict(weighted: WeightedLoras, style: str = "comfy",
                     dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One kohya LoRA state dict for a weighted list of LoRAs.

    A single LoRA at strength 1 keeps its own alpha. Otherwise ranks are concatenated:
    up = [up_1 ... up_n], down = [c_1 down_1; ...; c_n down_n] with c_i = s_i * alpha_i / r_i and
    alpha = total rank, which gives exactly sum_i s_i * alpha_i / r_i * up_i @ down_i.
    """
    if not weighted:
        raise ValueError("There is no LoRA to save.")
    for number, (_, strength) in enumerate(weighted, 1):
        finite(strength, f"The strength of LoRA {number} of {len(weighted)}")
    keys = list(weighted[0][0].up)
    for factors, _ in weighted[1:]:
        if list(factors.up) != keys:
            raise ValueError("These LoRAs patch different layers (they come from different HyperLoRA "
                             "checkpoints) and cannot be combined into one file.")
    single = len(weighted) == 1 and weighted[0][1] == 1.0
    out: dict[str, torch.Tensor] = {}
    for key in keys:
        name = _kohya_name(weighted[0][0].names[key], style)
        if single:
            factors = weighted[0][0]
            up, down, alpha = factors.up[key], factors.down[key], factors.alpha
        else:
            up = torch.cat([f.up[key].float() for f, _ in weighted], dim=1)
            down = torch.cat([f.down[key].float() * (s * f.alpha / f.down[key].shape[0]) for f, s in weighted])
            alpha = float(down.shape[0])
        out[f"{name}.lora_up.weight"] = up.to(dtype).contiguous()
        out[f"{name}.lora_down.weight"] = down.to(dtype).contiguous()
        out[f"{name}.alpha"] = torch.tensor(float(alpha))
    return out
