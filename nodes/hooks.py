"""An identity as a ComfyUI weight hook (HOOKS), and the Identity Hook node for core's hook nodes.

Only for people who want core's keyframe and hook nodes: our own scheduled and regional identities (Apply
to Conditioning) use no hooks, because a conditioning with core hooks turns dynamic VRAM off for that
sampling (ComfyUI then loads a second, non-dynamic copy of the model). A hook carries our ready-made
LoRAAdapter dicts (no kohya name mapping) and is patched in by the sampler only for the conditioning it is
attached to. ComfyUI drops hook keys the model lacks without a word, so the hook checks the sampled model
when the sampler registers it, like Apply does at once.
"""

from __future__ import annotations

from ..hyperlora_core.validate import finite
from .patching import check_model_matches
from .types import CATEGORY
from .v3 import Coeffs, io, output, schema

HOOKS_SINCE = "v0.3.7 (December 2024)"
TESTED_WITH = "v0.3.64"


def comfy_hooks():
    """comfy.hooks, or an error that says which ComfyUI is needed."""
    try:
        from comfy import hooks
    except ImportError as exc:
        raise RuntimeError(_too_old()) from exc
    if not all(hasattr(hooks, name) for name in ("WeightHook", "HookGroup", "HookKeyframe", "HookKeyframeGroup")):
        raise RuntimeError(_too_old())
    return hooks


def _too_old() -> str:
    return (f"This ComfyUI has no weight hooks (comfy.hooks), which HyperLoRA Identity Hook needs. Update "
            f"ComfyUI to {HOOKS_SINCE} or newer (this pack is tested with {TESTED_WITH}); until then use HyperLoRA "
            "Apply to Conditioning (start/end, fades, masks) or HyperLoRA Apply, which need no hooks.")


def _registers_only_on_a_fitting_unet(factors):
    """A hook's custom_should_register: never on CLIP (the LoRA is for the UNet); on a UNet only if every
    LoRA weight fits, otherwise the same error as Apply, raised when the sampler starts."""

    def should_register(hook, model, model_options, target_dict, registered):
        hooks = comfy_hooks()
        if target_dict.get("target") == hooks.EnumWeightTarget.Clip:
            return False
        check_model_matches(model, factors)
        return True

    return should_register


def identity_hook(coefficients, strength: float):
    """A WeightHook that adds the identity's ID-LoRA at `strength` (times any keyframe strength)."""
    from comfy.weight_adapter import LoRAAdapter

    hooks = comfy_hooks()
    factors = coefficients.factors("id")
    hook = hooks.WeightHook(strength_model=strength, strength_clip=0.0)
    hook.weights = {key: LoRAAdapter(set(), (factors.up[key], factors.down[key], factors.alpha, None, None, None))
                    for key in factors.up}
    hook.weights_clip = {}
    hook.need_weight_init = False  # the dict is already keyed by model weight: no name mapping
    hook.custom_should_register = _registers_only_on_a_fitting_unet(factors)
    return hook


def identity_hook_group(coefficients, strength: float, keyframes=None, prev_hooks=None):
    """HookGroup with the identity's hook (after prev_hooks' hooks, which are cloned, not changed)."""
    hooks = comfy_hooks()
    hook = identity_hook(coefficients, strength)
    if keyframes is not None:
        hook.hook_keyframe = keyframes.clone()
    group = prev_hooks.clone() if prev_hooks is not None else hooks.HookGroup()
    group.add(hook)
    return group


def check_keyframes(keyframes) -> None:
    """The keyframes from core's Create Hook Keyframe, checked: a NaN strength turns the image black, a NaN
    start_percent makes core fail with an IndexError while sampling."""
    for number, keyframe in enumerate(getattr(keyframes, "keyframes", None) or [], start=1):
        finite(keyframe.strength, f"hook_kf: keyframe {number}'s strength")
        start = keyframe.start_percent
        if not isinstance(start, (int, float)) or not 0.0 <= start <= 1.0:  # NaN fails both comparisons
            raise ValueError(f"hook_kf: keyframe {number}'s start_percent must be a number from 0 to 1; got "
                             f"{start!r}. Set it in the Create Hook Keyframe node.")


class HyperLoRAIdentityHook(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAIdentityHook", display_name="HyperLoRA Identity Hook", category=f"{CATEGORY}/control",
            description=("The identity as a ComfyUI hook (HOOKS), for core's hook nodes: Cond Set Props, Set Hook "
                         "Keyframes, Cond Pair Set Props, ... Core hooks turn dynamic VRAM off for that sampling "
                         "(ComfyUI loads a second copy of the model), so most people want HyperLoRA Apply to "
                         "Conditioning, which does start/end, fades and masks in one node without hooks."),
            inputs=[
                Coeffs.Input("coefficients", tooltip="From Predict Coefficients or Mix Identities."),
                io.Float.Input("strength", default=0.8, min=-4.0, max=4.0, step=0.01, tooltip=(
                    "LoRA strength of the identity (0.75-0.85 usually); keyframes multiply it.")),
                io.Hooks.Input("prev_hooks", optional=True, tooltip=(
                    "Hooks to combine with (e.g. another LoRA hook); they stay as they are and run together with "
                    "the identity.")),
                io.HookKeyframes.Input("hook_kf", optional=True, tooltip=(
                    "A strength schedule for the identity only, from core's Create Hook Keyframe nodes.")),
            ],
            outputs=[output(io.Hooks, "hooks", "The identity hook (plus prev_hooks): attach it to positive AND "
                                               "negative in one node (e.g. Cond Pair Set Props) so both share it and "
                                               "cost one model pass per step. A conditioning with hooks turns "
                                               "dynamic VRAM off for its sampling.")])

    @classmethod
    def execute(cls, coefficients, strength, prev_hooks=None, hook_kf=None):
        check_keyframes(hook_kf)
        return io.NodeOutput(identity_hook_group(coefficients, finite(strength, "strength"), hook_kf, prev_hooks))

