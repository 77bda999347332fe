"""The ComfyUI nodes of the pack: thin adapters over hyperlora_core (comfy is imported inside functions)."""

from .apply import HyperLoRAApply, HyperLoRAApplyFace, HyperLoRAConceptSlider
from .conditioning import HyperLoRAApplyConditioning
from .encode import HyperLoRAEncodeFace
from .face_mask import HyperLoRAFaceMask
from .hooks import HyperLoRAIdentityHook
from .identity import HyperLoRALoadIdentity, HyperLoRASaveIdentity
from .likeness import HyperLoRALikeness
from .loaders import HyperLoRACheckpointLoader, HyperLoRACLIPVisionLoader, HyperLoRAFaceAnalyzerLoader
from .metadata import apply_search_aliases
from .mix import HyperLoRAMixIdentities
from .predict import HyperLoRAPredictCoefficients
from .prompt import HyperLoRATriggerWords
from .save import HyperLoRAExportLoRA

# Keys differ from the official ComfyUI-HyperLoRA pack's (HyperLoRALoader, HyperLoRASaveLoRA, ...),
# so both packs can be installed side by side.
NODE_DISPLAY_NAME_MAPPINGS = {
    "HyperLoRACheckpointLoader": "HyperLoRA Checkpoint Loader",
    "HyperLoRAFaceAnalyzerLoader": "HyperLoRA Face Analyzer Loader",
    "HyperLoRACLIPVisionLoader": "HyperLoRA CLIP Vision Loader",
    "HyperLoRAEncodeFace": "HyperLoRA Encode Face",
    "HyperLoRAPredictCoefficients": "HyperLoRA Predict Coefficients",
    "HyperLoRAApply": "HyperLoRA Apply",
    "HyperLoRAApplyFace": "HyperLoRA Apply Face (one node)",
    "HyperLoRAConceptSlider": "HyperLoRA Concept Slider",
    "HyperLoRAMixIdentities": "HyperLoRA Mix Identities",
    "HyperLoRAExportLoRA": "HyperLoRA Export LoRA",
    "HyperLoRATriggerWords": "HyperLoRA Trigger Words",
    "HyperLoRALikeness": "HyperLoRA Likeness (ID similarity)",
    "HyperLoRASaveIdentity": "HyperLoRA Save Identity",
    "HyperLoRALoadIdentity": "HyperLoRA Load Identity",
    "HyperLoRAApplyConditioning": "HyperLoRA Apply to Conditioning (when / where)",
    "HyperLoRAIdentityHook": "HyperLoRA Identity Hook",
    "HyperLoRAFaceMask": "HyperLoRA Face Mask",
}
NODES = (
    HyperLoRACheckpointLoader, HyperLoRAFaceAnalyzerLoader, HyperLoRACLIPVisionLoader, HyperLoRAEncodeFace,
    HyperLoRAPredictCoefficients, HyperLoRAApply, HyperLoRAApplyFace, HyperLoRAConceptSlider,
    HyperLoRAMixIdentities, HyperLoRAExportLoRA, HyperLoRATriggerWords,
    HyperLoRALikeness, HyperLoRASaveIdentity, HyperLoRALoadIdentity,
)
NODES += (HyperLoRAApplyConditioning, HyperLoRAIdentityHook, HyperLoRAFaceMask)
NODE_CLASS_MAPPINGS = {node.__name__: node for node in NODES}
apply_search_aliases(NODES)
