"""conveyor's own checkov policies (loaded by `checkov --external-checks-dir`)."""

__all__ = ["github_actions", "kubernetes"]
