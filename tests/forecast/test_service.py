"""The forecast service over real HTTP (`bentoml serve` on loopback), on a model registered from
small data into a private BentoML home: valid requests answer, bad ones get a 4xx, never a 5xx."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conveyor.build import image_name
from conveyor.config import bentofile_packages, read_yaml
from forecast import train
from forecast.features import build_features
from forecast.forecaster import Forecaster, RequestError, write_bundle
from forecast.holdout import split
from forecast.model import load_booster, predict, predict_matrix
from tests.paths import REPO
from tests.serving import call as _call
from tests.serving import register_model, train_small_model
from tests.serving import start_server as _start_server


@pytest.fixture(scope="module")
def bundle_inputs(tmp_path_factory, small_sales, small_params) -> dict[str, Path]:
    """Raw sales, features and a trained model on the small data set."""
    return train_small_model(tmp_path_factory.mktemp("service"), small_sales, small_params)


def test_bundle_predicts_what_the_pipeline_predicts(tmp_path, small_sales, small_params):
    """Serving computes features from its history exactly as training did: same numbers."""
    features = build_features(small_sales, small_params.features, "US")
    _, holdout = split(features, small_params.evaluate.holdout_days)
    model = tmp_path / "model.txt"
    features.write_parquet(tmp_path / "features.parquet")
    train.run(tmp_path / "features.parquet", small_params, model, tmp_path / "imp.csv")
    start = holdout["date"].min()
    raw = tmp_path / "raw.parquet"
    small_sales.filter(pl.col("date") < start).write_parquet(raw)  # history ends before holdout
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write_bundle(bundle, model, raw, small_params.features, "US")
    forecaster = Forecaster.load(bundle)
    requests = holdout.select("club_id", "item_id", "date", "price", "promo")
    served = forecaster.predict(requests)
    expected = predict(load_booster(model), holdout)
    assert served == pytest.approx(expected, rel=1e-9)


def test_bundle_refuses_what_it_cannot_answer(tmp_path, bundle_inputs, small_params):
    write_bundle(
        tmp_path, bundle_inputs["model"], bundle_inputs["raw"], small_params.features, "US"
    )
    forecaster = Forecaster.load(tmp_path)
    first, _ = forecaster.window
    ok = pl.DataFrame(
        {
            "club_id": ["club_001"],
            "item_id": ["item_0001"],
            "date": [first],
            "price": [10.0],
            "promo": [0],
        }
    ).with_columns(pl.col("promo").cast(pl.Int8))
    assert forecaster.predict(ok)[0] >= 0
    cases = {
        "unknown_series": ok.with_columns(club_id=pl.lit("club_404")),
        "date_outside_window": ok.with_columns(date=pl.lit(first + dt.timedelta(days=400))),
        "duplicate_rows": pl.concat([ok, ok]),
    }
    for reason, request in cases.items():
        with pytest.raises(RequestError) as caught:
            forecaster.predict(request)
        assert caught.value.reason == reason


@pytest.fixture(scope="module")
def service(bundle_inputs, small_params, tmp_path_factory) -> Iterator[dict[str, object]]:
    """`bentoml serve` of the registered small model on a free loopback port."""
    home = tmp_path_factory.mktemp("bentoml-home")
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    tag = register_model(bundle_inputs, small_params, home)
    env["CONVEYOR_MODEL_TAG"] = tag
    # Every request is logged (flushed at once), so the tests below see the log the drift check
    # reads, and every other test runs with the logger on the request path.
    inference_log = tmp_path_factory.mktemp("inference-log")
    env |= {
        "CONVEYOR_INFERENCE_LOG_DIR": str(inference_log),
        "CONVEYOR_INFERENCE_LOG_SAMPLE": "1",
        "CONVEYOR_INFERENCE_LOG_FLUSH_ROWS": "1",
    }
    log_path = bundle_inputs["work"] / "serve.log"
    process, base, log = _start_server(env, log_path)
    forecaster = Forecaster.load(home / "models" / tag.replace(":", "/"))
    try:
        yield {
            "base": base,
            "env": env,
            "tag": tag,
            "first": forecaster.window[0],
            "home": home,
            "inference_log": inference_log,
        }
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
        log.close()


def _valid(service: dict, rows: int = 1) -> bytes:
    first = service["first"]
    return json.dumps(
        {
            "rows": [
                {
                    "club_id": "club_001",
                    "item_id": "item_0001",
                    "date": (first + dt.timedelta(days=day)).isoformat(),
                    "price": 12.5,
                    "promo": day % 2,
                }
                for day in range(rows)
            ]
        }
    ).encode()


def test_valid_request_gets_one_prediction_per_row(service):
    status, body = _call(f"{service['base']}/forecast", _valid(service, rows=5))
    assert status == 200, body
    assert body["model_version"] == service["tag"]
    assert len(body["predictions"]) == 5
    assert all(p["units"] >= 0 for p in body["predictions"])
    assert [p["date"] for p in body["predictions"]] == [
        (service["first"] + dt.timedelta(days=d)).isoformat() for d in range(5)
    ]


def _row(**changes: object) -> dict:
    row = {
        "club_id": "club_001",
        "item_id": "item_0001",
        "date": "2026-01-01",
        "price": 1.0,
        "promo": 0,
    }
    row.update(changes)
    return {key: value for key, value in row.items() if value is not ...}


BAD_REQUESTS = {
    "invalid JSON": (b"{rows: nope", "application/json"),
    "empty body": (b"", "application/json"),
    "wrong content type": (json.dumps({"rows": [_row()]}).encode(), "text/plain"),  # valid JSON
    "missing field": (json.dumps({"rows": [_row(price=...)]}).encode(), "application/json"),
    "wrong types": (
        json.dumps({"rows": [_row(price="cheap", promo="yes")]}).encode(),
        "application/json",
    ),
    "negative price": (json.dumps({"rows": [_row(price=-3.0)]}).encode(), "application/json"),
    "date that does not parse": (
        json.dumps({"rows": [_row(date="2026-02-30")]}).encode(),
        "application/json",
    ),
    "deeply nested junk": (b'{"rows": ' + b"[" * 20000 + b"]" * 20000 + b"}", "application/json"),
    "unicode ids": (
        json.dumps({"rows": [_row(club_id="clüb_\uff11\u00e9")]}).encode(),
        "application/json",
    ),
    "unknown club": (json.dumps({"rows": [_row(club_id="club_999")]}).encode(), "application/json"),
    "no rows": (json.dumps({"rows": []}).encode(), "application/json"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_a_4xx_and_the_service_stays_up(service, case):
    body, content_type = BAD_REQUESTS[case]
    if case == "unknown club":
        body = body.replace(b"2026-01-01", service["first"].isoformat().encode())
    status, answer = _call(f"{service['base']}/forecast", body, content_type)
    assert 400 <= status < 500, (status, answer)
    assert "error" in json.dumps(answer)
    status, _ = _call(f"{service['base']}/forecast", _valid(service))
    assert status == 200


def test_a_million_rows_is_refused_with_the_limit(service):
    rows = [_row(date=service["first"].isoformat())] * 1_000_000
    status, answer = _call(f"{service['base']}/forecast", json.dumps({"rows": rows}).encode())
    assert status == 413  # from the headers, before 60 MB of JSON are parsed
    assert "at most 10000 rows per request" in answer["error"]
    assert _call(f"{service['base']}/forecast", _valid(service))[0] == 200
    # Just over the row limit but within the byte limit: the schema refuses it, naming the limit.
    rows = [_row(date=service["first"].isoformat())] * 10_001
    status, answer = _call(f"{service['base']}/forecast", json.dumps({"rows": rows}).encode())
    assert status == 400
    assert "10000" in json.dumps(answer)


def test_a_refusal_by_the_model_has_the_same_shape_as_a_schema_error(service):
    first = service["first"].isoformat()
    unknown = json.dumps({"rows": [_row(club_id="club_404", date=first)]}).encode()
    status, answer = _call(f"{service['base']}/forecast", unknown)
    assert status == 400
    assert answer["error"] == "1 validation error for Input"
    (detail,) = answer["detail"]
    assert detail["loc"] == ["rows"]
    assert detail["type"] == "unknown_series"
    assert "unknown club/item club_404/item_0001" in detail["msg"]
    status, answer = _call(
        f"{service['base']}/forecast", json.dumps({"rows": [_row(price=-1.0)]}).encode()
    )
    assert (status, answer["error"]) == (400, "1 validation error for Input")
    assert answer["detail"][0]["loc"] == ["rows", 0, "price"]


def test_only_json_is_accepted(service):
    status, answer = _call(f"{service['base']}/forecast", _valid(service), "text/plain")
    assert status == 415
    assert answer == {"error": "content-type must be application/json (got text/plain)"}
    status, _ = _call(
        f"{service['base']}/forecast", _valid(service), "application/json; charset=utf-8"
    )
    assert status == 200


@pytest.mark.parametrize(
    "written", ["{first}T00:00:00", "{first}T00:00:00Z", 1767312000, "1767312000", "2026-1-2"]
)
def test_dates_are_parsed_strictly(service, written):
    first = service["first"].isoformat()
    date = written.format(first=first) if isinstance(written, str) else written
    body = json.dumps({"rows": [_row(date=date)]}).encode()
    status, answer = _call(f"{service['base']}/forecast", body)
    assert status == 400
    assert "YYYY-MM-DD" in json.dumps(answer)


def _metric(text: str, name: str) -> float:
    """The value of an unlabelled series in Prometheus' text format."""
    return float(next(line for line in text.splitlines() if line.startswith(f"{name} ")).split()[1])


def test_health_and_metrics(service):
    assert _call(f"{service['base']}/livez", method="GET")[0] == 200
    assert _call(f"{service['base']}/readyz", method="GET")[0] == 200
    _call(f"{service['base']}/forecast", _valid(service, rows=3))
    status, text = _call(f"{service['base']}/metrics", method="GET")
    assert status == 200
    # The counters move (a stuck multiprocess metrics folder would leave them at zero).
    served = _metric(text, "conveyor_predictions_total")
    _call(f"{service['base']}/forecast", _valid(service, rows=3))
    text = _call(f"{service['base']}/metrics", method="GET")[1]
    assert _metric(text, "conveyor_predictions_total") == served + 3
    for name in (
        "conveyor_predictions_total",
        "conveyor_prediction_value_bucket",
        "conveyor_rows_per_request_bucket",
        "bentoml_service_request_total",
    ):
        assert name in text, name
    rejected = json.dumps({"rows": [_row(club_id="club_404", date=service["first"].isoformat())]})
    _call(f"{service['base']}/forecast", rejected.encode())
    text = _call(f"{service['base']}/metrics", method="GET")[1]
    assert 'conveyor_validation_failures_total{reason="unknown_series"}' in text


def test_concurrent_requests_are_batched_without_mixing_answers(service):
    """Requests arriving together share model calls (adaptive batching); each still gets exactly
    the answer it gets alone, and a bad request among them fails alone."""
    first = service["first"]
    bodies = [
        json.dumps(
            {"rows": [_row(date=(first + dt.timedelta(days=d % 7)).isoformat(), price=5.0 + d)]}
        ).encode()
        for d in range(24)
    ]
    alone = [_call(f"{service['base']}/forecast", body) for body in bodies]
    bad = json.dumps({"rows": [_row(club_id="club_404", date=first.isoformat())]}).encode()
    with ThreadPoolExecutor(max_workers=12) as pool:
        together = list(pool.map(lambda b: _call(f"{service['base']}/forecast", b), [*bodies, bad]))
    assert together[:-1] == alone
    assert all(status == 200 for status, _ in alone)
    assert together[-1][0] == 400
    text = _call(f"{service['base']}/metrics", method="GET")[1]
    assert "forecast_requests_per_model_call_bucket" in text


def test_requests_land_in_the_inference_log_the_drift_check_reads(service, tmp_path):
    """With the inference log on, answered rows and their predictions reach Parquet files that
    `conveyor monitor drift` reads; refused requests are not logged."""
    import polars as pl

    from conveyor.cli import main

    first = service["first"]
    rows = [
        _row(
            club_id=f"club_{club:03d}",
            item_id=f"item_{item:04d}",
            date=(first + dt.timedelta(days=day)).isoformat(),
            price=3.0 + item,
            promo=day % 2,
        )
        for club in (1, 2, 3)
        for item in range(1, 13)
        for day in range(4)
    ]  # 144 rows: above the drift check's minimum window
    status, answer = _call(f"{service['base']}/forecast", json.dumps({"rows": rows}).encode())
    assert status == 200, answer
    units = sorted(p["units"] for p in answer["predictions"])
    deadline = time.monotonic() + 20
    logged = pl.DataFrame()
    while time.monotonic() < deadline:
        files = list(service["inference_log"].rglob("*.parquet"))
        if files:
            logged = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
            if all(any(abs(v - u) < 1e-3 for v in logged["prediction"]) for u in units):
                break
        time.sleep(0.2)
    assert all(any(abs(v - u) < 1e-3 for v in logged["prediction"]) for u in units)
    assert set(logged["model_tag"]) == {service["tag"]}
    assert "club_404" not in set(logged["club_id"])
    code = main(
        [
            "monitor",
            "drift",
            "--reference",
            str(service["inference_log"]),
            "--current",
            str(service["inference_log"]),
            "--out",
            str(tmp_path / "drift"),
        ]
    )
    assert code == 0  # a window compared with itself: no drift
    assert (tmp_path / "drift" / "drift.json").is_file()


def test_build_bento_exports_a_checked_docker_context(service, bundle_inputs, tmp_path):
    """`conveyor build bento` with the served model: the Bento carries exactly that model, and its
    Dockerfile runs as a non-root user with a healthcheck (the image itself is built on GitHub)."""
    tag_file = tmp_path / "bentoml_model.json"
    tag_file.write_text(json.dumps({"tag": service["tag"]}))
    home = Path(os.environ.get("BENTOML_HOME", ""))  # unchanged: the fixture restored it
    env = {**os.environ, "BENTOML_HOME": str(service["home"]), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "conveyor.cli",
            "build",
            "bento",
            "--model-tag-file",
            str(tag_file),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "out/build.json").read_text())
    assert record["model_tag"] == service["tag"]
    assert record["models_in_bento"] == [service["tag"]]
    # The versions of what the bentofile declares (holidays, pyyaml: never a hard-coded name).
    assert set(record["packages"]) == {"bentoml", *bentofile_packages(REPO / "bentofile.yaml")}
    assert {"lightgbm", "polars", "holidays", "pyyaml"} <= set(record["packages"])
    assert all(record["packages"].values())  # each one installed, with its version
    dockerfile = (tmp_path / "out/context/env/docker/Dockerfile").read_text()
    assert "\nUSER bentoml" in dockerfile and "\nHEALTHCHECK " in dockerfile
    # The UID the Deployment runs as (deploy/base/deployment.yaml), above the node's system UIDs.
    assert "\nARG BENTO_USER_UID=10034\n" in dockerfile
    stored = tmp_path / "out/context/models" / service["tag"].replace(":", "/")
    assert (stored / "model.txt").is_file() and (stored / "history.parquet").is_file()
    # `conveyor build image` names the image after the Bento: the bentofile's name.
    name = read_yaml(REPO / "bentofile.yaml")["name"]
    assert image_name(tmp_path / "out/context") == f"localhost/{name}"
    assert home == Path(os.environ.get("BENTOML_HOME", ""))
    _release_record_joins_the_build(tmp_path, record)


def _release_record_joins_the_build(tmp_path: Path, build: dict) -> None:
    """The release record made from that build and the repository's gate verdicts vouches for the
    same model and Bento, and verifies; a failed test run makes it unpromotable (exit 1)."""
    from conveyor.cli import main
    from tests.promotion_repos import evidence_args

    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest" tests="3" failures="0" errors="0"/></testsuites>'
    )
    # As recorded (evidence_args): this checkout's HEAD stands for the default branch.
    head_branch = ("--branch", "HEAD")
    digest = "sha256:" + "ab" * 32
    args = [
        "release",
        "record",
        "--version",
        "v1.0.0",
        "--image",
        f"ghcr.io/acme/conveyor-forecaster@{digest}",
        *evidence_args(tmp_path / "out/build.json", junit),
        "--out",
        str(tmp_path / "release.json"),
    ]
    # No scan verdict yet: the record is written, but says it may not ship.
    assert main(args) == 1
    written = json.loads((tmp_path / "release.json").read_text())
    assert written["model_tag"] == build["model_tag"]
    assert written["bento_tag"] == build["bento_tag"]
    assert written["image"]["digest"] == digest
    assert written["gates"]["tests"]["summary"] == "3 tests, 0 failed, 0 errors"
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps({"passed": True, "findings": []}))
    assert main([*args, "--scan-json", str(scan)]) == 0
    assert main(["release", "verify", str(tmp_path / "release.json"), *head_branch]) == 0
    junit.write_text('<testsuite name="pytest" tests="3" failures="1" errors="0"/>')
    assert main([*args, "--scan-json", str(scan)]) == 1
    assert main(["release", "verify", str(tmp_path / "release.json"), *head_branch]) == 1


def test_dockerfile_check_names_root_and_missing_healthcheck(tmp_path):
    from conveyor.build import check_dockerfile

    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM python:3.11-slim\nUSER app\nUSER root\nCMD ["serve"]\n')
    problems = check_dockerfile(dockerfile)
    assert any("runs as root" in p for p in problems)
    assert any("no HEALTHCHECK" in p for p in problems)
    dockerfile.write_text("FROM python:3.11-slim\nUSER 1034\nHEALTHCHECK CMD true\n")
    assert check_dockerfile(dockerfile) == []


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_requests_never_get_a_5xx(service, mode):
    """Inputs generated from the service's own OpenAPI document, valid and invalid, to every
    operation it publishes: never a server error. (schemathesis' pytest plugin does not run on
    pytest 9, so its strategies drive a plain Hypothesis test.)"""
    schema = schemathesis.openapi.from_url(f"{service['base']}/docs.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # Operations that take a body (GET /livez and friends take no input to vary).
    with_input = [op for op in operations if len(op.body) > 0]
    assert [op.path for op in with_input] == ["/forecast"]
    for operation in with_input:
        _fuzz(operation, schemathesis.GenerationMode(mode))


def _fuzz(operation: object, generation: object) -> None:
    @given(case=operation.as_strategy(generation_mode=generation))
    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def no_server_error(case: schemathesis.Case) -> None:
        response = case.call(timeout=60)
        assert response.status_code < 500, (operation, case.body, response.text[:500])

    no_server_error()


def test_one_day_per_series_shortcut_matches_the_joined_path(tmp_path, bundle_inputs, small_params):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write_bundle(bundle, bundle_inputs["model"], bundle_inputs["raw"], small_params.features, "US")
    forecaster = Forecaster.load(bundle)
    first, last = forecaster.window
    series = forecaster.series
    requests = series.with_columns(
        date=pl.Series([first + dt.timedelta(days=n % 28) for n in range(series.height)]),
        price=pl.Series([5.0 + n for n in range(series.height)]),
        promo=pl.Series([n % 2 for n in range(series.height)], dtype=pl.Int8),
    )
    assert last >= requests["date"].max()
    shortcut = forecaster.inputs(requests)
    joined = forecaster._joined_inputs(requests)
    np.testing.assert_array_equal(shortcut, joined)
    assert forecaster.predict(requests.head(1)) == pytest.approx(
        predict_matrix(forecaster.booster, joined[:1])
    )


def test_a_stopping_service_writes_the_rows_its_log_still_buffers(service, tmp_path):
    """SIGTERM (what Kubernetes sends on a rollout) flushes the inference log: the buffer holds
    up to 10,000 rows or 60 s of traffic, which a restart must not lose."""
    import polars as pl

    folder = tmp_path / "log"
    env = {
        **service["env"],
        "CONVEYOR_INFERENCE_LOG_DIR": str(folder),
        "CONVEYOR_INFERENCE_LOG_FLUSH_ROWS": "100000",  # nothing is written before shutdown
    }
    process, base, log = _start_server(env, tmp_path / "serve.log")
    try:
        for _ in range(6):
            assert _call(f"{base}/forecast", _valid(service, rows=4))[0] == 200
        assert not list(folder.rglob("*.parquet"))
    finally:
        process.send_signal(signal.SIGTERM)  # the main process only, as a container runtime does
        process.wait(timeout=60)
        log.close()
    logged = sum(pl.read_parquet(f).height for f in folder.rglob("*.parquet"))
    assert logged == 24
