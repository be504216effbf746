"""Speed of `conveyor verify` (issue 19's bar: at most 5 s) against a real Prometheus holding a
day of 15 s samples for 10 pods: v1.0.0 for 12 h, then v2.0.0 (the rollout) for 12 h, every
series the verification reads (~1.4 M samples), backfilled with promtool. The baseline, in the
same run: one instant query of `up` over HTTP (what any client pays per round trip).

Run: `.venv/bin/python benchmarks/verify_speed.py` (from the repository root; needs prometheus
and promtool on PATH, as `make test` does).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(DVC_NO_ANALYTICS="1", BENTOML_DO_NOT_TRACK="true", GX_ANALYTICS_ENABLED="False")

from tests.conveyor.verify.series import Pods, backfill, serving  # noqa: E402
from tests.promotion_repos import (  # noqa: E402
    IDENTITY,
    clone,
    make_remote,
    merge,
    record,
    write_record,
)

from conveyor.cli import main as conveyor  # noqa: E402  (after the path and quiet env)

RUNS = 5


def _history(work: Path) -> None:
    """What went live where, and when, as git records it (promoted records, merged)."""
    steps = [("v1.0.0", "dev", 25), ("v1.0.0", "staging", 24)]
    steps += [("v2.0.0", "dev", 13), ("v2.0.0", "staging", 12)]
    for version, env, hours_ago in steps:
        path = write_record(work.parent / f"{version}-{env}.json", record(version))
        args = ["promote", "--env", env, "--record", str(path), "--repo", str(work)]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            if conveyor([*args, "--no-commit-check"]) != 0:
                raise SystemExit(f"promote {version} to {env} failed")
        merge(work, env, days_ago=hours_ago / 24)


def main() -> None:
    """Print the figures."""
    os.environ.update(IDENTITY)
    with tempfile.TemporaryDirectory(prefix="conveyor-verify-bench-") as folder:
        root = Path(folder)
        work = clone(make_remote(root), root / "work")
        _history(work)
        now = datetime.now(UTC)
        half = timedelta(hours=12)
        data = root / "data"
        started = time.perf_counter()
        backfill(
            [Pods("v1.0.0", now - 2 * half, now - half, 10), Pods("v2.0.0", now - half, now, 10)],
            data,
        )
        print(f"backfill of a day of 10 pods: {time.perf_counter() - started:.1f} s (setup)")
        with serving(data) as url:
            baseline, verify = [], []
            for run in range(RUNS):
                started = time.perf_counter()
                query = f"{url}/api/v1/query?query=up"  # http://127.0.0.1:PORT, ours
                with urllib.request.urlopen(query, timeout=30) as answer:  # noqa: S310
                    answer.read()
                baseline.append(time.perf_counter() - started)
                args = ["verify", "--env", "staging", "--prometheus-url", url, "--repo", str(work)]
                started = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()) as out:
                    code = conveyor([*args, "--out", str(root / f"out{run}")])
                verify.append(time.perf_counter() - started)
                if code != 0 or "outcome=passed" not in out.getvalue():
                    raise SystemExit(f"verify did not pass (exit {code}): {out.getvalue()}")
    median_verify, median_query = statistics.median(verify), statistics.median(baseline)
    print(f"conveyor verify, median of {RUNS}: {median_verify:.2f} s (bar: 5 s)")
    print(f"one instant query (baseline), median of {RUNS}: {median_query * 1000:.1f} ms")
    print(f"verify / one query: {median_verify / median_query:.0f}x")


if __name__ == "__main__":
    main()
