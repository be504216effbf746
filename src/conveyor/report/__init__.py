"""Verdicts rendered for people: terminal tables, markdown for pull requests, PNG plots."""
