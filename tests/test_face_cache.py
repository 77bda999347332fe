"""A photo encoded again (Encode Face re-run by ComfyUI with an unchanged photo) is not analysed again."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from hyperlora_core.face import TransformersCLIPEncoder, encode_faces, feature_cache
from tests.face_fixtures import (  # noqa: F401  (pytest fixtures)
    GREY,
    analyzer,
    antelope_dir,
    paint_marker,
    tiny_clip_dir,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*estimate.*deprecated:FutureWarning")


class Counting:
    """Forwards to a model and counts the calls of each method (and the images given to encode)."""

    def __init__(self, inner):
        self._inner = inner
        self.calls: dict[str, int] = {}
        self.images = 0

    def __getattr__(self, name):
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "encode":
                self.images += args[0].shape[0]
            return target(*args, **kwargs)
        return counted


def photo(box=(80, 60, 200, 200), size=(320, 320)) -> Image.Image:
    return paint_marker(Image.new("RGB", size, GREY), box)


@pytest.fixture
def models(analyzer, tiny_clip_dir):  # noqa: F811
    return Counting(analyzer), Counting(TransformersCLIPEncoder.from_folder(tiny_clip_dir))


def test_the_same_photo_again_reuses_every_feature(models):
    counted_analyzer, encoder = models
    first = encode_faces([photo()], counted_analyzer, encoder, with_base=True)
    calls, encoded = dict(counted_analyzer.calls), encoder.images
    assert encoded == 2 and calls  # the ID crop and the Base image
    again = encode_faces([photo().copy()], counted_analyzer, encoder, with_base=True)  # equal pixels, new object
    assert counted_analyzer.calls == calls and encoder.images == encoded
    assert torch.equal(again.arcface, first.arcface) and torch.equal(again.clip_tokens, first.clip_tokens)
    assert torch.equal(again.base_clip_tokens, first.base_clip_tokens)
    assert [f.bbox.tolist() for f in again.detections] == [f.bbox.tolist() for f in first.detections]


def test_only_new_photos_and_changed_crops_are_encoded(models):
    counted_analyzer, encoder = models
    a, b = photo(), photo(box=(120, 100, 260, 260))
    encode_faces([a], counted_analyzer, encoder)
    detections = counted_analyzer.calls["detect"]
    mixed = encode_faces([a, b], counted_analyzer, encoder)
    assert encoder.images == 2  # a once, then b alone
    assert counted_analyzer.calls["detect"] > detections
    alone = encode_faces([b], counted_analyzer, encoder)
    assert torch.equal(alone.clip_tokens[0], mixed.clip_tokens[1])
    encode_faces([a], counted_analyzer, encoder, remove_background=False)  # another crop of the same photo
    assert encoder.images == 3


def test_another_model_answers_for_itself(analyzer, tiny_clip_dir):  # noqa: F811
    first = Counting(TransformersCLIPEncoder.from_folder(tiny_clip_dir))
    second = Counting(TransformersCLIPEncoder.from_folder(tiny_clip_dir))
    encode_faces([photo()], analyzer, first)
    encode_faces([photo()], analyzer, second)
    assert first.images == second.images == 1


def test_the_cache_keeps_only_its_most_recent_entries():
    cache = feature_cache.FeatureCache(2)
    owner = Counting(object())
    computed = []
    for key in ("a", "b", "a", "c", "b"):
        cache.get_or_compute(owner, (key,), lambda key=key: computed.append(key) or key.upper())
    assert computed == ["a", "b", "c", "b"]  # "a" was used again before "c" came, so "b" was dropped


def test_a_model_that_is_gone_answers_nothing():
    cache = feature_cache.FeatureCache(4)
    owner = Counting(object())
    cache.put(owner, ("k",), 1)
    assert cache.get(owner, ("k",)) == 1
    del owner
    assert all(cache.get(Counting(object()), ("k",)) is None for _ in range(3))  # even where an id is reused


def test_encoder_runs_without_the_unused_last_layer(tiny_clip_dir):  # noqa: F811
    encoder = TransformersCLIPEncoder.from_folder(tiny_clip_dir)
    assert encoder.penultimate_last
    assert len(encoder.model.vision_model.encoder.layers if hasattr(encoder.model, "vision_model")
               else encoder.model.encoder.layers) == encoder.model.config.num_hidden_layers - 1


def test_each_face_of_a_group_photo_keeps_its_own_embedding(models):
    """Picking another face of the same photo re-runs nothing but gives that face's features."""
    from hyperlora_core.face import arcface_embedding, detect_faces

    counted_analyzer, encoder = models
    group = paint_marker(photo(), (220, 40, 300, 120), 0.9, 0.6)
    picks = [encode_faces([group], counted_analyzer, encoder, select="index", face_index=i) for i in (0, 1, 0)]
    faces = detect_faces(counted_analyzer, group)
    for pick, index in zip(picks, (0, 1, 0)):
        want = arcface_embedding(counted_analyzer, group, faces[index])
        assert torch.equal(pick.arcface[0], torch.from_numpy(want).float())
    assert not torch.equal(picks[0].arcface, picks[1].arcface)
    assert encoder.images == 2  # faces 0 and 1 once each
