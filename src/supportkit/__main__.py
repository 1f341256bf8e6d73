"""``python -m supportkit`` runs the command line."""

import sys

from supportkit.cli import main

sys.exit(main())
