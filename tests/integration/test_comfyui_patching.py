"""HyperLoRA on a tiny SDXL UNet in real ComfyUI: exact weights, sampling, ControlNet, errors, unloading."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from tests import reference
from tests.integration.tiny_models import SD15_CONFIG, build_controlnet, build_unet, identity, patched_weights


def spec_weights(base: dict, checkpoint, weighted) -> dict[str, torch.Tensor]:
    """W + sum_i s_i * 0.5 * up_i @ down_i from the naive reference (tests/reference.py)."""
    out = {k: v.double().clone() for k, v in base.items()}
    names = list(json.loads((checkpoint / "hyper_lora_modules.json").read_text()))
    for coefficients, kind, strength in weighted:
        lora = reference.kohya_lora(checkpoint, coefficients, kind)
        for name in names:
            for proj in ("to_q", "to_k", "to_v", "to_out"):
                p = f"{name}_{'to_out_0' if proj == 'to_out' else proj}"
                out[reference.comfy_key(name, proj)] += strength * 0.5 * (
                    lora[f"{p}.lora_up.weight"] @ lora[f"{p}.lora_down.weight"])
    return out


def assert_weights(got, expected, keys):
    for key in keys:
        torch.testing.assert_close(got[key].double(), expected[key], rtol=1e-5, atol=1e-6, msg=key)


def test_apply_gives_the_spec_weights_on_every_attention_layer(comfyui, node, tiny_sdxl, checkpoint):
    coefficients = identity(comfyui, node)
    base = {k: v.detach().clone() for k, v in tiny_sdxl.model.state_dict().items()}
    (patched,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, 0.8, 0.25)
    keys = list(coefficients.factors("id").up)
    assert len(keys) == 16 * 2 * 4  # 16 transformer blocks in this tiny SDXL, attn1 + attn2, 4 projections
    got = patched_weights(comfyui, patched)
    assert_weights(got, spec_weights(base, checkpoint, [(coefficients.alpha, "id", 0.8),
                                                        (coefficients.beta, "base", 0.25)]), keys)
    untouched = [k for k in base if k not in keys]
    assert all(torch.equal(got[k], base[k]) for k in untouched)
    assert all(torch.equal(tiny_sdxl.model.state_dict()[k], base[k]) for k in base)  # unpatched again


def test_two_identities_on_clones_do_not_disturb_each_other(comfyui, node, tiny_sdxl, checkpoint):
    a, b = identity(comfyui, node, seed=1), identity(comfyui, node, seed=2)
    base = {k: v.detach().clone() for k, v in tiny_sdxl.model.state_dict().items()}
    (with_a,) = node("HyperLoRAApply").apply(tiny_sdxl, a, 0.8, 0.0)
    (with_b,) = node("HyperLoRAApply").apply(tiny_sdxl, b, 0.6, 0.0)
    keys = list(a.factors("id").up)
    assert_weights(patched_weights(comfyui, with_b), spec_weights(base, checkpoint, [(b.alpha, "id", 0.6)]), keys)
    assert_weights(patched_weights(comfyui, with_a), spec_weights(base, checkpoint, [(a.alpha, "id", 0.8)]), keys)
    assert tiny_sdxl.patches == {}


def sampler_inputs():
    gen = torch.Generator().manual_seed(0)
    cond = [[torch.randn(1, 77, 2048, generator=gen), {"pooled_output": torch.randn(1, 1280, generator=gen)}]]
    uncond = [[torch.zeros(1, 77, 2048), {"pooled_output": torch.zeros(1, 1280)}]]
    return cond, uncond, {"samples": torch.zeros(1, 4, 8, 8)}


def sample(comfyui, model, positive, negative, latent):
    (out,) = comfyui.nodes.common_ksampler(model, 42, 1, 4.0, "euler", "normal", positive, negative, latent)
    return out["samples"]


def test_one_ksampler_step_runs_and_the_identity_changes_it(comfyui, node, tiny_sdxl, checkpoint):
    positive, negative, latent = sampler_inputs()
    (patched,) = node("HyperLoRAApply").apply(tiny_sdxl, identity(comfyui, node), 0.8, 0.0)
    plain = sample(comfyui, tiny_sdxl, positive, negative, latent)
    with_identity = sample(comfyui, patched, positive, negative, latent)
    assert with_identity.shape == (1, 4, 8, 8) and torch.isfinite(with_identity).all()
    assert not torch.allclose(plain, with_identity)


def test_controlnet_composes_with_hyperlora(comfyui, node, tiny_sdxl, checkpoint):
    positive, negative, latent = sampler_inputs()
    (patched,) = node("HyperLoRAApply").apply(tiny_sdxl, identity(comfyui, node), 0.8, 0.0)
    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    apply_controlnet = comfyui.nodes.ControlNetApplyAdvanced()
    controlled_pos, controlled_neg = apply_controlnet.apply_controlnet(
        positive, negative, build_controlnet(), hint, 1.0, 0.0, 1.0)
    both = sample(comfyui, patched, controlled_pos, controlled_neg, latent)
    assert torch.isfinite(both).all()
    assert not torch.allclose(both, sample(comfyui, patched, positive, negative, latent))


def test_a_model_that_is_not_sdxl_is_refused_by_name(comfyui, node, checkpoint, caplog):
    sd15 = build_unet("SD15", SD15_CONFIG)
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match=r"connected model is SD15: \d+ of 128"):
        node("HyperLoRAApply").apply(sd15, identity(comfyui, node), 0.8, 0.0)
    assert "lora key not loaded" not in caplog.text
    assert sd15.patches == {}


def test_unloading_models_frees_the_bases(comfyui, node, tiny_sdxl, checkpoint):
    import comfy.model_management

    coefficients = identity(comfyui, node, seed=4, policy="gpu")
    engine = coefficients.hyperlora.engine
    assert engine.basis_bytes() > 0

    def registered():
        return any(type(m.model).__name__ == "_BasesHandle" and m.model is coefficients.hyperlora._patcher.model
                   for m in comfy.model_management.loaded_models())

    assert registered()
    comfy.model_management.unload_all_models()  # what "Unload models" in the UI does
    assert engine.basis_bytes() == 0 and not registered()
    base = {k: v.detach().clone() for k, v in tiny_sdxl.model.state_dict().items()}
    (patched,) = node("HyperLoRAApply").apply(tiny_sdxl, coefficients, 0.7, 0.0)  # read again on demand
    assert registered() and engine.basis_bytes() > 0
    keys = list(coefficients.factors("id").up)
    assert_weights(patched_weights(comfyui, patched),
                   spec_weights(base, checkpoint, [(coefficients.alpha, "id", 0.7)]), keys)
