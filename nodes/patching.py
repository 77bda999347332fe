"""Put LoRA factors on a ComfyUI MODEL: a patched clone, keyed directly by model weight.

The factors are already keyed by ComfyUI state-dict key, so they go to `add_patches` as
LoRAAdapters without ComfyUI's name-parsing LoRA loader. Every key must land on a weight of
the right shape; otherwise the model is not the SDXL UNet the checkpoint was made for and we
stop with an error instead of silently patching part of it.
"""

from __future__ import annotations

SHOW_KEYS = 3


def model_type_name(model) -> str:
    inner = getattr(model, "model", None)
    config = getattr(inner, "model_config", None)
    return type(config).__name__ if config is not None else type(inner).__name__


def check_model_matches(model, factors) -> None:
    """Raise if any factor key has no weight, or a weight of another shape, in the model."""
    state = model.model_state_dict()
    unmapped = []
    for key, up in factors.up.items():
        weight = state.get(key)
        expected = (up.shape[0], factors.down[key].shape[1])
        if weight is None:
            unmapped.append(f"{key} (no such weight)")
        elif tuple(weight.shape) != expected:
            unmapped.append(f"{key} (model {tuple(weight.shape)}, LoRA {expected})")
    if unmapped:
        first = "\n  ".join(unmapped[:SHOW_KEYS])
        raise ValueError(
            f"This HyperLoRA checkpoint makes LoRAs for the SDXL UNet, but the connected model is "
            f"{model_type_name(model)}: {len(unmapped)} of {len(factors.up)} LoRA weights do not fit it. "
            f"First ones:\n  {first}\nConnect an SDXL checkpoint (photoreal SDXL models such as RealVisXL work "
            "best), and make sure the HyperLoRA checkpoint is an SDXL one.")


def patch_model(model, weighted):
    """A clone of `model` with each (LoraFactors, strength) added; the input model is left untouched."""
    from comfy.weight_adapter import LoRAAdapter

    from ..hyperlora_core.validate import finite

    for _, strength in weighted:
        finite(strength, "The LoRA strength")  # NaN would make every patched weight NaN
    patched = model.clone()
    for factors, strength in weighted:
        if strength == 0:
            continue
        check_model_matches(model, factors)
        patches = {key: LoRAAdapter(set(), (factors.up[key], factors.down[key], factors.alpha, None, None, None))
                   for key in factors.up}
        added = patched.add_patches(patches, strength)
        if len(added) != len(patches):  # cannot happen after the check; guards against a changed ComfyUI
            raise RuntimeError(f"ComfyUI accepted only {len(added)} of {len(patches)} HyperLoRA weights.")
    return patched
