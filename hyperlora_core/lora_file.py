"""Writing a LoRA file: the metadata other tools show, and an atomic write.

Shared by the Export LoRA node and the CLI so that both write the same file; the atomic write also
serves identity files and converted workflows.
"""

from __future__ import annotations

import os
import secrets
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
    """Serialise in memory with the safetensors library (so it leaves no temporary file of its own),
    then write atomically."""
    from safetensors.torch import save

    write_bytes_atomically(path, save(tensors, metadata=metadata))


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write through one short-named temporary file of ours beside `path`, then rename.

    No half-written file is ever left: the temporary is removed on every failure we can catch
    (a full disk, Ctrl+C). The file is created like any other (mode 0666 minus the umask, so 0644
    usually, not mkstemp's 0600), and the short temporary name works for final names up to the
    255-byte limit.
    """
    path = Path(path)
    temporary = path.parent / f".hyperlora-{secrets.token_hex(6)}.tmp"
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise RuntimeError(f"Could not create a file in {path.parent} ({exc.strerror or exc}). Check that the "
                           "folder exists and is writable.") from None
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as exc:  # a full disk, a vanished folder: one readable line, not a traceback
        temporary.unlink(missing_ok=True)
        raise RuntimeError(f"Could not write {path} ({exc.strerror or exc}); nothing was saved. Free some "
                           "disk space or choose another folder, then try again.") from None
    except BaseException:  # Ctrl+C and anything else: no temporary left behind either
        temporary.unlink(missing_ok=True)
        raise
