"""Scheduled and regional identities (Apply to Conditioning, Identity Hook) in real ComfyUI sampling.

A probe wrapped around every UNet call reads the live weight of a patched key, so the tests see the
strength ComfyUI really used at each step; regional predictions are checked against the model that
Apply patches globally (classic add_patches) on the same x_t.
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


def test_window_strength_is_exact_inside_zero_outside_with_one_unet_call_per_step(
        comfyui, node, tiny_sdxl, lora_delta):
    coefficients, w0, delta = lora_delta
    positive, negative = sampler_conds()
    pos, neg = node("HyperLoRAApplyConditioning").apply(positive, negative, coefficients, 0.7, 0.3, 0.7)
    model, probe = probed(tiny_sdxl)
    run_ksampler(comfyui, model, pos, neg, cfg=4.0)
    steps = probe.per_step()
    assert len(steps) == STEPS
    hi, lo = percent_sigma(tiny_sdxl, 0.3), percent_sigma(tiny_sdxl, 0.7)
    inside = 0
    for sigma, calls in steps:
        assert len(calls) == 1, f"sigma {sigma}: {len(calls)} UNet calls"  # positive + negative batched
        (which, weight), = calls
        assert sorted(which) == [0, 1]
        if lo <= sigma <= hi:
            inside += 1
            assert strength_of(weight, w0, delta) == pytest.approx(0.7, rel=1e-5)
            torch.testing.assert_close(weight, w0 + 0.7 * delta, rtol=1e-5, atol=1e-6)
        else:
            assert torch.equal(weight, w0), f"patched outside the window at sigma {sigma}"
    assert 2 <= inside < STEPS
    assert torch.equal(tiny_sdxl.model.state_dict()[PROBE_KEY].float(), w0)  # restored after sampling


def test_whole_run_identity_costs_one_call_per_step_and_equals_apply(comfyui, node, tiny_sdxl, lora_delta):
    coefficients = lora_delta[0]
    positive, negative = sampler_conds()
    pos, neg = node("HyperLoRAApplyConditioning").apply(positive, negative, coefficients, 0.8, 0.0, 1.0)
    model, probe = probed(tiny_sdxl)
    hooked = run_ksampler(comfyui, model, pos, neg, steps=3)
    assert [len(calls) for _, calls in probe.per_step()] == [1] * 3
    (patched,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, 0.8, 0.0)
    torch.testing.assert_close(hooked, run_ksampler(comfyui, patched, positive, negative, steps=3),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("steps", [6, 3], ids=["ramp finer than steps", "ramp denser than steps"])
def test_fades_follow_the_keyframe_ramp_and_reach_full_strength(comfyui, node, tiny_sdxl, lora_delta, steps):
    from hyperlora_core.schedule import fade_keyframes

    coefficients, w0, delta = lora_delta
    positive, negative = sampler_conds()
    start, end, fade_in, fade_out = 0.0, 0.9, 0.3, 0.2
    pos, neg = node("HyperLoRAApplyConditioning").apply(positive, negative, coefficients, 0.8, start, end,
                                                        fade_in=fade_in, fade_out=fade_out)
    model, probe = probed(tiny_sdxl)
    run_ksampler(comfyui, model, pos, neg, steps=steps)
    keyframes = [(percent_sigma(tiny_sdxl, p), value) for p, value in fade_keyframes(start, end, fade_in, fade_out)]
    seen = []
    for sigma, calls in probe.per_step():
        assert len(calls) == 1
        weight = calls[0][1]
        if sigma < percent_sigma(tiny_sdxl, end):
            assert torch.equal(weight, w0)
            continue
        expected = [value for start_sigma, value in keyframes if start_sigma >= sigma][-1]
        assert strength_of(weight, w0, delta) == pytest.approx(0.8 * expected, rel=1e-4)
        seen.append(expected)
    assert seen[0] < 1.0 and 1.0 in seen
    if steps == 3:  # step 2 sits at 1/3 of sampling, past the fade-in: full strength despite 30 keyframes before
        assert seen[1] == 1.0


def test_strength_zero_or_empty_window_changes_nothing(comfyui, node, lora_delta):
    coefficients = lora_delta[0]
    positive, negative = sampler_conds()
    apply = node("HyperLoRAApplyConditioning").apply
    assert apply(positive, negative, coefficients, 0.0, 0.0, 1.0) == (positive, negative)
    assert apply(positive, negative, coefficients, 0.8, 0.6, 0.6) == (positive, negative)


# ------------------------------------------------------------------------------------ regions


def denoised_once(comfyui, model, positive, negative, sigma=3.0):
    """The model's denoised prediction at one x_t (fixed noise), cfg 1: the positive conds alone."""
    import comfy.samplers

    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(1.0)

    def one_call(model_k, x, sigmas, extra_args=None, callback=None, disable=None):
        return model_k(x, sigmas[0] * x.new_ones([x.shape[0]]), **extra_args)

    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(9))
    return guider.sample(noise, torch.zeros(1, 4, 8, 8), comfy.samplers.KSAMPLER(one_call),
                         torch.tensor([sigma, 0.0]), seed=0)


def column_mask(columns, width=8):
    mask = torch.zeros(1, 8, width)
    mask[..., columns] = 1.0
    return mask


@pytest.mark.parametrize("layout", [
    [[0, 1, 2], [5, 6, 7]],
    [[0, 1], [3, 4], [6, 7]],
], ids=["two identities", "three identities"])
def test_each_mask_gets_exactly_its_globally_patched_identity(comfyui, node, tiny_sdxl, checkpoint, layout):
    positive, negative = sampler_conds(seed=1)
    people = [identity(comfyui, node, seed=20 + i) for i in range(len(layout))]
    strengths = [0.9, 0.7, 1.1][:len(layout)]
    pos, neg = positive, negative
    for coefficients, strength, columns in zip(people, strengths, layout):
        pos, neg = node("HyperLoRAApplyConditioning").apply(pos, neg, coefficients, strength, 0.0, 1.0,
                                                            mask=column_mask(columns))
    model, probe = probed(tiny_sdxl)
    regional = denoised_once(comfyui, model, pos, neg)
    assert len(probe.calls) == len(layout) + 1  # one pass per identity, one for the background
    covered = set()
    for coefficients, strength, columns in zip(people, strengths, layout):
        (global_model,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, strength, 0.0)
        reference = denoised_once(comfyui, global_model, positive, negative)
        torch.testing.assert_close(regional[..., columns], reference[..., columns], rtol=0, atol=1e-6)
        assert not torch.allclose(regional, reference, atol=1e-4)  # elsewhere it differs
        covered.update(columns)
    between = [c for c in range(8) if c not in covered]
    plain = denoised_once(comfyui, tiny_sdxl, positive, negative)
    torch.testing.assert_close(regional[..., between], plain[..., between], rtol=0, atol=1e-6)


def test_region_prompt_replaces_the_scene_prompt_inside_the_mask(comfyui, node, tiny_sdxl, checkpoint):
    positive, negative = sampler_conds(seed=1)
    region, _ = sampler_conds(seed=2)
    coefficients = identity(comfyui, node, seed=30)
    mask = column_mask([0, 1, 2, 3])
    pos, neg = node("HyperLoRAApplyConditioning").apply(positive, negative, coefficients, 0.8, 0.0, 1.0,
                                                        mask=mask, region_positive=region)
    regional = denoised_once(comfyui, tiny_sdxl, pos, neg)
    (global_model,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, 0.8, 0.0)
    person = denoised_once(comfyui, global_model, region, negative)
    scene = denoised_once(comfyui, tiny_sdxl, positive, negative)
    torch.testing.assert_close(regional[..., :4], person[..., :4], rtol=0, atol=1e-6)
    torch.testing.assert_close(regional[..., 4:], scene[..., 4:], rtol=0, atol=1e-6)


def test_a_model_that_is_not_sdxl_is_refused_when_sampling(comfyui, node, checkpoint, lora_delta):
    from tests.integration.tiny_models import SD15_CONFIG, build_unet

    coefficients = lora_delta[0]
    sd15 = build_unet("SD15", SD15_CONFIG)
    gen = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 77, 768, generator=gen), {}]]
    negative = [[torch.zeros(1, 77, 768), {}]]
    pos, neg = node("HyperLoRAApplyConditioning").apply(positive, negative, coefficients, 0.8, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"connected model is SD15: \d+ of 128"):
        run_ksampler(comfyui, sd15, pos, neg, steps=1)


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


def test_a_window_and_a_mask_together(comfyui, node, tiny_sdxl, checkpoint):
    positive, negative = sampler_conds(seed=1)
    coefficients = identity(comfyui, node, seed=40)
    mask = column_mask([0, 1, 2, 3])
    pos, neg = node("HyperLoRAApplyConditioning").apply(positive, negative, coefficients, 0.8, 0.4, 1.0, mask=mask)
    (global_model,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, 0.8, 0.0)
    early, late = percent_sigma(tiny_sdxl, 0.1), percent_sigma(tiny_sdxl, 0.7)
    plain_early = denoised_once(comfyui, tiny_sdxl, positive, negative, early)
    torch.testing.assert_close(denoised_once(comfyui, tiny_sdxl, pos, neg, early), plain_early, rtol=0, atol=1e-6)
    regional = denoised_once(comfyui, tiny_sdxl, pos, neg, late)
    person = denoised_once(comfyui, global_model, positive, negative, late)
    scene = denoised_once(comfyui, tiny_sdxl, positive, negative, late)
    torch.testing.assert_close(regional[..., :4], person[..., :4], rtol=0, atol=1e-6)
    torch.testing.assert_close(regional[..., 4:], scene[..., 4:], rtol=0, atol=1e-6)


def test_a_masked_identity_costs_two_unet_calls_per_step_with_cfg(comfyui, node, tiny_sdxl, checkpoint):
    positive, negative = sampler_conds()
    coefficients = identity(comfyui, node, seed=41)
    pos, neg = node("HyperLoRAApplyConditioning").apply(positive, negative, coefficients, 0.8, 0.0, 1.0,
                                                        mask=column_mask([0, 1, 2]))
    model, probe = probed(tiny_sdxl)
    run_ksampler(comfyui, model, pos, neg, cfg=4.0, steps=2)
    for _, calls in probe.per_step():  # identity (positive + negative batched), then the background
        assert sorted(sorted(which) for which, _ in calls) == [[0, 1], [0, 1]]


@pytest.mark.parametrize("strength, start", [(float("nan"), 0.0), (1.0, float("nan"))])
def test_identity_hook_refuses_nan_keyframes_from_core(comfyui, node, lora_delta, strength, start):
    from comfy_extras.nodes_hooks import CreateHookKeyframe

    coefficients, _, _ = lora_delta
    (schedule,) = CreateHookKeyframe().create_hook_keyframe(strength, start)
    with pytest.raises(ValueError, match="hook_kf: keyframe 1's"):
        node("HyperLoRAIdentityHook").create(coefficients, 0.6, hook_kf=schedule)
