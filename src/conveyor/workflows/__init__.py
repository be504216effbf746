"""Running a repository's GitHub Actions callers on this machine (act), before they are pushed.
The stand-ins for third-party actions are package data under standins/."""

__all__ = ["act"]
