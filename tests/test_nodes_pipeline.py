"""The nodes end to end on tiny models: photos -> face features -> coefficients -> patched MODEL.

Numbers are checked against the face pipeline called directly and against the spec's naive
reference (tests/reference.py), not against the nodes' own code.
"""

import dataclasses
import os

import numpy as np
import pytest
import torch
from PIL import Image

import hyperlora_core as hl
from hyperlora_core.face import TransformersCLIPEncoder, encode_faces
from tests import reference
from tests.comfy_standin import NODE_HEADS, TinyUNet, V1Call, comfy, models_root  # noqa: F401
from tests.face_fixtures import GREY, analyzer, antelope_dir, paint_marker, tiny_clip_dir  # noqa: F401

VARIANT_PATH = ("models", "hyper_lora", "hyper_lora", "sdxl_tiny_fidelity")


def photos(*boxes) -> list[Image.Image]:
    return [paint_marker(Image.new("RGB", (640, 480), GREY), box) for box in boxes]


def as_batch(images) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(i)).float() / 255 for i in images])


def node(comfy, key):  # noqa: F811
    return comfy.node(key)


ENCODE_DEFAULTS = {"remove_background": True, "grayscale": False, "face_selection": "largest", "face_index": 0,
                   "skip_images_without_face": False, "base_condition": True, "base_crop_left": 1.0,
                   "base_crop_right": 1.0, "base_crop_top": 1.0, "base_crop_bottom": 1.0}


def run_encode(comfy, images, clip_vision, analyzer_, **options):  # noqa: F811
    """Encode Face with its default widget values: {"ui": ..., "result": (face, crops, detections)}."""
    return node(comfy, "HyperLoRAEncodeFace").encode(images, clip_vision, analyzer_, **{**ENCODE_DEFAULTS, **options})


def encode(comfy, images, clip_vision, analyzer_, **options):  # noqa: F811
    return run_encode(comfy, images, clip_vision, analyzer_, **options)["result"]


@pytest.fixture
def loaded(comfy):  # noqa: F811
    """HyperLoRA, face analyzer and CLIP vision loaded through the loader nodes."""
    (hyperlora,) = node(comfy, "HyperLoRACheckpointLoader").load("sdxl_tiny_fidelity", "auto", "auto")
    (analyzer_,) = node(comfy, "HyperLoRAFaceAnalyzerLoader").load("antelopev2", "cpu")
    (clip_vision,) = node(comfy, "HyperLoRACLIPVisionLoader").load("clip_vit_tiny")
    return hyperlora, analyzer_, clip_vision


@pytest.fixture
def identity(comfy, loaded):  # noqa: F811
    """Two photos of 'one person' encoded and predicted through the nodes."""
    hyperlora, analyzer_, clip_vision = loaded
    images = as_batch(photos((250, 150, 400, 300), (100, 200, 250, 350)))
    face, crops, detections = encode(comfy, images, clip_vision, analyzer_)
    (coefficients,) = node(comfy, "HyperLoRAPredictCoefficients").predict(hyperlora, face, "")
    return images, face, crops, detections, coefficients


def test_loader_infers_the_checkpoint_and_caches_it(comfy, models_root):  # noqa: F811
    loader = node(comfy, "HyperLoRACheckpointLoader")
    (a,) = loader.load("sdxl_tiny_fidelity", "auto", "auto")
    (b,) = loader.load("sdxl_tiny_fidelity", "auto", "auto")
    (c,) = loader.load("sdxl_tiny_fidelity", "fp16", "auto")
    assert a is b and a is not c
    assert a.has_base and a.config.num_modules == 6 and a.config.clip_dim == 32
    assert c.engine.dtype == torch.float16 and a.engine.dtype == torch.float32
    assert str(a.engine.path) == str(models_root.joinpath(*VARIANT_PATH))
    with pytest.raises(ValueError, match="'nope' was not found"):
        loader.load("nope", "auto", "auto")


def test_encode_face_matches_the_face_pipeline(comfy, identity, analyzer, tiny_clip_dir):  # noqa: F811
    images, face, crops, detections, _ = identity
    direct = encode_faces(photos((250, 150, 400, 300), (100, 200, 250, 350)), analyzer,
                          TransformersCLIPEncoder.from_folder(tiny_clip_dir), with_base=True)
    torch.testing.assert_close(face.arcface, direct.arcface)
    torch.testing.assert_close(face.clip_tokens, direct.clip_tokens, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(face.base_clip_tokens, direct.base_clip_tokens, rtol=1e-4, atol=1e-4)
    assert crops.shape == (2, 512, 512, 3)
    assert detections.shape == images.shape and not torch.equal(detections, images)  # boxes drawn
    assert comfy.utils.ProgressBar.updates == [(1, 2), (2, 2)]


def test_encode_face_ui_lets_the_web_extension_pick_faces(comfy, loaded, analyzer):  # noqa: F811
    from hyperlora_core.face import detect_faces

    _, analyzer_, clip_vision = loaded
    group = paint_marker(photos((100, 150, 250, 300))[0], (420, 200, 570, 350))  # two faces
    blank = Image.new("RGB", (640, 480), GREY)
    out = run_encode(comfy, as_batch([group, blank]), clip_vision, analyzer_, face_selection="index", face_index=1,
                     skip_images_without_face=True)
    faces = out["ui"]["hyperlora_faces"]
    expected = [face.bbox for face in detect_faces(analyzer, group)]
    assert [entry["image"] for entry in faces] == [0, 1] and faces[1]["boxes"] == []
    assert (faces[0]["width"], faces[0]["height"]) == (640, 480)
    np.testing.assert_allclose(faces[0]["boxes"], expected, atol=0.06)
    assert faces[0]["boxes"][0][0] < faces[0]["boxes"][1][0]  # left to right: position = face_index
    assert "images" not in out["ui"]  # shown once, in the face picker, not also as the frontend's preview
    previews = [entry["preview"] for entry in faces]
    assert [p["type"] for p in previews] == ["temp", "temp"]
    for preview, image in zip(previews, (group, blank)):
        saved = Image.open(os.path.join(comfy.folder_paths.temp_directory, preview["filename"]))
        assert saved.size == image.size
    assert np.array_equal(np.array(Image.open(os.path.join(comfy.folder_paths.temp_directory,
                                                           previews[1]["filename"]))), np.array(blank))
    assert out["result"][0].kept == [0] and out["result"][0].detections[0].index == 1
    # The text the node shows comes with this result (and with it from ComfyUI's cache): what it returned.
    summary = "Used 1 of 2 photo(s) (photo 1: face 1). Left out (no usable face): photo 2."
    assert out["ui"]["hyperlora_summary"] == [summary]


def test_predict_gives_the_spec_coefficients(identity, models_root):  # noqa: F811
    _, face, _, _, coefficients = identity
    folder = models_root.joinpath(*VARIANT_PATH)
    expected_alpha = reference.id_coefficients(folder, NODE_HEADS["heads"], face.arcface, face.clip_tokens)
    expected_beta = reference.base_coefficients(folder, NODE_HEADS["heads"], face.base_clip_tokens)
    torch.testing.assert_close(coefficients.alpha.double(), expected_alpha, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(coefficients.beta.double(), expected_beta, rtol=1e-4, atol=1e-5)


def test_image_weights_change_the_fusion(comfy, identity, loaded):  # noqa: F811
    _, face, _, _, equal = identity
    (weighted,) = node(comfy, "HyperLoRAPredictCoefficients").predict(loaded[0], face, "1, 0")
    first_photo = dataclasses.replace(face, arcface=face.arcface[:1], clip_tokens=face.clip_tokens[:1],
                                      base_clip_tokens=face.base_clip_tokens[:1], kept=[0])
    (first_only,) = node(comfy, "HyperLoRAPredictCoefficients").predict(loaded[0], first_photo, "")
    torch.testing.assert_close(weighted.alpha, first_only.alpha)
    assert not torch.allclose(weighted.alpha, equal.alpha)
    with pytest.raises(ValueError, match="one weight per photo"):
        node(comfy, "HyperLoRAPredictCoefficients").predict(loaded[0], face, "1")


def expected_weights(model, models_root, weighted):  # noqa: F811
    """W + sum_i s_i * 0.5 * up_i @ down_i, with up/down from the naive reference."""
    folder = models_root.joinpath(*VARIANT_PATH)
    out = {key: w.double().clone() for key, w in model.model_state_dict().items()}
    for coefficients, kind, strength in weighted:
        lora = reference.kohya_lora(folder, coefficients, kind)
        for name in reference.json.loads((folder / "hyper_lora_modules.json").read_text()):
            for proj in ("to_q", "to_k", "to_v", "to_out"):
                p = f"{name}_{'to_out_0' if proj == 'to_out' else proj}"
                up, down = lora[f"{p}.lora_up.weight"], lora[f"{p}.lora_down.weight"]
                out[reference.comfy_key(name, proj)] += strength * 0.5 * up @ down
    return out


def make_unet(coefficients, seed=0):
    from tests.comfy_standin import ModelPatcher

    return ModelPatcher(TinyUNet(coefficients.factors("id"), seed))


def assert_patched(patcher, expected):
    for key, weight in expected.items():
        torch.testing.assert_close(patcher.patched_weight(key).double(), weight, rtol=1e-4, atol=1e-4)


def test_apply_patches_every_key_with_the_spec_weights(comfy, identity, models_root):  # noqa: F811
    coefficients = identity[-1]
    model = make_unet(coefficients)
    (patched,) = node(comfy, "HyperLoRAApply").apply(model, coefficients, 0.8, 0.3)
    assert model.patches == {} and patched is not model
    assert len(patched.patches) == 6 * 4 and all(len(p) == 2 for p in patched.patches.values())
    assert_patched(patched, expected_weights(model, models_root, [(coefficients.alpha, "id", 0.8),
                                                                  (coefficients.beta, "base", 0.3)]))


def test_two_identities_on_clones_do_not_disturb_each_other(comfy, loaded, identity, models_root):  # noqa: F811
    hyperlora, analyzer_, clip_vision = loaded
    a = identity[-1]
    face_b, _, _ = encode(comfy, as_batch(photos((400, 100, 560, 260))), clip_vision, analyzer_, grayscale=True,
                          base_condition=False)
    (b,) = node(comfy, "HyperLoRAPredictCoefficients").predict(hyperlora, face_b, "")
    assert b.beta is None  # encoded without the base condition
    model = make_unet(a)
    apply = node(comfy, "HyperLoRAApply")
    (with_a,) = apply.apply(model, a, 0.8, 0.0)
    (with_b,) = apply.apply(model, b, 0.6, 0.0)
    assert_patched(with_a, expected_weights(model, models_root, [(a.alpha, "id", 0.8)]))
    assert_patched(with_b, expected_weights(model, models_root, [(b.alpha, "id", 0.6)]))
    assert model.patches == {}
    with pytest.raises(ValueError, match="no Base-LoRA part"):
        apply.apply(model, b, 0.8, 0.5)


def test_a_model_that_is_not_sdxl_is_refused_by_name(comfy, identity):  # noqa: F811
    coefficients = identity[-1]
    factors = coefficients.factors("id")
    sd15_like = TinyUNet(factors)
    first = next(iter(factors.up))
    sd15_like._weights[first] = torch.zeros(factors.up[first].shape[0], 768)  # cross-attention width of SD1.5
    sd15_like._weights.pop(list(factors.up)[-1])
    from tests.comfy_standin import ModelPatcher

    with pytest.raises(ValueError, match=r"connected model is TinyUNet: 2 of 24 LoRA weights do not fit") as e:
        node(comfy, "HyperLoRAApply").apply(ModelPatcher(sd15_like), coefficients, 0.8, 0.0)
    assert first in str(e.value)


def test_concept_slider_adds_b_and_subtracts_a(comfy, loaded, identity, models_root):  # noqa: F811
    hyperlora, analyzer_, clip_vision = loaded
    a = identity[-1]
    face_b, _, _ = encode(comfy, as_batch(photos((300, 100, 460, 260))), clip_vision, analyzer_,
                          remove_background=False, base_condition=False)
    (b,) = node(comfy, "HyperLoRAPredictCoefficients").predict(hyperlora, face_b, "")
    model = make_unet(a)
    (slid,) = node(comfy, "HyperLoRAConceptSlider").apply(model, a, b, 0.7)
    assert_patched(slid, expected_weights(model, models_root, [(b.alpha, "id", 0.7), (a.alpha, "id", -0.7)]))


def test_mix_identities_is_the_engine_blend(comfy, loaded, identity):  # noqa: F811
    a = identity[-1]
    b = type(a)(a.hyperlora, hl.mix_coefficients([(a.alpha.roll(1, 1), 1.0)]), None, "b")
    (mixed,) = node(comfy, "HyperLoRAMixIdentities").mix(coefficients_1=a, weight_1=0.7, coefficients_2=b,
                                                          weight_2=0.3)
    expected = a.alpha * 0.7 + b.alpha * 0.3
    torch.testing.assert_close(mixed.alpha, expected / expected.norm(dim=-1, keepdim=True), rtol=1e-5, atol=1e-6)
    assert mixed.beta is None  # b has no Base part
    with pytest.raises(ValueError, match="at least two"):
        node(comfy, "HyperLoRAMixIdentities").mix(coefficients_1=a, weight_1=1.0, coefficients_2=None,
                                                  weight_2=1.0)


def test_mix_identities_blends_the_base_part_by_the_weights_too(comfy, loaded, identity):  # noqa: F811
    """Issue 29: beta (the Base part) follows the weights like alpha, not an equal blend whatever they are."""
    a = identity[-1]
    gen = torch.Generator().manual_seed(3)
    betas = [torch.randn(a.alpha.shape, generator=gen) for _ in range(2)]
    people = [type(a)(a.hyperlora, alpha, beta, name) for alpha, beta, name in
              ((a.alpha, betas[0], "a"), (a.alpha.roll(1, 1), betas[1], "b"))]
    for w1, w2 in ((0.7, 0.3), (1.0, 0.0), (0.1, 2.0)):
        (mixed,) = node(comfy, "HyperLoRAMixIdentities").mix(coefficients_1=people[0], weight_1=w1,
                                                              coefficients_2=people[1], weight_2=w2)
        for part, sources in (("alpha", [p.alpha for p in people]), ("beta", betas)):
            expected = sources[0].double() * w1 + sources[1].double() * w2
            expected = (expected / expected.norm(dim=-1, keepdim=True)).float()  # per token, as the engine
            torch.testing.assert_close(getattr(mixed, part), expected, rtol=1e-5, atol=1e-6, msg=f"{part} {w1}/{w2}")
    equal = torch.nn.functional.normalize(betas[0] + betas[1], dim=-1)
    assert (mixed.beta - equal).abs().max() > 0.1  # the bug's answer is far from the right one


def test_apply_face_shortcut_equals_the_separate_nodes(comfy, loaded, models_root, monkeypatch):  # noqa: F811
    hyperlora, analyzer_, clip_vision = loaded
    images = as_batch(photos((250, 150, 400, 300)))
    face, _, _ = encode(comfy, images, clip_vision, analyzer_, base_condition=False)
    (coefficients,) = node(comfy, "HyperLoRAPredictCoefficients").predict(hyperlora, face, "")
    model = make_unet(coefficients)
    shortcut = node(comfy, "HyperLoRAApplyFace")
    (patched,) = shortcut.apply(model, hyperlora, clip_vision, analyzer_, images, 0.8)
    assert_patched(patched, expected_weights(model, models_root, [(coefficients.alpha, "id", 0.8)]))
    comfy.utils.ProgressBar.updates.clear()
    (again,) = shortcut.apply(model, hyperlora, clip_vision, analyzer_, images, 0.5)  # only the strength moved
    assert comfy.utils.ProgressBar.updates == []  # the face was not encoded again
    assert_patched(again, expected_weights(model, models_root, [(coefficients.alpha, "id", 0.5)]))
    # V3 nodes have no instance: each Apply Face node (by its id) keeps its own last face
    V1Call(comfy.nodes["HyperLoRAApplyFace"], unique_id="2").apply(
        model, hyperlora, clip_vision, analyzer_, as_batch(photos((100, 100, 300, 260))), 0.8)
    comfy.utils.ProgressBar.updates.clear()
    shortcut.apply(model, hyperlora, clip_vision, analyzer_, images, 0.7)
    assert comfy.utils.ProgressBar.updates == []


def test_trigger_words(comfy):  # noqa: F811
    words = node(comfy, "HyperLoRATriggerWords")
    assert words.prepend("a photo of a man") == ("fcsks fxhks fhyks, a photo of a man",)
    assert words.prepend("fcsks fxhks fhyks, portrait") == ("fcsks fxhks fhyks, portrait",)
    assert words.prepend("  ") == ("fcsks fxhks fhyks",)


def test_apply_face_uses_a_new_photo_or_a_new_checkpoint_not_the_cached_identity(comfy, loaded):  # noqa: F811
    """The shortcut caches the identity for a strength change only: another photo, or another checkpoint,
    gives that photo's / checkpoint's identity."""
    hyperlora, analyzer_, clip_vision = loaded
    (other_checkpoint,) = node(comfy, "HyperLoRACheckpointLoader").load("sdxl_tiny_no_base", "auto", "auto")
    first, second = as_batch(photos((250, 150, 400, 300))), as_batch(photos((100, 200, 250, 350)))
    shortcut, alphas = node(comfy, "HyperLoRAApplyFace"), []
    for checkpoint, images in ((hyperlora, first), (hyperlora, second), (other_checkpoint, second)):
        face, _, _ = encode(comfy, images, clip_vision, analyzer_, base_condition=False)
        (coefficients,) = node(comfy, "HyperLoRAPredictCoefficients").predict(checkpoint, face, "")
        alphas.append(coefficients.alpha)
        model = make_unet(coefficients)
        (patched,) = shortcut.apply(model, checkpoint, clip_vision, analyzer_, images, 0.8)
        (expected,) = node(comfy, "HyperLoRAApply").apply(model, coefficients, 0.8, 0.0)
        assert_patched(patched, {key: expected.patched_weight(key).double() for key in model.model_state_dict()})
    assert not torch.allclose(alphas[0], alphas[1]) and not torch.allclose(alphas[1], alphas[2])


def test_image_weights_follow_their_photos_when_a_faceless_one_is_skipped(comfy, loaded):  # noqa: F811
    """Weights are given per input photo: with photo 2 skipped, '1, 5, 0' is photo 1 alone, and two
    weights for three photos are refused even though only two photos were kept."""
    hyperlora, analyzer_, clip_vision = loaded
    blank = Image.new("RGB", (640, 480), GREY)
    one, three = photos((250, 150, 400, 300), (100, 200, 250, 350))
    face, _, _ = encode(comfy, as_batch([one, blank, three]), clip_vision, analyzer_, skip_images_without_face=True)
    assert face.kept == [0, 2]
    predict_node = node(comfy, "HyperLoRAPredictCoefficients")
    (weighted,) = predict_node.predict(hyperlora, face, "1, 5, 0")
    alone, _, _ = encode(comfy, as_batch([one]), clip_vision, analyzer_)
    (first_only,) = predict_node.predict(hyperlora, alone, "")
    torch.testing.assert_close(weighted.alpha, first_only.alpha)
    with pytest.raises(ValueError, match="at least 3 photos"):
        predict_node.predict(hyperlora, face, "1, 1")
