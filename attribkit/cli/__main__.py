import sys

from attribkit.cli import main

sys.exit(main())
