"""Scheduled and regional identities (Apply to Conditioning) in real ComfyUI sampling, without core hooks.

Every prediction is checked against an independent reference: the model patched globally by core
`add_patches` (HyperLoRA Apply) for the rows and pixels that carry an identity, the plain model elsewhere.
Whole sampling runs are checked against an Euler loop written here from those per-step predictions.
"""

from __future__ import annotations

import pytest
import torch

from tests.integration.test_comfyui_hooks import sampler_conds
from tests.integration.tiny_models import identity

STEPS = 6
LATENT = (1, 4, 8, 8)
# (W + dW) x and W x + dW x differ by float rounding only; an identity changes the prediction by > 1e-3.
# The denoised values compared carry that rounding times sigma and cfg (3 x 4 here): up to 8.3e-5 on ComfyUI
# 0.33 (a few of 128 values; under 5e-5 on 0.3.64 and 0.14.1).
EXACT = {"rtol": 1e-5, "atol": 1e-4}
RUN_CLOSE = {"rtol": 1e-3, "atol": 1e-4}  # a whole sampling run accumulates that rounding over its steps
BATCHED = {"rtol": 1e-4, "atol": 1e-4}  # a latent batch of 2, or a LoRA and Apply underneath, batched with other rows


class CallCounter:
    """Counts UNet calls and their batch sizes (core's model_function_wrapper slot: ours is never used)."""

    def __init__(self):
        self.calls = []

    def __call__(self, apply_model, args):
        self.calls.append((float(args["timestep"][0]), args["input"].shape[0]))
        return apply_model(args["input"], args["timestep"], **args["c"])

    def per_step(self):
        steps = {}
        for sigma, batch in self.calls:
            steps.setdefault(sigma, []).append(batch)
        return [batches for _, batches in sorted(steps.items(), reverse=True)]


def counted(model):
    clone = model.clone()
    counter = CallCounter()
    clone.set_model_unet_function_wrapper(counter)
    return clone, counter


def place(node, model, positive, negative, coefficients, strength=0.8, start=0.0, end=1.0, **optional):
    pos, neg, placed = node("HyperLoRAApplyConditioning").apply(model, positive, negative, coefficients, strength,
                                                               start, end, **optional)
    return placed, pos, neg


def apply_globally(node, model, coefficients, strength):
    (patched,) = node("HyperLoRAApply").apply(model, coefficients, strength, 0.0)
    return patched


def denoised(model, positive, negative, x, sigma, cfg=1.0):
    """The sampler's denoised prediction (cfg applied) at one x_t and sigma, in the model's latent space: one
    step through CFGGuider (whose output is scaled back to ComfyUI's latent space, hence process_in)."""
    import comfy.samplers

    guider = comfy.samplers.CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)

    def one_call(model_k, _x, sigmas, extra_args=None, callback=None, disable=None):
        return model_k(x, sigmas[0] * x.new_ones([x.shape[0]]), **extra_args)

    out = guider.sample(torch.zeros_like(x), torch.zeros_like(x), comfy.samplers.KSAMPLER(one_call),
                        torch.tensor([sigma, 0.0]), seed=0)
    return model.get_model_object("latent_format").process_in(out)


def x_t(seed=9, shape=LATENT):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 3.0


def ksampler(comfyui, model, positive, negative, cfg=4.0, steps=STEPS, batch=1):
    latent = {"samples": torch.zeros(batch, *LATENT[1:])}
    (out,) = comfyui.nodes.common_ksampler(model, 7, steps, cfg, "euler", "normal", positive, negative, latent)
    return out["samples"]


def euler_reference(plain, model_at, positive, negative, cfg=4.0, steps=STEPS):
    """What common_ksampler's euler/normal run gives when step i uses model_at(sigma_i): written out here."""
    import comfy.sample
    import comfy.samplers

    sampling = plain.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, "normal", steps)
    noise = comfy.sample.prepare_noise(torch.zeros(*LATENT), 7, None)
    x = noise * (1.0 + sigmas[0] ** 2) ** 0.5  # the first sigma is sigma_max: full noise, as KSAMPLER scales it
    assert abs(float(sigmas[0]) - float(sampling.sigma_max)) < 1e-4
    for i in range(steps):
        d = denoised(model_at(float(sigmas[i])), positive, negative, x, float(sigmas[i]), cfg)
        x = x + (x - d) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
    return plain.get_model_object("latent_format").process_out(x)


def percent_sigma(model, percent):
    return model.get_model_object("model_sampling").percent_to_sigma(percent)


def columns_mask(columns, width=8, height=8, batch=1):
    mask = torch.zeros(batch, height, width)
    mask[..., columns] = 1.0
    return mask


@pytest.fixture
def fresh(comfyui):
    import comfy.model_management

    comfy.model_management.unload_all_models()  # an earlier test's patched clone may still be loaded


# ------------------------------------------------------------------------------ windows and fades


def test_window_matches_the_patched_model_inside_and_the_plain_one_outside_in_one_call_per_step(
        comfyui, node, tiny_sdxl, checkpoint, fresh):
    coefficients = identity(comfyui, node, seed=5)
    positive, negative = sampler_conds()
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.7, 0.3, 0.7)
    model, counter = counted(model)
    result = ksampler(comfyui, model, pos, neg)
    per_step = counter.per_step()
    assert len(per_step) == STEPS and all(len(calls) == 1 for calls in per_step), per_step  # one batched call
    patched = apply_globally(node, tiny_sdxl, coefficients, 0.7)
    hi, lo = percent_sigma(tiny_sdxl, 0.3), percent_sigma(tiny_sdxl, 0.7)
    reference = euler_reference(tiny_sdxl, lambda s: patched if lo <= s <= hi else tiny_sdxl, positive, negative)
    torch.testing.assert_close(result, reference, **RUN_CLOSE)
    whole = euler_reference(tiny_sdxl, lambda s: patched, positive, negative)
    assert not torch.allclose(result, whole, atol=1e-4)  # the window really switched it off somewhere


def test_whole_run_identity_equals_apply(comfyui, node, tiny_sdxl, checkpoint, fresh):
    coefficients = identity(comfyui, node, seed=5)
    positive, negative = sampler_conds()
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8)
    patched = apply_globally(node, tiny_sdxl, coefficients, 0.8)
    torch.testing.assert_close(ksampler(comfyui, model, pos, neg, steps=3),
                               ksampler(comfyui, patched, positive, negative, steps=3), **RUN_CLOSE)


@pytest.mark.parametrize("steps", [6, 3], ids=["ramp finer than steps", "ramp denser than steps"])
def test_fades_are_read_from_each_steps_sigma(comfyui, node, tiny_sdxl, checkpoint, fresh, steps):
    from hyperlora_core.engine.schedule import fade_keyframes

    coefficients = identity(comfyui, node, seed=6)
    positive, negative = sampler_conds()
    start, end, fade_in, fade_out = 0.0, 0.9, 0.3, 0.2
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8, start, end, fade_in=fade_in,
                            fade_out=fade_out)
    keyframes = [(percent_sigma(tiny_sdxl, p), v) for p, v in fade_keyframes(start, end, fade_in, fade_out)]
    end_sigma = percent_sigma(tiny_sdxl, end)
    seen = []

    def model_at(sigma):
        if sigma < end_sigma:
            return tiny_sdxl
        multiplier = [value for start_sigma, value in keyframes if start_sigma >= sigma][-1]
        seen.append(multiplier)
        return apply_globally(node, tiny_sdxl, coefficients, 0.8 * multiplier)

    reference = euler_reference(tiny_sdxl, model_at, positive, negative, steps=steps)
    torch.testing.assert_close(ksampler(comfyui, model, pos, neg, steps=steps), reference, **RUN_CLOSE)
    assert seen[0] < 1.0 and 1.0 in seen
    if steps == 3:  # step 2 at 1/3 of sampling is past the fade-in: full strength despite 30 keyframes before
        assert seen[1] == 1.0


def test_custom_sigmas_with_sampler_custom(comfyui, node, tiny_sdxl, checkpoint, fresh):
    """Windows follow the sigmas a sampler is given, not a step count: SamplerCustom with hand-made sigmas."""
    import comfy.sample
    import comfy.samplers

    coefficients = identity(comfyui, node, seed=7)
    positive, negative = sampler_conds()
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.9, 0.5, 1.0)
    sigmas = torch.tensor([14.0, 9.0, 4.0, 1.5, 0.3, 0.0])
    latent = torch.zeros(*LATENT)
    noise = comfy.sample.prepare_noise(latent, 3, None)
    sampler = comfy.samplers.sampler_object("euler")
    result = comfy.sample.sample_custom(model, noise, 4.0, sampler, sigmas, pos, neg, latent, seed=3)
    patched = apply_globally(node, tiny_sdxl, coefficients, 0.9)
    half = percent_sigma(tiny_sdxl, 0.5)
    x = noise * sigmas[0]  # 14 is below sigma_max: plain noise scaling
    for i in range(len(sigmas) - 1):
        current = patched if float(sigmas[i]) <= half else tiny_sdxl
        d = denoised(current, positive, negative, x, float(sigmas[i]), 4.0)
        x = x + (x - d) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
    torch.testing.assert_close(result, tiny_sdxl.get_model_object("latent_format").process_out(x),
                               **RUN_CLOSE)


# ------------------------------------------------------------------------------------ regions


@pytest.mark.parametrize("cfg", [1.0, 4.0])
@pytest.mark.parametrize("layout", [[[0, 1, 2], [5, 6, 7]], [[0, 1], [3, 4], [6, 7]]],
                         ids=["two identities", "three identities"])
def test_each_mask_gets_exactly_its_globally_patched_identity_in_one_call(
        comfyui, node, tiny_sdxl, checkpoint, fresh, layout, cfg):
    positive, negative = sampler_conds(seed=1)
    people = [identity(comfyui, node, seed=20 + i) for i in range(len(layout))]
    strengths = [0.9, 0.7, 1.1][:len(layout)]
    model, pos, neg = tiny_sdxl, positive, negative
    for coefficients, strength, columns in zip(people, strengths, layout):
        model, pos, neg = place(node, model, pos, neg, coefficients, strength, mask=columns_mask(columns))
    model, counter = counted(model)
    x = x_t()
    regional = denoised(model, pos, neg, x, 3.0, cfg)
    halves = 1 if cfg == 1.0 else 2
    # one call: every identity (and the background, where masks leave a gap) of positive and negative batched
    assert [batch for _, batch in counter.calls] == [halves * (len(layout) + 1)]
    covered = set()
    for coefficients, strength, columns in zip(people, strengths, layout):
        reference = denoised(apply_globally(node, tiny_sdxl, coefficients, strength), positive, negative, x, 3.0, cfg)
        torch.testing.assert_close(regional[..., columns], reference[..., columns], **EXACT)
        assert not torch.allclose(regional, reference, atol=1e-4)
        covered.update(columns)
    between = [c for c in range(8) if c not in covered]
    plain = denoised(tiny_sdxl, positive, negative, x, 3.0, cfg)
    torch.testing.assert_close(regional[..., between], plain[..., between], **EXACT)


def test_masks_covering_everything_leave_out_the_background(comfyui, node, tiny_sdxl, checkpoint, fresh):
    positive, negative = sampler_conds(seed=1)
    model, pos, neg = tiny_sdxl, positive, negative
    for seed, columns in ((20, [0, 1, 2, 3]), (21, [4, 5, 6, 7])):
        model, pos, neg = place(node, model, pos, neg, identity(comfyui, node, seed=seed), mask=columns_mask(columns))
    model, counter = counted(model)
    denoised(model, pos, neg, x_t(), 3.0, 4.0)
    assert [batch for _, batch in counter.calls] == [4]  # A and B, positive and negative: no background rows


def test_region_prompt_replaces_the_scene_prompt_inside_the_mask(comfyui, node, tiny_sdxl, checkpoint, fresh):
    positive, negative = sampler_conds(seed=1)
    region, _ = sampler_conds(seed=2)
    coefficients = identity(comfyui, node, seed=30)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, mask=columns_mask([0, 1, 2, 3]),
                            region_positive=region)
    x = x_t()
    regional = denoised(model, pos, neg, x, 3.0, 4.0)
    person = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), region, negative, x, 3.0, 4.0)
    scene = denoised(tiny_sdxl, positive, negative, x, 3.0, 4.0)
    torch.testing.assert_close(regional[..., :4], person[..., :4], **EXACT)
    torch.testing.assert_close(regional[..., 4:], scene[..., 4:], **EXACT)


@pytest.mark.parametrize("size", [4, 32], ids=["mask smaller than the latent", "mask larger than the latent"])
def test_masks_of_another_size_are_scaled_to_the_latent(comfyui, node, tiny_sdxl, checkpoint, fresh, size):
    positive, negative = sampler_conds(seed=1)
    coefficients = identity(comfyui, node, seed=31)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients,
                            mask=columns_mask(list(range(size // 2)), width=size, height=size))
    x = x_t()
    regional = denoised(model, pos, neg, x, 3.0, 4.0)
    person = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), positive, negative, x, 3.0, 4.0)
    scene = denoised(tiny_sdxl, positive, negative, x, 3.0, 4.0)
    torch.testing.assert_close(regional[..., :3], person[..., :3], **EXACT)  # the edge column blends
    torch.testing.assert_close(regional[..., 5:], scene[..., 5:], **EXACT)


def test_a_batch_of_latents_with_a_mask_per_image(comfyui, node, tiny_sdxl, checkpoint, fresh):
    positive, negative = sampler_conds(seed=1)
    coefficients = identity(comfyui, node, seed=32)
    masks = torch.zeros(2, 8, 8)
    masks[0, :, :4], masks[1, :, 4:] = 1.0, 1.0
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, mask=masks)
    x = x_t(shape=(2, 4, 8, 8))
    regional = denoised(model, pos, neg, x, 3.0, 4.0)
    person = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), positive, negative, x, 3.0, 4.0)
    scene = denoised(tiny_sdxl, positive, negative, x, 3.0, 4.0)
    torch.testing.assert_close(regional[0, ..., :4], person[0, ..., :4], **BATCHED)
    torch.testing.assert_close(regional[0, ..., 4:], scene[0, ..., 4:], **BATCHED)
    torch.testing.assert_close(regional[1, ..., 4:], person[1, ..., 4:], **BATCHED)
    torch.testing.assert_close(regional[1, ..., :4], scene[1, ..., :4], **BATCHED)
    three = torch.ones(3, 8, 8)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, mask=three)
    with pytest.raises(ValueError, match="holds 3 masks, but the latent batch has 2 images"):
        denoised(model, pos, neg, x, 3.0, 4.0)


def test_a_window_and_a_mask_together(comfyui, node, tiny_sdxl, checkpoint, fresh):
    positive, negative = sampler_conds(seed=1)
    coefficients = identity(comfyui, node, seed=40)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8, 0.4, 1.0,
                            mask=columns_mask([0, 1, 2, 3]))
    early, late = percent_sigma(tiny_sdxl, 0.1), percent_sigma(tiny_sdxl, 0.7)
    x = x_t()
    torch.testing.assert_close(denoised(model, pos, neg, x, early, 4.0),
                               denoised(tiny_sdxl, positive, negative, x, early, 4.0), **EXACT)
    regional = denoised(model, pos, neg, x, late, 4.0)
    person = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), positive, negative, x, late, 4.0)
    scene = denoised(tiny_sdxl, positive, negative, x, late, 4.0)
    torch.testing.assert_close(regional[..., :4], person[..., :4], **EXACT)
    torch.testing.assert_close(regional[..., 4:], scene[..., 4:], **EXACT)


# ------------------------------------------------------------------------------- composition


def test_on_top_of_apply_and_of_a_core_lora(comfyui, node, tiny_sdxl, checkpoint, fresh):
    """Inside the mask: everything the model already had plus the identity; outside: the model as given."""
    import comfy.sd

    from hyperlora_core.engine.lora import kohya_state_dict

    positive, negative = sampler_conds(seed=1)
    base_identity, person, lora_identity = (identity(comfyui, node, seed=s) for s in (50, 51, 52))
    lora = kohya_state_dict([(lora_identity.factors("id"), 1.0)], style="comfy")
    with_lora, _ = comfy.sd.load_lora_for_models(tiny_sdxl, None, lora, 0.6, 0.0)  # core's LoRA loading
    underneath = apply_globally(node, with_lora, base_identity, 0.5)  # HyperLoRA Apply on top
    model, pos, neg = place(node, underneath, positive, negative, person, 0.9, mask=columns_mask([0, 1, 2, 3]))
    x = x_t()
    regional = denoised(model, pos, neg, x, 3.0, 4.0)
    everything = denoised(apply_globally(node, underneath, person, 0.9), positive, negative, x, 3.0, 4.0)
    below = denoised(underneath, positive, negative, x, 3.0, 4.0)
    torch.testing.assert_close(regional[..., :4], everything[..., :4], **BATCHED)
    torch.testing.assert_close(regional[..., 4:], below[..., 4:], **BATCHED)
    assert not torch.allclose(below, denoised(tiny_sdxl, positive, negative, x, 3.0, 4.0), atol=1e-4)


def test_base_weights_are_never_touched_and_no_hooks_reach_the_conditioning(comfyui, node, tiny_sdxl, checkpoint,
                                                                          fresh):
    coefficients = identity(comfyui, node, seed=53)
    positive, negative = sampler_conds()
    before = {k: v.detach().clone() for k, v in tiny_sdxl.model.state_dict().items()}
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8, 0.2, 0.9,
                            mask=columns_mask([0, 1]), fade_in=0.2)
    model, pos, neg = place(node, model, pos, neg, identity(comfyui, node, seed=54), 0.7, mask=columns_mask([5, 6]))
    seen = []

    def check_weights(apply_model, args):
        seen.append(all(torch.equal(v, before[k]) for k, v in tiny_sdxl.model.state_dict().items()))
        return apply_model(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(check_weights)
    ksampler(comfyui, model, pos, neg, steps=3)
    assert seen and all(seen)  # during every UNet call, not only after
    for cond in pos + neg:
        assert "hooks" not in cond[1]
    assert not model.patches and not model.hook_patches


def test_the_sampler_needs_the_model_that_carries_the_identity(comfyui, node, tiny_sdxl, checkpoint, fresh):
    positive, negative = sampler_conds()
    first, pos, neg = place(node, tiny_sdxl, positive, negative, identity(comfyui, node, seed=55),
                            mask=columns_mask([0, 1]))
    _, pos, neg = place(node, first, pos, neg, identity(comfyui, node, seed=56), mask=columns_mask([6, 7]))
    with pytest.raises(ValueError, match="connect the model output of the last HyperLoRA Apply to Conditioning"):
        ksampler(comfyui, first, pos, neg, steps=1)


def test_a_model_that_is_not_sdxl_is_refused_at_once(comfyui, node, checkpoint, fresh):
    from tests.integration.tiny_models import SD15_CONFIG, build_unet

    coefficients = identity(comfyui, node, seed=57)
    sd15 = build_unet("SD15", SD15_CONFIG)
    positive = [[torch.zeros(1, 77, 768), {}]]
    with pytest.raises(ValueError, match=r"connected model is SD15: \d+ of 128"):
        place(node, sd15, positive, positive, coefficients)


# ------------------------------------------------------------------------------ per-image strengths (issue 27)


def test_a_strength_sweep_in_one_batch_equals_one_run_per_strength_image_for_image(
        comfyui, node, tiny_sdxl, checkpoint, fresh):
    coefficients = identity(comfyui, node, seed=5)
    positive, negative = sampler_conds()
    sweep = (0.6, 0.8, 1.0)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.5, strengths="0.6, 0.8, 1.0")
    model, counter = counted(model)
    swept = ksampler(comfyui, model, pos, neg, steps=3, batch=3)
    assert all(len(calls) == 1 for calls in counter.per_step())  # still one batched call per step
    x = x_t(shape=(3, 4, 8, 8))
    one_step = denoised(model, pos, neg, x, 3.0, 4.0)
    for image, s in enumerate(sweep):
        patched = apply_globally(node, tiny_sdxl, coefficients, s)  # the reference: the model patched by core
        alone = ksampler(comfyui, patched, positive, negative, steps=3, batch=3)  # same seed, same noise per image
        torch.testing.assert_close(swept[image], alone[image], **RUN_CLOSE)
        reference = denoised(patched, positive, negative, x[image:image + 1], 3.0, 4.0)
        torch.testing.assert_close(one_step[image:image + 1], reference, **EXACT)
    assert not torch.allclose(swept[0], swept[2], atol=1e-4)


def test_a_strength_list_that_fits_no_latent_batch_is_refused_naming_both_numbers(
        comfyui, node, tiny_sdxl, checkpoint, fresh):
    coefficients = identity(comfyui, node, seed=5)
    positive, negative = sampler_conds()
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, strengths="0.6, 0.8, 1.0")
    with pytest.raises(ValueError, match="holds 3 strengths, but the latent batch has 2 images"):
        ksampler(comfyui, model, pos, neg, steps=2, batch=2)


def test_a_sweep_on_the_repeated_latent_equals_separate_runs_of_one_image_each(comfyui, node, tiny_sdxl, checkpoint,
                                                                               fresh):
    """Repeat Latent (same noise): every copy gets the seed's noise of the one image, so image i of the sweep is
    exactly a separate batch-of-one run at strength i with the same seed (the reference: core's patched model)."""
    from tests.comfy_standin import run_node

    coefficients = identity(comfyui, node, seed=5)
    positive, negative = sampler_conds()
    one = {"samples": torch.zeros(*LATENT)}
    latent, strengths = run_node(comfyui.nodes.NODE_CLASS_MAPPINGS["HyperLoRARepeatLatent"], one,
                                 "0.6, 0.8, 1.0").args
    assert strengths == "0.6, 0.8, 1" and latent["samples"].shape[0] == 3
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.5, strengths=strengths)
    (out,) = comfyui.nodes.common_ksampler(model, 7, 3, 4.0, "euler", "normal", pos, neg, latent)
    swept = out["samples"]
    for image, s in enumerate((0.6, 0.8, 1.0)):
        alone = ksampler(comfyui, apply_globally(node, tiny_sdxl, coefficients, s), positive, negative, steps=3)
        torch.testing.assert_close(swept[image], alone[0], **RUN_CLOSE)
    assert not torch.allclose(swept[0], swept[2], atol=1e-4)  # the strengths really differ
    plain_batch = ksampler(comfyui, model, pos, neg, steps=3, batch=3)  # core's numbering: other noise per image
    assert not torch.allclose(plain_batch[1], swept[1], atol=1e-3)


# ------------------------------------------------------------------------------ one pass regions (issue 27)


def bypass_hooks(model, people):
    """The one pass reference, written here: forward hooks on the plain UNet adding, on every row, each identity's
    LoRA output times its mask resized (bilinear) to the layer's h x w positions; prompt-side k/v untouched."""
    diffusion = model.model
    handles = []
    for key in people[0][0].up:
        name = key[: -len(".weight")]
        if name.endswith(("attn2.to_k", "attn2.to_v")):
            continue

        def hook(module, args, output, key=key):
            x = args[0]
            side = round(x.shape[1] ** 0.5)  # square latents here: h = w
            for factors, strength, mask in people:
                small = torch.nn.functional.interpolate(mask[:, None], size=(side, side), mode="bilinear")
                rank = factors.down[key].shape[0]
                delta = x @ factors.down[key].t().to(x) @ factors.up[key].t().to(x) * (strength * factors.alpha / rank)
                output = output + delta * small.flatten(1)[..., None].to(x)
            return output

        handles.append(diffusion.get_submodule(name).register_forward_hook(hook))
    return handles


@pytest.mark.parametrize("cfg", [1.0, 4.0])
def test_one_pass_is_the_masked_bypass_in_one_call_without_extra_rows(comfyui, node, tiny_sdxl, checkpoint, fresh,
                                                                     cfg):
    positive, negative = sampler_conds(seed=1)
    people = [(identity(comfyui, node, seed=20), 0.9, columns_mask([0, 1, 2])),
              (identity(comfyui, node, seed=21), 0.7, columns_mask([5, 6, 7]))]
    model, pos, neg = tiny_sdxl, positive, negative
    for coefficients, strength, mask in people:
        model, pos, neg = place(node, model, pos, neg, coefficients, strength, mask=mask, region_mode="one pass")
    model, counter = counted(model)
    x = x_t()
    one_pass = denoised(model, pos, neg, x, 3.0, cfg)
    assert [batch for _, batch in counter.calls] == [1 if cfg == 1.0 else 2]  # the plain prompt's rows only
    factors = [(c.factors("id"), s, m) for c, s, m in people]
    handles = bypass_hooks(tiny_sdxl, factors)
    try:
        with torch.no_grad():  # the factors are inference tensors
            reference = denoised(tiny_sdxl, positive, negative, x, 3.0, cfg)
    finally:
        for handle in handles:
            handle.remove()
    torch.testing.assert_close(one_pass, reference, **EXACT)
    plain = denoised(tiny_sdxl, positive, negative, x, 3.0, cfg)
    assert not torch.allclose(one_pass, plain, atol=1e-4)


def test_one_pass_with_a_strength_sweep_and_a_batch(comfyui, node, tiny_sdxl, checkpoint, fresh):
    positive, negative = sampler_conds(seed=1)
    coefficients = identity(comfyui, node, seed=20)
    mask = columns_mask([0, 1, 2, 3])
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, mask=mask, region_mode="one pass",
                            strengths="0.6, 1.0")
    x = x_t(shape=(2, 4, 8, 8))
    swept = denoised(model, pos, neg, x, 3.0, 4.0)
    for image, s in enumerate((0.6, 1.0)):
        single, p, n = place(node, tiny_sdxl, positive, negative, coefficients, s, mask=mask, region_mode="one pass")
        torch.testing.assert_close(swept[image:image + 1], denoised(single, p, n, x[image:image + 1], 3.0, 4.0),
                                   **EXACT)


def test_two_people_side_by_side_in_one_batch_each_image_is_the_model_patched_with_its_person(
        comfyui, node, tiny_sdxl, checkpoint, fresh):
    """Several identities in one batch: one pass without a mask, a strength list per person (A '0.8, 0', B '0, 0.8').
    Image 1 is the model patched with A, image 2 the model patched with B (core's Apply as the reference), in one
    UNet call per step that carries only the plain prompt's rows."""
    positive, negative = sampler_conds(seed=1)
    a, b = identity(comfyui, node, seed=20), identity(comfyui, node, seed=21)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, a, region_mode="one pass", strengths="0.8, 0")
    model, pos, neg = place(node, model, pos, neg, b, region_mode="one pass", strengths="0, 0.8")
    model, counter = counted(model)
    x = x_t(shape=(2, 4, 8, 8))
    both = denoised(model, pos, neg, x, 3.0, 4.0)
    assert [batch for _, batch in counter.calls] == [4]  # 2 images x (positive, negative): no extra rows
    sampled = ksampler(comfyui, model, pos, neg, steps=3, batch=2)
    for image, person in enumerate((a, b)):
        patched = apply_globally(node, tiny_sdxl, person, 0.8)
        reference = denoised(patched, positive, negative, x[image:image + 1], 3.0, 4.0)
        torch.testing.assert_close(both[image:image + 1], reference, **EXACT)
        alone = ksampler(comfyui, patched, positive, negative, steps=3, batch=2)  # the same noise per image
        torch.testing.assert_close(sampled[image], alone[image], **RUN_CLOSE)
    assert not torch.allclose(both[0], both[1], atol=1e-3)
