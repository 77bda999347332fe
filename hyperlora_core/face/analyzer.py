"""The AntelopeV2 face analyzer: SCRFD detector, 2d106 landmarks and glintr100 ArcFace, nothing else.

Each model is built with insightface.model_zoo.get_model (an API shared by insightface 0.7.3 and
later) instead of FaceAnalysis, which would open all five files of the download.

Tested with insightface 0.7.3 (what most ComfyUI installs carry, for IP-Adapter FaceID, InstantID and
PuLID) and 2.1. The calls used are the same in both: get_model(path, providers=...), prepare(ctx_id,
det_thresh=..., nms_thresh=...), detector.detect(bgr, input_size=...) -> (boxes with scores, keypoints),
Landmark.get / ArcFaceONNX.get(bgr, Face), insightface.app.common.Face. One difference: 0.7.3 routes
the SCRFD detector file to its class `RetinaFace` (the same SCRFD decoding under its old name), 2.x to
`SCRFD`; and 0.7.3 prints "Applied providers: ..." on stdout for every model, which would corrupt
the command line's output (its stdout is the LoRA path), so that line goes to the log instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

from .antelopev2 import DETECTOR, LANDMARKS, RECOGNITION, find_antelopev2
from .providers import CPU, choose_providers

logger = logging.getLogger(__name__)

DET_THRESH = 0.5  # insightface's default detection threshold
NMS_THRESH = 0.4  # insightface's default


class FaceAnalyzer:
    """Detection, 106 landmarks and ArcFace embeddings on BGR uint8 images (insightface's convention)."""

    def __init__(self, folder: Path, detector, landmarker, recognizer, providers: list[str]):
        self.folder = folder
        self.detector = detector
        self.landmarker = landmarker
        self.recognizer = recognizer
        self.providers = providers

    def detect(self, bgr: np.ndarray, size: int) -> list:
        """Faces (insightface Face objects with bbox, kps, det_score), highest score first."""
        from insightface.app.common import Face

        boxes, kps = self.detector.detect(bgr, input_size=(size, size))
        faces = []
        for i in range(boxes.shape[0]):
            faces.append(Face(bbox=boxes[i, :4].astype(np.float64), det_score=float(boxes[i, 4]),
                              kps=None if kps is None else kps[i].astype(np.float64)))
        return faces

    def landmarks(self, bgr: np.ndarray, face) -> np.ndarray:
        """The 106 2-D landmarks (106, 2) of a detected face."""
        return np.asarray(self.landmarker.get(bgr, face), dtype=np.float64)[:106, :2]

    def embedding(self, bgr: np.ndarray, face) -> np.ndarray:
        """The L2-normalised 512-d ArcFace embedding of a detected face (uses its 5 keypoints)."""
        if face.kps is None:
            raise RuntimeError(f"{self.folder / DETECTOR} returns no face keypoints; it is not the AntelopeV2 "
                               f"detector. Download antelopev2 again.")
        with warnings.catch_warnings():  # insightface's alignment uses an API newer scikit-image deprecates
            warnings.filterwarnings("ignore", message=".*estimate.* is deprecated", category=FutureWarning)
            feature = np.asarray(self.recognizer.get(bgr, face), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(feature))
        if not np.isfinite(norm) or norm == 0.0:
            raise RuntimeError(f"The face recognition model {self.folder / RECOGNITION} returned an empty "
                               f"embedding. Download antelopev2 again.")
        return feature / norm


DETECTOR_CLASSES = ("SCRFD", "RetinaFace")  # insightface 2.x, 0.7.3


@contextlib.contextmanager
def _provider_lines_to_log():
    """insightface 0.7.3's "Applied providers" print goes to the debug log; anything else printed
    meanwhile (another thread) is passed on to stdout unchanged."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        for line in captured.getvalue().splitlines(keepends=True):
            if line.startswith("Applied providers:"):
                logger.debug("insightface: %s", line.rstrip())
            else:
                sys.stdout.write(line)


def _load(path: Path, providers: list[str], expected: str, also: tuple[str, ...] = ()):
    from insightface.model_zoo import get_model

    try:
        with _provider_lines_to_log():
            model = get_model(str(path), providers=providers)
    except Exception as exc:  # onnxruntime/protobuf raise many types for a damaged file
        raise RuntimeError(f"Could not load {path} ({exc}). The file is probably damaged or incomplete: "
                           f"download antelopev2 again.") from exc
    if type(model).__name__ not in (expected, *also):
        raise RuntimeError(f"{path} is not the expected {expected} model (insightface sees "
                           f"{type(model).__name__ if model is not None else 'an unknown model'}). Put the "
                           f"original antelopev2 files there.")
    return model


ARCFACE_INPUT = (112, 112)  # AntelopeV2's glintr100 (and every insightface ArcFace): aligned 112 x 112 crops
ARCFACE_FEATURES = 512


def _check_arcface_shape(path: Path, recognizer) -> None:
    """insightface takes any square input of 112 or more, in steps of 16, for an ArcFace model; a model of
    another size would fail on every face (or give embeddings HyperLoRA was not trained on). Name the
    file and the size it takes, at load, rather than report the photo as having no face."""
    size = tuple(getattr(recognizer, "input_size", ()) or ())
    features = (getattr(recognizer, "output_shape", None) or [None, None])[-1]
    if size != ARCFACE_INPUT or (isinstance(features, int) and features != ARCFACE_FEATURES):
        got = " x ".join(map(str, size)) if size else "an unknown size"
        raise RuntimeError(f"The face recognition model {path} takes {got} face crops and gives {features} "
                           f"numbers, but HyperLoRA needs AntelopeV2's ArcFace (glintr100.onnx): "
                           f"{ARCFACE_INPUT[0]} x {ARCFACE_INPUT[1]} crops, {ARCFACE_FEATURES} numbers. Put the "
                           "original antelopev2 files there.")


def load_face_analyzer(model_dir, provider: str = "auto") -> FaceAnalyzer:
    """Load the three AntelopeV2 models needed from `model_dir` (see find_antelopev2 for accepted layouts).

    provider: "auto" (CUDA when ONNX Runtime offers it, else CPU), "cpu" or "cuda".
    """
    folder = find_antelopev2(model_dir)
    providers = choose_providers(provider)
    ctx_id = -1 if providers == [CPU] else 0
    detector = _load(folder / DETECTOR, providers, *DETECTOR_CLASSES[:1], also=DETECTOR_CLASSES[1:])
    landmarker = _load(folder / LANDMARKS, providers, "Landmark")
    recognizer = _load(folder / RECOGNITION, providers, "ArcFaceONNX")
    _check_arcface_shape(folder / RECOGNITION, recognizer)
    detector.prepare(ctx_id, det_thresh=DET_THRESH, nms_thresh=NMS_THRESH)
    landmarker.prepare(ctx_id)
    recognizer.prepare(ctx_id)
    logger.info("Face analysis: AntelopeV2 from %s on %s", folder, providers[0])
    return FaceAnalyzer(folder, detector, landmarker, recognizer, providers)
