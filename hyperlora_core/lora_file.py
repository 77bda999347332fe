"""Writing a LoRA file: the metadata other tools show, and an atomic write.

Shared by the Export LoRA node and the CLI so that both write the same file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .naming import TRIGGER_WORDS


def lora_metadata(source: str, key_style: str, base_strength: float, recommended_strength: float) -> dict:
    """Trigger words (also under the kohya/modelspec keys other UIs read), source checkpoint, strengths."""
    return {
        "ss_network_module": "networks.lora",
        "ss_base_model_version": "sdxl_base_v1-0",
        "modelspec.architecture": "stable-diffusion-xl-v1-base/lora",
        "modelspec.trigger_phrase": TRIGGER_WORDS,
        "hyperlora.trigger_words": TRIGGER_WORDS,
        "hyperlora.source_checkpoint": source,
        "hyperlora.recommended_strength": f"{recommended_strength:g}",
        "hyperlora.base_strength": f"{base_strength:g}",
        "hyperlora.key_style": key_style,
    }


def write_lora_atomically(path: str | os.PathLike, tensors: dict, metadata: dict) -> None:
    """Write to a hidden temporary file beside `path`, then rename: no half-written LoRA is ever left."""
    from safetensors.torch import save_file

    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=metadata)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
