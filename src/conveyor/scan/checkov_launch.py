"""Start checkov with one change: it does not drop workflows its bundled (older) GitHub Actions
schema rejects. That schema lacks newer keys such as `permissions: attestations`, and checkov
skips such a workflow without a word, so none of its checks would run on it. Malformed YAML is
still reported by `conveyor scan` itself (CNV_YAML_1). Run by checkov's own venv python, never
imported by conveyor (checkov is not installed in the project environment); started with
`python -I`, so this file's folder is not on sys.path."""

import sys

import checkov.github_actions.runner as gha_runner
from checkov.main import Checkov

__all__: list[str] = []


def _any_mapping(config: object) -> bool:
    return isinstance(config, dict)


gha_runner.is_schema_valid = _any_mapping

if __name__ == "__main__":
    sys.exit(Checkov().run())
