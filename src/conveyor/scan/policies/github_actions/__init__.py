"""GitHub Actions policies."""

__all__ = ["cnv_gha_1_pinned_uses", "cnv_gha_2_permissions", "cnv_gha_3_prt_checkout"]
