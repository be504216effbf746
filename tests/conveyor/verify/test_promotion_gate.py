"""Promotion to prod requires staging's live verification of that exact release (policies/
promotion.yaml: `verified: true`): without a passing verdict of it, made after the soak time,
`conveyor promote` refuses (exit 1) and leaves the checkout and the remote as they were; with
one, made by `conveyor verify` against a real Prometheus, the verdict is in the pull request's
body and committed beside release.json."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from conveyor.cli import main
from conveyor.promotion.verification import Verdict
from tests.promotion_repos import git, live_history, merge, passing_verdict

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]


def _state(origin: Path, work: Path) -> tuple[str, str, str, str]:
    """What a refused promotion must not change: the remote's branches, the checkout's HEAD,
    status and local branches."""
    return (
        git(origin, "for-each-ref", "--format=%(refname) %(objectname)"),
        git(work, "rev-parse", "HEAD"),
        git(work, "status", "--porcelain", "--untracked-files=all"),
        git(work, "branch", "--list"),
    )


@pytest.fixture
def soaked(capsys, series, origin, work, tmp_path) -> Path:
    """staging runs v2.0.0 for 30 h (past prod's 24 h soak), after v1.0.0: its verdict, made by
    `conveyor verify` against the Prometheus of the known series (v2.0.0: healthy)."""
    live_history(capsys, work, ("v1.0.0", "dev", 80), ("v1.0.0", "staging", 72))
    live_history(capsys, work, ("v2.0.0", "dev", 40), ("v2.0.0", "staging", 30))
    out = tmp_path / "verdicts"
    args = ["verify", "--env", "staging", "--prometheus-url", series.url, "--out", str(out)]
    code = main([*args, "--repo", str(work)])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return out / "staging.json"


def _promote_prod(capsys, work: Path, *extra: str) -> tuple[int, str, str]:
    args = ["promote", "--env", "prod", "--from-environment", "staging", "--repo", str(work)]
    code = main([*args, "--no-commit-check", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_passing_verdict_lets_the_release_into_prod_and_travels_with_it(
    capsys, soaked, origin, work, tmp_path
):
    body = tmp_path / "body.md"
    code, out, err = _promote_prod(
        capsys, work, "--verification", str(soaked), "--body-out", str(body)
    )
    assert code == 0, err
    assert "changed=true" in out
    text = body.read_text()
    assert "## Live verification" in text
    assert "Live verification of v2.0.0 in staging: ✅ passed" in text
    assert "| error_ratio | 0.001 | ≤ 0.01 | ✅ |" in text
    assert "deploy/environments/prod/verification.json" in text
    committed = git(work, "show", "origin/promote/prod:deploy/environments/prod/verification.json")
    assert json.loads(committed) == json.loads(soaked.read_text())
    beside = git(work, "show", "origin/promote/prod:deploy/environments/prod/release.json")
    assert json.loads(beside)["version"] == "v2.0.0"


def _edited(path: Path, tmp_path: Path, **changes: object) -> Path:
    verdict = Verdict.model_validate_json(path.read_text())
    edited = tmp_path / "edited.json"
    edited.write_text(verdict.model_copy(update=changes).model_dump_json(), encoding="utf-8")
    return edited


def _failed(path: Path) -> dict[str, object]:
    verdict = Verdict.model_validate_json(path.read_text())
    checks = [
        c.model_copy(update={"value": 0.2, "passed": False}) if c.name == "error_ratio" else c
        for c in verdict.checks
    ]
    return {"checks": checks, "passed": False, "outcome": "failed"}


def _loosened(path: Path) -> dict[str, object]:
    """The verdict as if made under a looser limit (the check then passes at any value)."""
    verdict = Verdict.model_validate_json(path.read_text())
    checks = [
        c.model_copy(update={"limit": 0.5}) if c.name == "error_ratio" else c
        for c in verdict.checks
    ]
    return {"checks": checks}


def _only_requests(path: Path) -> dict[str, object]:
    verdict = Verdict.model_validate_json(path.read_text())
    return {"checks": [c for c in verdict.checks if c.name == "requests"]}


REFUSALS = {
    "no verdict": (lambda path, tmp: [], "no live verification of v2.0.0 (sha256:"),
    "under looser limits": (
        lambda path, tmp: ["--verification", str(_edited(path, tmp, **_loosened(path)))],
        "was not made under the policy's limits for staging "
        "(error_ratio: limit 0.5, the policy's is 0.01)",
    ),
    "checks left out": (
        lambda path, tmp: ["--verification", str(_edited(path, tmp, **_only_requests(path)))],
        "no error_ratio check; no refused_ratio check; no latency_p99_seconds check; "
        "no prediction_shift check",
    ),
    "failed": (
        lambda path, tmp: ["--verification", str(_edited(path, tmp, **_failed(path)))],
        "live verification of v2.0.0 (sha256:1cf887de9e8d) in staging did not pass: "
        "error_ratio = 0.2 (limit 0.01)",
    ),
    "another release": (
        lambda path, tmp: ["--verification", str(_edited(path, tmp, version="v1.0.0"))],
        "the verification given is of v1.0.0",
    ),
    "another environment": (
        lambda path, tmp: ["--verification", str(_edited(path, tmp, environment="dev"))],
        "in dev, not of v2.0.0",
    ),
    "made during the soak": (
        lambda path, tmp: [
            "--verification",
            str(
                _edited(
                    path,
                    tmp,
                    checked_at=Verdict.model_validate_json(path.read_text()).went_live
                    + timedelta(hours=23),
                )
            ),
        ],
        "before its soak ended",
    ),
}


@pytest.mark.parametrize(("given", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_without_a_passing_verdict_of_that_release_prod_is_refused_and_nothing_moves(
    capsys, soaked, origin, work, tmp_path, given, message
):
    before = _state(origin, work)
    code, out, err = _promote_prod(capsys, work, *given(soaked, tmp_path))
    assert code == 1, err
    assert err.startswith("error: ") and message in err, err
    assert "Traceback" not in err and out == ""
    assert _state(origin, work) == before


def test_a_malformed_verdict_is_a_usage_error(capsys, soaked, origin, work, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"environment": "staging"}))
    before = _state(origin, work)
    code, _, err = _promote_prod(capsys, work, "--verification", str(bad))
    assert code == 2
    assert err.startswith(f"error: {bad}: ") and len(err.splitlines()) == 1
    assert _state(origin, work) == before


def test_a_rollback_takes_the_verdict_of_the_release_it_leaves_away(capsys, origin, work):
    """prod ran v1.0.0 then v2.0.0, each let in by a verdict; rolling back to v1.0.0 removes
    v2.0.0's verification.json: evidence never sits beside a release it does not vouch for."""
    for version, hours in (("v1.0.0", 80), ("v2.0.0", 40)):
        live_history(capsys, work, (version, "dev", hours), (version, "staging", hours - 10))
        verdict = passing_verdict(work, "staging")
        code, _, err = _promote_prod(capsys, work, "--verification", str(verdict))
        assert code == 0, err
        merge(work, "prod", days_ago=(hours - 35) / 24)
    live = git(work, "show", "origin/main:deploy/environments/prod/verification.json")
    assert json.loads(live)["version"] == "v2.0.0"
    args = ["rollback", "--env", "prod", "--repo", str(work), "--no-push", "--no-commit-check"]
    assert main(args) == 0, capsys.readouterr().err
    files = git(work, "ls-tree", "--name-only", "promote/prod", "deploy/environments/prod/")
    assert "deploy/environments/prod/verification.json" not in files.splitlines()
    record = git(work, "show", "promote/prod:deploy/environments/prod/release.json")
    assert json.loads(record)["version"] == "v1.0.0"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"passed": True}, "passed: True but outcome: failed"),
        ({"passed": True, "outcome": "passed"}, "passed: true but the checks error_ratio"),
    ],
    ids=["flag", "flag and outcome"],
)
def test_a_verdict_edited_to_read_as_a_pass_is_refused(
    capsys, soaked, origin, work, tmp_path, changes, said
):
    # Review finding: the gate read the `passed` flag alone, so a failed verdict edited by hand
    # promoted to prod. The flag, the outcome and the checks must agree.
    edited = _edited(soaked, tmp_path, **{**_failed(soaked), **changes})
    before = _state(origin, work)
    code, out, err = _promote_prod(capsys, work, "--verification", str(edited))
    assert code == 2, err
    assert len(err.splitlines()) == 1 and said in err, err
    assert out == "" and _state(origin, work) == before
