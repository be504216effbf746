"""A client that stops sending its body (review bug 6): answered 408 by the request guard before
BentoML's traffic timeout would answer 504, which the 5xx alert counts (any client could page
on-call). In-process against BentoML's own TimeoutMiddleware, then over real HTTP (`bentoml
serve` on loopback with a short traffic timeout set through BentoML's configuration)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bentoml._internal.server.http.traffic import TimeoutMiddleware

from forecast.request_guard import RequestGuard
from tests.forecast import test_service
from tests.forecast.test_service_hardening import (
    _log_after,
    _reason,
    _request_lines,
    _series,
    _settled_offset,
)
from tests.paths import REPO
from tests.serving import call, register_model, start_server

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

bundle_inputs = test_service.bundle_inputs  # the fixture: a model trained on the small data

TRAFFIC_TIMEOUT = 6  # seconds, set through BENTOML_CONFIG_OPTIONS for the served test
BODY_SECONDS = TRAFFIC_TIMEOUT / 2  # the service caps its body deadline at half the timeout


# -- in process: the guard inside BentoML's TimeoutMiddleware (the order `bentoml serve` uses) --


async def _ok_app(scope: dict, receive: Any, send: Any) -> None:
    """Reads the body like the API does, then answers 200 with its length."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    payload = json.dumps({"bytes": len(body)}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


def _serve(
    pieces: list[tuple[float, bytes, bool]],
    headers: dict[str, str],
    app: Any = _ok_app,
    body_seconds: Any = 0.4,
    timeout: float = 2.0,
) -> tuple[int, dict, float]:
    """Status, JSON body and seconds taken for a POST /forecast whose body arrives as
    ``pieces`` (delay before it, bytes, more to come); after the last piece the client is silent
    (still connected). The guard runs inside BentoML's real TimeoutMiddleware."""
    sent: list[dict] = []

    async def run() -> float:
        queue = list(pieces)

        async def receive() -> dict:
            if not queue:
                await asyncio.sleep(3600)  # a client that neither sends nor closes
            delay, chunk, more = queue.pop(0)
            await asyncio.sleep(delay)
            return {"type": "http.request", "body": chunk, "more_body": more}

        async def send(message: dict) -> None:
            sent.append(message)

        guard = RequestGuard(
            app,
            paths=("/forecast",),
            max_bytes=1000,
            body_seconds=body_seconds,
        )
        stack = TimeoutMiddleware(guard, timeout=timeout)
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/forecast",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
        start = time.monotonic()
        await stack(scope, receive, send)
        return time.monotonic() - start

    elapsed = asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    start_headers = dict(start.get("headers", []))
    answer = json.loads(body) if body else {}
    answer["_close"] = start_headers.get(b"connection") == b"close"
    return start["status"], answer, elapsed


JSON = {"content-type": "application/json"}

STALLS = {
    # a body shorter than its Content-Length, then silence (the reviewer's /tmp/slow.py)
    "declared, part sent": ([(0, b'{"rows":[{"club_id"', True)], {**JSON, "content-length": "200"}),
    "declared, nothing sent": ([], {**JSON, "content-length": "200"}),
    "chunked, no last chunk": ([(0, b'{"rows": [', True)], JSON),
    # a byte every 0.1 s never finishes: the deadline is for the whole body, not between pieces
    "drip feed": ([(0.1, b" ", True)] * 100, {**JSON, "content-length": "500"}),
}


@pytest.mark.parametrize("case", list(STALLS))
def test_a_stalled_body_gets_408_before_the_traffic_timeout(case):
    """Was: nothing until BentoML's TimeoutMiddleware answered 504 at its timeout."""
    pieces, headers = STALLS[case]
    status, answer, elapsed = _serve(pieces, headers)
    assert status == 408, answer
    assert answer["error"] == "request body not received within 0.4 seconds"
    assert answer["_close"]  # the rest of the body may still arrive: the connection is closed
    assert 0.35 < elapsed < 1.5  # at the body deadline, well before the 2 s traffic timeout


@pytest.mark.parametrize(
    ("pieces", "headers", "status", "reason"),
    [
        (
            [(0, b"{", True)],
            {"content-type": "text/plain", "content-length": "200"},
            415,
            "content-type must be",
        ),
        (
            [(0, b"{", True)],
            {**JSON, "content-length": "5000"},
            413,
            "request body of 5000 bytes is larger",
        ),
        # chunked past the limit (1000 bytes here), then silence while the rest is drained
        ([(0, b"x" * 1200, True)], JSON, 413, "streamed request body is larger"),
    ],
)
def test_a_body_already_refused_that_stalls_gets_its_refusal_in_time(
    pieces, headers, status, reason
):
    """The guard reads a refused body to the end before answering (so the client gets the
    answer, not a reset): a stall there must not turn the 413/415 into a 504 either."""
    got, answer, elapsed = _serve(pieces, headers)
    assert got == status, answer
    assert answer["error"].startswith(reason)
    assert elapsed < 1.5


def test_a_slow_complete_body_and_a_slow_app_are_not_the_guards_business():
    """The deadline is for receiving the body: a body that arrives in pieces within it is
    answered; once it is read, an app that then waits (here for a disconnect that never
    comes) is not refused 408 by the guard, and only BentoML's timeout answers it."""
    pieces = [(0.05, b"[", True), (0.05, b"1,", True), (0.05, b"2]", False)]
    status, answer, _ = _serve(pieces, {**JSON, "content-length": "5"})
    assert (status, answer["bytes"]) == (200, 5)

    async def waits_after_the_body(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await receive()  # the untimed receive: waits for the server's next message

    status, answer, elapsed = _serve(
        [(0, b"[]", False)], {**JSON, "content-length": "2"}, app=waits_after_the_body, timeout=1
    )
    assert status == 504 and elapsed >= 1  # BentoML's own answer for a slow app, unchanged


def test_the_deadline_may_be_given_as_a_function_called_when_the_app_is_built():
    calls: list[int] = []

    def seconds() -> float:
        calls.append(1)
        return 0.2

    status, answer, _ = _serve([], {**JSON, "content-length": "9"}, body_seconds=seconds)
    assert status == 408 and answer["error"].endswith("within 0.2 seconds")
    assert calls == [1]


# -- over real HTTP --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(bundle_inputs, small_params, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The service with BentoML's traffic timeout set to TRAFFIC_TIMEOUT by its configuration
    (not by our code): the body deadline must follow it."""
    home = tmp_path_factory.mktemp("bentoml-home")
    tag = register_model(bundle_inputs, small_params, home)
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "CONVEYOR_MODEL_TAG": tag,
        "BENTOML_CONFIG_OPTIONS": f"services.demand_forecaster.traffic.timeout={TRAFFIC_TIMEOUT}",
    }
    env.pop("CONVEYOR_BODY_TIMEOUT_SECONDS", None)  # the default (10 s), capped by the timeout
    log_path = tmp_path_factory.mktemp("serve-log") / "serve.log"
    process, base, log = start_server(env, log_path)
    try:
        yield {"base": base, "port": int(base.rsplit(":", 1)[1]), "log": log_path}
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)
        log.close()


def _count(served: dict, code: str) -> float:
    """bentoml_service_request_total on /forecast for status ``code`` (a regex like 5..)."""
    status, text = call(f"{served['base']}/metrics", method="GET")
    assert status == 200
    total = 0.0
    for candidate in range(400, 600):
        if re.fullmatch(code, str(candidate)):
            total += _series(
                str(text),
                "bentoml_service_request_total",
                endpoint="/forecast",
                http_response_code=str(candidate),
            )
    return total


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_stalled_client_gets_408_counted_as_4xx_with_one_refused_line(served, framing):
    """The reviewer's repro (Content-Length 200, 30 bytes sent, then waiting): a 408 at the body
    deadline, before the traffic timeout's 504; counted under 408, nothing under 5xx; one
    access line with `refused:` and the reason."""
    offset = _settled_offset(served)
    before_408, before_5xx = _count(served, "408"), _count(served, "5..")
    start = b'{"rows":[{"club_id":"club_001"'
    framed = start if framing == "content-length" else b"%x\r\n%s\r\n" % (len(start), start)
    header = "Content-Length: 200" if framing == "content-length" else "Transfer-Encoding: chunked"
    with socket.create_connection(("127.0.0.1", served["port"]), timeout=60) as client:
        client.sendall(
            b"POST /forecast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + header.encode()
            + b"\r\n\r\n"
            + framed
        )
        began = time.monotonic()
        answer = b""
        while chunk := client.recv(65536):  # the server closes the connection after the 408
            answer += chunk
        elapsed = time.monotonic() - began
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout", answer
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {
        "error": f"request body not received within {BODY_SECONDS:g} seconds"
    }
    assert BODY_SECONDS - 0.5 < elapsed < TRAFFIC_TIMEOUT - 1
    log = _log_after(served, offset, "status=408")
    lines = _request_lines(log)
    assert len(lines) == 1 and "status=408" in lines[0] and "path=/forecast" in lines[0], log
    assert _reason(lines[0]) == f"request body not received within {BODY_SECONDS:g} seconds"
    assert "Traceback" not in log and "[ERROR]" not in log
    deadline = time.monotonic() + 10  # the metric may be counted a moment after the log line
    while _count(served, "408") < before_408 + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _count(served, "408") == before_408 + 1
    assert _count(served, "5..") == before_5xx
    # The server is still answering.
    assert call(f"{served['base']}/livez", method="GET")[0] == 200


# What `bentoml serve` does in a worker: import the service, load BentoML's configuration (the
# decorator's defaults, then BENTOML_CONFIG_OPTIONS), then build the app and its middlewares.
BODY_SECONDS_SCRIPT = """
import json
import forecast.service as service
service.DemandForecaster.inject_config()
print(json.dumps(service.body_seconds()))
"""


@pytest.mark.parametrize(
    ("body_env", "config", "expected"),
    [
        (None, "", 10.0),  # the default, a third of the default 30 s traffic timeout
        (None, "services.demand_forecaster.traffic.timeout=6", 3.0),  # capped at half of it
        ("2.5", "", 2.5),
        ("45", "", 15.0),  # longer than the traffic timeout: capped, or every stall is a 504
    ],
)
def test_the_body_deadline_stays_below_the_traffic_timeout_in_effect(
    tmp_path, body_env, config, expected
):
    env = {k: v for k, v in os.environ.items() if k != "CONVEYOR_BODY_TIMEOUT_SECONDS"}
    env |= {"BENTOML_HOME": str(tmp_path), "BENTOML_CONFIG_OPTIONS": config}
    if body_env is not None:
        env["CONVEYOR_BODY_TIMEOUT_SECONDS"] = body_env
    result = subprocess.run(
        [sys.executable, "-c", BODY_SECONDS_SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "ten", ""])
def test_a_body_deadline_that_is_no_positive_number_stops_the_service_at_start(tmp_path, value):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "CONVEYOR_BODY_TIMEOUT_SECONDS": value}
    result = subprocess.run(
        [sys.executable, "-c", "import forecast.service"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip().splitlines()[-1] == f"ValueError: CONVEYOR_BODY_TIMEOUT_SECONDS="
        f"{value!r}: must be a positive number of seconds"
    )
