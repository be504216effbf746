"""The forecast service against hostile and unlucky clients, over real HTTP (`bentoml serve` on
loopback): oversized chunked bodies, clients that vanish mid-body, values of the wrong JSON type,
and a model that is missing or corrupt. Each answer is a 4xx (or a 503 while the model is
unavailable), counted in BentoML's request metric, and logged as one line without a traceback."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forecast.forecaster import HISTORY_FILE, MODEL_FILE, bundle_digest, check_bundle
from forecast.request_guard import RequestGuard
from tests.forecast import test_service
from tests.paths import REPO
from tests.serving import call as _call
from tests.serving import register_model
from tests.serving import start_server as _start_server

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

bundle_inputs = test_service.bundle_inputs  # the fixture: a model trained on the small data

STARTUP_SECONDS = 120
LIMIT = 4_004_096  # the service's default body limit: 10,000 rows x 400 bytes + 4096
UNAVAILABLE = "model unavailable: "


def _register(bundle_inputs: dict[str, Path], params: Any, home: Path) -> str:
    """Store the small model in the BentoML home ``home``; its tag. Through the pipeline's own
    command in a subprocess: in this process BentoML's store path is fixed at its first use (by
    an earlier test module), so registering here would land in that other store."""
    return register_model(bundle_inputs, params, home)


@pytest.fixture(scope="module")
def served(bundle_inputs, small_params, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The service on the registered small model, with its log file."""
    home = tmp_path_factory.mktemp("bentoml-home")
    tag = _register(bundle_inputs, small_params, home)
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "CONVEYOR_MODEL_TAG": tag,
    }
    log_path = tmp_path_factory.mktemp("serve-log") / "serve.log"
    process, base, log = _start_server(env, log_path)
    first = json.loads((home / "models" / tag.replace(":", "/") / "serving.json").read_text())
    try:
        yield {
            "base": base,
            "port": int(base.rsplit(":", 1)[1]),
            "log": log_path,
            "home": home,
            "tag": tag,
            "first": _next_day(first["history_end"]),
        }
    finally:
        _stop(process)
        log.close()


def _next_day(iso: str) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(iso) + dt.timedelta(days=1)).isoformat()


def _row(served: dict, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "club_id": "club_001",
        "item_id": "item_0001",
        "date": served["first"],
        "price": 12.5,
        "promo": 0,
    }
    row.update(changes)
    return row


def _series(text: str, name: str, **labels: str) -> float:
    """The sum of the series of ``name`` whose labels include ``labels`` (Prometheus text)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match.group(3))
    return total


def _requests_total(served: dict, code: int) -> float:
    status, text = _call(f"{served['base']}/metrics", method="GET")
    assert status == 200
    return _series(
        str(text),
        "bentoml_service_request_total",
        endpoint="/forecast",
        http_response_code=str(code),
    )


def _counted(served: dict, code: int, expected: float, wait: float = 10) -> float:
    """The request count for ``code`` once it reaches ``expected`` (or ``wait`` seconds passed):
    the access-log line can be written a moment before the metrics middleware counts."""
    deadline = time.monotonic() + wait
    while (found := _requests_total(served, code)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _post_chunked(served: dict, pieces: Iterator[bytes]) -> tuple[int, dict]:
    """POST with Transfer-Encoding: chunked (no Content-Length): one chunk per piece."""
    connection = http.client.HTTPConnection("127.0.0.1", served["port"], timeout=120)
    try:
        connection.request(
            "POST",
            "/forecast",
            body=pieces,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _settled_offset(served: dict) -> int:
    """The log's size once it has stopped growing for 0.3 s: a worker can write the access line
    of an earlier request just after its client had the answer (seen as a stray 200 line)."""
    size = -1
    while (now := served["log"].stat().st_size) != size:
        size = now
        time.sleep(0.3)
    return size


def _log_after(served: dict, offset: int, until: str, count: int = 1, wait: float = 30) -> str:
    """The server log written after byte ``offset``, once ``until`` appears ``count`` times."""
    deadline = time.monotonic() + wait
    while True:
        text = served["log"].read_bytes()[offset:].decode("utf-8", "replace")
        if text.count(until) >= count or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


# -- item 10: bodies that never end, clients that vanish --------------------------------------


def test_an_oversized_chunked_body_gets_413_like_a_declared_one_and_is_counted(served):
    """Without a Content-Length the body is counted as it streams: the same 413 as the declared
    size gets (was: a 500), recorded in bentoml_service_request_total; no 5xx, no traceback."""
    offset = _settled_offset(served)
    before_413, before_500 = _requests_total(served, 413), _requests_total(served, 500)
    row = json.dumps(_row(served)).encode()
    rows = LIMIT // len(row) + 100  # just over the limit

    def pieces() -> Iterator[bytes]:  # a chunk of 100 rows at a time
        yield b'{"rows": [' + row
        for _ in range(rows // 100):
            yield b"," + b",".join([row] * 100)
        yield b"]}"

    status, answer = _post_chunked(served, pieces())
    assert status == 413, answer
    assert f"larger than the limit of {LIMIT} bytes" in answer["error"]
    assert "at most 10000 rows per request" in answer["error"]
    # One huge chunk (a single chunk-size line announcing megabytes) is counted the same way.
    status, _ = _post_chunked(served, iter([b'{"rows": [' + b" " * (LIMIT + 10) + b"]}"]))
    assert status == 413
    assert _counted(served, 413, before_413 + 2) == before_413 + 2
    assert _requests_total(served, 500) == before_500
    log = _log_after(served, offset, "status=413", count=2)
    lines = _request_lines(log)
    assert len(lines) == 2 and all("status=413" in line for line in lines), log
    assert all(
        (_reason(line) or "").startswith("streamed request body is larger than the limit")
        for line in lines
    ), lines
    assert "Traceback" not in log and "[ERROR]" not in log


def _metrics_text(served: dict) -> str:
    status, text = _call(f"{served['base']}/metrics", method="GET")
    assert status == 200
    return str(text)


def test_a_path_no_route_serves_is_counted_under_one_endpoint_label(served):
    """Review finding M5: BentoML labelled its request metrics with the raw path, so each new
    path a client sent made new series. Now any path but the service's routes and probes is
    counted as endpoint="other", routed and answered on its real path (404, 405) all the same."""
    name = "bentoml_service_request_total"
    before = _series(_metrics_text(served), name, endpoint="other")
    forecasts = _series(_metrics_text(served), name, endpoint="/forecast")
    paths = [f"/unbounded-{i}-{os.getpid()}" for i in range(6)]
    paths += ["/FORECAST", "//forecast", "/forecast/x", "/%2E%2E/forecast", "/forecast%00"]
    for path in paths:
        for method in ("GET", "POST"):
            status, _ = _call(f"{served['base']}{path}", b"{}", method=method)
            assert status in (404, 405), (path, method, status)
    status, _ = _call(f"{served['base']}/forecast", json.dumps({"rows": [_row(served)]}).encode())
    assert status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = _metrics_text(served)
        if _series(text, name, endpoint="other") >= before + 2 * len(paths):
            break
        time.sleep(0.2)
    assert _series(text, name, endpoint="other") == before + 2 * len(paths)
    assert _series(text, name, endpoint="/forecast") == forecasts + 1  # its route: its own label
    labels = set(re.findall(r'endpoint="([^"]*)"', text))
    assert labels <= {"/forecast", "/livez", "/readyz", "/healthz", "other"}, labels
    assert "unbounded" not in text


def test_a_chunked_body_within_the_limit_is_answered(served):
    """The guard reads the streamed body and hands it on whole, however it was cut."""
    body = json.dumps({"rows": [_row(served), _row(served, club_id="club_002")]}).encode()
    status, answer = _post_chunked(served, iter(body[n : n + 7] for n in range(0, len(body), 7)))
    assert status == 200, answer
    assert [p["club_id"] for p in answer["predictions"]] == ["club_001", "club_002"]
    assert _call(f"{served['base']}/forecast", body) == (status, answer)


def _request_lines(log: str) -> list[str]:
    """The log's lines about requests: a worker that finishes starting after /readyz answered
    (the other one is ready) still logs its start-up lines, which are about no request."""
    startup = ("Service loaded from Bento", "initialized", "Starting production")
    return [
        line
        for line in log.splitlines()
        if line.strip() and not any(marker in line for marker in startup)
    ]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_client_gone_mid_body_leaves_one_line_and_no_5xx(served, framing):
    """The body stops half-way and the socket closes: one access-log line (499, a 4xx), counted;
    no 500, no traceback (was: a 500 with a ClientDisconnect traceback)."""
    offset = _settled_offset(served)
    before_499, before_500 = _requests_total(served, 499), _requests_total(served, 500)
    headers = (
        "Content-Length: 5000" if framing == "content-length" else "Transfer-Encoding: chunked"
    )
    start = b'{"rows": [{"club_id": "club_001", "item'
    sent = start if framing == "content-length" else b"%x\r\n%s\r\n" % (len(start), start)
    with socket.create_connection(("127.0.0.1", served["port"]), timeout=30) as client:
        client.sendall(
            f"POST /forecast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\n{headers}\r\n\r\n".encode()
            + sent
        )
        time.sleep(0.5)  # the server is now waiting for the rest
    log = _log_after(served, offset, "status=499")
    # An earlier test's last 200 may be logged late by the other worker: only this request counts.
    lines = [line for line in _request_lines(log) if "status=200" not in line]
    assert len(lines) == 1, log
    assert "path=/forecast" in lines[0] and "status=499" in lines[0]
    assert _reason(lines[0]) == "client closed the request"
    assert "Traceback" not in log
    assert _counted(served, 499, before_499 + 1) == before_499 + 1
    assert _requests_total(served, 500) == before_500
    assert _call(f"{served['base']}/forecast", json.dumps({"rows": [_row(served)]}).encode())[
        0
    ] == (200)


def test_an_error_escaping_the_app_is_answered_inside_the_metrics_middleware(caplog):
    """BentoML adds user middlewares inside its metrics middleware (the 413 and 499 above are
    counted): an exception that escapes the app becomes a 500 sent through the guard, so that
    middleware counts it, logged once; Starlette's handler would answer outside, uncounted."""

    async def broken(scope, receive, send) -> None:
        await receive()
        raise RuntimeError("a bug")

    async def run(path: str) -> list[dict]:
        sent: list[dict] = []
        messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

        async def receive() -> dict:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        guard = RequestGuard(broken, paths=("/forecast",), max_bytes=100)
        headers = [(b"content-type", b"application/json")]
        scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
        await guard(scope, receive, send)
        return sent

    for path in ("/forecast", "/elsewhere"):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="forecast.request_guard"):
            sent = asyncio.run(run(path))
        assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 500
        assert json.loads(sent[1]["body"]) == {"error": "internal server error (logged)"}
        (record,) = caplog.records
        assert f"POST {path}" in record.getMessage() and record.exc_info is not None

    async def started_then_broken(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("too late for a status")

    guard = RequestGuard(started_then_broken, paths=(), max_bytes=100)
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}

    async def noop(*_: object) -> dict:
        return {"type": "http.disconnect"}

    with pytest.raises(RuntimeError, match="too late"):
        asyncio.run(guard(scope, noop, noop))


# -- item 11: strict JSON types ----------------------------------------------------------------

WRONG_TYPES: dict[str, list[object]] = {
    "club_id": [1, 1.5, True, None, ["club_001"], {"id": "club_001"}],
    "item_id": [1, False, None, ["item_0001"]],
    "date": [20240425, 1714003200.0, True, None, ["2024-04-25"], "2024-04-25T00:00:00"],
    "price": [True, False, "3.5", "3", "NaN", None, [3.5], {"value": 3.5}],
    "promo": [True, False, 1.0, 0.0, "1", "0", None, [1], 0.5],
}
RIGHT_TYPES: dict[str, list[object]] = {
    "price": [3, 3.5, 0.01, 1_000_000],  # a JSON integer is a number
    "promo": [0, 1],
    "club_id": ["club_002"],
    "item_id": ["item_0002"],
}


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in WRONG_TYPES.items() for value in values],
    ids=lambda v: json.dumps(v) if not isinstance(v, str) else v,
)
def test_a_value_of_the_wrong_json_type_is_a_400_naming_the_field(served, field, value):
    """No lax conversion: `true`, `"3.5"`, `1.0`, `null` ... where another type is expected."""
    rows = [_row(served), _row(served, **{"club_id": "club_002", field: value})]
    status, answer = _call(f"{served['base']}/forecast", json.dumps({"rows": rows}).encode())
    assert status == 400, answer
    assert answer["error"] == "1 validation error for Input"
    (detail,) = answer["detail"]
    assert detail["loc"] == ["rows", 1, field]
    assert detail["msg"]


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in RIGHT_TYPES.items() for value in values],
)
def test_a_value_of_the_right_json_type_is_answered(served, field, value):
    rows = [_row(served, **{field: value})]
    status, answer = _call(f"{served['base']}/forecast", json.dumps({"rows": rows}).encode())
    assert status == 200, answer
    assert len(answer["predictions"]) == 1


def test_price_given_as_integer_predicts_the_same_as_the_float(served):
    as_int = json.dumps({"rows": [_row(served, price=12)]}).encode()
    as_float = json.dumps({"rows": [_row(served, price=12.0)]}).encode()
    assert _call(f"{served['base']}/forecast", as_int) == _call(
        f"{served['base']}/forecast", as_float
    )


# -- issue 13: what a refused request and an unavailable model leave in the log ----------------


def _access_lines(log: str, status: int) -> list[str]:
    return [line for line in _request_lines(log) if f"status={status}," in line]


def _reason(line: str) -> str | None:
    """What an access line says after `refused:` (BentoML's formatter may add the trace ids)."""
    match = re.search(r" refused: (.*?)(?: \(trace=[^)]*\))?$", line)
    return match[1] if match else None


def test_each_refused_request_logs_one_line_with_its_status_and_reason(served):
    """One line per request, refused or not: BentoML's access line, which has the status, says
    why after `refused:` (the first problem, never the values sent). BentoML logged every 400 at
    ERROR with its traceback, and then a separate reason line beside the access line."""
    offset = _settled_offset(served)
    bad = [
        {"rows": [_row(served, price="3.5")]},
        {"rows": [_row(served, club_id="club_404")]},  # refused by the model, not the schema
        {"rows": []},
        {"rows": [_row(served, promo=True, extra_field="do-not-log-me")]},
    ]
    for body in bad:
        assert _call(f"{served['base']}/forecast", json.dumps(body).encode())[0] == 400
    # Refused by the guard before the app: the same one line, with its own reason.
    assert _call(f"{served['base']}/forecast", b"x=1", "text/plain")[0] == 415
    assert _call(f"{served['base']}/forecast", json.dumps({"rows": [_row(served)]}).encode())[
        0
    ] == (200)
    # Requests were answered one after another: once the last one's line is there, all are.
    log = _log_after(served, offset, "status=200")
    assert "Traceback" not in log and "[ERROR]" not in log
    lines = _request_lines(log)
    assert len(lines) == len(bad) + 2, log  # one per request, nothing else
    refused = _access_lines(log, 400)
    assert len(refused) == len(bad), log
    assert all("[INFO]" in line and "method=POST,path=/forecast" in line for line in refused)
    # Two workers write the log: lines of consecutive requests may land in either order.
    reasons = sorted(_reason(line) or "" for line in refused)
    assert "rows.0.price: Input should be a valid number [float_type]" in reasons
    assert sum("unknown club/item club_404/item_0001" in reason for reason in reasons) == 1
    assert sum("(and 1 more)" in reason for reason in reasons) == 1
    assert (
        sum(reason.startswith("rows: List should have at least 1 item") for reason in reasons) == 1
    )
    assert "do-not-log-me" not in log
    (unsupported,) = _access_lines(log, 415)
    assert _reason(unsupported) == "content-type must be application/json (got text/plain)"
    (answered,) = _access_lines(log, 200)
    assert _reason(answered) is None and "refused" not in answered


def _live_and_started(base: str, log_path: Path) -> bool:
    """Ready enough for a service that must come up without its model: /livez answers and both
    workers have finished starting (/readyz would never answer 200)."""
    started = log_path.read_text().count("Service demand_forecaster initialized") == 2
    return started and _call(f"{base}/livez", method="GET")[0] == 200


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group; SIGKILL if it has not stopped in 30 s."""
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=30)


@pytest.mark.parametrize("broken", ["missing tag", "corrupt model file", "model file removed"])
def test_a_missing_or_corrupt_model_leaves_the_service_live_unready_with_one_line(
    served, tmp_path, broken
):
    """No crash loop and no traceback: /livez answers, /readyz stays 503, /forecast answers 503
    with the reason, and the log holds exactly one line starting with `model unavailable:`
    that names the tag (and, for bad files, the folder)."""
    home, tag = served["home"], served["tag"]
    if broken != "missing tag":
        home = tmp_path / "home"
        shutil.copytree(served["home"] / "models", home / "models")
        folder = home / "models" / tag.replace(":", "/")
        if broken == "corrupt model file":
            model = folder / MODEL_FILE
            model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])  # truncated
        else:
            (folder / HISTORY_FILE).unlink()
    else:
        tag = "demand_forecaster:0123456789abcdef0123"
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "CONVEYOR_MODEL_TAG": tag,
    }
    log_path = tmp_path / "serve.log"
    process, base, log = _start_server(env, log_path, _live_and_started, STARTUP_SECONDS)
    try:
        for _ in range(3):  # not a slow start: it stays unready
            assert _call(f"{base}/livez", method="GET")[0] == 200
            assert _call(f"{base}/readyz", method="GET")[0] == 503
            time.sleep(0.5)
        body = json.dumps({"rows": [_row(served)]}).encode()
        status, answer = _call(f"{base}/forecast", body)
        assert status == 503
        assert answer["error"].startswith(UNAVAILABLE) and tag in answer["error"]
    finally:
        _stop(process)
        log.close()
    text = log_path.read_text()
    lines = [line for line in text.splitlines() if UNAVAILABLE in line]
    assert len(lines) == 1, text
    (line,) = lines
    assert line.startswith(UNAVAILABLE) and tag in line
    if broken == "missing tag":
        assert "is not in the model store" in line
    elif broken == "corrupt model file":
        assert "corrupt or modified after registration" in line and str(home) in line
    else:
        assert f"missing {HISTORY_FILE}" in line
    assert "Traceback" not in text and "[LightGBM]" not in text and "[ERROR]" not in text


TAG_FILES = {
    "not json": (b"{not json", "not a JSON object with a model tag"),
    "a list": (b'["demand_forecaster:v1"]', "not a JSON object with a model tag"),
    "no tag": (b'{"model": "demand_forecaster:v1"}', "not a JSON object with a model tag"),
    "tag not a string": (b'{"tag": 7}', "the tag is not a string"),
    "not utf-8": (b"\xff\xfe", "not a JSON object with a model tag"),
    "not a tag": (b'{"tag": "Not A Tag!"}', "is not a valid BentoML tag"),
}
# Imports the service with the first file (what `bentoml serve` does), then reads the others.
READ_TAG_FILES = """
import json, sys
from pathlib import Path
import forecast.service as service
found = [service.MODEL_PROBLEM]
for name in sys.argv[2:]:
    service.TAG_FILE = Path(name)
    found.append(service.find_model()[1])
print(json.dumps(found))
"""


def test_an_unreadable_tag_file_makes_the_model_unavailable_not_an_import_error(tmp_path):
    """The service module imports (so `bentoml serve` starts and reports); the reason names the
    file and what is wrong with it."""
    files = []
    for n, (content, _) in enumerate(TAG_FILES.values()):
        files.append(tmp_path / f"bentoml_model_{n}.json")
        files[-1].write_bytes(content)
    env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_MODEL_TAG"}
    env |= {"CONVEYOR_MODEL_TAG_FILE": str(files[0]), "BENTOML_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-c", READ_TAG_FILES, *map(str, files)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for file, problem, (case, (_, expected)) in zip(files, found, TAG_FILES.items(), strict=True):
        assert expected in problem, (case, problem)
        if case != "not a tag":
            assert str(file) in problem, (case, problem)


def test_the_bundle_check_matches_the_register_stages_version(served, tmp_path):
    """check_bundle() recomputes the content hash the register stage names the version with: a
    change to register's hash would make every stored model 'corrupt', so it is pinned here."""
    name, version = served["tag"].split(":")
    folder = served["home"] / "models" / name / version
    assert bundle_digest(folder) == version
    check_bundle(folder, version)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "serving.json").write_text((copy / "serving.json").read_text() + " ")
    with pytest.raises(ValueError, match="corrupt or modified after registration"):
        check_bundle(copy, version)
    check_bundle(copy, "latest-by-hand")  # a version not derived from the content: not hashed
