"""Likeness: ArcFace cosine between a reference identity and generated images, on the tiny marker detector.

Markers stand for faces (tests/tiny_onnx.py): a marker's colour decides its ArcFace embedding, so the
same marker is 'the same person' and other colours are other people.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from hyperlora_core.face import arcface_embedding, detect_faces, encode_faces, likeness
from tests.comfy_standin import comfy, models_root  # noqa: F401
from tests.face_fixtures import GREY, analyzer, antelope_dir, paint_marker, tiny_clip_dir  # noqa: F401
from tests.tiny_onnx import marker_colour

BOX = (250, 150, 400, 300)


def marker(score=1.0, size=0.5, box=BOX, canvas=(640, 480)) -> Image.Image:
    return paint_marker(Image.new("RGB", canvas, GREY), box, score, size)


def blank() -> Image.Image:
    return Image.new("RGB", (640, 480), GREY)


def independent_cosine(analyzer, reference_images, image) -> float:  # noqa: F811
    """Spec computation: mean of the reference embeddings (normalised), cosine with the image's only face."""
    refs = [arcface_embedding(analyzer, im, detect_faces(analyzer, im)[0]) for im in reference_images]
    mean = np.mean([r / np.linalg.norm(r) for r in refs], axis=0)
    face = detect_faces(analyzer, image)[0]
    e = arcface_embedding(analyzer, image, face)
    return float(mean @ e / np.linalg.norm(mean) / np.linalg.norm(e))


@pytest.fixture(scope="module")
def reference_face(analyzer):  # noqa: F811
    """The reference as the model sees it: Encode Face's ArcFace rows of one marker photo."""
    reference = marker()
    faces = detect_faces(analyzer, reference)
    return reference, likeness.reference_embedding(torch.from_numpy(arcface_embedding(analyzer, reference, faces[0])))


def test_the_reference_scores_one_against_itself_and_other_markers_lower(analyzer, reference_face):  # noqa: F811
    image, reference = reference_face
    assert likeness.score_image(analyzer, image, reference).score == pytest.approx(1.0, abs=1e-6)
    for other in (marker(0.7, 0.8), marker(1.0, 0.2), marker(0.6, 0.5)):
        result = likeness.score_image(analyzer, other, reference)
        assert result.face is not None and result.faces_found == 1
        assert result.score < 0.99
        assert result.score == pytest.approx(independent_cosine(analyzer, [image], other), abs=1e-6)


def test_reference_is_the_normalised_mean_of_the_models_embeddings(analyzer):  # noqa: F811
    photos = [marker(), marker(0.8, 0.3, box=(100, 200, 250, 350))]
    conditioning = encode_faces(photos, analyzer, _NoClip())
    reference = likeness.reference_embedding(conditioning.arcface)
    probe = marker(0.9, 0.6)
    score = likeness.score_image(analyzer, probe, reference).score
    assert score == pytest.approx(independent_cosine(analyzer, photos, probe), abs=1e-6)
    assert float(reference.norm()) == pytest.approx(1.0, abs=1e-6)
    weighted = likeness.reference_embedding(conditioning.arcface, [1.0, 0.0])
    assert torch.allclose(weighted, torch.nn.functional.normalize(conditioning.arcface[0], dim=0), atol=1e-6)


class _NoClip:
    """Encode Face's CLIP half is not needed for ArcFace: a stand-in encoder of the right batch size."""

    def encode(self, pixel_values):
        return torch.zeros(pixel_values.shape[0], 257, 8)


def test_ranking_top_k_and_no_face(analyzer, reference_face):  # noqa: F811
    image, reference = reference_face
    batch = [marker(0.7, 0.8), blank(), image, marker(1.0, 0.3)]
    results = likeness.score_images(analyzer, batch, reference)
    scores = [r.score for r in results]
    assert scores[1] == 0.0 and results[1].note == likeness.NO_FACE_NOTE and results[1].face is None
    assert scores[2] == pytest.approx(1.0, abs=1e-6)
    expected = sorted(range(4), key=lambda i: -scores[i])
    assert likeness.ranking(results) == expected and expected[0] == 2
    assert likeness.ranking(results, 2) == expected[:2]
    assert likeness.ranking(results, 10) == expected
    with pytest.raises(ValueError, match="top_k"):
        likeness.ranking(results, -1)
    text = likeness.summary(results)
    assert "best: image 3 (1.000)" in text and "no face found" in text and "\n" not in text


def test_the_best_matching_face_of_a_group_counts(analyzer, reference_face):  # noqa: F811
    _, reference = reference_face
    group = paint_marker(marker(0.7, 0.8, box=(40, 150, 190, 300)), (400, 150, 550, 300), 1.0, 0.5)
    result = likeness.score_image(analyzer, group, reference)
    faces = detect_faces(analyzer, group)
    cosines = [float(np.dot(arcface_embedding(analyzer, group, f), reference.numpy())) for f in faces]
    assert result.faces_found == 2 and "best of 2" in result.note
    assert result.score == pytest.approx(max(cosines), abs=1e-6) and result.face.index == int(np.argmax(cosines))
    assert result.face.index == 1  # the reference's marker, not the other person beside it


def test_preview_boxes_the_matched_face(analyzer, reference_face):  # noqa: F811
    image, reference = reference_face
    result = likeness.score_image(analyzer, image, reference)
    preview = np.asarray(likeness.preview_likeness(image, result))
    x1, y1, _, y2 = (int(float(v)) for v in result.face.bbox)
    assert tuple(preview[(y1 + y2) // 2, x1 + 1]) == likeness.MATCH_COLOUR  # the box's left edge
    assert preview.shape == np.asarray(image).shape
    none = np.asarray(likeness.preview_likeness(blank(), likeness.Likeness(0.0, None, 0, likeness.NO_FACE_NOTE)))
    assert tuple(none[2, 2]) == likeness.MATCH_COLOUR  # the note's label, top left


@pytest.mark.parametrize("bad", [torch.full((1, 512), float("nan")), torch.zeros(2, 0), torch.tensor([[1.0], [-1.0]])])
def test_unusable_references_are_refused(bad):
    with pytest.raises(ValueError):
        likeness.reference_embedding(bad)


def test_marker_colours_are_what_the_detector_expects():
    assert marker_colour(1.0, 0.5) == (255, 128, 0)


# -- the node ------------------------------------------------------------------------------------------
def as_batch(images) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(i)).float() / 255 for i in images])


@pytest.fixture
def nodes(comfy):  # noqa: F811
    mapping = comfy.nodes
    (hyperlora,) = comfy.node("HyperLoRACheckpointLoader").load("sdxl_tiny_fidelity", "auto", "cpu")
    (analyzer_,) = comfy.node("HyperLoRAFaceAnalyzerLoader").load("models/antelopev2", "cpu")
    (clip_vision,) = comfy.node("HyperLoRACLIPVisionLoader").load("clip_vit_tiny")
    return mapping, hyperlora, analyzer_, clip_vision


ENCODE_DEFAULTS = {"remove_background": True, "grayscale": False, "face_selection": "largest", "face_index": 0,
                   "skip_images_without_face": False, "base_condition": True, "base_crop_left": 1.0,
                   "base_crop_right": 1.0, "base_crop_top": 1.0, "base_crop_bottom": 1.0}


def test_likeness_node_scores_ranks_previews_and_shows_text(comfy, nodes):  # noqa: F811
    mapping, hyperlora, analyzer_, clip_vision = nodes
    face = comfy.node("HyperLoRAEncodeFace").encode(as_batch([marker()]), clip_vision, analyzer_,
                                                   **ENCODE_DEFAULTS)["result"][0]
    generated = as_batch([marker(0.7, 0.8), blank(), marker(), marker(1.0, 0.3)])
    out = comfy.node("HyperLoRALikeness").measure(generated, analyzer_, face=face, top_k=2)
    scores, ranked, preview, summary = out["result"]
    assert isinstance(scores, list) and len(scores) == 4 and scores[1] == 0.0
    assert scores[2] == pytest.approx(1.0, abs=1e-6) and max(scores[0], scores[3]) < 0.99
    best_two = sorted(range(4), key=lambda i: -scores[i])[:2]
    assert torch.equal(ranked, generated[best_two])
    assert preview.shape == generated.shape and "image 3" in summary
    assert any("no face found" in line for line in out["ui"]["text"]) and "images" not in out["ui"]
    assert mapping["HyperLoRALikeness"].OUTPUT_IS_LIST == [True, False, False, False]

    (coefficients,) = comfy.node("HyperLoRAPredictCoefficients").predict(hyperlora, face, "")
    again = comfy.node("HyperLoRALikeness").measure(generated, analyzer_, coefficients=coefficients)["result"]
    assert again[0] == pytest.approx(scores, abs=1e-6)
    assert again[1].shape[0] == 4  # top_k 0: all, sorted


def test_likeness_node_needs_exactly_one_reference(comfy, nodes):  # noqa: F811
    _, hyperlora, analyzer_, _ = nodes
    node = comfy.node("HyperLoRALikeness")
    with pytest.raises(ValueError, match="either 'face'"):
        node.measure(as_batch([marker()]), analyzer_)
    face = comfy.node("HyperLoRAEncodeFace").encode(as_batch([marker()]), nodes[3], analyzer_,
                                                   **ENCODE_DEFAULTS)["result"][0]
    with pytest.raises(ValueError, match="not both"):
        node.measure(as_batch([marker()]), analyzer_, face=face, coefficients=face)
    with pytest.raises(ValueError, match="empty image batch"):
        node.measure(torch.zeros(0, 64, 64, 3), analyzer_, face=face)
    mixed = comfy.pack.nodes.types.Coefficients(hyperlora, torch.zeros(1), None, "a mix")
    with pytest.raises(ValueError, match="no ArcFace reference"):
        node.measure(as_batch([marker()]), analyzer_, coefficients=mixed)


def test_an_identity_with_a_zero_arcface_reference_is_named(comfy, nodes, models_root, tmp_path, capsys):  # noqa: F811
    from hyperlora_core.cli import main
    from hyperlora_core.library import identity_file

    _, hyperlora, analyzer_, _ = nodes
    zero = comfy.pack.nodes.types.Coefficients(hyperlora, torch.zeros(1), None, "alice", arcface=torch.zeros(512))
    with pytest.raises(ValueError, match=r"The identity .alice. has an ArcFace reference of zeros.*Save the identity "
                                         r"again") as caught:
        comfy.node("HyperLoRALikeness").measure(as_batch([marker()]), analyzer_, coefficients=zero)
    assert "cancel out" not in str(caught.value)
    path = tmp_path / "alice.safetensors"
    identity_file.save_identity(path, identity_file.SavedIdentity(
        alpha=torch.zeros(2, 3), beta=None, label="alice", checkpoint="x", fingerprint="sha256:0", created="",
        arcface=torch.zeros(512)))
    photo = tmp_path / "p.png"
    marker().save(photo)
    assert main(["likeness", str(path), "--images", str(photo), "--models", str(models_root / "models"),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "has an ArcFace reference of zeros" in err and "cancel out" not in err


def test_one_likeness_scale_in_the_tooltip_the_readme_and_the_example(comfy):  # noqa: F811
    """The rough guide is the same wherever a user reads it: the scores output's tooltip, the README's
    table and the ranking example's note."""
    from pathlib import Path

    tooltip = comfy.pack.nodes.likeness.SCORE_TOOLTIP
    root = Path(__file__).resolve().parents[1]
    assert "above ~0.5 clearly the same person, 0.3-0.5 a resemblance, below ~0.2 a different person" in tooltip
    readme = (root / "README.md").read_text(encoding="utf-8")
    for row in ("| above 0.5 | clearly the same person |", "| 0.3 to 0.5 | a resemblance |",
                "| below 0.2 | a different person"):
        assert row in readme
    example = (root / "example_workflows" / "hyperlora_rank_by_likeness.json").read_text(encoding="utf-8")
    assert "above 0.5 clearly the same person, below 0.2 someone else" in example
