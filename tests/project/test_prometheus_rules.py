"""The alert rules run in the real promtool: `promtool check rules` on the groups of
deploy/monitoring/prometheus-rule.yaml, and `promtool test rules` on tests/prometheus/*_test.yaml,
which make every alert fire when it should and stay silent on normal traffic."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring import RULE_FILE_NAME, UNIT_TESTS, load_rule, tool, write_rule_file

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

UNIT_TEST_FILES = sorted(UNIT_TESTS.glob("*_test.yaml"))


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _workdir(folder: Path, rule: dict[str, Any] | None = None) -> list[Path]:
    """The rule file generated from the PrometheusRule, with the unit tests beside it."""
    write_rule_file(folder / RULE_FILE_NAME, rule)
    for source in UNIT_TEST_FILES:
        shutil.copy(source, folder / source.name)
    return [folder / source.name for source in UNIT_TEST_FILES]


def _rules(kind: str) -> dict[str, dict[str, Any]]:
    return {r[kind]: r for g in load_rule()["spec"]["groups"] for r in g["rules"] if kind in r}


def test_promtool_check_rules_accepts_every_rule(tmp_path):
    rule_file = write_rule_file(tmp_path / RULE_FILE_NAME)
    result = _promtool("check", "rules", rule_file)
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(_rules("alert")) + len(_rules("record"))
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_check_rules_refuses_a_broken_rule(tmp_path):
    """The check above means something: a bad expression or template fails it."""
    for change in ({"expr": "sum(rate(up[5m])"}, {"annotations": {"summary": "{{ $labels"}}):
        rule = load_rule()
        rule["spec"]["groups"][1]["rules"][0].update(change)
        result = _promtool("check", "rules", write_rule_file(tmp_path / RULE_FILE_NAME, rule))
        assert result.returncode == 1, (change, result.stdout)
        assert "FAILED" in result.stderr


def test_unit_tests_pass_on_the_committed_rules(tmp_path):
    assert UNIT_TEST_FILES, f"no promtool unit tests in {UNIT_TESTS}"
    result = _promtool("test", "rules", *_workdir(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TEST_FILES)


def test_every_unit_test_file_evaluates_recording_rules_before_alerts():
    """promtool evaluates rule groups in random order unless told: an alert evaluated before the
    recording rules it reads sees nothing at that step, and the test passes or fails by chance."""
    groups = [group["name"] for group in load_rule()["spec"]["groups"]]
    recording = [
        g["name"] for g in load_rule()["spec"]["groups"] if any("record" in r for r in g["rules"])
    ]
    for path in UNIT_TEST_FILES:
        order = yaml.safe_load(path.read_text(encoding="utf-8")).get("group_eval_order")
        assert order and sorted(order) == sorted(groups), path.name
        assert order[: len(recording)] == recording, path.name


def _unit_tests() -> list[dict[str, Any]]:
    return [
        test
        for path in UNIT_TEST_FILES
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
    ]


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    fires: set[str] = set()
    silent: set[str] = set()
    for test in _unit_tests():
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = set(_rules("alert"))
    assert alerts - fires == set(), "alerts no unit test makes fire"
    assert alerts - silent == set(), "alerts no unit test keeps silent"
    assert (fires | silent) - alerts == set(), "unit tests of alerts that do not exist"


def test_every_firing_case_checks_the_labels_and_annotations_of_the_rule():
    alerts = _rules("alert")
    for test in _unit_tests():
        for case in test.get("alert_rule_test", []):
            rule = alerts[case["alertname"]]
            for expected in case.get("exp_alerts", []):
                assert expected["exp_labels"]["severity"] == rule["labels"]["severity"]
                assert set(expected["exp_annotations"]) == set(rule["annotations"]), test["name"]


def test_every_recording_rule_has_an_expression_test():
    tested = {case["expr"] for test in _unit_tests() for case in test.get("promql_expr_test", [])}
    assert set(_rules("record")) <= tested


def test_the_former_down_rule_fails_the_unit_tests(tmp_path):
    """`up == 0` alone (the rule before issue 13) never fires once every target is gone: the unit
    tests catch it, so they would catch that regression."""
    rule = copy.deepcopy(load_rule())
    down = next(r for r in rule["spec"]["groups"][1]["rules"] if r.get("alert") == "ForecasterDown")
    down["expr"] = 'sum by (namespace) (up{job="forecaster"}) == 0\n'
    _workdir(tmp_path, rule)
    result = _promtool("test", "rules", tmp_path / "forecaster_down_test.yaml")
    assert result.returncode == 1
    failed = result.stderr  # promtool reports failed cases on stderr
    assert "name: no target left anywhere fires (absent)" in failed
    assert "name: one namespace's targets gone while its Deployment wants replicas" in failed
    assert "name: every target down fires for that namespace" not in failed


@pytest.mark.parametrize(
    ("alert", "expr"),
    [
        # 4xx counted as errors: the silent case with half the traffic refused must catch it.
        (
            "ForecasterHighErrorRate",
            'sum by (namespace) (rate(bentoml_service_request_total{job="forecaster", '
            'http_response_code=~"[45].."}[5m])) / sum by (namespace) '
            '(rate(bentoml_service_request_total{job="forecaster"}[5m])) > 0.01',
        ),
        # Every endpoint's latency, /readyz included.
        (
            "ForecasterHighLatencyP99",
            "histogram_quantile(0.99, sum by (namespace, le) "
            '(rate(bentoml_service_request_duration_seconds_bucket{job="forecaster"}[5m]))) > 0.5',
        ),
    ],
)
def test_the_silent_cases_catch_a_rule_that_counts_too_much(tmp_path, alert, expr):
    rule = copy.deepcopy(load_rule())
    target = next(r for r in rule["spec"]["groups"][1]["rules"] if r.get("alert") == alert)
    target["expr"] = expr
    _workdir(tmp_path, rule)
    result = _promtool("test", "rules", tmp_path / "serving_alerts_test.yaml")
    assert result.returncode == 1
    assert f"alertname: {alert}" in result.stderr
