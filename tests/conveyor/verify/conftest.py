"""One real Prometheus for the verification tests, holding two hours of known series in
staging: v1.0.0 (the previous release) served from 2 h to 1 h ago, then one release version per
behaviour served the last hour, two pods each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.conveyor.verify.series import Pods, backfill, serving

# version -> how its pods behave (Pods' fields), for the last hour
BEHAVIOUR: dict[str, dict[str, float]] = {
    "v2.0.0": {},  # healthy: like v1.0.0
    "v3.0.0": {"error_share": 0.05},  # 5% answered 5xx
    "v4.0.0": {"latency_mean": 0.5},  # slow: p99 of ~2.3 s
    "v5.0.0": {"prediction_scale": 1.5},  # predicts 1.5 x what v1.0.0 did
    "v6.0.0": {"refused_share": 0.3},  # refuses 30% of requests
    "v7.0.0": {"requests_per_second": 0.005},  # ~36 requests in the hour: too few to judge
}


@dataclass(frozen=True)
class Series:
    url: str
    end: datetime  # when the data ends: v1.0.0 went live 2 h before, the others 1 h before


@pytest.fixture(scope="package")
def series(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Series]:
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    groups = [Pods("v1.0.0", now - 2 * hour, now - hour)]
    groups += [Pods(version, now - hour, now, **how) for version, how in BEHAVIOUR.items()]
    data = tmp_path_factory.mktemp("verify-series") / "data"
    backfill(groups, data)
    with serving(data) as url:
        yield Series(url, now)
