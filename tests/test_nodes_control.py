"""Apply to Conditioning and Identity Hook on the stand-in: how conditioning lists, identities and hooks are built.

What ComfyUI's sampler then does with them is proven on real ComfyUI (tests/integration/test_comfyui_control.py
and test_comfyui_hooks.py); the per-call logic of the identities is in tests/test_identity_runtime.py. Here:
windows, masks, chaining, checks and errors.
"""

import itertools
import sys

import pytest
import torch

from hyperlora_core.engine.schedule import check_window, fade_keyframes, ramp
from tests.comfy_standin import ModelPatcher, TinyUNet, comfy, models_root  # noqa: F401

TAG, WRAPPER_KEY = "hyperlora_identity", "hyperlora_identities"


def identity_set(model):
    (wrapper,) = model.get_wrappers("apply_model", WRAPPER_KEY)
    return wrapper.identities
from tests.face_fixtures import tiny_clip_dir  # noqa: F401


def node(comfy, key):  # noqa: F811
    return comfy.node(key)


@pytest.fixture
def coefficients(comfy):  # noqa: F811
    (hyperlora,) = node(comfy, "HyperLoRACheckpointLoader").load("sdxl_tiny_fidelity", "auto", "auto")
    gen = torch.Generator().manual_seed(0)
    shape = (hyperlora.config.num_queries, hyperlora.config.num_basis)
    alpha, beta = (torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=-1) for _ in range(2))
    return comfy.pack.nodes.types.Coefficients(hyperlora, alpha, beta)


def conds(tag, **values):
    return [[torch.full((1, 2, 4), float(tag)), {"pooled_output": torch.zeros(1, 4), **values}]]


def apply(comfy, positive, negative, coefficients, strength=0.8, start=0.0, end=1.0, model=None,  # noqa: F811
          **optional):
    model = model if model is not None else ModelPatcher(TinyUNet(coefficients.factors("id")))
    return node(comfy, "HyperLoRAApplyConditioning").apply(model, positive, negative, coefficients, strength, start,
                                                           end, **optional)


def split(conds_):
    default = [c for c in conds_ if c[1].get("default")]
    tagged = [c for c in conds_ if TAG in c[1]]
    return default, tagged


# ------------------------------------------------------------------------------- schedule (engine)


def test_fade_keyframes_are_a_rising_then_falling_step_ramp_that_reaches_one():
    keyframes = fade_keyframes(0.2, 0.8, 0.1, 0.05)
    percents, values = zip(*keyframes)
    assert percents[0] == 0.2 and list(percents) == sorted(percents)
    assert 0 < values[0] < 0.1 and max(values) == 1.0 and values[-1] < 0.2
    peak = values.index(1.0)
    assert list(values[:peak]) == sorted(values[:peak]) and percents[peak] == pytest.approx(0.3)
    assert list(values[peak:]) == sorted(values[peak:], reverse=True)
    assert percents[peak + 1] == pytest.approx(0.75)
    for (a, value), (b, _) in itertools.pairwise(keyframes):  # each value is the ramp's mean on its interval
        assert value == pytest.approx((ramp(a, 0.2, 0.8, 0.1, 0.05) + ramp(b, 0.2, 0.8, 0.1, 0.05)) / 2, abs=1e-9)


def test_fades_longer_than_the_window_are_clipped_to_it_overlap_and_never_reach_one():
    keyframes = fade_keyframes(0.4, 0.6, 0.5, 0.5)
    values = [v for _, v in keyframes]
    assert max(values) < 0.5 and min(values) > 0  # each ramp spans the window: they cross at 0.5 in its middle
    for a, value in keyframes:  # the ramps of fades of 0.2 each, read in the middle of each 1 % interval
        assert value == pytest.approx(ramp(a + 0.005, 0.4, 0.6, 0.2, 0.2), abs=1e-9)
    assert fade_keyframes(0.3, 0.7, 0.0, 0.0) == [] and fade_keyframes(0.7, 0.3, 0.1, 0.1) == []


@pytest.mark.parametrize("start, end", [(0.5, 1.0), (0.0, 0.3)])
def test_a_fade_out_longer_than_the_window_fades_over_the_whole_window_from_start_at(start, end):
    """Issue 29: clipped to start at start_at, the ramp is 1 there and falls to 0 at end_at; a ramp that began
    before start_at (0.8 long) would already be at (end - start) / 0.8 < 1 when the identity starts."""
    keyframes = fade_keyframes(start, end, 0.0, 0.8)
    percents, values = zip(*keyframes)
    assert percents[0] == start and values[0] == pytest.approx(1.0 - 0.005 / (end - start), abs=1e-9)
    assert list(values) == sorted(values, reverse=True) and values[-1] < 0.05
    for percent, value in keyframes:  # the mean of the ramp 1 -> 0 over [start, end] on each 1 % interval
        assert value == pytest.approx((end - percent - 0.005) / (end - start), abs=1e-9)
    rising = fade_keyframes(start, end, 0.8, 0.0)  # and the fade-in mirrors it
    assert rising[-1][1] == pytest.approx(1.0 - 0.005 / (end - start), abs=1e-9)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.1, 1.5])
def test_window_values_must_be_fractions(bad):
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_window(0.0, bad)


# ------------------------------------------------------------------------------- conditioning lists


def test_window_without_mask_marks_the_scene_default_and_tags_one_identity(comfy, coefficients):  # noqa: F811
    positive, negative = conds(1), conds(2)
    model = ModelPatcher(TinyUNet(coefficients.factors("id")))
    pos, neg, placed_on = apply(comfy, positive, negative, coefficients, 0.7, 0.3, 0.8, model=model)
    for out, original in ((pos, positive), (neg, negative)):
        (default,), (tagged,) = split(out)
        assert len(out) == 2 and default[0] is original[0][0] and tagged[0] is original[0][0]
        assert "default" not in tagged[1] and "mask" not in tagged[1] and "hooks" not in tagged[1]
        assert (tagged[1]["start_percent"], tagged[1]["end_percent"]) == (0.3, 0.8)
        assert "start_percent" not in default[1]
    placed = split(pos)[1][0][1][TAG]
    assert split(neg)[1][0][1][TAG] is placed and placed.strength == 0.7 and placed.keyframes == []
    assert placed.factors is coefficients.factors("id")
    assert "default" not in positive[0][1] and len(positive) == 1  # inputs untouched
    assert placed_on is not model and not model.wrappers  # a clone carries it; the input model is unchanged
    (identities,) = {w.identities for kind in placed_on.wrappers.values() for w in kind[WRAPPER_KEY]}
    assert identities.identities == (placed,) and set(placed_on.wrappers) == {"calc_cond_batch", "apply_model"}


def test_mask_and_region_prompt_go_on_the_identity_copies_only(comfy, coefficients):  # noqa: F811
    region = conds(3)
    mask = torch.zeros(16, 16)
    mask[:, :8] = 1
    pos, neg, _ = apply(comfy, conds(1), conds(2), coefficients, mask=mask, region_positive=region)
    (_,), (tagged_pos,) = split(pos)
    (_,), (tagged_neg,) = split(neg)
    assert tagged_pos[0] is region[0][0] and tagged_neg[0][0, 0, 0] == 2
    for tagged in (tagged_pos, tagged_neg):
        assert tagged[1]["mask"].shape == (1, 16, 16) and torch.equal(tagged[1]["mask"][0], mask)
        assert tagged[1]["mask_strength"] == 1.0 and tagged[1]["set_area_to_bounds"] is False
        assert "start_percent" not in tagged[1] and "end_percent" not in tagged[1]


def test_an_empty_mask_is_a_warning_naming_the_identity_and_the_empty_images(comfy, coefficients, caplog):  # noqa: F811
    coefficients.label = "Anna"
    full, empty = torch.ones(1, 4, 4), torch.zeros(1, 4, 4)
    everywhere = "the mask of the identity 'Anna' is empty, so the identity shows nowhere"
    some = "the mask of the identity 'Anna' is empty in image(s) 2, 4 of 4"
    for mask, expected in ((torch.cat([full, full]), None), (torch.cat([empty, empty]), everywhere),
                           (torch.cat([full, empty, full, empty]), some)):
        caplog.clear()
        with caplog.at_level("WARNING"):
            apply(comfy, conds(1), conds(2), coefficients, mask=mask)
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert (warnings == []) if expected is None else any(expected in w for w in warnings), warnings


def test_identities_that_do_not_fit_in_the_gpus_free_memory_are_named_before_sampling(comfy, coefficients,  # noqa: F811
                                                                                      caplog, monkeypatch):
    """The stacked factors of every identity on the model (fp16 at least) against the sampling GPU's free memory."""
    factors = coefficients.factors("id")
    one = sum(t.numel() for t in (*factors.up.values(), *factors.down.values())) * 2  # counted here, fp16
    mm = sys.modules["comfy.model_management"]
    model = ModelPatcher(TinyUNet(factors), load_device=torch.device("cuda", 0))
    for free, identities, warned in ((3 * one - 1, 2, False), (3 * one - 1, 3, True), (3 * one, 3, False)):
        monkeypatch.setattr(mm, "free_vram", free)
        caplog.clear()
        placed = model
        with caplog.at_level("WARNING"):
            for _ in range(identities):
                _, _, placed = apply(comfy, conds(1), conds(2), coefficients, model=placed)
        messages = [r.getMessage() for r in caplog.records if "identities on one model" in r.getMessage()]
        assert bool(messages) == warned, (free, identities, messages)
        if warned:
            assert f"{identities} identities on one model need at least {3 * one / 2**20:.0f} MiB on cuda:0" in \
                messages[-1]
    placed = ModelPatcher(TinyUNet(factors), load_device=torch.device("cpu"))  # RAM is no concern: no warning
    monkeypatch.setattr(mm, "free_vram", 0)
    caplog.clear()
    with caplog.at_level("WARNING"):
        apply(comfy, conds(1), conds(2), coefficients, model=placed)
    assert not [r for r in caplog.records if "identities on one model" in r.getMessage()]


def test_mask_values_outside_0_to_1_are_clamped_as_core_masks_are(comfy, coefficients):  # noqa: F811
    """A mask from arithmetic nodes can hold 1.7 or -0.3: a weight over 1 would let the identity outweigh the
    background, a negative one would subtract it; both are clamped to 0..1."""
    mask = torch.tensor([[1.7, -0.3], [0.5, 1.0]])
    pos, _, _ = apply(comfy, conds(1), conds(2), coefficients, mask=mask)
    (_,), (tagged,) = split(pos)
    assert torch.equal(tagged[1]["mask"], torch.tensor([[[1.0, 0.0], [0.5, 1.0]]]))


def test_chaining_people_marks_the_background_once_and_stacks_identities_on_the_model(comfy, coefficients):  # noqa: F811
    left, right = torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)
    left[..., :4], right[..., 4:] = 1, 1
    pos, neg, model = apply(comfy, conds(1), conds(2), coefficients, 0.8, mask=left)
    pos, neg, model = apply(comfy, pos, neg, coefficients, 0.6, mask=right, model=model)
    for out in (pos, neg):
        defaults, tagged = split(out)
        assert len(out) == 3 and len(defaults) == 1 and len(tagged) == 2
        assert [t[1][TAG].strength for t in tagged] == [0.8, 0.6]
        assert [torch.equal(t[1]["mask"], m) for t, m in zip(tagged, (left, right))] == [True, True]
    identities = identity_set(model)
    assert [p.strength for p in identities.identities] == [0.8, 0.6]
    assert [identities.index_of(t[1][TAG]) for t in split(pos)[1]] == [0, 1]
    assert [len(w) for w in (model.get_wrappers("calc_cond_batch", WRAPPER_KEY),
                             model.get_wrappers("apply_model", WRAPPER_KEY))] == [1, 1]  # replaced, not added


def test_existing_hooks_and_windows_are_kept_and_intersected(comfy, coefficients):  # noqa: F811
    (other,) = node(comfy, "HyperLoRAIdentityHook").create(coefficients, 0.3)
    positive = conds(1, hooks=other, start_percent=0.5)
    negative = conds(2, hooks=other, start_percent=0.5)
    region = conds(3, start_percent=0.5)
    pos, neg, _ = apply(comfy, positive, negative, coefficients, 0.8, 0.2, 0.9, region_positive=region,
                        mask=torch.ones(4, 4))
    (scene_pos, tagged_pos), (scene_neg, tagged_neg) = pos, neg
    assert (tagged_pos[1]["start_percent"], tagged_pos[1]["end_percent"]) == (0.5, 0.9)
    assert tagged_neg[1]["hooks"] is other  # the user's own hook stays where it was; we add none
    for scene in (scene_pos, scene_neg):  # the other LoRA hook stays on the background
        assert scene[1]["hooks"] is other and scene[1]["default"] is True


def test_an_unmasked_identity_is_not_taken_for_the_scene_by_the_next_node(comfy, coefficients):  # noqa: F811
    pos, neg, model = apply(comfy, conds(1), conds(2), coefficients, 0.8, 0.0, 0.5)
    pos2, neg2, _ = apply(comfy, pos, neg, coefficients, 0.6, 0.5, 1.0, model=model)
    for out in (pos2, neg2):
        defaults, tagged = split(out)
        assert len(out) == 3 and len(defaults) == 1 and TAG not in defaults[0][1]
        assert [(t[1].get("start_percent", 0.0), t[1].get("end_percent", 1.0)) for t in tagged] == [(0.0, 0.5),
                                                                                                     (0.5, 1.0)]


def test_fades_become_the_identitys_keyframes(comfy, coefficients):  # noqa: F811
    pos, _, _ = apply(comfy, conds(1), conds(2), coefficients, 0.8, 0.1, 0.9, fade_in=0.2, fade_out=0.1)
    assert split(pos)[1][0][1][TAG].keyframes == fade_keyframes(0.1, 0.9, 0.2, 0.1)


def test_off_switch_and_inputs_that_can_never_work_are_refused(comfy, coefficients):  # noqa: F811
    positive, negative = conds(1), conds(2)
    model = ModelPatcher(TinyUNet(coefficients.factors("id")))
    assert apply(comfy, positive, negative, coefficients, 0.0, model=model) == (positive, negative, model)
    with pytest.raises(ValueError, match=r"start_at \(0.6\) must be before end_at \(0.4\)"):
        apply(comfy, positive, negative, coefficients, 0.8, 0.6, 0.4)
    with pytest.raises(ValueError, match="start_at .* must be before end_at"):
        apply(comfy, positive, negative, coefficients, 0.8, 0.5, 0.5)
    with pytest.raises(ValueError, match="strength must be a finite number"):
        apply(comfy, positive, negative, coefficients, float("nan"))
    with pytest.raises(ValueError, match="fade_in .* between 0 and 1"):
        apply(comfy, positive, negative, coefficients, fade_in=float("inf"))
    with pytest.raises(ValueError, match="NaN or infinite"):
        apply(comfy, positive, negative, coefficients, mask=torch.full((4, 4), float("nan")))
    with pytest.raises(ValueError, match="MASK"):
        apply(comfy, positive, negative, coefficients, mask=torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="MASK"):
        apply(comfy, positive, negative, coefficients, mask=torch.ones(0, 4, 4))
    masked_only = conds(1, mask=torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="region_positive"):
        apply(comfy, masked_only, negative, coefficients)
    with pytest.raises(ValueError, match="no mask is connected, so it would replace the scene prompt"):
        apply(comfy, positive, negative, coefficients, region_positive=conds(3))
    late_prompt = conds(1, start_percent=0.7)
    with pytest.raises(ValueError, match="positive prompt only acts outside the identity's window"):
        apply(comfy, late_prompt, negative, coefficients, 0.8, 0.0, 0.5)


def test_a_model_the_lora_does_not_fit_is_refused_when_placing(comfy, coefficients):  # noqa: F811
    factors = coefficients.factors("id")
    partial = TinyUNet(factors)
    partial._weights = dict(list(partial._weights.items())[:3])
    with pytest.raises(ValueError, match=rf"{len(factors.up) - 3} of {len(factors.up)} LoRA weights do not fit"):
        apply(comfy, conds(1), conds(2), coefficients, model=ModelPatcher(partial))


def test_a_comfyui_without_keyed_wrappers_gets_a_clear_update_message(comfy, coefficients, monkeypatch):  # noqa: F811
    class OldPatcher:  # a patcher from before keyed wrappers
        def __init__(self, model):
            self.model = model

        def model_state_dict(self):
            return self.model.state_dict()

    with pytest.raises(RuntimeError, match=r"Update ComfyUI to 0\.3\.64 or newer"):
        apply(comfy, conds(1), conds(2), coefficients, model=OldPatcher(TinyUNet(coefficients.factors("id"))))
    monkeypatch.delitem(sys.modules, "comfy.patcher_extension")
    monkeypatch.delattr(sys.modules["comfy"], "patcher_extension")
    with pytest.raises(RuntimeError, match="too old for scheduled and regional HyperLoRA identities"):
        apply(comfy, conds(1), conds(2), coefficients)


# ------------------------------------------------------------------------------- hooks


def test_the_hook_checks_the_sampled_model_and_stays_off_clip(comfy, coefficients):  # noqa: F811
    hooks_module = sys.modules["comfy.hooks"]
    (group,) = node(comfy, "HyperLoRAIdentityHook").create(coefficients, 0.8)
    (hook,) = group.hooks
    factors = coefficients.factors("id")
    fitting = ModelPatcher(TinyUNet(factors))
    model_target = {"target": hooks_module.EnumWeightTarget.Model}
    assert hook.should_register(fitting, {}, model_target, None) is True
    assert hook.should_register(fitting, {}, {"target": hooks_module.EnumWeightTarget.Clip}, None) is False
    partial = TinyUNet(factors)
    partial._weights = dict(list(partial._weights.items())[:3])
    with pytest.raises(ValueError, match=rf"{len(factors.up) - 3} of {len(factors.up)} LoRA weights do not fit"):
        hook.should_register(ModelPatcher(partial), {}, model_target, None)


def test_identity_hook_combines_with_previous_hooks_and_keyframes_without_changing_them(comfy, coefficients):  # noqa: F811
    hooks_module = sys.modules["comfy.hooks"]
    (first,) = node(comfy, "HyperLoRAIdentityHook").create(coefficients, 0.5)
    schedule = hooks_module.HookKeyframeGroup()
    schedule.add(hooks_module.HookKeyframe(0.25, 0.4))
    (both,) = node(comfy, "HyperLoRAIdentityHook").create(coefficients, 0.9, prev_hooks=first, hook_kf=schedule)
    assert len(first.hooks) == 1 and len(both.hooks) == 2 and both.hooks[0] is not first.hooks[0]
    assert first.hooks[0].hook_keyframe.keyframes == []
    ours = both.hooks[1]
    assert ours._strength_model == 0.9 and ours.hook_keyframe is not schedule
    assert [(k.strength, k.start_percent) for k in ours.hook_keyframe.keyframes] == [(0.25, 0.4)]


def test_a_comfyui_without_hooks_gets_a_clear_update_message(comfy, coefficients, monkeypatch):  # noqa: F811
    monkeypatch.delitem(sys.modules, "comfy.hooks")
    monkeypatch.delattr(sys.modules["comfy"], "hooks")
    with pytest.raises(RuntimeError, match=r"no weight hooks.*Update ComfyUI to v0\.3\.7"):
        node(comfy, "HyperLoRAIdentityHook").create(coefficients, 0.8)


@pytest.mark.parametrize("field, value, message", [
    ("strength", float("nan"), r"hook_kf: keyframe 2's strength must be a finite number"),
    ("strength", float("inf"), r"hook_kf: keyframe 2's strength must be a finite number"),
    ("start_percent", float("nan"), r"hook_kf: keyframe 2's start_percent must be a number from 0 to 1"),
    ("start_percent", 1.5, r"hook_kf: keyframe 2's start_percent must be a number from 0 to 1"),
])
def test_identity_hook_checks_the_keyframes_it_receives(comfy, coefficients, field, value, message):  # noqa: F811
    """Core's Create Hook Keyframe passes NaN on: an all-black image (strength) or an IndexError in core."""
    hooks_module = sys.modules["comfy.hooks"]
    schedule = hooks_module.HookKeyframeGroup()
    schedule.add(hooks_module.HookKeyframe(1.0, 0.0))
    bad = hooks_module.HookKeyframe(0.5, 0.5)
    setattr(bad, field, value)
    schedule.add(bad)
    with pytest.raises(ValueError, match=message):
        node(comfy, "HyperLoRAIdentityHook").create(coefficients, 0.8, hook_kf=schedule)


def test_a_cond_limited_to_an_area_before_us_stays_in_its_area_and_is_not_the_identitys_prompt(
        comfy, coefficients):  # noqa: F811
    """Issue 29: core Conditioning Set Area before Apply to Conditioning. Marked default it would stop acting in its
    area (core runs default conds only where the others leave room), and as the identity's prompt it would take the
    person's window and mask instead of its own area."""
    area = {"area": (4, 4, 0, 0), "strength": 1.0, "set_area_to_bounds": False}
    positive = conds(1) + conds(5, **area)
    negative = conds(2) + conds(6, **area)
    pos, neg, _ = apply(comfy, positive, negative, coefficients)
    for out, scene_tag, area_tag in ((pos, 1, 5), (neg, 2, 6)):
        limited = [c for c in out if "area" in c[1]]
        assert len(limited) == 1 and int(limited[0][0][0, 0, 0]) == area_tag
        assert "default" not in limited[0][1] and TAG not in limited[0][1] and limited[0][1]["area"] == (4, 4, 0, 0)
        defaults, tagged = split(out)
        assert [int(c[0][0, 0, 0]) for c in defaults] == [scene_tag] and [int(c[0][0, 0, 0]) for c in tagged] == [
            scene_tag]


def test_every_cond_we_output_carries_the_check_that_stops_a_model_without_the_identity(comfy, coefficients):  # noqa: F811
    runtime = comfy.pack.nodes.identity_runtime
    pos, neg, model = apply(comfy, conds(1), conds(2), coefficients, mask=torch.ones(4, 4))
    pos, neg, model = apply(comfy, pos, neg, coefficients, 0.5, model=model)
    checks = [c[1]["model_conds"][runtime.CHECK] for c in pos + neg]
    assert len(checks) == 6 and all(a.can_concat(b) for a in checks for b in checks)  # ours still batch together
    assert checks[0].concat(checks[1:]) is checks[0] and not checks[0].can_concat(object())
    label = coefficients.label
    with pytest.raises(ValueError, match=f"carries the HyperLoRA identity '{label}', but the model given to the "
                                         "sampler does not .*ModelMergeSimple, as model1"):
        checks[0].process_cond(batch_size=2, area=None)  # what core does with a model lacking our wrappers
    (wrapper,) = model.get_wrappers("calc_cond_batch", WRAPPER_KEY)
    seen = []

    def core_batching(model_, conds_, x_in, timestep, model_options):  # inside our wrapper it passes
        seen.append(all(c["model_conds"][runtime.CHECK].process_cond(batch_size=1, area=None) for c in conds_[0]))
        return "done"

    cond_dicts = [[{**c[1], "uuid": str(i)} for i, c in enumerate(pos)], None]

    class Sampling:
        @staticmethod
        def percent_to_sigma(percent):
            return 10.0 * (1.0 - percent)

    tree = torch.nn.Module()
    tree.model_sampling = Sampling()
    assert wrapper(core_batching, tree, cond_dicts, torch.zeros(1, 4, 4, 4), torch.full((1,), 5.0), {}) == "done"
    assert seen == [True]
    with pytest.raises(ValueError, match="but the model given to the sampler does not"):  # and after the step again
        checks[0].process_cond(batch_size=1, area=None)


@pytest.mark.parametrize("text, strength, per_image", [
    ("0.6, 0.8, 1.0", 1.0, (0.6, 0.8, 1.0)), ("0.6;0.8 1", 1.0, (0.6, 0.8, 1.0)), (" 0.5 ", 0.5, ()),
    ("", 0.7, ()), (None, 0.7, ()), ("0, 0", 0.0, (0.0, 0.0))])
def test_a_strength_list_gives_the_identity_one_strength_per_image(comfy, coefficients, text, strength,  # noqa: F811
                                                                   per_image):
    positive, negative = conds(1), conds(2)
    model = ModelPatcher(TinyUNet(coefficients.factors("id")))
    pos, _, placed_on = apply(comfy, positive, negative, coefficients, 0.7, model=model, strengths=text)
    if strength == 0.0:  # every strength 0: the identity is off, as with strength 0
        assert (pos, placed_on) == (positive, model)
        return
    placed = split(pos)[1][0][1][TAG]
    assert (placed.strength, placed.image_strengths) == (pytest.approx(strength), per_image)


@pytest.mark.parametrize("text, message", [("0.6, high", "'high' is not a number"), ("0.6, nan", "nan is outside -4 to 4"),
                                           ("5", "5 is outside -4 to 4")])
def test_a_strength_list_that_is_not_numbers_is_refused(comfy, coefficients, text, message):  # noqa: F811
    with pytest.raises(ValueError, match=f"strengths: {message}"):
        apply(comfy, conds(1), conds(2), coefficients, strengths=text)


def test_one_pass_adds_no_conds_and_tags_the_scene_prompt_with_each_identity(comfy, coefficients):  # noqa: F811
    regions = comfy.pack.nodes.identity_runtime.REGIONS
    positive, negative = conds(1), conds(2)
    left = torch.zeros(1, 4, 4)
    left[..., :2] = 1.0
    pos, neg, model = apply(comfy, positive, negative, coefficients, 0.7, 0.2, 0.9, mask=left, region_mode="one pass")
    pos, neg, model = apply(comfy, pos, neg, coefficients, 0.6, mask=1.0 - left, region_mode="one pass", model=model)
    assert len(pos) == 1 and len(neg) == 1 and pos[0][0] is positive[0][0]  # the plain prompt's rows only
    a, b = pos[0][1][regions]
    assert neg[0][1][regions] == (a, b) and identity_set(model).identities == (a, b)
    assert torch.equal(a.region, left) and torch.equal(b.region, 1.0 - left)
    assert a.keyframes == [(0.0, 0.0), (0.2, 1.0), (0.9, 0.0)] and b.keyframes == [(0.0, 1.0)]  # the window
    assert "default" not in pos[0][1] and "mask" not in pos[0][1]
    exact_pos, _, _ = apply(comfy, pos, neg, coefficients, 0.8, mask=left, model=model)  # exact after one pass
    (scene,), (copy,) = split(exact_pos)
    assert scene[1][regions] == (a, b) and regions not in copy[1]  # the person's copy is the patched model's


def test_one_pass_refuses_a_region_prompt_and_unknown_modes(comfy, coefficients):  # noqa: F811
    mask = torch.ones(1, 4, 4)
    with pytest.raises(ValueError, match="'one pass' .* cannot give the person a region_positive"):
        apply(comfy, conds(1), conds(2), coefficients, mask=mask, region_positive=conds(3), region_mode="one pass")
    for value in ("fast", None, 1, ["exact"]):  # null and other types from the API are refused like core's
        with pytest.raises(ValueError, match=r"region_mode .* is not one of exact, one pass\. Pick one"):
            apply(comfy, conds(1), conds(2), coefficients, region_mode=value)
