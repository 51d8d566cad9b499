"""`python -m scratchae ...` is the `scratchae` command."""
import sys

from .cli import main

sys.exit(main())
