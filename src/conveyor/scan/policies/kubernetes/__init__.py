"""Kubernetes policies."""

__all__ = ["cnv_k8s_1_registry", "cnv_k8s_2_drop_all"]
