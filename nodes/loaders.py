"""Loader nodes: the HyperLoRA checkpoint, the face analyzer, and the official CLIP ViT folder."""

from __future__ import annotations

import os
import weakref
from contextlib import contextmanager

from .. import hyperlora_core as hl
from ..hyperlora_core.engine.checkpoint import BASES
from ..hyperlora_core.engine.safetensors_io import SafetensorsFile
from ..hyperlora_core.face.antelopev2 import EXPECTED_LOCATION as ANTELOPEV2_LOCATION
from ..hyperlora_core.face.antelopev2 import REQUIRED_FILES as ANTELOPEV2_FILES
from ..hyperlora_core.validate import shown
from . import folders
from .memory import DEVICE_POLICIES, ManagedHyperLoRA, storage_device
from .types import CATEGORY
from .v3 import (
    ApiValue,
    FaceAnalyzer,
    Hyperlora,
    check_choices,
    chosen_file,
    io,
    listed_or_message,
    output,
    schema,
)

DTYPES = ("auto", "fp16", "bf16", "fp32")
PROVIDERS = ("auto", "cuda", "cpu")

# (folder, dtype, policy, file date) -> loaded checkpoint, shared by every loader node while one holds it
_loaded: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def load_checkpoint(path: str, dtype: str, policy: str) -> ManagedHyperLoRA:
    bases = os.path.join(path, BASES)
    key = (os.path.realpath(path), dtype, policy, os.path.getmtime(bases) if os.path.exists(bases) else None)
    managed = _loaded.get(key)
    if managed is None:
        engine = hl.load_hyperlora(path, device=storage_device(policy), dtype=None if dtype == "auto" else dtype,
                                   pin_memory=policy == "auto")  # auto streams the bases to the GPU: pinned RAM
        managed = ManagedHyperLoRA(engine, os.path.basename(os.path.normpath(path)), policy)
        managed.register()
        _loaded[key] = managed
    return managed


class HyperLoRACheckpointLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRACheckpointLoader", display_name="HyperLoRA Checkpoint Loader", category=f"{CATEGORY}/loaders",
            description=("Loads a HyperLoRA checkpoint folder (models/hyper_lora/hyper_lora/<variant>). Every "
                         "hyper-parameter is read from the files, so there is nothing to match by hand."),
            inputs=[
                io.Combo.Input("checkpoint", options=folders.list_checkpoints(), tooltip=(
                    "A folder holding hyper_lora_modules.json and the .safetensors files, e.g. "
                    "sdxl_hyper_id_lora_v1_fidelity (likeness) or sdxl_hyper_id_lora_v1_edit (editability).")),
                io.Combo.Input("dtype", options=list(DTYPES), default="auto", tooltip=(
                    "Precision of the 3 GB of LoRA bases. auto keeps the file's own (fp16 for the release); fp32 "
                    "doubles memory for no visible gain.")),
                io.Combo.Input("device", options=list(DEVICE_POLICIES), default="auto", tooltip=(
                    "auto: bases in RAM, LoRAs computed on the GPU when it has room, else on the CPU. gpu: keep "
                    "the bases on the GPU (needs ~3 GB of VRAM beside SDXL). cpu: never use the GPU.")),
            ],
            outputs=[output(Hyperlora, "hyperlora",
                            "The loaded HyperLoRA: connect it to Predict Coefficients or Apply Face.")])

    @classmethod
    def validate_inputs(cls, checkpoint=None):
        return listed_or_message(checkpoint, folders.list_checkpoints(), "HyperLoRA checkpoint folder",
                                 "models/hyper_lora/hyper_lora/<name>/ (hyper_lora_modules.json and its .safetensors)")

    @classmethod
    def execute(cls, checkpoint, dtype, device):
        check_choices(cls, dtype=(dtype, DTYPES), device=(device, DEVICE_POLICIES))
        checkpoint = chosen_file(cls, "checkpoint", checkpoint, folders.list_checkpoints())
        path = folders.resolve_folder("hyper_lora", checkpoint, "HyperLoRA checkpoint")
        return io.NodeOutput(load_checkpoint(path, dtype, device))


class HyperLoRAFaceAnalyzerLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRAFaceAnalyzerLoader", display_name="HyperLoRA Face Analyzer Loader",
            category=f"{CATEGORY}/loaders",
            description=("Loads the insightface AntelopeV2 face models (detector, landmarks, ArcFace) from "
                         "models/insightface/models/antelopev2, the folder other face packs use too."),
            inputs=[
                io.Combo.Input("face_model", options=folders.list_face_models(), tooltip=(
                    "A folder with the AntelopeV2 ONNX files (scrfd_10g_bnkps, 2d106det, glintr100). antelopev2 "
                    "is models/insightface/models/antelopev2, as other face packs name it.")),
                io.Combo.Input("provider", options=list(PROVIDERS), default="auto", tooltip=(
                    "Where face analysis runs. auto: the GPU when onnxruntime-gpu can use it, else the CPU.")),
            ],
            outputs=[output(FaceAnalyzer, "face_analyzer",
                            "Finds faces, their landmarks and their ArcFace identity: connect it to Encode Face.")])

    @classmethod
    def validate_inputs(cls, face_model=None):
        """Accept the listed names and the old spelling `models/antelopev2` of saved workflows.

        Defining this replaces ComfyUI's "value not in list" check of face_model, so the same
        check is made here, with a message that says where the files go.
        """
        if isinstance(face_model, ApiValue):
            return face_model.message
        if folders.canonical_face_model(face_model) is not None:
            return True
        listed = folders.list_face_models()
        return (f"face model folder {shown(face_model)} not in {listed}. Put {', '.join(ANTELOPEV2_FILES)} in "
                f"{ANTELOPEV2_LOCATION}, then press 'r' to refresh the lists and pick antelopev2.")

    @classmethod
    def execute(cls, face_model, provider):
        check_choices(cls, provider=(provider, PROVIDERS))
        face_model = chosen_file(cls, "face_model", face_model, folders.list_face_models())
        path = folders.resolve_face_model(face_model)
        with face_dependencies():
            from ..hyperlora_core import face

            return io.NodeOutput(face.load_face_analyzer(path, provider=provider))


class HyperLoRACLIPVisionLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return schema(
            "HyperLoRACLIPVisionLoader", display_name="HyperLoRA CLIP Vision Loader", category=f"{CATEGORY}/loaders",
            description=("Loads the CLIP ViT-L/14 image encoder from the official HyperLoRA folder "
                         "(models/hyper_lora/clip_vit/<name>). A ViT-L/14 file in models/clip_vision loaded with the "
                         "core Load CLIP Vision node works the same."),
            inputs=[io.Combo.Input("clip_model", options=folders.list_clip_models(), tooltip=(
                "A transformers folder with config.json and model.safetensors (openai/clip-vit-large-patch14), "
                "e.g. clip_vit_large_14."))],
            outputs=[output(io.ClipVision, "clip_vision", "The CLIP image encoder: connect it to Encode Face.")])

    @classmethod
    def validate_inputs(cls, clip_model=None):
        return listed_or_message(clip_model, folders.list_clip_models(), "CLIP ViT folder",
                                 "models/hyper_lora/clip_vit/<name>/ (config.json and model.safetensors)")

    @classmethod
    def execute(cls, clip_model):
        import comfy.clip_vision

        clip_model = chosen_file(cls, "clip_model", clip_model, folders.list_clip_models())
        folder = folders.resolve_folder("hyper_lora_clip_vit", clip_model, "CLIP ViT folder")
        path = os.path.join(folder, folders.CLIP_WEIGHTS)
        SafetensorsFile(path)  # a clear error naming the file for a pickle or a truncated one
        clip_vision = comfy.clip_vision.load(path)
        if clip_vision is None:
            raise ValueError(f"{path} is not a CLIP vision model ComfyUI recognises. Download "
                             "openai/clip-vit-large-patch14 (config.json and model.safetensors) into that folder.")
        return io.NodeOutput(clip_vision)


@contextmanager
def face_dependencies():
    """Turn a missing/broken insightface or onnxruntime into an error that says what to install.

    The face pipeline imports them on first use, so a broken install fails only the node that needs it.
    """
    try:
        yield
    except ImportError as e:
        raise RuntimeError(f"The face pipeline could not be imported ({e}). HyperLoRA's face nodes need "
                           "insightface and onnxruntime (or onnxruntime-gpu): install them into ComfyUI's "
                           "Python with pip, then restart ComfyUI.") from e
