"""Data contracts: YAML files under policies/data/, run with Great Expectations."""
