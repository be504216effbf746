"""Security scans: checkov with conveyor's policies, secrets, composite actions, pip-audit.
conveyor's checkov policies, config.yaml and baseline.yaml are package data under policies/."""

# The modules the CLI uses (settings: validated before checkov is found or installed by
# checkov_tool), and `formats`: one module per output format (formats/interface.py).
__all__ = ["audit", "checkov_tool", "formats", "run", "settings"]
