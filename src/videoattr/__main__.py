"""``python -m videoattr``: the same command as ``videoattr`` (so ``torchrun -m videoattr run ...`` works)."""

import sys

from videoattr.cli import main

sys.exit(main())
