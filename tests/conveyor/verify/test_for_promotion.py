"""Which environment needs live verification, and from where, is the policy's alone: `conveyor
verify --for-promotion ENV` verifies the environment a promotion to ENV leaves when the policy
says `verified: true` (and does nothing, exit 0, when it does not); `conveyor verify
--under-soak` lists the environments whose live release waits for such a verdict. A policy in
which staging (not prod) requires dev's verification drives both with no workflow changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conveyor.cli import main
from tests.promotion_repos import git, live_history, merge, passing_verdict

POLICY = "policies/promotion.yaml"


def _run(capsys, work: Path, *args: str) -> tuple[int, dict[str, str], str]:
    code = main([*args, "--repo", str(work)])
    out, err = capsys.readouterr()
    return code, dict(line.split("=", 1) for line in out.splitlines()), err


def _staging_verifies_dev(work: Path) -> None:
    """Commit to origin's main the policy variant: staging takes only what passed verification
    in dev, prod only soak time. dev's series are the fixture's (its namespace)."""
    git(work, "fetch", "--quiet", "origin")
    git(work, "checkout", "--quiet", "-B", "main", "origin/main")
    policy = yaml.safe_load((work / POLICY).read_text())
    policy["environments"]["staging"]["verified"] = True
    del policy["environments"]["prod"]["verified"]
    policy["verification"]["environments"]["dev"]["selector"] = 'namespace="conveyor-staging"'
    (work / POLICY).write_text(yaml.safe_dump(policy, sort_keys=False))
    git(work, "commit", "--quiet", "-am", "staging verifies dev; prod does not verify")
    git(work, "push", "--quiet", "origin", "main")


def test_the_shipped_policy_verifies_staging_for_prod_and_nothing_for_staging(capsys, work):
    live_history(capsys, work, ("v1.0.0", "dev", 3), ("v1.0.0", "staging", 2))
    code, lines, err = _run(capsys, work, "verify", "--for-promotion", "staging")
    # No Prometheus URL anywhere: none is needed when nothing is to be verified.
    assert code == 0, err
    assert lines == {"outcome": "not_required", "verdict": "", "markdown": ""}
    assert "staging requires no live verification" in err
    code, lines, err = _run(capsys, work, "verify", "--for-promotion", "prod")
    assert code == 2  # prod requires staging's verdict: without a Prometheus, none (fail closed)
    assert "prod takes only what passed live verification in staging" in err
    assert err.splitlines()[-1] == "error: verify needs --prometheus-url or PROMETHEUS_URL"
    code, _, err = _run(capsys, work, "verify", "--for-promotion", "qa")
    assert code == 2 and err.startswith("error: unknown environment 'qa'"), err


@pytest.mark.prometheus
def test_a_policy_where_staging_verifies_dev_drives_the_same_commands(
    capsys, series, work, tmp_path
):
    live_history(capsys, work, ("v1.0.0", "dev", 80), ("v1.0.0", "staging", 72))
    live_history(capsys, work, ("v2.0.0", "dev", 1))
    _staging_verifies_dev(work)
    out = tmp_path / "verdicts"
    url = ["--prometheus-url", series.url, "--out", str(out)]
    code, lines, err = _run(capsys, work, "verify", "--for-promotion", "prod", *url)
    assert (code, lines["outcome"]) == (0, "not_required"), err
    code, lines, err = _run(capsys, work, "verify", "--for-promotion", "staging", *url)
    assert code == 0, err
    assert (lines["outcome"], lines["version"]) == ("passed", "v2.0.0")
    assert lines["verdict"] == str(out / "dev.json")
    assert json.loads((out / "dev.json").read_text())["environment"] == "dev"
    # Without the verdict staging refuses the release; with it, the PR body carries it.
    promote = ["promote", "--env", "staging", "--from-environment", "dev", "--no-commit-check"]
    code, _, err = _run(capsys, work, *promote)
    assert code == 1 and "no live verification of v2.0.0" in err, err
    body = tmp_path / "body.md"
    code, _, err = _run(
        capsys, work, *promote, "--verification", lines["verdict"], "--body-out", str(body)
    )
    assert code == 0, err
    assert "Live verification of v2.0.0 in dev: ✅ passed" in body.read_text()


def test_under_soak_lists_what_waits_for_a_verdict_as_the_policy_says(capsys, work):
    code, lines, err = _run(capsys, work, "verify", "--under-soak")
    assert (code, lines) == (0, {"environments": "[]"}), err  # nothing runs anywhere yet
    assert "no release awaits live verification" in err
    live_history(capsys, work, ("v1.0.0", "dev", 40), ("v1.0.0", "staging", 30))
    code, lines, err = _run(capsys, work, "verify", "--under-soak")
    assert (code, lines) == (0, {"environments": '["staging"]'}), err
    assert "staging: v1.0.0 (sha256:" in err and "awaits prod" in err
    # prod takes it (after its soak, with a passing verdict): nothing waits any more.
    verdict = passing_verdict(work, "staging")
    args = ["promote", "--env", "prod", "--from-environment", "staging", "--no-commit-check"]
    code, _, err = _run(capsys, work, *args, "--verification", str(verdict))
    assert code == 0, err
    merge(work, "prod")
    code, lines, err = _run(capsys, work, "verify", "--under-soak")
    assert lines == {"environments": "[]"}, err
    # The policy variant: dev's release waits for staging; staging's for nothing.
    live_history(capsys, work, ("v2.0.0", "dev", 1))
    _staging_verifies_dev(work)
    code, lines, err = _run(capsys, work, "verify", "--under-soak")
    assert (code, lines) == (0, {"environments": '["dev"]'}), err
    code, _, err = _run(capsys, work, "verify", "--under-soak", "--pr-comment")
    assert code == 2 and err == "error: --under-soak only lists environments: drop --pr-comment\n"
