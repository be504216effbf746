"""GitHub Actions policies."""
