"""Starting the real service for a test: a small model trained and registered into a private
BentoML home, and `bentoml serve` of it on a free loopback port (tests/forecast/test_service.py and
the Prometheus end-to-end test share these)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

import polars as pl
import pytest

from forecast import train
from forecast.features import build_features
from forecast.params import PipelineParams, load_params
from tests.paths import REPO

STARTUP_SECONDS = 90


def train_small_model(work: Path, sales: pl.DataFrame, params: PipelineParams) -> dict[str, Path]:
    """Raw sales, features and a trained model in ``work``."""
    raw = work / "sales.parquet"
    sales.write_parquet(raw)
    features = work / "features.parquet"
    build_features(sales, params.features, "US").write_parquet(features)
    model = work / "model.txt"
    train.run(features, params, model, work / "importance.csv")
    return {"work": work, "raw": raw, "features": features, "model": model}


def register_model(inputs: dict[str, Path], params: PipelineParams, home: Path) -> str:
    """Register the trained model into the BentoML store at ``home`` with the pipeline's own
    command; return its tag. In a subprocess: BentoML fixes its store path at first use in a
    process, so a second home registered in-process would land in the first one."""
    # `register` reads only these from the params; the small params share them with params.yaml.
    repo = load_params(REPO / "params.yaml")
    assert (params.features, params.data.holidays_country, params.model_store) == (
        repo.features,
        repo.data.holidays_country,
        repo.model_store,
    )
    metrics = inputs["work"] / "metrics.json"
    metrics.write_text(json.dumps({"model": {"wape": 0.5}, "skill": {"wape": 0.1}}))
    out = inputs["work"] / "bentoml_model.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "forecast",
            "register",
            "--model",
            str(inputs["model"]),
            "--raw",
            str(inputs["raw"]),
            "--metrics",
            str(metrics),
            "--out",
            str(out),
        ],
        cwd=REPO,
        env={**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())["tag"]


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(
    url: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    method: str = "POST",
) -> tuple[int, object]:
    """HTTP status and body (parsed JSON when it is JSON) of one request."""
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - loopback
    request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def is_ready(base: str, log_path: Path) -> bool:
    """The service is ready: /readyz answers 200 (a model loaded in some worker)."""
    return call(f"{base}/readyz", method="GET")[0] == 200


def start_server(
    env: dict[str, str],
    log_path: Path,
    ready: Callable[[str, Path], bool] = is_ready,
    seconds: float = STARTUP_SECONDS,
) -> tuple[subprocess.Popen, str, IO[str]]:
    """`bentoml serve` of the service on a free loopback port, once ``ready(base, log_path)``
    (by default: once /readyz answers 200)."""
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "forecast.service:DemandForecaster",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            pytest.fail(f"bentoml serve exited: {log_path.read_text()}")
        try:
            if ready(base, log_path):
                return process, base, log
        except OSError:
            pass
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    log.close()
    pytest.fail(f"service not ready in time: {log_path.read_text()[-3000:]}")
