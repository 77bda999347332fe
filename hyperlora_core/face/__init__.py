"""Face pipeline: AntelopeV2 face analysis, section-7 preprocessing, CLIP encoders, conditions."""

from . import likeness  # the Likeness score (face.likeness.score_images), as the README's Python API shows
from .analyzer import FaceAnalyzer, load_face_analyzer
from .antelopev2 import REQUIRED_FILES, find_antelopev2
from .clip import CLIP_MEAN, CLIP_STD, CLIPEncoder, TransformersCLIPEncoder, clip_pixel_values
from .conditioning import FaceConditioning, encode_faces
from .detection import DET_SIZES, SELECT_MODES, DetectedFace, detect_faces, select_face
from .identity import arcface_embedding
from .preprocess import OUTLINE_INDICES, face_box, prepare_base_image, prepare_id_face
from .preview import preview_crops, preview_detections
from .providers import FIX_COMMAND, PROVIDER_CHOICES, choose_providers, onnxruntime_cuda_problem

__all__ = [
    "CLIP_MEAN", "CLIP_STD", "DET_SIZES", "FIX_COMMAND", "OUTLINE_INDICES", "PROVIDER_CHOICES",
    "REQUIRED_FILES", "SELECT_MODES",
    "CLIPEncoder", "DetectedFace", "FaceAnalyzer", "FaceConditioning", "TransformersCLIPEncoder",
    "arcface_embedding", "choose_providers", "clip_pixel_values", "detect_faces", "encode_faces",
    "face_box", "find_antelopev2", "likeness", "load_face_analyzer", "onnxruntime_cuda_problem",
    "prepare_base_image", "prepare_id_face", "preview_crops", "preview_detections", "select_face",
]
