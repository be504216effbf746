"""The alert rules and the dashboard against the real thing: a Prometheus on loopback scrapes a
running `bentoml serve` of the service, with the PrometheusRule's groups loaded from a test copy
that evaluates every 2 s with a `for:` of 4 s. Normal traffic fires nothing but the model-age
alert (the model's data is from 2023) and fills every dashboard panel; refused requests fire
ForecasterManyRejectedRequests; stopping the service fires ForecasterDown, and it stays firing
once no target is left at all (absent). The other alerts need what a live test cannot make
honestly (5xx, which the service never sends on purpose; a slow model; a week of history;
kube-state-metrics): tests/prometheus/ drives them with fixed series."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from forecast.forecaster import Forecaster
from tests.monitoring import DASHBOARD, load_rule, tool, write_rule_file
from tests.serving import call, free_port, register_model, start_server, train_small_model

pytestmark = pytest.mark.prometheus

NAMESPACE = "conveyor-e2e"  # the label the Prometheus Operator adds from the pod's namespace
INTERVAL = "2s"  # scrape and evaluation
FOR = "4s"  # every alert's `for:` in the test copy
ALERT_SECONDS = 45  # an alert goes firing in ~10 s here; generous for a loaded machine
# Grafana's variables, as Grafana would fill them against this Prometheus: a rate window of
# several scrapes (Grafana uses at least 4 x the scrape interval), and the one namespace.
GRAFANA = {"$__rate_interval": "1m", "$namespace": NAMESPACE}
# Panels that read kube-state-metrics, which this test does not run (no cluster here).
NEEDS_KUBE_STATE_METRICS = {
    "Ready replicas / desired": "kube_deployment_* series come from kube-state-metrics",
}


def _config(target: str | None) -> str:
    """Prometheus' configuration: the service as job `forecaster`, as the ServiceMonitor gives."""
    targets = [{"targets": [target], "labels": {"namespace": NAMESPACE}}] if target else []
    return yaml.safe_dump(
        {
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
            "rule_files": ["rules.yaml"],
            "scrape_configs": [{"job_name": "forecaster", "static_configs": targets}],
        }
    )


def _fast_rule() -> dict[str, Any]:
    """The committed PrometheusRule with test intervals: same expressions, labels, annotations."""
    rule = copy.deepcopy(load_rule())
    for group in rule["spec"]["groups"]:
        group["interval"] = INTERVAL
        for entry in group["rules"]:
            if "for" in entry:
                entry["for"] = FOR
    return rule


class Stack:
    """The running service and the Prometheus that scrapes it."""

    def __init__(
        self, service: subprocess.Popen, base: str, first: dt.date, prometheus: str, config: Path
    ):
        self.service = service
        self.base = base
        self.first = first
        self.prometheus = prometheus
        self.config = config

    def reconfigure(self, target: str | None) -> None:
        """Rewrite Prometheus' configuration and reload it (the scrape targets change)."""
        self.config.write_text(_config(target))
        status, answer = call(f"{self.prometheus}/-/reload", body=b"", method="POST")
        assert status == 200, answer

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL expression."""
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        status, answer = call(url, method="GET")
        assert status == 200, (expression, answer)
        return answer["data"]["result"]

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts, optionally of one name."""
        status, answer = call(f"{self.prometheus}/api/v1/alerts", method="GET")
        assert status == 200, answer
        found = answer["data"]["alerts"]
        return [a for a in found if name is None or a["labels"]["alertname"] == name]

    def forecast(self, club: str = "club_001", day: int = 0) -> int:
        """POST one row; the HTTP status."""
        row = {
            "club_id": club,
            "item_id": "item_0001",
            "date": (self.first + dt.timedelta(days=day % 7)).isoformat(),
            "price": 9.5,
            "promo": day % 2,
        }
        return call(f"{self.base}/forecast", json.dumps({"rows": [row]}).encode())[0]


def _until(
    check: Callable[[], Any], seconds: float, what: Callable[[], str], during: Callable[[], Any]
) -> Any:
    """Call ``during`` (traffic) and poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        during()
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"not within {seconds} s: {what()}")


def _stop(process: subprocess.Popen, group: bool) -> None:
    """SIGTERM (the process group: bentoml's workers too), SIGKILL if it does not stop."""
    if process.poll() is None:
        (os.killpg if group else os.kill)(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            (os.killpg if group else os.kill)(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, small_sales, small_params) -> Iterator[Stack]:
    prometheus_binary = tool("prometheus")  # before the slow part: missing, fail at once
    work = tmp_path_factory.mktemp("prometheus-e2e")
    # Any model serves for metrics. One thread: LightGBM's OpenMP threads spin against each
    # other on a busy 2-core machine (45 s to train instead of under 1 s, measured).
    train = small_params.train.model_copy(update={"num_boost_round": 20, "num_threads": 1})
    params = small_params.model_copy(update={"train": train})
    inputs = train_small_model(work, small_sales, params)
    home = work / "bentoml-home"
    home.mkdir()
    tag = register_model(inputs, params, home)
    first = Forecaster.load(home / "models" / tag.replace(":", "/")).window[0]
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "CONVEYOR_MODEL_TAG": tag,
    }
    service, base, service_log = start_server(env, work / "serve.log")
    prometheus = None
    prometheus_log = (work / "prometheus.log").open("w")
    try:
        write_rule_file(work / "rules.yaml", _fast_rule())
        (work / "prometheus.yml").write_text(_config(base.removeprefix("http://")))
        port = free_port()
        prometheus = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",  # POST /-/reload: the target list changes mid-test
                "--log.level=warn",
            ],
            stdout=prometheus_log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not _ready(url):
            if prometheus.poll() is not None:
                pytest.fail(f"prometheus exited: {(work / 'prometheus.log').read_text()}")
            assert time.monotonic() < deadline, "Prometheus not ready within 30 s"
            time.sleep(0.2)
        yield Stack(service, base, first, url, work / "prometheus.yml")
    finally:
        _stop(service, group=True)
        service_log.close()
        if prometheus is not None:
            _stop(prometheus, group=False)
        prometheus_log.close()


def _ready(url: str) -> bool:
    try:
        return call(f"{url}/-/ready", method="GET")[0] == 200
    except OSError:
        return False


def _normal_traffic(stack: Stack) -> Callable[[], None]:
    """A round of ordinary traffic: answered rows, malformed requests (400, 415) and, now and
    then, a row the model refuses (an unknown club: 1 request in 20, under the alert's 10%)."""

    def send() -> None:
        for day in range(19):
            assert stack.forecast(day=day) == 200
        assert stack.forecast(club="club_404") == 400
        assert call(f"{stack.base}/forecast", b"{rows: nope")[0] == 400
        assert call(f"{stack.base}/forecast", b"{}", content_type="text/plain")[0] == 415
        assert call(f"{stack.base}/readyz", method="GET")[0] == 200

    return send


def _dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expression = target["expr"]
            for variable, value in GRAFANA.items():
                expression = expression.replace(variable, value)
            assert "$" not in expression, (panel["title"], expression)
            queries.append((panel["title"], expression))
    return queries


def _has_numbers(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def test_normal_traffic_fills_the_dashboard_and_fires_nothing_but_model_age(stack):
    send = _normal_traffic(stack)
    queries = _dashboard_queries()
    skipped = [q for t, q in queries if t in NEEDS_KUBE_STATE_METRICS]
    assert skipped and all("kube_" in q for q in skipped), skipped
    wanted = [(t, q) for t, q in queries if t not in NEEDS_KUBE_STATE_METRICS]

    def empty() -> list[tuple[str, str]]:
        return [(t, q) for t, q in wanted if not _has_numbers(stack.query(q))]

    _until(lambda: not empty(), 40, lambda: f"dashboard queries without a number: {empty()}", send)
    # The dashboard's namespace variable lists the namespace the scrape labels.
    values = call(
        f"{stack.prometheus}/api/v1/label/namespace/values?"
        + urllib.parse.urlencode({"match[]": 'bentoml_service_request_total{job="forecaster"}'}),
        method="GET",
    )[1]["data"]
    assert values == [NAMESPACE]
    # 400s, 415s, a few refusals and /readyz are normal: after several evaluations with that
    # traffic, nothing is pending or firing. (p99 latency is left out: on a loaded 2-core test
    # machine a request can take over 500 ms, which the unit tests cover with fixed series.)
    for _ in range(4):
        send()
        time.sleep(1)
    assert stack.query('up{job="forecaster"}')[0]["value"][1] == "1"
    active = {a["labels"]["alertname"] for a in stack.alerts()}
    # The model was trained on generated sales from 2023 (480 days from the fixed start date):
    # its data is far older than the limit it carries, so the model-age alert fires, as it
    # must for a live model that stale (its thresholds: tests/prometheus/model_age_test.yaml).
    assert "ForecasterModelStale" in active, stack.alerts()
    assert active - {"ForecasterModelStale"} <= {"ForecasterHighLatencyP99"}, stack.alerts()
    (refused,) = stack.query(
        'sum(increase(bentoml_service_request_total{http_response_code="400"}[1m]))'
    )
    assert float(refused["value"][1]) > 0  # the 400s were there, and counted


def test_refused_requests_fire_the_rejected_requests_alert(stack):
    def refused() -> None:
        for day in range(10):
            assert stack.forecast(club="club_404", day=day) == 400

    def firing() -> list[dict[str, Any]]:
        return [a for a in stack.alerts("ForecasterManyRejectedRequests") if a["state"] == "firing"]

    (alert,) = _until(
        firing, ALERT_SECONDS, lambda: f"ForecasterManyRejectedRequests: {stack.alerts()}", refused
    )
    assert alert["labels"] == {
        "alertname": "ForecasterManyRejectedRequests",
        "namespace": NAMESPACE,
        "severity": "warning",
    }
    assert NAMESPACE in alert["annotations"]["summary"]
    assert float(alert["value"]) > 0.1
    by_reason = stack.query("sum by (reason) (conveyor_validation_failures_total)")
    assert {s["metric"]["reason"] for s in by_reason} == {"unknown_series"}


def test_stopping_the_service_fires_down_and_it_stays_firing_with_no_target(stack):
    _stop(stack.service, group=True)

    def down(labels: dict[str, str]) -> Callable[[], list[dict[str, Any]]]:
        return lambda: [
            a
            for a in stack.alerts("ForecasterDown")
            if a["state"] == "firing" and a["labels"] == labels
        ]

    # The pod is gone but still a target: `up` is 0.
    (alert,) = _until(
        down({"alertname": "ForecasterDown", "namespace": NAMESPACE, "severity": "critical"}),
        ALERT_SECONDS,
        lambda: f"ForecasterDown for the namespace: {stack.alerts()}",
        lambda: None,
    )
    assert alert["annotations"]["summary"].endswith(f"is up in {NAMESPACE}")
    # No target left (every pod deleted, or the ServiceMonitor selects nothing): `up` disappears.
    stack.reconfigure(None)
    absent = {"alertname": "ForecasterDown", "job": "forecaster", "severity": "critical"}
    (alert,) = _until(
        down(absent),
        ALERT_SECONDS,
        lambda: f"ForecasterDown with no target left (absent): {stack.alerts()}",
        lambda: None,
    )
    assert alert["annotations"]["summary"].endswith("is up in any namespace")
    assert [a["labels"] for a in stack.alerts("ForecasterDown")] == [absent]  # one, not two
    # What the rule said before issue 13 sees nothing at all now: it could never fire here.
    assert stack.query('up{job="forecaster"}') == []
    assert stack.query('sum by (namespace) (up{job="forecaster"}) == 0') == []
