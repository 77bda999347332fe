"""NaN, infinity and overflowing numbers are refused where they enter (text boxes, node inputs sent
through the API, CLI flags, the engine's API), with the input named: never a NaN model or a NaN file."""

import math
import os

import pytest
import torch

import hyperlora_core as hl
from hyperlora_core.cli import main
from hyperlora_core.face.conditioning import FaceConditioning
from hyperlora_core.validate import finite, parse_number_list
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import tiny_clip_dir  # noqa: F401
from tests.test_nodes_export import coefficients, export  # noqa: F401

NON_FINITE = [float("nan"), float("inf"), -float("inf")]
BAD_TEXT = ["nan", "inf", "-inf", "1e309", "1, nan", "Infinity"]


def node(comfy, key):  # noqa: F811
    return comfy.node(key)


def fake_face(hyperlora, photos: int = 2, seed: int = 3) -> FaceConditioning:
    """Face features of the right widths (what Encode Face outputs), without running the face pipeline."""
    gen = torch.Generator().manual_seed(seed)
    config = hyperlora.config
    arcface = torch.nn.functional.normalize(torch.randn(photos, config.arcface_dim, generator=gen), dim=-1)
    tokens = torch.randn(photos, 257, config.clip_dim, generator=gen)
    return FaceConditioning(arcface=arcface, clip_tokens=tokens, base_clip_tokens=tokens.clone(), id_crops=[],
                            base_crops=None, detections=[], kept=list(range(photos)))


@pytest.fixture
def hyperlora(comfy):  # noqa: F811
    (loaded,) = node(comfy, "HyperLoRACheckpointLoader").load("sdxl_tiny_fidelity", "auto", "cpu")
    return loaded


# ---------------------------------------------------------------- the shared helpers


@pytest.mark.parametrize("value", NON_FINITE + ["nan", "1e309", None, "abc"])
def test_finite_names_the_input(value):
    with pytest.raises(ValueError, match=r"^my_strength must be a (finite )?number"):
        finite(value, "my_strength")


def test_number_lists_refuse_non_finite_and_overflowing_sums():
    assert parse_number_list("1; 2, 0.5", "w") == [1.0, 2.0, 0.5]
    for text in BAD_TEXT:
        with pytest.raises(ValueError, match="^w must hold ordinary finite numbers"):
            parse_number_list(text, "w")
    with pytest.raises(ValueError, match="^w are too large to add up"):
        parse_number_list("1e308, 1e308", "w")


# ---------------------------------------------------------------- Predict Coefficients: image_weights


@pytest.mark.parametrize("text", BAD_TEXT + ["1e308, 1e308"])
def test_image_weights_text_box_refuses_non_finite_numbers(comfy, hyperlora, text):  # noqa: F811
    predict = node(comfy, "HyperLoRAPredictCoefficients")
    weights = text if "," in text else f"{text}, 1"
    with pytest.raises(ValueError, match=r"^image_weights .*(e\.g\.|such as) '1, 1, 0\.5'"):
        predict.predict(hyperlora, fake_face(hyperlora), weights)


def test_image_weights_refuse_negative_and_all_zero(comfy, hyperlora):  # noqa: F811
    predict = node(comfy, "HyperLoRAPredictCoefficients")
    for text in ("-1, 1", "0, 0"):
        with pytest.raises(ValueError, match="^image_weights must be zero or positive, and not all zero"):
            predict.predict(hyperlora, fake_face(hyperlora), text)


def test_huge_but_finite_weights_give_the_same_identity_as_their_ratio(comfy, hyperlora):  # noqa: F811
    predict = node(comfy, "HyperLoRAPredictCoefficients")
    face = fake_face(hyperlora)
    (equal,) = predict.predict(hyperlora, face, "")
    (huge,) = predict.predict(hyperlora, face, "1e300, 1e300")
    (skewed,) = predict.predict(hyperlora, face, "3e300, 1e300")
    (ratio,) = predict.predict(hyperlora, face, "3, 1")
    assert torch.isfinite(huge.alpha).all()
    torch.testing.assert_close(huge.alpha, equal.alpha)
    torch.testing.assert_close(skewed.alpha, ratio.alpha)


def test_engine_refuses_non_finite_fusion_weights(hyperlora):
    face = fake_face(hyperlora)
    engine = hyperlora.engine
    for weights in ([float("nan"), 1.0], [1e308, 1e308], [float("inf"), 1.0]):
        with pytest.raises(ValueError, match="image weights must be finite"):
            engine.predict_id_coefficients(face.arcface, face.clip_tokens, weights)


# ---------------------------------------------------------------- strengths of the patching nodes


@pytest.mark.parametrize("bad", NON_FINITE)
def test_apply_refuses_non_finite_strengths(comfy, coefficients, bad):  # noqa: F811
    apply = node(comfy, "HyperLoRAApply")
    with pytest.raises(ValueError, match="^id_strength must be a finite number"):
        apply.apply(None, coefficients, bad, 0.0)
    with pytest.raises(ValueError, match="^base_strength must be a finite number"):
        apply.apply(None, coefficients, 0.8, bad)


def test_slider_and_apply_face_refuse_non_finite_strength(comfy, coefficients):  # noqa: F811
    with pytest.raises(ValueError, match="^strength must be a finite number"):
        node(comfy, "HyperLoRAConceptSlider").apply(None, coefficients, coefficients, float("nan"))
    with pytest.raises(ValueError, match="^strength must be a finite number"):  # before any face is encoded
        node(comfy, "HyperLoRAApplyFace").apply(None, None, None, None, torch.zeros(1, 8, 8, 3), float("inf"))


def test_mix_refuses_non_finite_weights(comfy, coefficients):  # noqa: F811
    mix = node(comfy, "HyperLoRAMixIdentities")
    with pytest.raises(ValueError, match="^weight_2 must be a finite number"):
        mix.mix(coefficients_1=coefficients, weight_1=1.0, coefficients_2=coefficients, weight_2=float("nan"))
    with pytest.raises(ValueError, match="Mixing weights must be finite"):  # finite weights whose sum is not
        mix.mix(coefficients_1=coefficients, weight_1=1e308, coefficients_2=coefficients, weight_2=1e308)


def test_patching_refuses_a_non_finite_strength_even_from_other_code(comfy, coefficients):  # noqa: F811
    with pytest.raises(ValueError, match="The LoRA strength must be a finite number"):
        comfy.pack.nodes.patching.patch_model(None, [(coefficients.factors("id"), float("nan"))])


@pytest.mark.parametrize("field", ["base_strength", "recommended_strength"])
@pytest.mark.parametrize("bad", NON_FINITE)
def test_export_refuses_non_finite_strengths_and_writes_nothing(comfy, coefficients, field, bad):  # noqa: F811
    save = node(comfy, "HyperLoRAExportLoRA").save
    values = {"base_strength": 0.0, "recommended_strength": 0.8, field: bad}
    with pytest.raises(ValueError, match=f"^{field} must be a finite number"):
        save(coefficients, "loras/me", "comfy", values["base_strength"], values["recommended_strength"], "fp16")
    output = comfy.folder_paths.output_directory
    assert not os.path.exists(output) or not any(files for _, _, files in os.walk(output))


# ---------------------------------------------------------------- the engine's API


def test_engine_refuses_non_finite_strengths_and_weights(coefficients):  # noqa: F811
    factors = coefficients.factors("id")
    with pytest.raises(ValueError, match="The strength of LoRA 2 of 2 must be a finite number"):
        hl.kohya_state_dict([(factors, 1.0), (factors, float("nan"))])
    with pytest.raises(ValueError, match="Mixing weights must be finite"):
        hl.mix_coefficients([(coefficients.alpha, 1.0), (coefficients.alpha, float("inf"))])
    with pytest.raises(ValueError, match="slider strength must be a finite number"):
        hl.slider(factors, factors, float("nan"))


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize("flag", ["--strength", "--base-strength"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309"])
def test_cli_refuses_non_finite_strengths_before_doing_anything(tmp_path, capsys, flag, value):
    out = tmp_path / "me.safetensors"
    with pytest.raises(SystemExit) as exit_info:
        main(["make-lora", "--face", "x.png", "--models", str(tmp_path), "--out", str(out), f"{flag}={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: the value must be a finite number" in err and "Traceback" not in err
    assert not out.exists()


def test_finite_accepts_ordinary_numbers():
    assert finite("0.8", "x") == 0.8 and finite(2, "x") == 2.0 and not math.isnan(finite(-4, "x"))
