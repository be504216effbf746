"""`conveyor verify` against a real Prometheus holding known series (tests/conveyor/verify/
conftest.py): a healthy release passes; one answering 5xx, slow, refusing, or predicting 1.5 x
what the previous release did fails naming that check; too little traffic, or none, is no
verdict (exit 2); an unreachable Prometheus is exit 2 with nothing written."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.prometheus import Prometheus
from conveyor.promotion import environments as envs
from conveyor.promotion import verification
from conveyor.promotion.policy import load_policy
from conveyor.release import ReleaseRecord
from tests.gh_stub import GhStub
from tests.promotion_repos import REPO, live_history, record
from tests.serving import free_port

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

POLICY = load_policy(REPO)
assert POLICY.verification is not None


def _deployment(version: str, at: datetime) -> envs.Deployment:
    return envs.Deployment(ReleaseRecord.model_validate(record(version)), "c" * 40, at)


def _verify(series, version: str, previous: str | None = "v1.0.0") -> verification.Verdict:
    """The verdict on ``version`` live for the series' last hour (asked as its data ends: a
    test run later must not see a shorter window of data)."""
    hour = timedelta(hours=1)
    before = _deployment(previous, series.end - 2 * hour) if previous else None
    current = _deployment(version, series.end - hour)
    return verification.run(
        Prometheus(series.url), POLICY.verification, "staging", current, before, series.end
    )


def test_a_healthy_release_passes_with_every_check_shown(series):
    verdict = _verify(series, "v2.0.0")
    assert (verdict.outcome, verdict.passed, verdict.previous) == ("passed", True, "v1.0.0")
    names = [check.name for check in verdict.checks]
    assert names == [
        "requests",
        "error_ratio",
        "refused_ratio",
        "latency_p99_seconds",
        "prediction_shift_mean",
        "prediction_shift_p50",
        "prediction_shift_p90",
    ]
    values = {check.name: check.value for check in verdict.checks}
    # 2 pods x 5 requests/s for an hour; the shares as the pods served them.
    assert values["requests"] == pytest.approx(36_000, rel=0.02)
    assert values["error_ratio"] == pytest.approx(0.001, rel=0.01)
    assert values["refused_ratio"] == pytest.approx(0.02, rel=0.01)
    assert values["prediction_shift_mean"] == pytest.approx(0, abs=1e-6)
    for check in verdict.checks:
        assert 'version="v2.0.0"' in check.query and 'namespace="conveyor-staging"' in check.query
        if check.name.startswith("prediction_shift"):
            assert 'version="v1.0.0"' in check.query  # against the previous release's series
    text = verification.markdown(verdict)
    assert "v2.0.0 in staging: ✅ passed" in text
    assert "| error_ratio | 0.001 | ≤ 0.01 | ✅ |" in text


@pytest.mark.parametrize(
    ("version", "failing"),
    [
        ("v3.0.0", {"error_ratio"}),
        ("v4.0.0", {"latency_p99_seconds"}),
        ("v5.0.0", {"prediction_shift_mean", "prediction_shift_p50", "prediction_shift_p90"}),
        ("v6.0.0", {"refused_ratio"}),
    ],
    ids=["5xx", "slow", "predictions x1.5", "refused"],
)
def test_a_misbehaving_release_fails_naming_the_check(series, version, failing):
    verdict = _verify(series, version)
    assert (verdict.outcome, verdict.passed) == ("failed", False)
    assert {check.name for check in verdict.checks if not check.passed} == failing
    lines = verification.failed_checks(verdict)
    assert all(any(line.startswith(name) for line in lines) for name in failing)
    if version == "v5.0.0":
        mean = next(c for c in verdict.checks if c.name == "prediction_shift_mean")
        assert mean.value == pytest.approx(0.5, rel=0.01)


def test_a_window_shorter_than_the_release_still_compares_with_the_previous_one(series):
    # Review finding: window_hours also cut the previous release's window, whose pods were gone
    # by then: every shift check answered "no data", for good. It cuts this release's only.
    assert POLICY.verification is not None
    limits = POLICY.verification.environments["staging"].model_copy(update={"window_hours": 0.5})
    short = POLICY.verification.model_copy(
        update={"environments": {**POLICY.verification.environments, "staging": limits}}
    )
    hour = timedelta(hours=1)
    verdict = verification.run(
        Prometheus(series.url), short, "staging",
        _deployment("v2.0.0", series.end - hour), _deployment("v1.0.0", series.end - 2 * hour),
        series.end,
    )  # fmt: skip
    shifts = [c for c in verdict.checks if c.name.startswith("prediction_shift_")]
    assert shifts and all(c.value is not None for c in shifts), shifts
    assert verdict.outcome == "passed"
    assert verdict.window_start == series.end - hour / 2


def test_too_little_traffic_or_none_is_no_verdict(series):
    few = _verify(series, "v7.0.0")
    assert (few.outcome, few.passed) == ("no_data", False)
    requests = few.checks[0]
    assert requests.name == "requests" and requests.value is not None
    assert requests.value < 100 and not requests.passed
    unknown = _verify(series, "v9.9.9")  # no series of this version at all
    assert (unknown.outcome, unknown.passed) == ("no_data", False)
    assert all(check.value is None for check in unknown.checks)


def test_the_first_release_of_an_environment_has_nothing_to_compare(series):
    verdict = _verify(series, "v2.0.0", previous=None)
    assert verdict.passed
    (shift,) = [c for c in verdict.checks if c.name == "prediction_shift"]
    assert shift.value is None and "first release" in shift.detail


def _cli(capsys, work: Path, url: str, out: Path, *extra: str) -> tuple[int, str, str]:
    args = ["verify", "--env", "staging", "--prometheus-url", url, "--out", str(out)]
    code = main([*args, "--repo", str(work), *extra])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def test_the_command_reads_the_live_release_from_git_and_exits_by_outcome(
    capsys, series, work, tmp_path, monkeypatch
):
    live_history(capsys, work, ("v1.0.0", "dev", 3), ("v1.0.0", "staging", 2))
    live_history(capsys, work, ("v3.0.0", "dev", 1.5), ("v3.0.0", "staging", 1))
    secret = "-".join(["verify", "bearer", str(free_port())])  # built at run time, not committed
    monkeypatch.setenv("PROMETHEUS_TOKEN", secret)
    out = tmp_path / "verdicts"
    code, stdout, stderr = _cli(capsys, work, series.url, out)
    assert code == 1, stderr
    assert "v3.0.0 in staging: failed (error_ratio = 0.05" in stderr
    lines = dict(line.split("=", 1) for line in stdout.splitlines())
    assert (lines["outcome"], lines["passed"], lines["version"]) == ("failed", "false", "v3.0.0")
    saved = json.loads((out / "staging.json").read_text())
    assert (saved["version"], saved["previous"], saved["passed"]) == ("v3.0.0", "v1.0.0", False)
    assert saved["digest"] == record("v3.0.0")["image"]["digest"]
    assert "v3.0.0 in staging: ❌ failed" in (out / "staging.md").read_text()
    saved_text = (out / "staging.json").read_text() + (out / "staging.md").read_text()
    written = stdout + stderr + saved_text
    assert secret not in written
    # A healthy release next: exit 0.
    live_history(capsys, work, ("v2.0.0", "dev", 1.2), ("v2.0.0", "staging", 1))
    code, stdout, stderr = _cli(capsys, work, series.url, out)
    assert code == 0, stderr
    assert json.loads((out / "staging.json").read_text())["outcome"] == "passed"


def test_no_data_is_exit_2_and_says_so(capsys, series, work, tmp_path):
    live_history(capsys, work, ("v7.0.0", "dev", 2), ("v7.0.0", "staging", 1))
    code, stdout, stderr = _cli(capsys, work, series.url, tmp_path / "out")
    assert code == 2, stderr
    assert "outcome=no_data" in stdout and "passed=false" in stdout
    assert re.search(r"no_data \(requests = \d+(\.\d+)? \(limit 100\)\)", stderr), stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:{port}", "error: cannot reach Prometheus at http://127.0.0.1:{port}:"),
        # user:pw, joined at run time: no credential-shaped string in the source
        (
            "http://" + ":".join(("user", "pw")) + "@127.0.0.1:{port}",
            "error: the Prometheus URL carries credentials",
        ),
        ("file:///etc/passwd", "error: Prometheus URL 'file:///etc/passwd': expected http(s)"),
    ],
    ids=["nothing listening", "credentials in the URL", "not http"],
)
def test_unreachable_or_bad_url_is_exit_2_with_nothing_written(
    capsys, work, tmp_path, url, message
):
    live_history(capsys, work, ("v2.0.0", "dev", 2), ("v2.0.0", "staging", 1))
    port = free_port()
    out = tmp_path / "out"
    code, stdout, stderr = _cli(capsys, work, url.format(port=port), out)
    assert code == 2
    assert stderr.startswith(message.format(port=port)), stderr
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr
    assert stdout == "" and not out.exists()
    assert "pw" not in stderr


def test_a_failed_verdict_is_told_to_the_next_promotion_pr_and_exit_zero_leaves_it_to_the_job(
    capsys, series, work, tmp_path, monkeypatch
):
    live_history(capsys, work, ("v1.0.0", "dev", 3), ("v1.0.0", "staging", 2))
    live_history(capsys, work, ("v3.0.0", "dev", 1.5), ("v3.0.0", "staging", 1))
    stub = GhStub(tmp_path / "gh", {"pr list": "https://github.invalid/o/r/pull/7"})
    monkeypatch.setenv("PATH", f"{stub.path}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    code, stdout, stderr = _cli(capsys, work, series.url, out, "--pr-comment", "--exit-zero")
    assert code == 0, stderr  # failed, and said so in the outputs: the workflow rolls back
    lines = dict(line.split("=", 1) for line in stdout.splitlines())
    assert (lines["outcome"], lines["next"]) == ("failed", "prod")
    assert lines["pull_request_url"] == "https://github.invalid/o/r/pull/7"
    listing, comment = stub.calls()
    assert listing[:4] == ["pr", "list", "--head", "promote/prod"]
    assert comment[:3] == ["pr", "comment", "https://github.invalid/o/r/pull/7"]
    assert "Live verification of v3.0.0 in staging: ❌ failed" in stub.bodies()[1]
    # No open promotion PR: nothing to comment on, and no failure for it.
    stub.answer({"pr list": ""})
    code, stdout, _ = _cli(capsys, work, series.url, out, "--pr-comment")
    assert code == 1  # without --exit-zero a failed verdict is exit 1
    assert "pull_request_url=\n" in stdout + "\n" and len(stub.calls()) == 3


def test_exit_zero_never_hides_a_missing_verdict(capsys, series, work, tmp_path):
    live_history(capsys, work, ("v7.0.0", "dev", 2), ("v7.0.0", "staging", 1))
    code, stdout, _ = _cli(capsys, work, series.url, tmp_path / "out", "--exit-zero")
    assert code == 2 and "outcome=no_data" in stdout
