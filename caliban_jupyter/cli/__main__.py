"""``python -m caliban_jupyter.cli``: the ``caliban`` console script."""

import os
import sys

# `python -m` puts the working directory first on sys.path, where the user's own modules
# live (a random.py beside their trainer): caliban's process reads the standard library
# first, as the `caliban` console script does, and still finds the user's modules after it.
if sys.path and sys.path[0] in ("", os.getcwd()):
    sys.path.append(sys.path.pop(0))

from .main import main  # noqa: E402

sys.exit(main())
