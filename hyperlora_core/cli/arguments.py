"""What every command shares: argparse types that refuse bad text early, progress lines, reading a photo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXPECTED_ERRORS = (ValueError, RuntimeError, OSError, ImportError)


def finite_number(text: str) -> float:
    """argparse type: a finite float (NaN or inf would be baked into every weight of the file)."""
    from ..validate import finite

    try:
        return finite(text, "the value")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def path_text(text: str) -> str:
    """argparse type: a path without NUL or line breaks (the OS would fail with a message naming no file)."""
    if any(ord(char) < 32 for char in text):
        raise argparse.ArgumentTypeError(f"the path {text!r} contains a control character (NUL or a line break); "
                                         "type the file name again")
    return text


def require_file(path: str, what: str, advice: str) -> None:
    """One message for a path that is not a file (missing, or a folder), said before any model loads."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValueError(f"The {what} {path} is a folder, not a file. {advice}")
    if not target.exists():
        raise ValueError(f"The {what} {path} does not exist. {advice}")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_image(path: str):
    """The photo upright and in RGB, as ComfyUI's Load Image gives it (EXIF orientation applied), so
    the CLI and a ComfyUI graph make the same LoRA from the same file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(Path(path).expanduser()) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise ValueError(f"The photo {path} does not exist.") from None
    except Image.DecompressionBombError:
        raise ValueError(f"The photo {path} has too many pixels (more than {2 * Image.MAX_IMAGE_PIXELS}); Pillow "
                         "refuses it as a possible decompression bomb. Scale it down (a few megapixels are "
                         "plenty for a face) and try again.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"Could not read the photo {path} ({exc}). Use a JPEG, PNG or WebP image.") from None
