"""`python -m conveyor.cli ...`: the `conveyor` command, without its script on PATH."""

import sys

from conveyor.cli import main

sys.exit(main())
