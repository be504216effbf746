"""Data contracts: YAML files under policies/data/, run with Great Expectations."""

# The modules other packages use (the CLI, the example model's inference log), and `backend`:
# the interface a new check backend implements (one new module beside gx_backend).
__all__ = [
    "backend",
    "contract",
    "dataio",
    "gx_backend",
    "pii",
    "profile",
    "tables",
    "validate",
    "verdict_text",
]
