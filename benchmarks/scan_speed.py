"""Scan speed: the whole repository (default targets) against checkov's bare start-up on the same
files, in the same run. Target: the repository scan under 60 s on 2 cores."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> float:
    """Wall-clock seconds of one command run from the repository root."""
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    """Print the figures and the ratio of the scan to checkov's start-up alone."""
    checkov = str(REPO / ".tools/checkov/bin/checkov")
    baseline = timed([checkov, "--version"])
    with tempfile.TemporaryDirectory() as out:
        full = timed([sys.executable, "-m", "conveyor.cli", "scan", "--out", out])
    print(f"checkov start-up (--version): {baseline:6.1f} s")
    print(f"conveyor scan, whole repo:    {full:6.1f} s  ({full / baseline:.1f}x start-up)")
    print(f"target < 60 s: {'met' if full < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
