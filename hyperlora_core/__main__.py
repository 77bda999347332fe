"""`python -m hyperlora_core`: see hyperlora_core/cli.py."""

import sys

from .cli import main

sys.exit(main())
