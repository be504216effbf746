"""`python -m conveyor.cli ...`: the `conveyor` command, without its script on PATH."""

import sys

from conveyor.cli import main

__all__: list[str] = []

sys.exit(main())
