"""CLIP preprocessing and encoders, and the whole encode_faces pipeline end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from hyperlora_core.face import (
    CLIP_MEAN,
    CLIP_STD,
    FaceAnalyzer,
    TransformersCLIPEncoder,
    arcface_embedding,
    clip_pixel_values,
    detect_faces,
    encode_faces,
    prepare_base_image,
    prepare_id_face,
)
from hyperlora_core.face.detection import to_bgr

pytestmark = pytest.mark.filterwarnings("ignore:.*estimate.*deprecated:FutureWarning")

from tests.face_fixtures import (  # noqa: F401  (pytest fixtures)
    analyzer,
    antelope_dir,
    insightface_image,
    paint_marker,
    tiny_clip_dir,
)


def official_processor():
    """transformers' PIL-based CLIPImageProcessor with the released preprocessor_config.json values."""
    try:
        from transformers import CLIPImageProcessorPil as processor_class  # transformers >= 5
    except ImportError:
        from transformers import CLIPImageProcessor as processor_class  # transformers 4: PIL based
    return processor_class(do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True,
                           crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255,
                           do_normalize=True, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD),
                           do_convert_rgb=True)


def processed(images) -> torch.Tensor:
    return torch.as_tensor(np.stack(official_processor()(images=images, return_tensors="np")["pixel_values"]))


def random_image(width, height, seed, mode="RGB") -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


@pytest.fixture(scope="module")
def photo():
    return paint_marker(insightface_image("Tom_Hanks_54745.png"), (50, 54, 62, 66), 1.0, 0.875)


@pytest.fixture(scope="module")
def encoder(tiny_clip_dir):  # noqa: F811
    return TransformersCLIPEncoder.from_folder(tiny_clip_dir)


@pytest.fixture(scope="module")
def vision_model(tiny_clip_dir):  # noqa: F811
    from transformers import CLIPVisionModel

    return CLIPVisionModel.from_pretrained(str(tiny_clip_dir)).eval()


def penultimate(model, pixel_values) -> torch.Tensor:
    with torch.no_grad():
        return model(pixel_values=pixel_values, output_hidden_states=True).hidden_states[-2]


@pytest.mark.parametrize("width, height, mode", [
    (300, 200, "RGB"), (200, 300, "RGB"), (224, 224, "RGB"), (97, 131, "RGB"), (641, 640, "RGB"),
    (333, 333, "L"), (250, 400, "RGBA"),
])
def test_pixel_values_match_the_official_processor(width, height, mode):
    image = random_image(width, height, seed=width * height, mode=mode)
    if mode == "RGBA":  # transformers composites transparency differently; opaque images are what we get
        image.putalpha(255)
    got = clip_pixel_values([image])
    assert got.shape == (1, 3, 224, 224) and got.dtype == torch.float32
    torch.testing.assert_close(got, processed([image]), atol=1e-6, rtol=0)


def test_pixel_values_of_a_face_crop(photo, analyzer):  # noqa: F811
    crop = prepare_id_face(photo, detect_faces(analyzer, photo)[0].landmarks)
    torch.testing.assert_close(clip_pixel_values([crop, photo]), processed([crop, photo]), atol=1e-6, rtol=0)


def test_encoder_gives_the_penultimate_hidden_states(encoder, vision_model, photo):
    images = [photo, random_image(300, 200, seed=1)]
    tokens = encoder.encode(clip_pixel_values(images))
    assert tokens.shape == (2, 257, 32) and tokens.dtype == torch.float32
    expected = penultimate(vision_model, processed(images))
    torch.testing.assert_close(tokens, expected, atol=1e-5, rtol=1e-5)
    # not the last layer
    with torch.no_grad():
        last = vision_model(pixel_values=processed(images)).last_hidden_state
    assert not torch.allclose(tokens, last, atol=1e-3)


def test_full_clip_model_folder_is_accepted(tmp_path, photo):
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(1)
    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "vocab_size": 99, "max_position_embeddings": 16},
        vision_config={"hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 224, "patch_size": 14},
        projection_dim=8)
    full = CLIPModel(config).eval()
    full.save_pretrained(tmp_path, safe_serialization=True)
    tokens = TransformersCLIPEncoder.from_folder(tmp_path).encode(clip_pixel_values([photo]))
    expected = penultimate(full.vision_model, processed([photo]))
    torch.testing.assert_close(tokens, expected, atol=1e-5, rtol=1e-5)


def test_missing_clip_files_are_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"lacks model\.safetensors.*clip_vit_large_14"):
        TransformersCLIPEncoder.from_folder(tmp_path)


def test_no_images():
    with pytest.raises(ValueError, match="No images"):
        clip_pixel_values([])


def reference_arcface(analyzer, image, landmarks) -> np.ndarray:  # noqa: F811
    """Section 7 step 5 written out: 2l square, detection at 640, first face, L2-normalised."""
    from insightface.app.common import Face

    (x0, y0), (x1, y1) = landmarks.min(axis=0), landmarks.max(axis=0)
    half = 2 * 0.75 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.125 * half / 2
    left, top = round(float(cx - half)), round(float(cy - half))
    size = (round(float(cx + half)) - left, round(float(cy + half)) - top)
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    rgb = np.asarray(image)
    sx0, sy0 = max(left, 0), max(top, 0)
    sx1, sy1 = min(left + size[0], rgb.shape[1]), min(top + size[1], rgb.shape[0])
    canvas[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = rgb[sy0:sy1, sx0:sx1]
    bgr = np.ascontiguousarray(canvas[:, :, ::-1])
    boxes, kps = analyzer.detector.detect(bgr, input_size=(640, 640))
    assert boxes.shape[0] >= 1
    embedding = analyzer.recognizer.get(bgr, Face(bbox=boxes[0, :4], kps=kps[0], det_score=boxes[0, 4]))
    return embedding / np.linalg.norm(embedding)


def test_encode_faces_end_to_end(analyzer, encoder, vision_model, photo):  # noqa: F811
    group = paint_marker(insightface_image("t1.jpg"), (500, 300, 540, 340), 0.9, 0.0)
    images = [photo, group]
    cond = encode_faces(images, analyzer, encoder, remove_background=False, with_base=True,
                        base_crop=(1.5, 1.5, 1.0, 2.0))
    assert cond.kept == [0, 1] and len(cond.detections) == 2
    for image, face, crop, base in zip(images, cond.detections, cond.id_crops, cond.base_crops):
        np.testing.assert_array_equal(np.asarray(crop), np.asarray(prepare_id_face(image, face.landmarks, False)))
        np.testing.assert_array_equal(np.asarray(base),
                                      np.asarray(prepare_base_image(image, face.landmarks, (1.5, 1.5, 1.0, 2.0))))
    torch.testing.assert_close(cond.clip_tokens, penultimate(vision_model, processed(cond.id_crops)),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cond.base_clip_tokens, penultimate(vision_model, processed(cond.base_crops)),
                               atol=1e-5, rtol=1e-5)
    assert cond.arcface.shape == (2, 512) and cond.arcface.dtype == torch.float32
    for row, image, face in zip(cond.arcface.numpy(), images, cond.detections):
        np.testing.assert_allclose(row, reference_arcface(analyzer, image, face.landmarks), atol=1e-5)
    assert abs(float(cond.arcface[0] @ cond.arcface[1])) < 0.99  # two different people


def test_encode_faces_defaults(analyzer, encoder, photo):  # noqa: F811
    cond = encode_faces([photo], analyzer, encoder)
    assert cond.base_clip_tokens is None and cond.base_crops is None
    np.testing.assert_array_equal(np.asarray(cond.id_crops[0]),
                                  np.asarray(prepare_id_face(photo, cond.detections[0].landmarks)))
    gray = encode_faces([photo], analyzer, encoder, grayscale=True)
    crop = np.asarray(gray.id_crops[0])
    assert (crop[..., 0] == crop[..., 2]).all()
    torch.testing.assert_close(gray.arcface, cond.arcface)  # ArcFace always sees the original colours


def test_arcface_falls_back_to_the_full_image_face(analyzer, photo, caplog):  # noqa: F811
    from insightface.app.common import Face

    class BlindOnCloseUps(FaceAnalyzer):
        def detect(self, bgr, size):
            return super().detect(bgr, size) if bgr.shape[:2] == (112, 112) else []

    blind = BlindOnCloseUps(analyzer.folder, analyzer.detector, analyzer.landmarker, analyzer.recognizer,
                            analyzer.providers)
    face = detect_faces(blind, photo)[0]
    with caplog.at_level("WARNING"):
        embedding = arcface_embedding(blind, photo, face, "image 1 of 1")
    assert "image 1 of 1" in caplog.text and "full image" in caplog.text
    bgr = to_bgr(photo)
    expected = analyzer.recognizer.get(bgr, Face(bbox=face.bbox, kps=face.kps, det_score=face.score))
    np.testing.assert_allclose(embedding, expected / np.linalg.norm(expected), atol=1e-6)
    assert not np.allclose(embedding, arcface_embedding(analyzer, photo, face), atol=1e-3)  # really a fallback


def test_dropping_the_unused_last_layer_changes_no_bit(tiny_clip_dir, vision_model, photo):  # noqa: F811
    """The encoder runs without CLIP's last layer (face/clip.py): its tokens equal, bit for bit, the
    penultimate hidden states of the whole model on the same pixels."""
    encoder = TransformersCLIPEncoder.from_folder(tiny_clip_dir)
    assert encoder.penultimate_last
    pixels = clip_pixel_values([photo, random_image(300, 200, seed=2)])
    assert torch.equal(encoder.encode(pixels), penultimate(vision_model, pixels))


def test_a_model_given_by_the_caller_can_keep_its_last_layer(tiny_clip_dir, photo):  # noqa: F811
    from transformers import CLIPVisionModel

    model = CLIPVisionModel.from_pretrained(str(tiny_clip_dir)).eval()
    layers = len(getattr(model, "vision_model", model).encoder.layers)
    encoder = TransformersCLIPEncoder(model, drop_unused_layer=False)
    assert not encoder.penultimate_last and len(getattr(model, "vision_model", model).encoder.layers) == layers
    pixels = clip_pixel_values([photo])
    assert torch.equal(encoder.encode(pixels), penultimate(model, pixels))
