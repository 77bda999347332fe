"""`python -m hyperlora_core`: see hyperlora_core/cli/."""

import sys

from .cli import main

sys.exit(main())
