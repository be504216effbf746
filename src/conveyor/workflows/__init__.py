"""Running a repository's GitHub Actions callers on this machine (act), before they are pushed."""
