"""Whether a path stays inside a folder: the one check behind every name a user types (prefixes, identity names,
model folder names), so `..` and absolute paths cannot leave the folder they are meant for."""

from __future__ import annotations

import os


def is_inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """True if `path` is `root` or lies below it (compared as absolute paths; pass real paths to see through links)."""
    root, path = os.path.abspath(root), os.path.abspath(path)
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:  # another drive on Windows
        return False
