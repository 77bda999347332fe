"""The Identity Hook (HOOKS for core's hook nodes) in real ComfyUI sampling.

A probe wrapped around every UNet call reads the live weight of a patched key, so the test sees the
strength ComfyUI really used at each step. Apply to Conditioning uses no hooks: test_comfyui_control.py.
"""

from __future__ import annotations

import pytest
import torch

from tests.integration.tiny_models import identity, patched_weights

PROBE_KEY = "diffusion_model.output_blocks.5.1.transformer_blocks.0.attn2.to_k.weight"
STEPS = 8


def sampler_conds(seed=0):
    gen = torch.Generator().manual_seed(seed)
    cond = [[torch.randn(1, 77, 2048, generator=gen), {"pooled_output": torch.randn(1, 1280, generator=gen)}]]
    uncond = [[torch.zeros(1, 77, 2048), {"pooled_output": torch.zeros(1, 1280)}]]
    return cond, uncond


class Probe:
    """Records, for every UNet call: sigma, which conds ran (0 = positive, 1 = negative), the probe weight."""

    def __init__(self, model):
        import comfy.utils

        self.model = model
        self.calls = []
        self._get = lambda: comfy.utils.get_attr(model.model, PROBE_KEY).detach().clone().float()

    def __call__(self, apply_model, args):
        self.calls.append((float(args["timestep"][0]), list(args["cond_or_uncond"]), self._get()))
        return apply_model(args["input"], args["timestep"], **args["c"])

    def per_step(self):
        steps = {}
        for sigma, which, weight in self.calls:
            steps.setdefault(sigma, []).append((which, weight))
        return sorted(steps.items(), reverse=True)


def probed(model):
    clone = model.clone()
    probe = Probe(clone)
    clone.set_model_unet_function_wrapper(probe)
    return clone, probe


def run_ksampler(comfyui, model, positive, negative, cfg=4.0, steps=STEPS):
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    (out,) = comfyui.nodes.common_ksampler(model, 7, steps, cfg, "euler", "normal", positive, negative, latent)
    return out["samples"]


@pytest.fixture
def lora_delta(comfyui, node, tiny_sdxl, checkpoint):
    """(coefficients, W0, D): the probe weight unpatched, and the change Apply makes at strength 1."""
    import comfy.model_management

    comfy.model_management.unload_all_models()  # an earlier test's patched clone may still be loaded
    coefficients = identity(comfyui, node, seed=5)
    w0 = tiny_sdxl.model.state_dict()[PROBE_KEY].detach().clone().float()
    (patched,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, 1.0, 0.0)
    delta = patched_weights(comfyui, patched)[PROBE_KEY] - w0
    assert delta.abs().max() > 1e-4
    return coefficients, w0, delta


def strength_of(weight, w0, delta) -> float:
    return float(((weight - w0) * delta).sum() / (delta * delta).sum())


def percent_sigma(model, percent):
    return model.get_model_object("model_sampling").percent_to_sigma(percent)


def test_identity_hook_works_with_core_hook_nodes_and_their_keyframes(comfyui, node, tiny_sdxl, lora_delta):
    from comfy_extras.nodes_hooks import CreateHookKeyframe, PairConditioningSetProperties

    coefficients, w0, delta = lora_delta
    (schedule,) = CreateHookKeyframe().create_hook_keyframe(1.0, 0.0)
    (schedule,) = CreateHookKeyframe().create_hook_keyframe(0.5, 0.5, schedule)
    (hooks,) = node("HyperLoRAIdentityHook").create(coefficients, 0.6, hook_kf=schedule)
    positive, negative = sampler_conds()
    pos, neg = PairConditioningSetProperties().set_properties(positive, negative, 1.0, "default", hooks=hooks)
    model, probe = probed(tiny_sdxl)
    run_ksampler(comfyui, model, pos, neg, steps=4)
    half = percent_sigma(tiny_sdxl, 0.5)
    strengths = []
    for sigma, calls in probe.per_step():
        assert len(calls) == 1
        strengths.append(strength_of(calls[0][1], w0, delta))
        assert strengths[-1] == pytest.approx(0.6 if sigma > half else 0.3, rel=1e-4)
    assert strengths[0] == pytest.approx(0.6, rel=1e-4) and strengths[-1] == pytest.approx(0.3, rel=1e-4)
    assert torch.equal(tiny_sdxl.model.state_dict()[PROBE_KEY].float(), w0)


@pytest.mark.parametrize("strength, start", [(float("nan"), 0.0), (1.0, float("nan"))])
def test_identity_hook_refuses_nan_keyframes_from_core(comfyui, node, lora_delta, strength, start):
    from comfy_extras.nodes_hooks import CreateHookKeyframe

    coefficients, _, _ = lora_delta
    (schedule,) = CreateHookKeyframe().create_hook_keyframe(strength, start)
    with pytest.raises(ValueError, match="hook_kf: keyframe 1's"):
        node("HyperLoRAIdentityHook").create(coefficients, 0.6, hook_kf=schedule)
