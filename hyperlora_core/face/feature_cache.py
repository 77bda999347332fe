"""Face features remembered by the bytes they were computed from.

ComfyUI keeps a node's output while its inputs stay the same, but Encode Face runs again when any of
its options changes (a Base crop factor, the face index, background removal toggled back), when its
cached output was dropped (another workflow ran in between, a RAM-pressure cache), or when an
upstream node hands the same photo again as a new IMAGE. Detection, ArcFace and CLIP, the costly
part, would then answer the same question again. Here each answer is kept under a digest of the
pixels it was computed from and the model object that computed it (held weakly: a model that was
unloaded and replaced never answers for its successor). Hashing a photo takes a few milliseconds.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image


def image_digest(image: Image.Image) -> str:
    """A digest of a photo's pixels, mode and size (what every face feature is computed from)."""
    h = hashlib.sha256(f"{image.mode} {image.width}x{image.height}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def array_digest(*arrays) -> str:
    """A digest of arrays' bytes, dtypes and shapes (pixel values, landmarks)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype} {a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class FeatureCache:
    """At most `entries` results, least recently used dropped first, keyed by (model, key)."""

    def __init__(self, entries: int):
        self.entries = entries
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, owner: Any, key: tuple) -> Any | None:
        """The result kept for `owner` (the model that computed it) and `key`, or None."""
        with self._lock:
            item = self._items.get((id(owner), *key))
            if item is None or item[0]() is not owner:
                self.misses += 1
                return None
            self._items.move_to_end((id(owner), *key))
            self.hits += 1
            return item[1]

    def put(self, owner: Any, key: tuple, value: Any) -> None:
        try:
            ref = weakref.ref(owner)
        except TypeError:  # an owner that cannot be referenced weakly is never remembered
            return
        with self._lock:
            self._items[(id(owner), *key)] = (ref, value)
            self._items.move_to_end((id(owner), *key))
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def get_or_compute(self, owner: Any, key: tuple, compute: Callable[[], Any]) -> Any:
        value = self.get(owner, key)
        if value is None:
            value = compute()
            self.put(owner, key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# One per feature: detections and ArcFace embeddings are small; CLIP tokens are 1 MB each (257 x 1024 x 4).
DETECTIONS = FeatureCache(32)
EMBEDDINGS = FeatureCache(64)
CLIP_TOKENS = FeatureCache(32)


def clear_all() -> None:
    """Forget every kept face feature (benchmarks time the work itself)."""
    for cache in (DETECTIONS, EMBEDDINGS, CLIP_TOKENS):
        cache.clear()
