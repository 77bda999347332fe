"""Saved identities: an identity's coefficients in a small file, tied to the checkpoint that made them.

An identity file is a safetensors file (about 0.6 MB with the released shapes,
1.2 MB with a Base-LoRA) holding

* tensors: `alpha` (Q, K), `beta` (Q, K) when the identity has a Base part, `arcface` (512,) the mean
  ArcFace embedding of the reference photos (so Likeness can score against a saved identity), and
  `thumbnail` (H, W, 3) uint8, the face crop the model saw, small;
* metadata: the format marker, the label, the checkpoint's folder name and fingerprint, the date.

Coefficients only mean something with the checkpoint that made them: the two released variants
(fidelity and edit) have identical shapes, so a shape check cannot tell them apart. The fingerprint
can, without reading the 3 GB of bases: it hashes the JSON and the resampler/projector files in
full (small) and, of any file larger than FULL_HASH_LIMIT, its size, header and evenly spaced slices.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..engine.checkpoint import find_checkpoint_files
from ..engine.lora_file import (
    READ_ONLY,
    folder_advice,
    make_folders,
    remove_empty_folders,
    write_lora_atomically,
)
from ..engine.safetensors_io import SafetensorsFile
from ..paths import is_inside
from ..validate import shown

FORMAT = "hyperlora.identity"
VERSION = "1"
EXTENSION = ".safetensors"
FULL_HASH_LIMIT = 64 * 1024 * 1024
SAMPLES = 64
SAMPLE_BYTES = 64 * 1024
THUMBNAIL_SIZE = 128
MAX_NAME_BYTES = 200  # in UTF-8: file systems count bytes (a CJK character takes 3)
# Characters Windows refuses in file names, and control characters (NUL included).
_BAD_NAME = re.compile(r'[<>:"|?*\\\x00-\x1f\x7f]')
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_fingerprints: dict[tuple, str] = {}


# -- fingerprint -------------------------------------------------------------------------------------
def _hash_file(digest, path: Path) -> None:
    size = path.stat().st_size
    digest.update(f"{path.name}:{size}\n".encode())
    with open(path, "rb") as f:
        if size <= FULL_HASH_LIMIT:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
            return
        digest.update(f.read(SAMPLE_BYTES))  # the header (tensor names, shapes, dtypes)
        for number in range(SAMPLES):
            f.seek((size - SAMPLE_BYTES) * (number + 1) // SAMPLES)
            digest.update(f.read(SAMPLE_BYTES))


def checkpoint_fingerprint(folder: str | os.PathLike) -> str:
    """'sha256:<hex>' of a checkpoint folder's files (bases sampled, not read in full); cached per file date."""
    files = find_checkpoint_files(folder)
    paths = [p for p in (files.modules_json, files.resampler, files.id_projector, files.base_resampler, files.bases)
             if p is not None]
    key = (FULL_HASH_LIMIT, SAMPLES, SAMPLE_BYTES,
           *((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths))
    if key not in _fingerprints:
        digest = hashlib.sha256()
        for path in paths:
            _hash_file(digest, path)
        _fingerprints[key] = "sha256:" + digest.hexdigest()
    return _fingerprints[key]


# -- names and paths ---------------------------------------------------------------------------------
def identity_relative_path(name: str) -> str:
    """'cast/alice' -> 'cast/alice.safetensors'; refuses names that could leave the identities folder."""
    if not isinstance(name, str):
        raise ValueError("The identity name must be text.")  # noqa: TRY004 (a user's input, not a bad call)
    cleaned = name.strip()
    if cleaned.lower().endswith(EXTENSION):
        cleaned = cleaned[: -len(EXTENSION)]
    what = f"The identity name {shown(name)}"
    if not cleaned:
        raise ValueError("Give the identity a name, e.g. 'alice' or 'cast/alice'.")
    size = len(cleaned.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ValueError(f"{what} is too long: {size} bytes in UTF-8 (letters outside English take 2 to 4 "
                         f"bytes each); use at most {MAX_NAME_BYTES} bytes.")
    if _BAD_NAME.search(cleaned):
        raise ValueError(f"{what} contains a character file names cannot hold (\\ < > : \" | ? * or a control "
                         "character). Use letters, digits, spaces, - and _, and / for sub-folders.")
    parts = cleaned.split("/")
    if cleaned.startswith("/") or any(part.strip() in ("", ".", "..") for part in parts):
        raise ValueError(f"{what} must stay inside the identities folder: no leading '/', no '..', no empty "
                         "folder names. Use a name such as 'alice' or 'cast/alice'.")
    if any(part != part.strip() or part.endswith(".") for part in parts):
        raise ValueError(f"{what} has a folder or file name that starts or ends with a space or ends with a dot; "
                         "remove them (Windows cannot hold such names).")
    if any(part.split(".")[0].lower() in _WINDOWS_DEVICES for part in parts):
        raise ValueError(f"{what} uses a name Windows reserves for devices (CON, NUL, COM1, ...); choose another.")
    return cleaned + EXTENSION


def identity_path(root: str | os.PathLike, name: str) -> Path:
    """The file for `name` in the identities folder `root`; the real path must stay inside it (symlinks too)."""
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, identity_relative_path(name)))
    if target == real_root or not is_inside(real_root, target):
        raise ValueError(f"The identity name {shown(name)} leads outside the identities folder ({real_root}) "
                         "through a link; choose another name.")
    return Path(target)


# -- writing and reading -----------------------------------------------------------------------------
def thumbnail_array(image, size: int = THUMBNAIL_SIZE) -> np.ndarray | None:
    """A PIL image as a (size, size, 3) uint8 array: fitted and centred on grey; None for an empty image."""
    from PIL import Image

    if 0 in image.size:
        return None
    image = image.convert("RGB")
    scale = size / max(image.size)
    fitted = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                          Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (size, size), (127, 127, 127))
    canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    return np.asarray(canvas, dtype=np.uint8)


@dataclass
class SavedIdentity:
    """What an identity file holds."""

    alpha: torch.Tensor
    beta: torch.Tensor | None
    label: str
    checkpoint: str
    fingerprint: str
    created: str
    arcface: torch.Tensor | None = None
    thumbnail: np.ndarray | None = None  # (H, W, 3) uint8


def _finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(tensor).detach().to("cpu", torch.float32).contiguous()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"The identity's {name} contains NaN or infinite values; predict it again.")
    return tensor


def save_identity(path: str | os.PathLike, identity: SavedIdentity, overwrite: bool = False) -> Path:
    """Write an identity file atomically; an existing file is replaced only with overwrite=True."""
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise ValueError(f"An identity named '{path.stem}' already exists ({path}). Choose another name, or turn "
                         "on 'overwrite' to replace it.")
    tensors = {"alpha": _finite("alpha", identity.alpha)}
    if identity.beta is not None:
        tensors["beta"] = _finite("beta", identity.beta)
    if identity.arcface is not None:
        tensors["arcface"] = _finite("ArcFace embedding", identity.arcface).flatten()
    if identity.thumbnail is not None:
        thumbnail = np.ascontiguousarray(identity.thumbnail, dtype=np.uint8)
        if thumbnail.ndim != 3 or thumbnail.shape[2] != 3:
            raise ValueError(f"The thumbnail must be an (H, W, 3) image; got shape {thumbnail.shape}.")
        if thumbnail.size:  # an empty one is no thumbnail
            tensors["thumbnail"] = torch.from_numpy(thumbnail.copy())
    metadata = {
        "hyperlora.format": FORMAT,
        "hyperlora.version": VERSION,
        "hyperlora.label": identity.label,
        "hyperlora.checkpoint": identity.checkpoint,
        "hyperlora.checkpoint_fingerprint": identity.fingerprint,
        "hyperlora.created": identity.created or datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
    }
    created = _make_folder(path)
    try:
        write_lora_atomically(path, tensors, metadata, overwrite)  # a temporary + rename: never half-written
    except BaseException:
        remove_empty_folders(created)  # a sub-folder made for this name goes again: nothing is left behind
        raise
    return path


def _make_folder(path: Path) -> list[Path]:
    """The folders an identity name asks for (those created here are returned); a file standing where one is
    needed is named, and so is a folder that cannot be written."""
    try:
        return make_folders(path.parent)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in (path.parent, *path.parent.parents) if os.path.lexists(p) and not p.is_dir())
        raise ValueError(f"The identity name needs the folder {blocker}, but it is a file. Choose another name "
                         "(or another sub-folder).") from None
    except OSError as exc:
        advice = folder_advice(exc) if exc.errno in READ_ONLY else "Choose a shorter or simpler name"
        raise ValueError(f"Could not create the folder {path.parent} for the identity ({exc.strerror or exc}); "
                         f"nothing was saved. {advice}.") from None


def read_identity_header(path: str | os.PathLike) -> SafetensorsFile:
    """The validated header of an identity file (cheap: no tensor is read)."""
    st = SafetensorsFile(path)
    for key, value in st.metadata.items():
        if key.startswith("hyperlora.") and not isinstance(value, str):
            raise ValueError(f"The identity file {path} is damaged: its metadata '{key}' is not text "
                             f"({str(value)[:40]}). Save the identity again.")
    if st.metadata.get("hyperlora.format") != FORMAT:
        raise ValueError(f"{path} is not a HyperLoRA identity file (made by HyperLoRA Save Identity). If it is a "
                         "LoRA, load it with Load LoRA instead.")
    if "alpha" not in st:
        raise ValueError(f"The identity file {path} has no coefficients (no 'alpha'); save the identity again.")
    return st


def read_thumbnail(path: str | os.PathLike) -> np.ndarray | None:
    """The (H, W, 3) uint8 face thumbnail of an identity file, or None if it has none."""
    st = read_identity_header(path)
    if "thumbnail" not in st:
        return None
    shape, dtype = st.shape("thumbnail"), st.dtype("thumbnail")
    if dtype != torch.uint8 or len(shape) != 3 or shape[2] != 3 or max(shape[:2]) > 4 * THUMBNAIL_SIZE:
        raise ValueError(f"The thumbnail in {path} is not a small RGB image (shape {shape}, {dtype}).")
    if 0 in shape:
        return None  # an empty thumbnail shows nothing: as if there were none
    return st.read("thumbnail").numpy()


def load_identity(path: str | os.PathLike) -> SavedIdentity:
    """Read an identity file; NaN, missing or malformed parts are refused with a message naming the file."""
    st = read_identity_header(path)
    meta = st.metadata

    def tensor(name):
        return _finite(f"{name} (in {path})", st.read(name)) if name in st else None

    alpha, beta, arcface = tensor("alpha"), tensor("beta"), tensor("arcface")
    if alpha.ndim != 2 or (beta is not None and beta.shape != alpha.shape):
        raise ValueError(f"The identity file {path} is damaged: alpha has shape {tuple(alpha.shape)}"
                         + (f", beta {tuple(beta.shape)}" if beta is not None else "") + ". Save it again.")
    thumbnail = read_thumbnail(path) if "thumbnail" in st else None
    return SavedIdentity(alpha=alpha, beta=beta, label=meta.get("hyperlora.label", Path(path).stem),
                         checkpoint=meta.get("hyperlora.checkpoint", "?"),
                         fingerprint=meta.get("hyperlora.checkpoint_fingerprint", ""),
                         created=meta.get("hyperlora.created", ""), arcface=arcface, thumbnail=thumbnail)


def check_checkpoint(identity: SavedIdentity, name: str, fingerprint: str, shape: tuple[int, int],
                     where: str = "this identity") -> None:
    """Refuse coefficients made with another checkpoint: the fingerprint names the checkpoint it needs."""
    if not identity.fingerprint:
        raise ValueError(f"{where} has no checkpoint fingerprint (it was written by another tool or edited), so "
                         "HyperLoRA cannot tell which checkpoint made it, and coefficients only work with that one. "
                         f"Save the identity again from the photos with '{name}'.")
    if identity.fingerprint != fingerprint and identity.checkpoint == name:
        raise ValueError(f"{where} was made with a checkpoint named '{name}' too, but its files differ from the "
                         f"loaded one ({identity.fingerprint[:19]}... here, {fingerprint[:19]}... now): the folder "
                         f"'{name}' holds other files than when the identity was saved (the other variant, or a "
                         "changed download). Load the checkpoint that made it, or save the identity again from "
                         "the photos.")
    if identity.fingerprint != fingerprint:
        raise ValueError(f"{where} was made with the HyperLoRA checkpoint '{identity.checkpoint}' "
                         f"({identity.fingerprint[:19]}...), but the loaded checkpoint is '{name}' "
                         f"({fingerprint[:19]}...). Its coefficients only work with the checkpoint that made them: "
                         f"load '{identity.checkpoint}' in the HyperLoRA Checkpoint Loader, or save the identity "
                         f"again from the photos with '{name}'.")
    if tuple(identity.alpha.shape) != tuple(shape):
        raise ValueError(f"{where} has coefficients of shape {tuple(identity.alpha.shape)} but the checkpoint "
                         f"'{name}' needs {tuple(shape)}; save the identity again.")
