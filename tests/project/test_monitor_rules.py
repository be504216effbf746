"""deploy/monitoring: the PrometheusRule and the Grafana dashboard are valid, parse as PromQL
(promql-parser) and read only metrics that exist, and render with the real kustomize (`kubectl
kustomize`). promtool and a real Prometheus run them in tests/e2e/test_prometheus_*.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.monitoring import DASHBOARD, MONITORING, RULES
from tests.paths import REPO

# BentoML 1.4's HTTP metrics, as `bentoml serve` of this service exposes them on /metrics (seen
# with BentoML 1.4.40; tests/forecast/test_service.py checks bentoml_service_request_total on a live
# server). Histogram series carry _bucket/_sum/_count.
BENTOML = {
    "bentoml_service_request_total",
    "bentoml_service_request_in_progress",
    *(f"bentoml_service_request_duration_seconds_{s}" for s in ("bucket", "sum", "count")),
}
# Outside the service: Prometheus' own scrape health and kube-state-metrics (readiness).
PLATFORM = {"up", "kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"}
SEVERITIES = {"critical", "warning"}


def service_metric_names() -> set[str]:
    """Series names the service's own metrics expose, from the real objects it creates."""
    import prometheus_client

    from forecast.service_metrics import metrics, requests_per_model_call

    own = metrics()
    requests_per_model_call()  # the batcher's histogram, exposed once created
    own.prediction_value.observe(3.0)
    own.rows_per_request.observe(1)
    own.predictions.inc()
    own.validation_failures.labels(reason="unknown_series").inc()
    text = prometheus_client.generate_latest().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def metric_names(node: Any, found: set[str] | None = None) -> set[str]:
    """Every metric name a parsed PromQL expression selects."""
    found = set() if found is None else found
    if isinstance(node, promql_parser.VectorSelector):
        found.add(node.name)
        return found
    for attribute in ("expr", "lhs", "rhs", "vector_selector", "args", "param"):
        child = getattr(node, attribute, None)
        for item in child if isinstance(child, list) else [child]:
            if item is not None and not isinstance(item, str | int | float):
                metric_names(item, found)
    return found


def rule_problems(document: dict[str, Any], known: set[str]) -> list[str]:
    """Structural and PromQL problems of a PrometheusRule document (empty: valid)."""
    problems = []
    if document.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append("apiVersion is not monitoring.coreos.com/v1")
    if document.get("kind") != "PrometheusRule":
        problems.append("kind is not PrometheusRule")
    groups = (document.get("spec") or {}).get("groups") or []
    if not groups:
        problems.append("spec.groups is empty")
    records = {r["record"] for g in groups for r in g.get("rules", []) if "record" in r}
    names = [g.get("name") for g in groups]
    if len(names) != len(set(names)):
        problems.append("group names repeat")
    for group in groups:
        for rule in group.get("rules") or []:
            what = rule.get("alert") or rule.get("record") or "?"
            if ("alert" in rule) == ("record" in rule):
                problems.append(f"{what}: needs exactly one of alert, record")
            try:
                expression = promql_parser.parse(rule.get("expr", ""))
            except ValueError as error:
                problems.append(f"{what}: PromQL does not parse: {error}")
                continue
            unknown = metric_names(expression) - known - records
            if unknown:
                problems.append(f"{what}: unknown metrics {sorted(unknown)}")
            if "alert" in rule:
                problems += _alert_problems(rule, what)
    return problems


def _alert_problems(rule: dict[str, Any], what: str) -> list[str]:
    problems = []
    try:
        promql_parser.parse_duration(str(rule.get("for", "")))
    except ValueError:
        problems.append(f"{what}: `for` is not a duration")
    if (rule.get("labels") or {}).get("severity") not in SEVERITIES:
        problems.append(f"{what}: severity must be one of {sorted(SEVERITIES)}")
    annotations = rule.get("annotations") or {}
    for key in ("summary", "description", "runbook"):
        if not annotations.get(key):
            problems.append(f"{what}: annotation {key} missing")
    return problems


@pytest.fixture(scope="module")
def known() -> set[str]:
    return service_metric_names() | BENTOML | PLATFORM


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    return yaml.safe_load(RULES.read_text())


def _alerts(rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rules["spec"]["groups"] for r in g["rules"] if "alert" in r}


def test_the_service_exposes_the_prediction_histogram_the_rules_read(known):
    assert {
        "conveyor_prediction_value_bucket",
        "conveyor_prediction_value_sum",
        "conveyor_prediction_value_count",
        "conveyor_validation_failures_total",
        "conveyor_rows_per_request_count",
    } <= known


def test_rule_file_is_valid(rules, known):
    assert rule_problems(rules, known) == []


def test_the_required_alerts_exist_and_read_the_right_series(rules):
    alerts = _alerts(rules)
    error = alerts["ForecasterHighErrorRate"]["expr"]
    assert 'http_response_code=~"5.."' in error
    assert "bentoml_service_request_total" in error
    latency = promql_parser.parse(alerts["ForecasterHighLatencyP99"]["expr"])
    assert "histogram_quantile(0.99" in latency.prettify().replace("\n", "").replace(" ", "")
    assert metric_names(latency) == {"bentoml_service_request_duration_seconds_bucket"}
    ready = metric_names(promql_parser.parse(alerts["ForecasterNotReady"]["expr"]))
    assert ready == {"kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"}
    shift = metric_names(promql_parser.parse(alerts["ForecasterPredictionShift"]["expr"]))
    assert "forecaster:prediction_value:mean_1h" in shift
    records = {
        r["record"]: metric_names(promql_parser.parse(r["expr"]))
        for g in rules["spec"]["groups"]
        for r in g["rules"]
        if "record" in r
    }
    assert records["forecaster:prediction_value:mean_1h"] == {
        "conveyor_prediction_value_sum",
        "conveyor_prediction_value_count",
    }


def test_runbooks_point_at_existing_sections(rules):
    sop = (REPO / "docs" / "sop" / "drift.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", sop, flags=re.MULTILINE)
    }
    for name, alert in _alerts(rules).items():
        path, _, anchor = alert["annotations"]["runbook"].partition("#")
        assert (REPO / path).is_file(), name
        assert not anchor or anchor in anchors, f"{name}: no section #{anchor} in {path}"


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (
            lambda r: r.update(expr="sum(rate(conveyor_prediction_value_count[5m])"),
            "does not parse",
        ),
        (lambda r: r.update(expr="rate(forecast_predictionz_total[5m]) > 1"), "unknown metrics"),
        (lambda r: r["labels"].update(severity="page-everyone"), "severity"),
        (lambda r: r.update({"for": "ten minutes"}), "not a duration"),
        (lambda r: r["annotations"].pop("runbook"), "runbook missing"),
    ],
)
def test_validation_catches_broken_rules(rules, known, mutate, needle):
    """The checks above would fail on a broken rule (so their passing means something)."""
    broken = json.loads(json.dumps(rules))
    alert = next(r for r in broken["spec"]["groups"][1]["rules"] if "alert" in r)
    mutate(alert)
    problems = rule_problems(broken, known)
    assert any(needle in p for p in problems), problems


def _grafana_to_promql(expression: str) -> str:
    """Grafana's variables replaced by values, so the query parses as Prometheus would see it."""
    return expression.replace("$__rate_interval", "5m").replace("$namespace", "conveyor-dev")


def test_dashboard_queries_parse_and_read_existing_metrics(known, rules):
    dashboard = json.loads(DASHBOARD.read_text())
    records = {r["record"] for g in rules["spec"]["groups"] for r in g["rules"] if "record" in r}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace"} <= variables
    read = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expression = promql_parser.parse(_grafana_to_promql(target["expr"]))
            read |= metric_names(expression)
    assert read <= known | records, read - known - records
    # The dashboard shows what the alerts watch.
    assert {
        "bentoml_service_request_total",
        "bentoml_service_request_duration_seconds_bucket",
        "conveyor_prediction_value_bucket",
        "kube_deployment_status_replicas_available",
    } <= read


def test_kustomize_renders_the_rule_and_the_dashboard():
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize) is part of the toolchain: see shared/TOOLCHAIN.md"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(MONITORING)], capture_output=True, text=True, check=True
    ).stdout
    documents = {d["kind"]: d for d in yaml.safe_load_all(rendered)}
    assert {d["metadata"]["namespace"] for d in documents.values()} == {"monitoring"}
    assert documents["PrometheusRule"]["spec"] == yaml.safe_load(RULES.read_text())["spec"]
    config_map = documents["ConfigMap"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["grafana-dashboard.json"]) == json.loads(
        DASHBOARD.read_text()
    )
    assert Path(MONITORING / "kustomization.yaml").is_file()
