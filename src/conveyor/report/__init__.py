"""Verdicts rendered for people: terminal tables, markdown for pull requests, PNG plots."""

# The modules the CLI uses, and `escape`: the markdown escaping that checks and monitor share.
__all__ = ["comment", "escape", "gate_table", "plots", "pull_request"]
