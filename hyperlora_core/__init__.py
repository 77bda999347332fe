"""HyperLoRA engine: released checkpoints -> coefficients -> LoRA weights. Pure torch; never imports ComfyUI."""

from .engine.checkpoint import HyperLoRAConfig, ModuleSpec
from .engine.fusion import mix_coefficients, slider
from .engine.lora import LoraFactors, kohya_state_dict
from .engine.model import HyperLoRAModel, load_hyperlora
from .engine.naming import TRIGGER_WORDS, ldm_style_name, model_key

__all__ = [
    "TRIGGER_WORDS",
    "HyperLoRAConfig",
    "HyperLoRAModel",
    "LoraFactors",
    "ModuleSpec",
    "kohya_state_dict",
    "ldm_style_name",
    "load_hyperlora",
    "mix_coefficients",
    "model_key",
    "prepare_id_face",
    "slider",
]


def prepare_id_face(image, landmarks, remove_background=True, grayscale=False):
    """The square face crop fed to CLIP (spec section 7). Imported lazily: it needs PIL/numpy/cv2."""
    from .face.preprocess import prepare_id_face as _prepare

    return _prepare(image, landmarks, remove_background=remove_background, grayscale=grayscale)
