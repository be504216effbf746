"""The endpoint label of BentoML's request metrics is one of a known set (review finding M5);
tests/forecast/test_service_hardening.py checks it over real HTTP against the served model."""

from __future__ import annotations

import pytest

from conveyor.serve.endpoint_labels import OTHER, PROBES, endpoint_label


@pytest.mark.parametrize(
    "path",
    ["/x", "/FORECAST", "/forecast/", "//forecast", "/forecast/../forecast", "/forecast?x", ""],
)
def test_any_other_spelling_of_a_route_is_other(path: str) -> None:
    assert endpoint_label(path, ["/forecast", *PROBES]) == OTHER


@pytest.mark.parametrize("path", ["/forecast", *PROBES])
def test_a_route_or_probe_keeps_its_path(path: str) -> None:
    assert endpoint_label(path, ["/forecast", *PROBES]) == path
