"""Security scans: checkov with conveyor's policies, secrets, composite actions, pip-audit."""

# The modules the CLI uses, and `formats`: one module per output format (formats/interface.py).
__all__ = ["audit", "formats", "run"]
