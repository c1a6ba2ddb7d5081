"""`python -m mpvss_cli` = `mpvss` (torchrun launches it this way)."""

import sys

from mpvss_cli.main import main

sys.exit(main())
