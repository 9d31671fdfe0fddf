"""``python -m trajviz`` (and ``torchrun -m trajviz``) runs the CLI."""

import sys

from .cli import console

sys.exit(console())
