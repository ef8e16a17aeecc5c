"""``python -m gancompress`` (also what ``torchrun -m gancompress`` runs)."""

import sys

from gancompress.cli import main

sys.exit(main())
