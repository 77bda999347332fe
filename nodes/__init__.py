"""The ComfyUI nodes of the pack: thin adapters over hyperlora_core, in ComfyUI's V3 node API (nodes/v3.py).

Node ids differ from the official ComfyUI-HyperLoRA pack's (HyperLoRALoader, HyperLoRASaveLoRA, ...),
so both packs can be installed side by side. comfy itself is imported inside functions.
"""

from .apply import HyperLoRAApply, HyperLoRAApplyFace, HyperLoRAConceptSlider
from .conditioning import HyperLoRAApplyConditioning
from .encode import HyperLoRAEncodeFace
from .face_mask import HyperLoRAFaceMask
from .hooks import HyperLoRAIdentityHook
from .identity import HyperLoRALoadIdentity, HyperLoRASaveIdentity
from .likeness import HyperLoRALikeness
from .loaders import HyperLoRACheckpointLoader, HyperLoRACLIPVisionLoader, HyperLoRAFaceAnalyzerLoader
from .mix import HyperLoRAMixIdentities
from .predict import HyperLoRAPredictCoefficients
from .prompt import HyperLoRATriggerWords
from .repeat_latent import HyperLoRARepeatLatent
from .save import HyperLoRAExportLoRA
from .v3 import ComfyExtension

# In the order of the node reference and the Add Node menu.
NODES = [
    HyperLoRACheckpointLoader, HyperLoRAFaceAnalyzerLoader, HyperLoRACLIPVisionLoader, HyperLoRAEncodeFace,
    HyperLoRAPredictCoefficients, HyperLoRAApply, HyperLoRAApplyFace, HyperLoRAConceptSlider,
    HyperLoRAMixIdentities, HyperLoRAExportLoRA, HyperLoRATriggerWords,
    HyperLoRALikeness, HyperLoRASaveIdentity, HyperLoRALoadIdentity,
]
NODES += [HyperLoRAApplyConditioning, HyperLoRAIdentityHook, HyperLoRAFaceMask, HyperLoRARepeatLatent]


class HyperLoRAExtension(ComfyExtension):
    async def get_node_list(self):
        return list(NODES)
