"""Apply to Conditioning: an identity for a step window and/or a masked region, through weight hooks.

How the conditioning lists are rewritten (ComfyUI groups conds by HookGroup object per step):

* hooked copies: the region prompt (or the scene prompt) with the identity's HookGroup, the step window
  (intersected with any window the cond already has) and the mask. The *same* HookGroup object goes on
  positive and negative, so cfg > 1 costs one model pass per step for the identity.
* background: every cond without mask or area that is not an identity copy is marked a *default* cond
  (hooks it already carries, e.g. a core LoRA hook, stay on it). ComfyUI runs default
  conds only where the active conds leave room (weight relu(1 - sum of masks)): outside the window and
  outside the mask they give exactly the plain model, and inside they add nothing, so no identity is
  diluted and there is no extra model pass while an unmasked identity is active.
* chaining: conds that are already default, masked or identity copies (tagged IDENTITY_TAG) are kept as
  they are (never re-marked); the next node's region prompt defaults to the scene prompt, i.e. the
  default conds, unmarked.
"""

from __future__ import annotations

import logging

import torch

from ..hyperlora_core.schedule import check_window, window_is_empty
from ..hyperlora_core.validate import finite
from .hooks import comfy_hooks, fade_keyframe_group, identity_hook_group
from .types import CATEGORY, COEFFS

logger = logging.getLogger(__name__)

IDENTITY_TAG = "hyperlora_identity"  # marks our hooked copies (ComfyUI ignores keys it does not know)
PLACED = ("mask", "area", IDENTITY_TAG)  # a cond with any of these already has a place of its own


def is_placed(values: dict) -> bool:
    return any(key in values for key in PLACED)


def is_background(cond) -> bool:
    """A scene cond: already default, or one without mask or area that is not an identity copy."""
    return bool(cond[1].get("default")) or not is_placed(cond[1])


def mark_background(conds: list) -> list:
    """Unplaced conds become default conds (copies); everything else is passed on untouched."""
    out = []
    for tensor, values in conds:
        if not values.get("default") and not is_placed(values):
            values = {**values, "default": True}
        out.append([tensor, values])
    return out


def scene_prompt(conds: list) -> list:
    """The background conds as ordinary conds: what an identity is attached to by default."""
    out = []
    for tensor, values in conds:
        if is_background([tensor, values]):
            values = dict(values)
            values.pop("default", None)
            out.append([tensor, values])
    return out


def attach(conds: list, hooks, start: float, end: float, mask, cache: dict) -> list:
    """Copies of conds with the hooks (combined with any they carry, one object per pair via cache),
    the window intersected with their own, and the mask. Conds whose window becomes empty are dropped."""
    out = []
    for tensor, values in conds:
        values = dict(values)
        values.pop("default", None)
        own_start, own_end = values.get("start_percent", 0.0), values.get("end_percent", 1.0)
        s, e = max(own_start, start), min(own_end, end)
        if window_is_empty(s, e):
            continue
        if s > 0.0 or "start_percent" in values:
            values["start_percent"] = s
        if e < 1.0 or "end_percent" in values:
            values["end_percent"] = e
        previous = values.get("hooks")
        if previous is None:
            values["hooks"] = hooks
        else:
            if (previous, hooks) not in cache:
                cache[(previous, hooks)] = previous.clone_and_combine(hooks)
            values["hooks"] = cache[(previous, hooks)]
        if mask is not None:
            values.update(mask=mask, set_area_to_bounds=False, mask_strength=1.0)
        values[IDENTITY_TAG] = True
        out.append([tensor, values])
    return out


def check_mask(mask) -> torch.Tensor:
    """A (B, H, W) float mask in 0..1; a clear error for a wrong shape or NaN/inf values."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim != 3 or mask.shape[-1] < 1 or mask.shape[-2] < 1:
        raise ValueError(f"The mask must be a MASK (height x width, or a batch of them); got shape "
                         f"{tuple(mask.shape)}.")
    if not torch.isfinite(mask).all():
        raise ValueError("The mask contains NaN or infinite values; recreate it (e.g. with Solid Mask or Face "
                         "Mask).")
    if float(mask.max()) <= 0.0:
        logger.warning("HyperLoRA Apply to Conditioning: the mask is empty, so the identity shows nowhere.")
    return mask.float().clamp(0.0, 1.0)


def apply_identity(positive, negative, hooks, start: float, end: float, mask=None, region_positive=None):
    """(positive, negative) with the identity's hooked copies added and the scene marked as background."""
    cache: dict = {}
    source = region_positive if region_positive is not None else scene_prompt(positive)
    if not source:
        raise ValueError("The positive conditioning has no prompt without a mask of its own to give the "
                         "identity to; connect the person's prompt to region_positive.")
    outputs = []
    for conds, region in ((positive, source), (negative, scene_prompt(negative))):
        outputs.append(mark_background(conds) + attach(region, hooks, start, end, mask, cache))
    return tuple(outputs)


class HyperLoRAApplyConditioning:
    DESCRIPTION = ("Applies an identity through the conditioning instead of the model: only from start_at to "
                   "end_at of the steps (e.g. from 0.3, after the composition is set), with optional fades, "
                   "and with a mask only inside it. Chain one per person with a mask each for several people. "
                   "Connect the model to KSampler unchanged. Costs one extra model pass per step for each "
                   "masked identity; plain HyperLoRA Apply is faster for one identity on the whole image.")
    CATEGORY = f"{CATEGORY}/control"
    FUNCTION = "apply"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("positive", "negative")
    OUTPUT_TOOLTIPS = (
        ("The positive conditioning with the identity attached: connect to KSampler (or the next Apply to "
        "Conditioning for another person)."),
        "The negative conditioning, sharing the identity so cfg costs no extra pass: connect to KSampler.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        def fraction(default, tooltip):
            return ("FLOAT", {"default": default, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": tooltip})

        return {"required": {
            "positive": ("CONDITIONING", {"tooltip": "The scene prompt (starting with the trigger words)."}),
            "negative": ("CONDITIONING", {"tooltip": "The negative prompt."}),
            "coefficients": (COEFFS, {"tooltip": "From Predict Coefficients or Mix Identities."}),
            "strength": ("FLOAT", {"default": 0.8, "min": -4.0, "max": 4.0, "step": 0.01,
                                   "tooltip": "How strongly the identity is applied (0.75-0.85 usually). 0 "
                                              "turns it off."}),
            "start_at": fraction(0.0, "When the identity starts, as a fraction of the steps (0 = first step). "
                                      "Later starts let the prompt set the composition first."),
            "end_at": fraction(1.0, "When the identity stops (1 = last step). At or before start_at the "
                                    "identity is off."),
        }, "optional": {
            "mask": ("MASK", {"tooltip": "Where the identity goes (white = this person). Without a mask: the "
                                         "whole image. Outside every mask the plain model draws the scene."}),
            "region_positive": ("CONDITIONING", {"tooltip": "The prompt for this person inside the mask (e.g. "
                                                            "'a woman with red hair'); defaults to the scene "
                                                            "prompt."}),
            "fade_in": fraction(0.0, "Fraction of the steps over which the strength ramps up from start_at."),
            "fade_out": fraction(0.0, "Fraction of the steps over which the strength ramps down to end_at."),
        }}

    def apply(self, positive, negative, coefficients, strength, start_at, end_at, mask=None, region_positive=None,
              fade_in=0.0, fade_out=0.0):
        start, end, fade_in, fade_out = check_window(start_at, end_at, fade_in, fade_out)
        strength = finite(strength, "strength")
        comfy_hooks()  # the clear "update ComfyUI" error even when the identity is off
        if strength == 0.0 or window_is_empty(start, end):
            return (positive, negative)
        mask = check_mask(mask) if mask is not None else None
        hooks = identity_hook_group(coefficients, strength, fade_keyframe_group(start, end, fade_in, fade_out))
        return apply_identity(positive, negative, hooks, start, end, mask, region_positive)
