"""``python -m trajviz`` (and ``torchrun -m trajviz``) runs the CLI."""

import sys

from .cli import main

sys.exit(main())
