"""Where the repository is, for every test wherever it sits in tests/."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
