"""`python -m hyperlora_core`, or `python path/to/comfyui-hyperlora/hyperlora_core` from any folder: see
hyperlora_core/cli/."""

import sys

if __package__:
    from .cli import main
else:
    # Run as a folder: Python put this folder first on the path, where cli/, setup/ and paths.py would
    # shadow modules of those names; the pack's folder takes its place, so the package imports as usual.
    from pathlib import Path

    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from hyperlora_core.cli import main

sys.exit(main())
