"""The issue's speed bar: a verification against a Prometheus holding a day of 15 s samples for
10 pods answers in at most 5 s. The day: 10 pods of v1.0.0 for 12 h, then 10 pods of v2.0.0
(the rollout) for 12 h, every series `conveyor verify` reads (~1.4 M samples)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.cli import main
from tests.conveyor.verify.series import Pods, backfill, serving
from tests.promotion_repos import live_history

pytestmark = pytest.mark.prometheus

BUDGET_SECONDS = 5


def test_a_day_of_ten_pods_is_verified_within_five_seconds(capsys, work, tmp_path):
    now = datetime.now(UTC)
    half = timedelta(hours=12)
    data = tmp_path / "data"
    backfill(
        [Pods("v1.0.0", now - 2 * half, now - half, 10), Pods("v2.0.0", now - half, now, 10)],
        data,
    )
    live_history(capsys, work, ("v1.0.0", "dev", 25), ("v1.0.0", "staging", 24))
    live_history(capsys, work, ("v2.0.0", "dev", 13), ("v2.0.0", "staging", 12))
    with serving(data) as url:
        args = ["verify", "--env", "staging", "--prometheus-url", url, "--repo", str(work)]
        started = time.monotonic()
        code = main([*args, "--out", str(tmp_path / "out")])
        seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "outcome=passed" in out
    # The figure, with -s (capsys holds what main printed, not this).
    with capsys.disabled():
        print(f"\nverification of a day of 10 pods: {seconds:.2f} s")
    assert seconds <= BUDGET_SECONDS
