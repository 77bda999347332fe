"""Face Mask at its defaults on a large photo, against measuring every pixel (the previous computation).

    python benchmarks/bench_face_mask.py [--size 4000x3000] [--repeat 3]

Runs the Face Mask node (outline, grow 0.1 face fraction, feather 8, then the tinted preview and its
PNG) on a photo of the given size with one large face. The face analyzer is a stand-in that returns
that face at once (106 landmarks on an ellipse, the box around them), so the figures are the node's
own work: detection itself is timed by bench_pipeline.py. The baseline is the same run with the mask
measured at every pixel of the face's box, which is what the node did before; both masks are compared.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class OneFaceAnalyzer:
    """Returns one face covering about a third of the photo's height, as the detector would."""

    def __init__(self, width: int, height: int):
        angles = np.linspace(0, 2 * math.pi, 106, endpoint=False)
        rx, ry = height / 7, height / 5
        self.landmarks_ = np.stack([width / 2 + rx * np.cos(angles), height / 2 + ry * np.sin(angles)], axis=1)
        box = np.array([width / 2 - rx, height / 2 - ry, width / 2 + rx, height / 2 + ry])
        self.face = types.SimpleNamespace(bbox=box, det_score=0.9, kps=np.zeros((5, 2)))

    def detect(self, bgr, size):
        return [self.face]

    def landmarks(self, bgr, face):
        return self.landmarks_


def previous_polygon_mask(polygon, height, width, grow=0.0, feather=0.0):
    """The previous computation: every pixel of the face's box (plus grow and feather) measured."""
    from hyperlora_core.face.mask import signed_distance

    mask = torch.zeros(height, width, dtype=torch.float32)
    reach = max(grow, 0.0) + feather + 1.0
    x0, x1 = max(0, math.floor(polygon[:, 0].min() - reach)), min(width, math.ceil(polygon[:, 0].max() + reach) + 1)
    y0, y1 = max(0, math.floor(polygon[:, 1].min() - reach)), min(height, math.ceil(polygon[:, 1].max() + reach) + 1)
    xs = torch.arange(x0, x1, dtype=torch.float64) + 0.5
    for top in range(y0, y1, 32):
        bottom = min(y1, top + 32)
        beyond = signed_distance(polygon, xs, torch.arange(top, bottom, dtype=torch.float64) + 0.5) - grow
        part = (1.0 - beyond / feather).clamp(0.0, 1.0) if feather > 0 else (beyond <= 0).double()
        mask[top:bottom, x0:x1] = part.float()
    return mask


def run_node(node, image, analyzer, repeat: int) -> tuple[float, torch.Tensor]:
    best, mask = math.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        out = node.mask(image, analyzer, "all", 0, "outline", 0.1, "face fraction", 8.0, False)
        best = min(best, time.perf_counter() - started)
        mask = out["result"][0]
    return best, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4000x3000", help="photo width x height (default 4000x3000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender, best of (default 3)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    from tests.test_setup_route import pack_module

    temp = tempfile.mkdtemp(prefix="hyperlora-bench-")
    sys.modules["folder_paths"] = types.SimpleNamespace(get_temp_directory=lambda: temp)
    node = pack_module("nodes.face_mask").HyperLoRAFaceMask()
    mask_module = sys.modules["hyperlora_pack.hyperlora_core.face.mask"]
    image = torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(0))
    analyzer = OneFaceAnalyzer(width, height)
    print(f"Face Mask defaults (outline, grow 0.1 face fraction, feather 8) on {width}x{height}, "
          f"best of {args.repeat}, {torch.get_num_threads()} threads")

    now, mask = run_node(node, image, analyzer, args.repeat)
    fast = mask_module.polygon_mask
    mask_module.polygon_mask = previous_polygon_mask
    try:
        before, reference = run_node(node, image, analyzer, max(1, args.repeat - 2))
    finally:
        mask_module.polygon_mask = fast
    print(f"  every pixel of the face box measured (previous): {before:7.2f} s")
    print(f"  only pixels near the edge measured (now):        {now:7.2f} s   ({before / now:.1f}x faster)")
    print(f"  masks identical: {torch.equal(mask, reference)}")


if __name__ == "__main__":
    main()
