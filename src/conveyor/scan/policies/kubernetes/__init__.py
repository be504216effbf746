"""Kubernetes policies."""
