"""Metric gates against a real git baseline: each rule kind, no baseline, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.errors import ConfigError, DataError
from conveyor.gate import FAIL, NO_BASELINE, PASS, Gates, evaluate, load_gates

METRICS = {"model": {"wape": 0.40, "bias": 0.01}, "skill": {"wape": 0.30}}
SLICES = {"region": {"north": {"model": {"wape": 0.42}}, "south": {"model": {"wape": 0.38}}}}
RULES = [
    {
        "metric": "metrics/metrics.json:model.wape",
        "better": "lower",
        "max": 0.5,
        "max_regression": {"atol": 0.005, "rtol": 0.02},
    },
    {"metric": "metrics/metrics.json:skill.wape", "better": "higher", "min": 0.15},
    {"metric": "metrics/metrics.json:model.bias", "min": -0.1, "max": 0.1},
    {
        "metric": "metrics/slices.json:region.*.model.wape",
        "better": "lower",
        "max_regression": {"atol": 0.01},
    },
]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _write_metrics(root: Path, metrics: dict, slices: dict) -> None:
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics/metrics.json").write_text(json.dumps(metrics))
    (root / "metrics/slices.json").write_text(json.dumps(slices))


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository whose HEAD holds the baseline metrics and params with gates."""
    _git(tmp_path, "init", "-q", "-b", "main")
    _write_metrics(tmp_path, METRICS, SLICES)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"gates": {"rules": RULES}}))
    _git(tmp_path, "add", "-A")
    _git(
        tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "base"
    )
    return tmp_path


def _gate(repo: Path, **changes: object):
    return evaluate(load_gates(repo / "params.yaml"), root=repo, **changes)


def _verdicts(result) -> dict[str, str]:
    return {check.metric.split(":")[1]: check.verdict for check in result.checks}


def test_unchanged_metrics_pass(repo):
    result = _gate(repo)
    assert result.passed
    assert set(_verdicts(result).values()) == {PASS}
    assert len(result.checks) == 5  # two slices from one pattern


def test_regression_beyond_tolerance_fails_with_numbers(repo):
    _write_metrics(repo, {**METRICS, "model": {"wape": 0.42, "bias": 0.01}}, SLICES)
    result = _gate(repo)
    assert not result.passed
    failed = result.failures[0]
    assert failed.metric == "metrics/metrics.json:model.wape"
    assert (failed.baseline, failed.current) == (0.40, 0.42)
    assert "worse than baseline" in failed.reason and "0.013" in failed.reason  # 0.005+0.02*0.4


def test_regression_within_tolerance_passes(repo):
    _write_metrics(repo, {**METRICS, "model": {"wape": 0.412, "bias": 0.01}}, SLICES)
    assert _gate(repo).passed


def test_absolute_bound_fails_even_when_the_baseline_was_worse(repo):
    _write_metrics(repo, {**METRICS, "model": {"wape": 0.40, "bias": 0.2}}, SLICES)
    result = _gate(repo)
    assert _verdicts(result)["model.bias"] == FAIL
    assert "above the maximum 0.1" in result.failures[0].reason


def test_must_beat_the_reference_model(repo):
    _write_metrics(repo, {**METRICS, "skill": {"wape": 0.1}}, SLICES)
    result = _gate(repo)
    assert _verdicts(result)["skill.wape"] == FAIL
    assert "below the minimum 0.15" in result.failures[0].reason


def test_one_slice_worse_while_the_total_holds(repo):
    worse = {"region": {"north": {"model": {"wape": 0.45}}, "south": {"model": {"wape": 0.38}}}}
    _write_metrics(repo, METRICS, worse)
    result = _gate(repo)
    assert [c.metric for c in result.failures] == ["metrics/slices.json:region.north.model.wape"]


def test_a_vanished_slice_fails(repo):
    _write_metrics(repo, METRICS, {"region": {"south": {"model": {"wape": 0.38}}}})
    failed = _gate(repo).failures
    assert [c.metric for c in failed] == ["metrics/slices.json:region.north.model.wape"]
    assert "vanished" in failed[0].reason


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None])
def test_nan_inf_or_null_metric_fails(repo, bad):
    text = json.dumps({**METRICS, "model": {"wape": bad, "bias": 0.01}})
    (repo / "metrics/metrics.json").write_text(text)
    failed = _gate(repo).failures
    assert failed[0].metric == "metrics/metrics.json:model.wape"
    assert "not a finite number" in failed[0].reason


def test_no_baseline_reports_it_and_still_applies_bounds(tmp_path):
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README").write_text("new repository")
    _git(tmp_path, "add", "-A")
    _git(
        tmp_path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-qm",
        "first",
    )
    _write_metrics(tmp_path, {**METRICS, "model": {"wape": 0.45, "bias": 0.5}}, SLICES)
    gates = Gates.model_validate({"rules": RULES})
    result = evaluate(gates, root=tmp_path)
    verdicts = _verdicts(result)
    assert verdicts["model.wape"] == NO_BASELINE
    assert verdicts["region.north.model.wape"] == NO_BASELINE
    assert verdicts["model.bias"] == FAIL  # bounds hold without a baseline
    assert not result.passed


def test_tightened_threshold_alone_fails(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["gates"]["rules"][0]["max"] = 0.35
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    result = _gate(repo)
    assert [c.metric for c in result.failures] == ["metrics/metrics.json:model.wape"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"metric": "metrics/metrics.json:model.wape", "min": 0.5, "max": 0.1},
            "min (0.5) is greater than max (0.1)",
        ),
        (
            {"metric": "metrics/metrics.json:model.wape", "max_regression": {"atol": 0.1}},
            "max_regression needs `better",
        ),
        (
            {"metric": "metrics/metrics.json:model.wape", "better": "lower"},
            "a rule needs min, max or max_regression",
        ),
        ({"metric": "model.wape", "max": 1}, "String should match pattern"),
        ({"metric": "metrics/metrics.json:model.wape", "maximum": 1}, "unknown key"),
    ],
)
def test_malformed_rules_are_config_errors(repo, rule, message):
    (repo / "params.yaml").write_text(yaml.safe_dump({"gates": {"rules": [rule]}}))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_gates(repo / "params.yaml")


def test_unknown_metric_is_a_config_error(repo):
    gates = Gates.model_validate(
        {"rules": [{"metric": "metrics/metrics.json:model.wapee", "max": 1}]}
    )
    with pytest.raises(ConfigError, match="names a metric that exists in neither"):
        evaluate(gates, root=repo)


def test_missing_baseline_ref_is_a_config_error(repo):
    with pytest.raises(ConfigError, match="baseline ref 'origin/nope' does not exist"):
        _gate(repo, baseline_ref="origin/nope")


def test_metrics_file_that_is_not_json(repo):
    (repo / "metrics/metrics.json").write_text("{not json")
    with pytest.raises(DataError, match=r"metrics/metrics.json: not valid JSON"):
        _gate(repo)


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "conveyor.cli",
            "gate",
            "--root",
            str(repo),
            "--params",
            str(repo / "params.yaml"),
            "--out",
            str(repo / "out"),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_exit_codes_and_outputs(repo):
    ok = _cli(repo)
    assert ok.returncode == 0, ok.stderr
    assert "Metric gate passed: 5 checks" in ok.stdout
    _write_metrics(repo, {**METRICS, "model": {"wape": 0.47, "bias": 0.01}}, SLICES)
    failed = _cli(repo, "--baseline-ref", "HEAD")
    assert failed.returncode == 1
    line = next(
        row
        for row in failed.stdout.splitlines()
        if row.startswith("metrics/metrics.json:model.wape")
    )
    assert "0.4 " in line and "0.47" in line and "+0.013 vs baseline" in line and "FAIL" in line
    report = json.loads((repo / "out/gate.json").read_text())
    assert report["passed"] is False and report["checks_failed"] == 1
    assert "❌" in (repo / "out/gate.md").read_text()
    usage = _cli(repo, "--baseline-ref", "does-not-exist")
    assert usage.returncode == 2 and usage.stderr.startswith("error: baseline ref")
