"""Prometheus holding known series, for verification tests: pods of release versions serving
with a given behaviour (5xx share, refused share, latency, prediction scale), written as
OpenMetrics, backfilled into TSDB blocks with `promtool tsdb create-blocks-from openmetrics`,
and served by a real `prometheus` on loopback (no scraping: the data is what was written)."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from tests.monitoring import tool
from tests.serving import call, free_port

STEP_SECONDS = 15  # the scrape interval the samples stand for
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PREDICTION_BUCKETS = (1, 2, 5, 10, 20, 50, 100)
NAMESPACE = "conveyor-staging"


@dataclass(frozen=True)
class Pods:
    """``count`` pods of release ``version`` serving from ``start`` to ``end``."""

    version: str
    start: datetime
    end: datetime
    count: int = 2
    requests_per_second: float = 5.0
    error_share: float = 0.001  # answered 5xx
    refused_share: float = 0.02  # answered 4xx
    latency_mean: float = 0.04  # seconds, exponential
    prediction_scale: float = 1.0  # predictions ~ exponential with mean 8 x scale


def _exponential(mean: float, bound: float) -> float:
    return 1 - math.exp(-bound / mean)


def _family(lines: list[str], name: str, series: list[tuple[str, list[tuple[float, float]]]]):
    lines.append(f"# TYPE {name} unknown")
    for labels, samples in series:
        lines.extend(f"{name}{{{labels}}} {value:.6g} {at:.3f}" for at, value in samples)


def openmetrics(groups: list[Pods]) -> str:
    """The samples of every pod of ``groups``, family by family, each series in time order."""
    families: dict[str, list[tuple[str, list[tuple[float, float]]]]] = {}

    def add(name: str, labels: str, per_step: float, pods: Pods) -> None:
        start, end = pods.start.timestamp(), pods.end.timestamp()
        steps = int((end - start) // STEP_SECONDS)
        samples = [(start + i * STEP_SECONDS, per_step * i) for i in range(steps + 1)]
        families.setdefault(name, []).append((labels, samples))

    for pods in groups:
        for pod in range(pods.count):
            base = (
                f'job="forecaster",namespace="{NAMESPACE}",version="{pods.version}",'
                f'pod="forecaster-{pods.version.replace(".", "")}-{pod}"'
            )
            requests = pods.requests_per_second * STEP_SECONDS
            ok = 1 - pods.error_share - pods.refused_share
            codes = (("200", ok), ("500", pods.error_share), ("400", pods.refused_share))
            for code, share in codes:
                labels = f'{base},endpoint="/forecast",http_response_code="{code}"'
                add("bentoml_service_request_total", labels, requests * share, pods)
            for le in (*LATENCY_BUCKETS, math.inf):
                share = _exponential(pods.latency_mean, le) if le != math.inf else 1.0
                labels = f'{base},endpoint="/forecast",le="{"+Inf" if le == math.inf else le}"'
                latency = "bentoml_service_request_duration_seconds_bucket"
                add(latency, labels, requests * share, pods)
            labels = f'{base},endpoint="/forecast"'
            add("bentoml_service_request_duration_seconds_count", labels, requests, pods)
            add(
                "bentoml_service_request_duration_seconds_sum",
                labels,
                requests * pods.latency_mean,
                pods,
            )
            mean = 8 * pods.prediction_scale
            for le in (*PREDICTION_BUCKETS, math.inf):
                share = _exponential(mean, le) if le != math.inf else 1.0
                labels = f'{base},le="{"+Inf" if le == math.inf else le}"'
                add("conveyor_prediction_value_bucket", labels, requests * share, pods)
            add("conveyor_prediction_value_count", base, requests, pods)
            add("conveyor_prediction_value_sum", base, requests * mean, pods)
    lines: list[str] = []
    for name, series in families.items():
        _family(lines, name, series)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(groups: list[Pods], data: Path) -> None:
    """Write ``groups``' samples as TSDB blocks into the Prometheus data folder ``data``."""
    source = data.parent / "samples.om"
    source.write_text(openmetrics(groups), encoding="utf-8")
    result = subprocess.run(
        [tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", "-q", *(source, data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    source.unlink()


@contextmanager
def serving(data: Path) -> Iterator[str]:
    """A real Prometheus on loopback over the TSDB at ``data``; yields its base URL."""
    config = data.parent / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "15s"}}), encoding="utf-8")
    port = free_port()
    log = (data.parent / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert process.poll() is None, (data.parent / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "Prometheus not ready within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _ready(url: str) -> bool:
    try:
        return call(f"{url}/-/ready", method="GET")[0] == 200
    except OSError:
        return False
