"""conveyor.serve.metrics: every series deploy/monitoring's alert rules and dashboard read from
a model's service comes from conveyor alone (no model package), with the model's own buckets."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import promql_parser

from tests.monitoring import DASHBOARD, load_rule
from tests.paths import REPO
from tests.project.test_monitor_rules import metric_names

# Run in a fresh interpreter: Prometheus' registry is per process, and the example service's
# metrics (created by other tests) hold the same names.
EXPOSE = """
import datetime, prometheus_client, sys
from conveyor.serve.metrics import model_age_metrics, service_metrics
model_age_metrics(datetime.date(2026, 1, 1), 21)
buckets = tuple(float(b) for b in sys.argv[1].split(","))
m = service_metrics(buckets)
m.prediction_value.observe(0.7)
m.rows_per_request.observe(3)
m.predictions.inc(3)
m.validation_failures.labels(reason="unknown_customer").inc()
print(prometheus_client.generate_latest().decode())
"""


def _expose(buckets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", EXPOSE, buckets],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={"BENTOML_DO_NOT_TRACK": "true", "PATH": "/usr/bin:/bin"},
    )


def _read_by_rules_and_dashboard() -> set[str]:
    rule = load_rule()
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs += [
        re.sub(r"\$__rate_interval", "5m", re.sub(r"\$namespace", "x", t["expr"]))
        for p in dashboard["panels"]
        for t in p.get("targets", [])
    ]
    names: set[str] = set()
    for expr in exprs:
        names |= metric_names(promql_parser.parse(expr))
    return {n for n in names if not n.startswith(("bentoml_", "kube_", "up", "forecaster:"))}


def test_conveyor_alone_exposes_every_model_series_the_rules_read() -> None:
    result = _expose("0.1,0.5,0.9")
    assert result.returncode == 0, result.stderr[-2000:]
    exposed = {
        line.split("{")[0].split(" ")[0]
        for line in result.stdout.splitlines()
        if line and not line.startswith("#")
    }
    read = _read_by_rules_and_dashboard()
    assert read, "the rules read no model series"
    assert all(name.startswith("conveyor_") for name in read), read
    assert read <= exposed, read - exposed
    # The model's buckets: 0.7 lands under le=0.9, not under 0.5.
    assert 'conveyor_prediction_value_bucket{le="0.5"} 0.0' in result.stdout
    assert 'conveyor_prediction_value_bucket{le="0.9"} 1.0' in result.stdout
    assert 'conveyor_validation_failures_total{reason="unknown_customer"} 1.0' in result.stdout
    # The model's age: its data ends with 2026-01-01 (UTC midnight after it), 21 days allowed.
    assert "conveyor_model_data_end_timestamp_seconds 1.767312e+09" in result.stdout
    assert "conveyor_model_max_data_age_seconds 1.8144e+06" in result.stdout


def test_buckets_that_do_not_increase_are_refused() -> None:
    result = _expose("0.5,0.1")
    assert result.returncode == 1
    assert "prediction buckets must increase strictly" in result.stderr
