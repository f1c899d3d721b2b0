"""``python -m caliban_jupyter.cli``: the ``caliban`` console script."""

import sys

from .main import main

sys.exit(main())
