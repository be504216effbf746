"""Load benchmark of the forecast service: `bentoml serve` on loopback under a closed-loop load.

    python benchmarks/serve_load.py [--seconds 10] [--warmup 2] [--client aiohttp|httpx]

Serves the model the pipeline registered last (models/bentoml_model.json, default BentoML home)
with ``bentoml serve forecast.service:DemandForecaster`` on a free 127.0.0.1 port, then runs
asyncio workers that each send requests back-to-back: single-row requests at concurrency 1, 8
and 32, then 1,000-row batches at concurrency 2. Each scenario has a warm-up, then runs for
``--seconds`` or ``--max-requests``, whichever ends first. Rows are valid (club, item) pairs of
the bundle's history on dates inside the forecast window, varied. The client is aiohttp: on two
cores httpx's own CPU caps it near 300 requests/s at 32 connections, below the target.

In the same run it times the raw in-process ``Forecaster.predict`` on 1-row and 1,000-row frames.

The figures go to benchmarks/.work/serve_load.json (the service's log beside it). The exit code
is 0 even when a target is missed (this is a report), 1 when a request failed or the service
did not start, 2 when no model is registered yet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import polars as pl

from forecast.forecaster import Forecaster
from pipeline_scale import _machine_busy_s, environment

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
REPORT = WORK / "serve_load.json"
SERVER_LOG = WORK / "serve_load.log"
TAG_FILE = ROOT / "models" / "bentoml_model.json"
SERVICE = "forecast.service:DemandForecaster"

SINGLE_CONCURRENCY = (1, 8, 32)
BATCH_ROWS = 1_000
BATCH_CONCURRENCY = 2
STARTUP_S = 90
REQUEST_TIMEOUT_S = 60
RAW_SECONDS = 4.0
TARGET_RPS, TARGET_P99_MS, TARGET_BATCH_SHARE = 300, 100.0, 0.25
BUSY_SHARE = 0.10  # share of CPU used by other processes above which timings are suspect
ENV = {"BENTOML_DO_NOT_TRACK": "true", "DVC_NO_ANALYTICS": "1"}
PACKAGES = ("bentoml", "aiohttp", "httpx", "polars", "pandas", "lightgbm", "pydantic")


# --------------------------------------------------------------------------- CPU accounting


def own_cpu_s() -> float:
    """User plus system CPU time of this process (the load generator), all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) for every live process, from /proc."""
    table = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        table[int(stat.parent.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / tick)
    return table


def descendants(root: int, table: dict[int, tuple[int, float]] | None = None) -> set[int]:
    """``root`` and every live process below it (BentoML's workers run in their own sessions)."""
    table = process_table() if table is None else table
    tree, grew = {root}, True
    while grew:
        below = {pid for pid, (parent, _) in table.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return tree & set(table)


def tree_cpu_s(root: int) -> float:
    """CPU seconds of ``root`` and its live descendants (the service's processes)."""
    table = process_table()
    return sum(table[pid][1] for pid in descendants(root, table))


@dataclass
class CpuMeter:
    """CPU used by the service (process tree of ``root``), by this process and by everything
    else since creation."""

    root: int | None  # None: no service (the in-process measurements)
    start: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        self.start = (time.perf_counter(), _machine_busy_s(), own_cpu_s(), self._server())

    def _server(self) -> float:
        return 0.0 if self.root is None else tree_cpu_s(self.root)

    def read(self) -> dict[str, float]:
        """Cores used on average since creation: server, client (this script), other."""
        wall = time.perf_counter() - self.start[0]
        machine = _machine_busy_s() - self.start[1]
        client = own_cpu_s() - self.start[2]
        server = self._server() - self.start[3]
        other = max(machine - client - server, 0.0)
        return {
            "server_cores": round(server / wall, 2),
            "client_cores": round(client / wall, 2),
            "other_cpu_share": round(other / (wall * (os.cpu_count() or 1)), 3),
        }


# --------------------------------------------------------------------------- request bodies


def load_forecaster() -> tuple[str, Path, Forecaster]:
    """The registered tag, its bundle directory in the BentoML home, and the loaded bundle."""
    tag = json.loads(TAG_FILE.read_text(encoding="utf-8"))["tag"]
    home = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
    bundle = home / "models" / tag.replace(":", "/")
    return tag, bundle, Forecaster.load(bundle)


def request_rows(forecaster: Forecaster, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` distinct valid rows: known (club, item), dates in the window, varied prices."""
    first, last = forecaster.window
    days = (last - first).days + 1
    recent = forecaster.window_table.group_by("club_id", "item_id").agg(
        pl.col("_history_price_max").first()
    )
    prices = {(club, item): float(price) for club, item, price in recent.iter_rows()}
    keys = sorted(prices)
    picks = rng.sample(range(len(keys) * days), count)  # distinct (club, item, date)
    rows = []
    for pick in picks:
        club, item = keys[pick // days]
        rows.append(
            {
                "club_id": club,
                "item_id": item,
                "date": (first + dt.timedelta(days=pick % days)).isoformat(),
                "price": round(prices[club, item] * rng.uniform(0.8, 1.1), 2),
                "promo": int(rng.random() < 0.2),
            }
        )
    return rows


def bodies(forecaster: Forecaster, rows: int, count: int, rng: random.Random) -> list[bytes]:
    """``count`` JSON request bodies of ``rows`` rows each."""
    return [
        json.dumps({"rows": request_rows(forecaster, rows, rng)}).encode() for _ in range(count)
    ]


def as_frame(body: bytes) -> pl.DataFrame:
    """A request body as the frame the service hands to Forecaster.predict."""
    rows = json.loads(body)["rows"]
    return pl.DataFrame(rows).with_columns(
        pl.col("date").str.to_date(),
        pl.col("promo").cast(pl.Int8),
        pl.col("price").cast(pl.Float64),
    )


# --------------------------------------------------------------------------- in-process timing


def raw_speed(forecaster: Forecaster, frame: pl.DataFrame, seconds: float) -> dict[str, Any]:
    """Call ``forecaster.predict(frame)`` repeatedly for ``seconds``; rows/s and ms per call."""
    forecaster.predict(frame)  # warm caches
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        began = time.perf_counter()
        forecaster.predict(frame)
        times.append(time.perf_counter() - began)
    total = time.perf_counter() - start
    return {
        "rows_per_call": frame.height,
        "calls": len(times),
        "seconds": round(total, 3),
        "rows_per_s": round(frame.height * len(times) / total),
        "p50_ms": round(float(np.median(times)) * 1000, 2),
    }


# --------------------------------------------------------------------------- the service


def free_port() -> int:
    """A currently free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(tag: str, port: int, log: Any) -> subprocess.Popen[bytes]:
    """``bentoml serve`` the model ``tag`` from the repository root, in its own process group."""
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **ENV, "CONVEYOR_MODEL_TAG": tag},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(process: subprocess.Popen[bytes], base: str) -> float:
    """Seconds until /readyz answers 200; RuntimeError if the service exits or takes too long."""
    start = time.monotonic()
    while time.monotonic() - start < STARTUP_S:
        if process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as answer:  # noqa: S310
                if answer.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"service not ready within {STARTUP_S} s")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    """Stop the service: SIGTERM to its process group (the arbiter stops its workers), then
    SIGKILL after 30 s to the group and to any worker still alive."""
    workers = descendants(process.pid) - {process.pid}
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while workers and time.monotonic() < deadline:
        workers &= set(process_table())
        time.sleep(0.2)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- the load


@dataclass
class Phase:
    """What the workers of one phase (warm-up or measured) saw."""

    deadline: float
    cap: int
    rows: int
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


Send = Callable[[bytes], Awaitable[tuple[int, bytes]]]  # body -> (status, response body)
CLIENT_ERRORS = (aiohttp.ClientError, httpx.HTTPError, TimeoutError, ValueError, KeyError)


@asynccontextmanager
async def http_client(kind: str, base: str, concurrency: int) -> AsyncIterator[Send]:
    """A keep-alive client with ``concurrency`` connections; yields a function posting a body
    to /forecast. aiohttp by default: httpx's own CPU caps it near 300 requests/s here."""
    headers = {"Content-Type": "application/json"}
    if kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=base, limits=limits, headers=headers, timeout=REQUEST_TIMEOUT_S
        ) as client:

            async def send_httpx(body: bytes) -> tuple[int, bytes]:
                answer = await client.post("/forecast", content=body)
                return answer.status_code, answer.content

            yield send_httpx
        return
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(
        base, connector=connector, headers=headers, timeout=timeout
    ) as session:

        async def send_aiohttp(body: bytes) -> tuple[int, bytes]:
            async with session.post("/forecast", data=body) as answer:
                return answer.status, await answer.read()

        yield send_aiohttp


async def worker(send: Send, payloads: Sequence[bytes], start: int, phase: Phase) -> None:
    """Send requests back-to-back until the phase's deadline or request cap."""
    index = start
    while time.perf_counter() < phase.deadline and phase.sent < phase.cap:
        phase.sent += 1
        body = payloads[index % len(payloads)]
        index += 1
        began = time.perf_counter()
        try:
            status, answer = await send(body)
            elapsed = time.perf_counter() - began
            if status != 200:
                phase.errors.append(f"HTTP {status}: {answer[:200].decode(errors='replace')}")
            elif len(json.loads(answer)["predictions"]) != phase.rows:
                phase.errors.append("wrong number of predictions")
            else:
                phase.latencies.append(elapsed)
        except CLIENT_ERRORS as error:
            phase.errors.append(f"{type(error).__name__}: {error}")


async def run_phase(
    client: str,
    base: str,
    payloads: Sequence[bytes],
    rows: int,
    concurrency: int,
    seconds: float,
    cap: int,
) -> tuple[Phase, float]:
    """A closed-loop phase: ``concurrency`` workers for ``seconds``; the phase, its wall time."""
    async with http_client(client, base, concurrency) as send:
        start = time.perf_counter()
        phase = Phase(deadline=start + seconds, cap=cap, rows=rows)
        spread = max(len(payloads) // concurrency, 1)
        workers = [worker(send, payloads, n * spread, phase) for n in range(concurrency)]
        await asyncio.wait_for(asyncio.gather(*workers), seconds + REQUEST_TIMEOUT_S + 10)
        return phase, time.perf_counter() - start


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of ``values``, in ms; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1] * 1000


def scenario(
    name: str,
    base: str,
    payloads: Sequence[bytes],
    rows: int,
    concurrency: int,
    args: argparse.Namespace,
    server: int,
) -> dict[str, Any]:
    """Warm up, then measure one scenario; its figures."""
    print(f"... {name}", file=sys.stderr, flush=True)
    warm, _ = asyncio.run(
        run_phase(args.client, base, payloads, rows, concurrency, args.warmup, args.max_requests)
    )
    meter = CpuMeter(server)
    phase, wall = asyncio.run(
        run_phase(args.client, base, payloads, rows, concurrency, args.seconds, args.max_requests)
    )
    cpu = meter.read()
    done = len(phase.latencies)
    return {
        "name": name,
        "rows_per_request": rows,
        "concurrency": concurrency,
        "requests": done,
        "seconds": round(wall, 3),
        "requests_per_s": round(done / wall, 1),
        "rows_per_s": round(done * rows / wall),
        "p50_ms": round(percentile(phase.latencies, 0.50), 1),
        "p99_ms": round(percentile(phase.latencies, 0.99), 1),
        "max_ms": round(max(phase.latencies, default=float("nan")) * 1000, 1),
        "errors": len(phase.errors),
        "warmup_requests": len(warm.latencies),
        "warmup_errors": len(warm.errors),
        "error_samples": sorted(set(warm.errors + phase.errors))[:5],
        **cpu,
    }


# --------------------------------------------------------------------------- the report


def print_table(results: list[dict[str, Any]]) -> None:
    """One line per scenario."""
    header = ("scenario", "rows/req", "conc", "requests", "req/s", "rows/s", "p50 ms", "p99 ms")
    header += ("errors", "srv cores", "cli cores")
    print(f"{header[0]:<14}" + "".join(f"{h:>10}" for h in header[1:]))
    for r in results:
        cells = (
            f"{r['rows_per_request']:,}",
            str(r["concurrency"]),
            f"{r['requests']:,}",
            f"{r['requests_per_s']:,.1f}",
            f"{r['rows_per_s']:,}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            str(r["errors"] + r["warmup_errors"]),
            f"{r['server_cores']:.2f}",
            f"{r['client_cores']:.2f}",
        )
        print(f"{r['name']:<14}" + "".join(f"{c:>10}" for c in cells))


def targets(results: list[dict[str, Any]], raw: dict[str, Any]) -> dict[str, Any]:
    """The two targets and whether they are met."""
    by = {r["name"]: r for r in results}
    single, batch = by["single c=32"], by[f"batch c={BATCH_CONCURRENCY}"]
    share = batch["rows_per_s"] / raw["rows_per_s"] if raw["rows_per_s"] else 0.0
    return {
        "single_row_c32": {
            "requests_per_s": single["requests_per_s"],
            "p99_ms": single["p99_ms"],
            "target": f">= {TARGET_RPS} requests/s with p99 < {TARGET_P99_MS:g} ms",
            "pass": single["requests_per_s"] >= TARGET_RPS and single["p99_ms"] < TARGET_P99_MS,
        },
        "batch_vs_raw": {
            "http_rows_per_s": batch["rows_per_s"],
            "raw_rows_per_s": raw["rows_per_s"],
            "ratio": round(share, 3),
            "target": f">= {TARGET_BATCH_SHARE:.0%} of raw predict rows/s",
            "pass": share >= TARGET_BATCH_SHARE,
        },
    }


def print_targets(checks: dict[str, Any]) -> None:
    """The PASS/FAIL lines."""
    single, batch = checks["single_row_c32"], checks["batch_vs_raw"]
    verdict = "PASS" if single["pass"] else "FAIL"
    print(
        f"single-row, concurrency 32: {single['requests_per_s']:,.1f} requests/s, "
        f"p99 {single['p99_ms']:.1f} ms (target >= {TARGET_RPS} requests/s, "
        f"p99 < {TARGET_P99_MS:g} ms)  {verdict}"
    )
    verdict = "PASS" if batch["pass"] else "FAIL"
    print(
        f"{BATCH_ROWS:,}-row batches, concurrency {BATCH_CONCURRENCY}: "
        f"{batch['http_rows_per_s']:,} rows/s = {batch['ratio']:.0%} of raw predict "
        f"{batch['raw_rows_per_s']:,} rows/s (target >= {TARGET_BATCH_SHARE:.0%})  {verdict}"
    )


def measure_service(
    tag: str, forecaster: Forecaster, args: argparse.Namespace, rng: random.Random
) -> dict[str, Any]:
    """Start the service, run every scenario, stop the service; start-up time and results."""
    singles = bodies(forecaster, 1, 4096, rng)
    batches = bodies(forecaster, BATCH_ROWS, 16, rng)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    WORK.mkdir(parents=True, exist_ok=True)
    with SERVER_LOG.open("wb") as log:
        process = start_service(tag, port, log)
        try:
            print(f"... starting {SERVICE} on {base}", file=sys.stderr, flush=True)
            startup = wait_ready(process, base)
            results = [
                scenario(f"single c={c}", base, singles, 1, c, args, process.pid)
                for c in SINGLE_CONCURRENCY
            ]
            name = f"batch c={BATCH_CONCURRENCY}"
            results.append(
                scenario(name, base, batches, BATCH_ROWS, BATCH_CONCURRENCY, args, process.pid)
            )
        finally:
            stop_service(process)
    return {"startup_s": round(startup, 1), "port": port, "scenarios": results}


def print_report(
    tag: str,
    args: argparse.Namespace,
    served: dict[str, Any],
    raw: dict[str, Any],
    raw_single: dict[str, Any],
) -> dict[str, Any]:
    """Print the table, the raw speed, the targets and notes; return the checks."""
    results = served["scenarios"]
    print(
        f"\nserve load benchmark: {tag}, {args.seconds:g} s per scenario after {args.warmup:g} s "
        f"warm-up, closed loop ({args.client}), service ready in {served['startup_s']} s\n"
    )
    print_table(results)
    print(
        f"\nraw Forecaster.predict in-process: {raw['rows_per_s']:,} rows/s on {BATCH_ROWS:,}-row "
        f"frames ({raw['p50_ms']:.1f} ms per call, {raw['calls']} calls); "
        f"1-row frames: {raw_single['p50_ms']:.1f} ms per call"
    )
    checks = targets(results, raw)
    print(f"batch over HTTP / raw predict: {checks['batch_vs_raw']['ratio']:.2f}\n")
    print_targets(checks)
    print(
        f"\nsrv cores / cli cores: CPU used by the service's processes / by this load generator "
        f"({args.client}), which share the machine's {os.cpu_count()} cores"
    )
    phases = [*results, {"name": "raw predict", **raw}]
    busiest = max(phases, key=lambda r: r["other_cpu_share"])
    if busiest["other_cpu_share"] >= BUSY_SHARE:
        print(
            f"note: other processes used {busiest['other_cpu_share']:.0%} of the machine's CPU "
            f"during {busiest['name']}: the figures may be skewed"
        )
    errors = sum(r["errors"] + r["warmup_errors"] for r in results)
    if errors:
        samples = sorted({s for r in results for s in r["error_samples"]})
        print(f"\nerrors: {errors} requests failed, e.g. {samples[:3]}")
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and targets; write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per scenario")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap per scenario phase")
    parser.add_argument("--seed", type=int, default=7, help="seed for the request rows")
    parser.add_argument(
        "--client", choices=("aiohttp", "httpx"), default="aiohttp", help="HTTP client library"
    )
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 60 or args.max_requests < 1:
        parser.error("--seconds must be in (0, 600], --warmup in [0, 60], --max-requests >= 1")
    if not TAG_FILE.is_file():
        print(f"serve_load: no {TAG_FILE.relative_to(ROOT)}: run make pipeline first")
        return 2
    os.environ.update(ENV)
    signal.signal(signal.SIGTERM, _terminate)  # so `finally` stops the service
    try:
        tag, bundle, forecaster = load_forecaster()
    except FileNotFoundError as error:
        print(f"serve_load: registered model not in the BentoML store ({error}): run make pipeline")
        return 2

    rng = random.Random(args.seed)  # noqa: S311 - benchmark inputs, not secrets
    print("... raw Forecaster.predict", file=sys.stderr, flush=True)
    frames = {"1 row": as_frame(bodies(forecaster, 1, 1, rng)[0])}
    frames[f"{BATCH_ROWS:,} rows"] = as_frame(bodies(forecaster, BATCH_ROWS, 1, rng)[0])
    meter = CpuMeter(None)
    raw = raw_speed(forecaster, frames[f"{BATCH_ROWS:,} rows"], RAW_SECONDS)
    raw_single = raw_speed(forecaster, frames["1 row"], RAW_SECONDS / 2)
    raw["other_cpu_share"] = meter.read()["other_cpu_share"]
    try:
        served = measure_service(tag, forecaster, args, rng)
    except (RuntimeError, OSError, TimeoutError) as error:
        if SERVER_LOG.exists():
            tail = SERVER_LOG.read_text(errors="replace").splitlines()[-20:]
            print("\n".join(tail), file=sys.stderr)
        print(f"serve_load: {error}", file=sys.stderr)
        return 1

    checks = print_report(tag, args, served, raw, raw_single)
    report = {
        "tag": tag,
        "bundle": str(bundle),
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "max_requests": args.max_requests,
        "client": args.client,
        "service": {"startup_s": served["startup_s"], "log": str(SERVER_LOG.relative_to(ROOT))},
        "scenarios": served["scenarios"],
        "raw_predict": raw,
        "raw_predict_single_row": raw_single,
        "targets": checks,
        "environment": environment(PACKAGES),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures: {REPORT.relative_to(ROOT)}")
    failed = sum(r["errors"] + r["warmup_errors"] for r in served["scenarios"])
    return 1 if failed else 0


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
