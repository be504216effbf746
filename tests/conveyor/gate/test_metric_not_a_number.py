"""A gated metric that holds another JSON value (the string "0.4", a boolean, a list) fails as
"not a number", never as "missing" (review finding L9), with or without a baseline value, for
a named metric and a slice of a pattern alike; fields that no rule names (a date) stay ignored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.gate import FAIL, PASS
from conveyor.metric_files import flatten
from tests.conveyor.gate.test_gate import METRICS, SLICES, _gate, _write_metrics, repo  # noqa: F401

CONVEYOR = Path(sys.executable).parent / "conveyor"
VALUES = {
    "a string": ("0.4", 'the string "0.4"'),
    "a string NaN": ("NaN", 'the string "NaN"'),
    "a boolean": (True, "the boolean true"),
    "a list": ([0.4], "a list"),
}


@pytest.mark.parametrize("case", VALUES)
def test_a_named_metric_that_is_no_number_says_so(repo, case):  # noqa: F811 - the fixture
    value, shown = VALUES[case]
    _write_metrics(repo, {**METRICS, "model": {"wape": value, "bias": 0.01}}, SLICES)
    failed = _gate(repo).failures
    assert [c.metric for c in failed] == ["metrics/metrics.json:model.wape"]
    assert failed[0].reason == f"current value is {shown}, not a number"
    assert "missing" not in failed[0].reason


def test_a_slice_that_is_no_number_fails_and_the_others_are_judged(repo):  # noqa: F811
    slices = {"region": {"north": {"model": {"wape": "0.42"}}, "south": {"model": {"wape": 0.38}}}}
    _write_metrics(repo, METRICS, slices)
    checks = {c.metric.split(":")[1]: c for c in _gate(repo).checks}
    assert checks["region.north.model.wape"].verdict == FAIL
    assert 'the string "0.42", not a number' in checks["region.north.model.wape"].reason
    assert checks["region.south.model.wape"].verdict == PASS


def test_no_baseline_and_no_number_is_not_a_config_error(repo):  # noqa: F811 - the fixture
    """In neither file as a number: was "names a metric that exists in neither" (exit 2)."""
    _write_metrics(repo, {**METRICS, "extra": {"score": "0.9"}}, SLICES)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace(
        "rules:", "rules:\n  - metric: metrics/metrics.json:extra.score\n    min: 0.5", 1
    ))  # fmt: skip
    result = subprocess.run(
        [str(CONVEYOR), "gate", "--root", str(repo), "--params", str(params),
         "--out", str(repo / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads((repo / "out/gate.json").read_text())
    reasons = [c["reason"] for c in verdict["checks"] if c["metric"].endswith("extra.score")]
    assert reasons == ['current value is the string "0.9", not a number']


def test_unnamed_fields_stay_out_of_the_metrics():
    flat = flatten({"holdout": {"start": "2025-12-04"}, "model": {"wape": 0.4}, "n": 10**400})
    assert dict(flat) == {"model.wape": 0.4, "n": float("inf")}
    assert flat.not_numbers == {"holdout.start": 'the string "2025-12-04"'}
