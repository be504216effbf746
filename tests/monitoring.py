"""What the Prometheus tests share: the PrometheusRule's groups as a plain rule file (what
Prometheus and promtool load), and the real binaries (Debian package `prometheus`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import REPO

MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "prometheus-rule.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
# promtool unit tests; each names `forecaster-rules.yaml` beside it (see README, Monitoring).
UNIT_TESTS = REPO / "tests" / "prometheus"
RULE_FILE_NAME = "forecaster-rules.yaml"


def load_rule() -> dict[str, Any]:
    """The PrometheusRule document, as committed."""
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))


def write_rule_file(path: Path, rule: dict[str, Any] | None = None) -> Path:
    """Write the PrometheusRule's spec (its `groups:`) as a Prometheus rule file at ``path``."""
    spec = (rule or load_rule())["spec"]
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def tool(name: str) -> str:
    """Path of a Prometheus binary; the test fails with one line saying how to get it."""
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the Debian package prometheus (.ci/run does)")
    return found
