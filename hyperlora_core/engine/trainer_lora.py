"""LoRA files that ComfyUI's own Train LoRA node can continue training from (its `existing_lora`).

Core Train LoRA reads an existing LoRA by the names of the model's modules
(`diffusion_model.<module>.lora_up.weight` / `.lora_down.weight`) and always trains with alpha 1:
it looks for the alpha under a key it never writes itself, so any alpha in the file is ignored there,
while core Load LoRA does read `<module>.alpha`. A file that means the same to both therefore stores
alpha = 1 and folds the real scale into the factors: sqrt(scale * r) into up and into down, so that
1 / r * up' @ down' = scale * up @ down. It also needs a file name with `_<steps>_steps_` in it
(Train LoRA reads the step count from the name): see `trainer_file_prefix`.
"""

from __future__ import annotations

import math

import torch

from .lora import WeightedLoras

WEIGHT_SUFFIX = ".weight"


def trainer_file_prefix(prefix: str) -> str:
    """'loras/alice' -> 'loras/alice_0_steps': Train LoRA parses the steps done so far from the name."""
    return f"{prefix}_0_steps"


def trainer_state_dict(weighted: WeightedLoras, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The sum of the weighted LoRAs, keyed by ComfyUI model module, alpha 1 (see the module docstring)."""
    if not weighted:
        raise ValueError("There is no LoRA to save.")
    keys = list(weighted[0][0].up)
    if any(list(factors.up) != keys for factors, _ in weighted[1:]):
        raise ValueError("These LoRAs patch different layers (they come from different HyperLoRA checkpoints) "
                         "and cannot be combined into one file.")
    out: dict[str, torch.Tensor] = {}
    for key in keys:
        if not key.endswith(WEIGHT_SUFFIX):
            raise ValueError(f"Unexpected model key '{key}': LoRA targets end in '.weight'.")
        up = torch.cat([f.up[key].float() for f, _ in weighted], dim=1)
        down = torch.cat([f.down[key].float() * (s * f.alpha / f.down[key].shape[0]) for f, s in weighted])
        root = math.sqrt(down.shape[0])  # now delta = up @ down = 1 / r * (root * up) @ (root * down)
        module = key[: -len(WEIGHT_SUFFIX)]
        out[f"{module}.lora_up.weight"] = (up * root).to(dtype).contiguous()
        out[f"{module}.lora_down.weight"] = (down * root).to(dtype).contiguous()
        out[f"{module}.alpha"] = torch.tensor(1.0)
    return out
