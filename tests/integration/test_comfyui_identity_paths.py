"""Apply to Conditioning on the paths core takes around it (issues 24 and 25): the identity reaches the model,
or sampling stops with a message naming what to connect; it is never lost in silence.

Each run is checked against an independent reference: the same core nodes around the model patched globally
by HyperLoRA Apply (core add_patches), which a whole-image identity must equal.
"""

from __future__ import annotations

import pytest
import torch

from tests.integration.test_comfyui_control import EXACT, apply_globally, columns_mask, denoised, place, x_t
from tests.integration.test_comfyui_hooks import sampler_conds
from tests.integration.tiny_models import build_controlnet, identity

EXTRAS = {"ModelMergeSimple": "nodes_model_merging", "TorchCompileModel": "nodes_torch_compile",
          "ModelSamplingDiscrete": "nodes_model_advanced", "FreeU": "nodes_freelunch", "FreeU_V2": "nodes_freelunch",
          "PerturbedAttentionGuidance": "nodes_pag", "SelfAttentionGuidance": "nodes_sag", "HyperTile": "nodes_hypertile"}


def core(comfyui, key):
    """A core node's function (nodes.py or its comfy_extras module): V1 nodes by their FUNCTION, V3 by execute."""
    import importlib

    cls = comfyui.nodes.NODE_CLASS_MAPPINGS.get(key)
    if cls is None and key in EXTRAS:
        module = importlib.import_module(f"comfy_extras.{EXTRAS[key]}")
        cls = getattr(module, "NODE_CLASS_MAPPINGS", {}).get(key) or getattr(module, key, None)
    if cls is None:
        pytest.skip(f"this ComfyUI has no {key}")
    if hasattr(cls, "FUNCTION"):
        function = getattr(cls(), cls.FUNCTION)
        return lambda *a, **k: tuple(function(*a, **k))
    return lambda *a, **k: tuple(cls.execute(*a, **k))


@pytest.fixture
def fresh(comfyui):
    import comfy.model_management

    comfy.model_management.unload_all_models()


@pytest.fixture
def placed(comfyui, node, tiny_sdxl, checkpoint, fresh):
    coefficients = identity(comfyui, node, seed=61)
    positive, negative = sampler_conds(seed=1)
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8)
    return coefficients, positive, negative, model, pos, neg


# ------------------------------------------------------------------ defect 1: the model without the identity


def test_a_plain_model_with_our_conditioning_stops_and_names_the_node(comfyui, tiny_sdxl, placed):
    _, _, _, _, pos, neg = placed
    with pytest.raises(ValueError, match="model given to the sampler does not .*Apply to Conditioning node"):
        denoised(tiny_sdxl, pos, neg, x_t(), 3.0, 4.0)


@pytest.mark.parametrize("first", ["plain", "identity"])
def test_model_merge_simple_keeps_or_refuses_the_identity(comfyui, node, tiny_sdxl, placed, first):
    coefficients, positive, negative, model, pos, neg = placed
    models = (tiny_sdxl, model) if first == "plain" else (model, tiny_sdxl)
    (merged,) = core(comfyui, "ModelMergeSimple")(*models, 1.0)  # ratio 1: model1's weights, model1's wrappers
    x = x_t()
    if first == "plain":
        with pytest.raises(ValueError, match="ModelMergeSimple, as model1"):
            denoised(merged, pos, neg, x, 3.0, 4.0)
    else:
        reference = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), positive, negative, x, 3.0, 4.0)
        torch.testing.assert_close(denoised(merged, pos, neg, x, 3.0, 4.0), reference, **EXACT)


# ------------------------------------------------------------------ defect 7: whole-model nodes in front and behind


@pytest.mark.parametrize("where", ["in front", "behind"])
def test_torch_compile_model_is_refused_by_name(comfyui, node, tiny_sdxl, placed, where):
    coefficients, positive, negative, _, _, _ = placed
    compile_node = core(comfyui, "TorchCompileModel")
    if where == "in front":
        (compiled,) = compile_node(tiny_sdxl, "inductor")
        model, pos, neg = place(node, compiled, positive, negative, coefficients, 0.8, 0.5, 1.0)
    else:
        model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8, 0.5, 1.0)
        (model,) = compile_node(model, "inductor")
    with pytest.raises(ValueError, match="goes through TorchCompileModel"):
        denoised(model, pos, neg, x_t(), 10.0, 4.0)  # refused at the first step, before the identity's window


WRAPPERS = {  # core whole-model nodes: (key, arguments after the model)
    "ModelSamplingDiscrete": ("ModelSamplingDiscrete", ("v_prediction", False)),
    "FreeU": ("FreeU", (1.3, 1.4, 0.9, 0.2)),
    "FreeU_V2": ("FreeU_V2", (1.3, 1.4, 0.9, 0.2)),
    "PerturbedAttentionGuidance": ("PerturbedAttentionGuidance", (3.0,)),
    "SelfAttentionGuidance": ("SelfAttentionGuidance", (0.5, 2.0)),
    "HyperTile": ("HyperTile", (256, 2, 0, False)),
}


@pytest.mark.parametrize("where", ["in front", "behind"])
@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_core_model_nodes_in_front_and_behind_keep_the_identity(comfyui, node, tiny_sdxl, placed, wrapper, where):
    coefficients, positive, negative, _, _, _ = placed
    key, arguments = WRAPPERS[wrapper]
    wrap = core(comfyui, key)
    if where == "in front":
        (wrapped,) = wrap(tiny_sdxl, *arguments)
        model, pos, neg = place(node, wrapped, positive, negative, coefficients, 0.8)
    else:
        model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8)
        (model,) = wrap(model, *arguments)
    (reference_model,) = wrap(apply_globally(node, tiny_sdxl, coefficients, 0.8), *arguments)
    x = x_t(shape=(1, 4, 16, 16))
    result = denoised(model, pos, neg, x, 3.0, 4.0)
    torch.testing.assert_close(result, denoised(reference_model, positive, negative, x, 3.0, 4.0), **EXACT)
    (plain_wrapped,) = wrap(tiny_sdxl, *arguments)
    assert not torch.allclose(result, denoised(plain_wrapped, positive, negative, x, 3.0, 4.0), atol=1e-4)


# ------------------------------------------------------------------ defect 2: core conditioning nodes after ours


AREA_NODES = {"ConditioningSetArea": (64, 32, 0, 0, 1.0), "ConditioningSetAreaPercentage": (1.0, 0.5, 0.0, 0.0, 1.0)}


@pytest.mark.parametrize("area_node", list(AREA_NODES))
def test_an_area_node_after_ours_is_refused_naming_the_order(comfyui, placed, area_node):
    _, _, _, model, pos, neg = placed
    (limited,) = core(comfyui, area_node)(pos, *AREA_NODES[area_node])
    with pytest.raises(ValueError, match="comes after HyperLoRA Apply to Conditioning.*Move the area node before"):
        denoised(model, limited, neg, x_t(), 3.0, 4.0)


@pytest.mark.parametrize("area_node", list(AREA_NODES))
def test_an_area_node_before_ours_keeps_its_area_and_the_identity_reaches_the_scene(
        comfyui, node, tiny_sdxl, checkpoint, fresh, area_node):
    coefficients = identity(comfyui, node, seed=62)
    positive, negative = sampler_conds(seed=1)
    other, _ = sampler_conds(seed=3)
    (area,) = core(comfyui, area_node)(other, *AREA_NODES[area_node])
    (combined,) = core(comfyui, "ConditioningCombine")(positive, area)
    model, pos, neg = place(node, tiny_sdxl, combined, negative, coefficients, 0.8)
    x = x_t()
    result = denoised(model, pos, neg, x, 3.0, 1.0)
    # reference: the area cond on the plain model, the scene on the patched one, blended as core blends conds
    patched = apply_globally(node, tiny_sdxl, coefficients, 0.8)
    scene = denoised(patched, positive, negative, x, 3.0, 1.0)
    assert not torch.allclose(result, denoised(tiny_sdxl, combined, negative, x, 3.0, 1.0), atol=1e-4)
    assert not torch.allclose(result, scene, atol=1e-4)  # the area cond still acts in its area
    torch.testing.assert_close(result[..., 4:, :], scene[..., 4:, :], **EXACT)  # outside its area: the scene only


def test_a_mask_batch_of_three_on_six_latents_is_repeated_as_core_does(comfyui, node, tiny_sdxl, checkpoint, fresh):
    coefficients = identity(comfyui, node, seed=63)
    positive, negative = sampler_conds(seed=1)
    masks = torch.stack([columns_mask([0, 1]), columns_mask([3, 4]), columns_mask([6, 7])])[:, 0]
    model, pos, neg = place(node, tiny_sdxl, positive, negative, coefficients, 0.8, mask=masks)
    x = x_t(shape=(6, 4, 8, 8))
    regional = denoised(model, pos, neg, x, 3.0, 4.0)
    person = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), positive, negative, x, 3.0, 4.0)
    scene = denoised(tiny_sdxl, positive, negative, x, 3.0, 4.0)
    for image in range(6):
        columns = [[0, 1], [3, 4], [6, 7]][image % 3]  # mask i on images i and i + 3
        outside = [c for c in range(8) if c not in columns]
        torch.testing.assert_close(regional[image, ..., columns], person[image, ..., columns], **EXACT)
        torch.testing.assert_close(regional[image, ..., outside], scene[image, ..., outside], **EXACT)


# ------------------------------------------------------------------ defect 2: the other core conditioning editors


def _editors(comfyui):
    """Core's conditioning editors as one-argument functions of a conditioning (the other inputs fixed)."""
    other, _ = sampler_conds(seed=3)
    return {
        "ConditioningAverage": lambda c: core(comfyui, "ConditioningAverage")(c, other, 0.7)[0],
        "ConditioningConcat": lambda c: core(comfyui, "ConditioningConcat")(c, other)[0],
        "ConditioningSetMask": lambda c: core(comfyui, "ConditioningSetMask")(c, torch.ones(1, 8, 8), "default", 1.0)[0],
        "ConditioningSetTimestepRange": lambda c: core(comfyui, "ConditioningSetTimestepRange")(c, 0.0, 1.0)[0],
        "ConditioningZeroOut": lambda c: core(comfyui, "ConditioningZeroOut")(c)[0],
        "ConditioningCombine": lambda c: core(comfyui, "ConditioningCombine")(c, other)[0],
    }


EDITORS = ["ConditioningAverage", "ConditioningConcat", "ConditioningSetMask", "ConditioningSetTimestepRange",
           "ConditioningZeroOut", "ConditioningCombine"]


@pytest.mark.parametrize("editor", EDITORS)
def test_a_core_conditioning_editor_before_ours_keeps_the_identity(comfyui, node, tiny_sdxl, placed, editor):
    """Before ours, the edited prompt is the scene the identity acts on: equal to the same editor under the
    globally patched model (a masked prompt is refused with what to connect instead)."""
    coefficients, positive, negative, _, _, _ = placed
    edit = _editors(comfyui)[editor]
    if editor == "ConditioningSetMask":  # a masked prompt is a region, not a scene: the node says what to connect
        with pytest.raises(ValueError, match="no prompt without a mask of its own.*connect the person's prompt to "
                                             "region_positive"):
            place(node, tiny_sdxl, edit(positive), negative, coefficients, 0.8)
        return
    model, pos, neg = place(node, tiny_sdxl, edit(positive), negative, coefficients, 0.8)
    x = x_t()
    reference = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), edit(positive), negative, x, 3.0, 4.0)
    torch.testing.assert_close(denoised(model, pos, neg, x, 3.0, 4.0), reference, **EXACT)


@pytest.mark.parametrize("editor", [e for e in EDITORS if e != "ConditioningCombine"])
def test_a_core_conditioning_editor_after_ours_keeps_the_identity(comfyui, node, tiny_sdxl, placed, editor):
    """After ours, an editor that changes our conds in place (tensors, mask, range) keeps them ours: equal to the
    same editor on the plain prompt under the globally patched model."""
    coefficients, positive, negative, model, pos, neg = placed
    edit = _editors(comfyui)[editor]
    x = x_t()
    reference = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), edit(positive), negative, x, 3.0, 4.0)
    torch.testing.assert_close(denoised(model, edit(pos), neg, x, 3.0, 4.0), reference, **EXACT)


def test_conditioning_combine_after_ours_gives_the_identity_to_our_part_only(comfyui, node, tiny_sdxl, placed):
    """Combine after ours adds a prompt that did not come through the node: it runs on the plain model, ours on
    the identity, so the result lies between the plain and the globally patched one (neither is lost)."""
    coefficients, positive, negative, model, pos, neg = placed
    edit = _editors(comfyui)["ConditioningCombine"]
    x = x_t()
    result = denoised(model, edit(pos), neg, x, 3.0, 1.0)
    plain = denoised(tiny_sdxl, edit(positive), negative, x, 3.0, 1.0)
    patched = denoised(apply_globally(node, tiny_sdxl, coefficients, 0.8), edit(positive), negative, x, 3.0, 1.0)
    assert not torch.allclose(result, plain, atol=1e-4) and not torch.allclose(result, patched, atol=1e-4)


@pytest.mark.parametrize("where", ["before", "after"])
def test_controlnet_apply_before_and_after_ours_keeps_the_identity(comfyui, node, tiny_sdxl, placed, where):
    """Core's Apply ControlNet on either side of ours: equal to the same ControlNet under the globally patched model,
    and the ControlNet still acts (differs from the identity without it)."""
    coefficients, positive, negative, model, pos, neg = placed
    controlnet = build_controlnet()
    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))

    def control(p, n):
        return comfyui.nodes.ControlNetApplyAdvanced().apply_controlnet(p, n, controlnet, hint, 1.0, 0.0, 1.0)[:2]

    if where == "before":
        model, pos, neg = place(node, tiny_sdxl, *control(positive, negative), coefficients, 0.8)
    else:
        pos, neg = control(pos, neg)
    x = x_t()
    patched = apply_globally(node, tiny_sdxl, coefficients, 0.8)
    result = denoised(model, pos, neg, x, 3.0, 4.0)
    torch.testing.assert_close(result, denoised(patched, *control(positive, negative), x, 3.0, 4.0), **EXACT)
    assert not torch.allclose(result, denoised(patched, positive, negative, x, 3.0, 4.0), atol=1e-4)
