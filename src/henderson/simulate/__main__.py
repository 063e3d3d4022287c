"""``python -m henderson.simulate``: run the simulator's command line."""

import sys

from henderson.simulate.cli import main

sys.exit(main())
