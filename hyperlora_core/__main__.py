"""`python -m hyperlora_core` from the pack folder, or `python path/to/comfyui-hyperlora/hyperlora_core`
from anywhere (then Python runs this file without its package, so the pack folder goes on the path)."""

import sys
from pathlib import Path

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "hyperlora_core"  # lets the relative import below resolve

from .cli import main

sys.exit(main())
