"""Search words for the node search box: what artists type when they look for a node like ours.

Newer ComfyUI servers send a node's search aliases (V3: io.Schema's `search_aliases`) to the frontend,
whose search matches them besides the display name; older servers (0.3.64) have no such field.
One table here, keyed by node class name, so the words stay consistent across nodes; names of
nodes that other branches add are listed too, so a merge only needs the registration.
"""

from __future__ import annotations

# What identity nodes of other packs are called: people search for the tool they know.
_IDENTITY = ["face id", "faceid", "identity", "likeness", "character", "instantid", "pulid", "ipadapter face",
             "face swap", "same face", "consistent character", "photo to lora", "id lora", "hyperlora"]

SEARCH_ALIASES: dict[str, list[str]] = {
    "HyperLoRACheckpointLoader": ["hyperlora loader", "load hyperlora", "hyper lora model", "id lora loader",
                                  "faceid loader", "identity model loader"],
    "HyperLoRAFaceAnalyzerLoader": ["insightface", "antelopev2", "face detector", "face analysis", "arcface loader",
                                    "face model loader"],
    "HyperLoRACLIPVisionLoader": ["clip vision", "clip vit-l", "image encoder", "load clip vision"],
    "HyperLoRAEncodeFace": ["encode face", "face embedding", "face features", "arcface", "face crop",
                            "pick face", *_IDENTITY],
    "HyperLoRAPredictCoefficients": ["predict lora", "generate lora", "lora from photo", "id lora weights",
                                     *_IDENTITY],
    "HyperLoRAApply": ["apply lora", "apply identity", "apply face", "face lora", *_IDENTITY],
    "HyperLoRAApplyFace": ["one node", "face to lora", "apply face", "quick face", "photo to model", *_IDENTITY],
    "HyperLoRAConceptSlider": ["slider", "concept slider", "age slider", "lora slider", "attribute",
                               "hyperlora"],
    "HyperLoRAMixIdentities": ["mix faces", "blend faces", "merge identities", "face blend", "average face",
                               *_IDENTITY],
    "HyperLoRAExportLoRA": ["save lora", "export lora", "lora file", "bake lora", "kohya", *_IDENTITY],
    "HyperLoRATriggerWords": ["trigger word", "trigger words", "prompt", "caption", "keywords", "hyperlora"],
    # nodes added by other branches (issue 8: hooks and masks; issue 11: likeness and identity library)
    "HyperLoRAApplyConditioning": ["conditioning", "hook", "scheduled lora", "regional", "masked lora",
                                   *_IDENTITY],
    "HyperLoRAIdentityHook": ["hook", "lora hook", "schedule", "step schedule", "keyframe", "regional identity",
                              *_IDENTITY],
    "HyperLoRAFaceMask": ["face mask", "mask face", "face segmentation", "inpaint face", "face region",
                          "multi person", "hyperlora"],
    "HyperLoRALikeness": ["likeness", "face similarity", "identity score", "compare faces", "face match",
                          "resemblance", "hyperlora"],
    "HyperLoRASaveIdentity": ["save identity", "save face", "identity library", "character library",
                              "save character", *_IDENTITY],
    "HyperLoRALoadIdentity": ["load identity", "load face", "identity library", "character library",
                              "load character", *_IDENTITY],
    # issue 27: the latent of a strength sweep
    "HyperLoRARepeatLatent": ["strength sweep", "sweep", "repeat latent", "same seed", "same noise", "compare strengths",
                              "batch", "hyperlora"],
}


# The nodes a beginner needs for the quick start (hyperlora_one_photo): ComfyUI 0.33's node library lists them
# under Essentials, in a section of this name (io.Schema's essentials_category; releases without it skip it).
ESSENTIALS_CATEGORY = "HyperLoRA"
ESSENTIALS = ("HyperLoRAApplyFace", "HyperLoRACheckpointLoader", "HyperLoRAFaceAnalyzerLoader", "HyperLoRATriggerWords")


def essentials_category(node_id: str) -> str | None:
    return ESSENTIALS_CATEGORY if node_id in ESSENTIALS else None


def search_aliases(node_id: str) -> list[str]:
    """A node's aliases (deduplicated, order kept). A node without an entry gets none rather than breaking
    the pack's import; tests/test_node_metadata.py fails on it instead."""
    return list(dict.fromkeys(SEARCH_ALIASES.get(node_id, [])))
