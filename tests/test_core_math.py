"""The engine's numbers against the naive reference written from the spec (tests/reference.py)."""

import pytest
import torch
from safetensors.torch import load_file

import hyperlora_core as hl
from hyperlora_core.engine.model import DTYPE_NAMES
from tests import reference
from tests.conftest import TINY_HEADS
from tests.synthetic_checkpoint import TINY_MODULES, write_synthetic_checkpoint


def close(a, b, tol=1e-5):
    torch.testing.assert_close(a.double(), b.double(), rtol=tol, atol=tol)


def test_id_coefficients_match_reference(tiny_checkpoint_fp32, face_features):
    arcface, clip = face_features
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    alpha = model.predict_id_coefficients(arcface, clip)
    assert alpha.shape == (8 * len(TINY_MODULES), 8)
    close(alpha, reference.id_coefficients(tiny_checkpoint_fp32, 2, arcface, clip))
    close(alpha.norm(dim=-1), torch.ones(alpha.shape[0]))


def test_single_image_is_batch_of_one(tiny_checkpoint_fp32, face_features):
    arcface, clip = face_features
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    close(model.predict_id_coefficients(arcface[:1], clip[:1]),
          reference.id_coefficients(tiny_checkpoint_fp32, 2, arcface[:1], clip[:1]))


def test_weighted_fusion_equals_repeated_images(tiny_checkpoint_fp32, face_features):
    """Weights 2:1 must equal the plain mean over [image0, image0, image1]."""
    arcface, clip = face_features
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    weighted = model.predict_id_coefficients(arcface[:2], clip[:2], weights=[2.0, 1.0])
    repeated = reference.id_coefficients(tiny_checkpoint_fp32, 2, arcface[[0, 0, 1]], clip[[0, 0, 1]])
    close(weighted, repeated)


def test_base_coefficients_match_reference(tiny_checkpoint_fp32, face_features):
    _, clip = face_features
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    close(model.predict_base_coefficients(clip), reference.base_coefficients(tiny_checkpoint_fp32, 2, clip))


def test_equal_inputs_reuse_the_coefficients_and_changed_ones_do_not(tiny_checkpoint_fp32, face_features,
                                                                   monkeypatch):
    """Predict re-run on the same features (ComfyUI re-ran Encode Face on the same photo) skips the
    resampler; other features, other weights or the other LoRA kind run it."""
    from hyperlora_core.engine import model as model_module

    arcface, clip = face_features
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    runs = []
    real = model_module.resampler_tokens
    monkeypatch.setattr(model_module, "resampler_tokens", lambda *a, **k: runs.append(1) or real(*a, **k))
    first = model.predict_id_coefficients(arcface, clip)
    again = model.predict_id_coefficients(arcface.clone(), clip.clone())
    assert len(runs) == 1 and torch.equal(first, again)
    with torch.inference_mode():
        again.zero_()  # a caller's change does not reach the remembered copy
    assert torch.equal(model.predict_id_coefficients(arcface, clip), first) and len(runs) == 1
    model.predict_id_coefficients(arcface, clip, weights=[1.0, 2.0, 1.0])
    changed = clip.clone()
    changed[0, 0, 0] += 1e-3
    close(model.predict_id_coefficients(arcface, changed), reference.id_coefficients(tiny_checkpoint_fp32, 2,
                                                                                      arcface, changed))
    model.predict_base_coefficients(clip)
    assert len(runs) == 4


def _assert_state_dict_matches(ours, ref, tol):
    assert set(ours) == set(ref)
    for key in ref:
        close(ours[key], ref[key], tol)


def test_id_lora_matches_per_projection_reference(tiny_checkpoint_fp32, face_features):
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    alpha = model.predict_id_coefficients(*face_features)
    ours = model.lora_state_dict(alpha, dtype=torch.float64)
    _assert_state_dict_matches(ours, reference.kohya_lora(tiny_checkpoint_fp32, alpha, "id"), 1e-5)
    assert ours[f"{TINY_MODULES[0][0]}_to_q.alpha"].ndim == 0


def test_base_lora_matches_reference(tiny_checkpoint_fp32, face_features):
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    beta = model.predict_base_coefficients(face_features[1])
    ours = model.lora_state_dict(beta, kind="base", dtype=torch.float64)
    _assert_state_dict_matches(ours, reference.kohya_lora(tiny_checkpoint_fp32, beta, "base"), 1e-5)


def test_fp16_chunked_cpu_path_matches_reference(tiny_checkpoint, face_features, monkeypatch):
    """Half bases go through the chunked fp32 path; force several chunks per slot."""
    monkeypatch.setattr("hyperlora_core.engine.combine_cpu.CPU_CHUNK_ELEMENTS", 8 * 64)
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    assert model.dtype == torch.float16
    coeff = torch.nn.functional.normalize(torch.randn(8 * len(TINY_MODULES), 8), dim=-1)
    ours = model.lora_state_dict(coeff, dtype=torch.float32)
    _assert_state_dict_matches(ours, reference.kohya_lora(tiny_checkpoint, coeff, "id"), 1e-4)


def test_state_dict_defaults_to_float32_from_fp16_bases(tiny_checkpoint, face_features):
    """The default output is the combination itself, not rounded to half precision."""
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    alpha = model.predict_id_coefficients(*face_features)
    ours = model.lora_state_dict(alpha)
    assert all(v.dtype == torch.float32 for v in ours.values())
    _assert_state_dict_matches(ours, reference.kohya_lora(tiny_checkpoint, alpha, "id"), 1e-5)


def test_bigger_slots_chunk_across_columns(tmp_path):
    """Slots wider than one chunk: columns split, then stitched back in order."""
    modules = [("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2", 96, 160)]
    folder = write_synthetic_checkpoint(tmp_path / "wide", modules=modules, num_basis=16, rank=8, **TINY_HEADS)
    coeff = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    ours = hl.load_hyperlora(folder, **TINY_HEADS).lora_state_dict(coeff, dtype=torch.float32)
    _assert_state_dict_matches(ours, reference.kohya_lora(folder, coeff, "id"), 1e-4)


def test_dtype_choice_bf16_and_fp32(tiny_checkpoint, face_features):
    coeff = torch.nn.functional.normalize(torch.randn(8 * len(TINY_MODULES), 8), dim=-1)
    ref = reference.kohya_lora(tiny_checkpoint, coeff, "id")
    for dtype, tol in (("fp32", 1e-4), ("bf16", 3e-2)):
        model = hl.load_hyperlora(tiny_checkpoint, dtype=dtype, **TINY_HEADS)
        assert model.dtype == DTYPE_NAMES[dtype]
        _assert_state_dict_matches(model.lora_state_dict(coeff, dtype=torch.float32), ref, tol)


def test_factors_are_keyed_by_comfy_model_keys(tiny_checkpoint_fp32, face_features):
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    alpha = model.predict_id_coefficients(*face_features)
    factors = model.lora_factors(alpha)
    ref = reference.kohya_lora(tiny_checkpoint_fp32, alpha, "id")
    assert len(factors.up) == 4 * len(TINY_MODULES)
    for name, _, _ in TINY_MODULES:
        for proj in reference.PROJ:
            key = reference.comfy_key(name, proj)
            pk = "to_out_0" if proj == "to_out" else proj
            expected = 0.5 * ref[f"{name}_{pk}.lora_up.weight"] @ ref[f"{name}_{pk}.lora_down.weight"]
            close(reference.factor_delta(factors, key), expected)
    assert "diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_out.0.weight" in factors.up
    assert "diffusion_model.output_blocks.2.1.transformer_blocks.1.attn1.to_q.weight" in factors.up
    assert "diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight" in factors.up


def test_ldm_style_json_loads_to_the_same_lora(tmp_path, face_features):
    """The same weights with LDM-style names in the JSON give identical factors."""
    a = write_synthetic_checkpoint(tmp_path / "a", naming="diffusers", seed=3, **TINY_HEADS)
    b = write_synthetic_checkpoint(tmp_path / "b", naming="ldm", seed=3, **TINY_HEADS)
    coeff = torch.nn.functional.normalize(torch.randn(8 * len(TINY_MODULES), 8), dim=-1)
    fa = hl.load_hyperlora(a, **TINY_HEADS).lora_factors(coeff)
    fb = hl.load_hyperlora(b, **TINY_HEADS).lora_factors(coeff)
    assert list(fa.up) == list(fb.up)
    for key in fa.up:
        close(reference.factor_delta(fa, key), reference.factor_delta(fb, key), 0)


def test_kohya_style_renames_blocks_as_in_spec_table(tiny_checkpoint, face_features):
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    coeff = torch.nn.functional.normalize(torch.randn(8 * len(TINY_MODULES), 8), dim=-1)
    comfy = model.lora_state_dict(coeff, style="comfy")
    kohya = model.lora_state_dict(coeff, style="kohya")
    renamed = {}
    for key, value in comfy.items():
        name, suffix = key.split(".", 1)
        renamed[f"{reference.ldm_name(name)}.{suffix}"] = value
    assert set(kohya) == set(renamed)
    for key in kohya:
        assert torch.equal(kohya[key], renamed[key])
    assert any(k.startswith("lora_unet_output_blocks_2_1_transformer_blocks_1_attn1") for k in kohya)


def test_weighted_stack_file_is_exact(tiny_checkpoint_fp32, face_features, tmp_path):
    """A slider saved as one file (concatenated ranks) equals the sum of its weighted LoRAs."""
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    arcface, clip = face_features
    lora_a = model.lora_factors(model.predict_id_coefficients(arcface[:1], clip[:1]))
    lora_b = model.lora_factors(model.predict_id_coefficients(arcface[1:2], clip[1:2]))
    stack = hl.slider(lora_a, lora_b, 0.7)
    sd = hl.kohya_state_dict(stack, dtype=torch.float64)
    for key, name in lora_a.names.items():
        up, down, alpha = sd[f"{name}.lora_up.weight"], sd[f"{name}.lora_down.weight"], sd[f"{name}.alpha"]
        assert down.shape[0] == 2 * lora_a.down[key].shape[0]
        expected = 0.7 * reference.factor_delta(lora_b, key) - 0.7 * reference.factor_delta(lora_a, key)
        close(alpha / down.shape[0] * up @ down, expected)


def test_mix_identities_blends_and_renormalises():
    a = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1)
    mixed = hl.mix_coefficients([(a, 3.0), (b, 1.0)])
    expected = 0.75 * a + 0.25 * b
    close(mixed, expected / expected.norm(dim=-1, keepdim=True))
    close(hl.mix_coefficients([(a, 1.0), (b, 0.0)]), a)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_mix_identities_follows_the_weights_in_every_dtype(dtype):
    """Coefficients saved or predicted in half precision (fp16/bf16 checkpoints) mix like float32 ones: the
    blend follows the weights, is renormalised per token, and is computed in float32 (no half rounding)."""
    a = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1).to(dtype)
    b = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1).to(dtype)
    mixed = hl.mix_coefficients([(a, 0.3), (b, 0.7)])
    expected = 0.3 * a.double() + 0.7 * b.double()
    expected = expected / expected.norm(dim=-1, keepdim=True)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed.double(), expected, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(mixed, hl.mix_coefficients([(a, 0.7), (b, 0.3)]))


def test_release_and_reload_bases(tiny_checkpoint, face_features):
    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    coeff = model.predict_id_coefficients(*face_features)
    before = model.lora_state_dict(coeff)
    assert model.basis_bytes() > 0
    model.release()
    assert model.basis_bytes() == 0
    after = model.lora_state_dict(coeff)
    for key in before:
        assert torch.equal(before[key], after[key])


def test_saved_kohya_file_loads_with_safetensors(tiny_checkpoint, face_features, tmp_path):
    from safetensors.torch import save_file

    model = hl.load_hyperlora(tiny_checkpoint, **TINY_HEADS)
    sd = model.lora_state_dict(model.predict_id_coefficients(*face_features))
    save_file(sd, str(tmp_path / "me.safetensors"))
    loaded = load_file(str(tmp_path / "me.safetensors"))
    assert set(loaded) == set(sd)


def test_one_lora_at_a_strength_is_saved_at_that_strength(tiny_checkpoint_fp32, face_features):
    """A file of one LoRA at strength 0.5, loaded at 1, changes the weights by half the LoRA."""
    model = hl.load_hyperlora(tiny_checkpoint_fp32, **TINY_HEADS)
    arcface, clip = face_features
    lora = model.lora_factors(model.predict_id_coefficients(arcface[:1], clip[:1]))
    sd = hl.kohya_state_dict([(lora, 0.5)], dtype=torch.float64)
    for key, name in lora.names.items():
        up, down, alpha = sd[f"{name}.lora_up.weight"], sd[f"{name}.lora_down.weight"], sd[f"{name}.alpha"]
        close(alpha / down.shape[0] * up @ down, reference.factor_delta(lora, key, 0.5))
