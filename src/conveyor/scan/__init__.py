"""Security scans: checkov with conveyor's policies, secrets, composite actions, pip-audit."""
