"""``python -m gancompress`` (also what ``torchrun -m gancompress`` runs)."""

import sys

from gancompress.cli.main import main

sys.exit(main())
