"""``python -m attribkit``: the ``attribkit`` command line (the same as the console script)."""

import sys

from attribkit.cli import main

sys.exit(main())
