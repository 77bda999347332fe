"""Writing a LoRA file: the metadata other tools show, and an atomic write.

Shared by the Export LoRA node and the CLI so that both write the same file; the atomic write also
serves identity files and converted workflows.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
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


def write_lora_atomically(path: str | os.PathLike, tensors: dict, metadata: dict, overwrite: bool = True) -> None:
    """Serialise in memory with the safetensors library (so it leaves no temporary file of its own),
    then write atomically."""
    import safetensors.torch

    write_bytes_atomically(path, safetensors.torch.save(tensors, metadata=metadata), overwrite)


def check_target(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse a target we must not replace: anything but a regular file (a folder, FIFO, device or
    symbolic link: replacing `/dev/null` or a link's name is never what was meant), and an existing
    file without `overwrite`."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ValueError(f"Cannot use {path} ({exc.strerror or exc}); choose another name.") from None
    if not stat.S_ISREG(mode):
        kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
                else "a pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a special file")
        raise ValueError(f"{path} is {kind}, not a regular file, so it is never replaced. Choose another name.")
    if not overwrite:
        raise ValueError(f"{path} already exists. Choose another name, or allow overwriting to replace it.")


READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


def make_folders(folder: str | os.PathLike) -> list[Path]:
    """Create `folder` and its missing parents; the ones created here (outermost first), so that a write that
    then fails can remove them again (remove_empty_folders): a failed save leaves no empty folder behind.
    OSError as mkdir raises it; what this call created before the error is removed first."""
    missing, probe = [], Path(folder)
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if not os.path.isdir(probe):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(probe))  # a file where a folder must be
    created = []
    try:
        for item in reversed(missing):
            item.mkdir()
            created.append(item)
    except BaseException:
        remove_empty_folders(created)
        raise
    return created


def remove_empty_folders(created: list[Path]) -> None:
    """Remove folders make_folders created, innermost first, as long as they are empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return


def folder_advice(exc: OSError) -> str:
    """What to do about a folder that could not be written, by the reason."""
    if exc.errno in READ_ONLY:
        return "The folder is read-only (or belongs to another user): make it writable, or choose another"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "Free some disk space or choose another folder"
    if exc.errno == errno.ENAMETOOLONG:
        return "Choose a shorter name"
    return "Check that the folder is writable, or choose another"


def write_bytes_atomically(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> None:
    """Write through one short-named temporary file of ours beside `path`, then rename.

    No half-written file is ever left: the temporary is removed on every failure we can catch
    (a full disk, Ctrl+C). Only a regular file is ever replaced (`check_target`), and only with
    `overwrite`; without it the name is claimed exclusively (a hard link fails if another process
    created it meanwhile). The file is created like any other (mode 0666 minus the umask, so 0644
    usually, not mkstemp's 0600), and the short temporary name works for final names up to the
    255-byte limit.
    """
    path = Path(path)
    check_target(path, overwrite)
    temporary = path.parent / f".hyperlora-{secrets.token_hex(6)}.tmp"
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise RuntimeError(f"Could not create a file in the folder {path.parent} ({exc.strerror or exc}); "
                           f"nothing was saved. {folder_advice(exc)}.") from None
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            check_target(path, overwrite)  # again, just before: it may have changed while we wrote
            os.replace(temporary, path)
        else:
            _claim(temporary, path)
    except FileExistsError:
        temporary.unlink(missing_ok=True)
        raise ValueError(f"{path} was created by someone else while we wrote it; nothing was replaced. "
                         "Choose another name.") from None
    except ValueError:
        temporary.unlink(missing_ok=True)
        raise
    except OSError as exc:  # a full disk, a vanished folder: one readable line, not a traceback
        temporary.unlink(missing_ok=True)
        raise RuntimeError(f"Could not write {path} ({exc.strerror or exc}); nothing was saved. "
                           f"{folder_advice(exc)}, then try again.") from None
    except BaseException:  # Ctrl+C and anything else: no temporary left behind either
        temporary.unlink(missing_ok=True)
        raise


def _claim(temporary: Path, path: Path) -> None:
    """Give `temporary` the name `path` only if no file has it (FileExistsError otherwise)."""
    try:
        os.link(temporary, path)  # atomic and exclusive
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename (a race is possible there only)
        check_target(path, overwrite=False)
        os.replace(temporary, path)
        return
    temporary.unlink()
