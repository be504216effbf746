"""Promotion and rollback pull requests through conveyor's one GitHub module, with real git (a
bare remote on disk) and a recording `gh` on PATH (tests/gh_stub.py: GitHub cannot run here).

What the workflows did in shell before (find the record, push with the token, upsert the PR with
`--base`, the bot identity, step outputs) is the CLI's now: these tests hold it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gh_stub import GhStub
from tests.promotion_repos import IDENTITY, git, merge, record, write_record

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"
PR_URL = "https://github.com/acme/conveyor/pull/7"


def _conveyor(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    if args[0] in ("promote", "rollback"):
        # Made-up records (no real commit): tying verdicts to one is test_promote_trust.py.
        args = (*args, "--no-commit-check")
    return subprocess.run(
        [str(CONVEYOR), *args], cwd=work, env=env, capture_output=True, text=True, check=False
    )


def _live(work: Path, env: str, version: str, tmp_path: Path) -> None:
    """``version`` live in ``env`` on main (its promotion merged), and the checkout on main."""
    release = write_record(tmp_path / f"{version}.json", record(version))
    result = subprocess.run(
        [str(CONVEYOR), "promote", "--env", env, "--record", str(release), "--no-commit-check"],
        cwd=work,
        env={**GhStub(tmp_path / "unused").env(), **IDENTITY},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    merge(work, env)


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_promote_by_version_opens_the_pr_against_the_base_as_the_bot(work, origin, tmp_path):
    _live(work, "dev", "v1.2.3", tmp_path)
    gh = GhStub(tmp_path / "gh", {"pr list": "", "pr create": PR_URL})
    outputs, summary = tmp_path / "output", tmp_path / "summary"
    secret = "-".join(["not", "a", "real", "token"])  # built here: no secret-shaped literal
    env = gh.env(
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(outputs),
        GITHUB_STEP_SUMMARY=str(summary),
        GH_TOKEN=secret,
    )
    result = _conveyor(
        work, env, "promote", "--env", "staging", "--version", "v1.2.3", "--record", "",
        "--from-environment", "", "--pull-request", "--github-output",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The record was found where dev runs it; promote/staging carries it.
    pushed = git(origin, "show", "promote/staging:deploy/environments/staging/release.json")
    assert json.loads(pushed)["version"] == "v1.2.3"
    # On Actions, the commit is the Actions bot's (runners have no git identity).
    author = git(origin, "log", "-1", "--format=%an <%ae>", "promote/staging")
    assert author == "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    # gh's login (here: the token) checked first, before any ref moved; then one PR per
    # environment: looked up, then created, always against the policy's base branch.
    auth, *calls = gh.calls()
    assert auth == ["auth", "status"]
    assert calls[0][:6] == ["pr", "list", "--head", "promote/staging", "--base", "main"]
    create = calls[1]
    assert create[:6] == ["pr", "create", "--head", "promote/staging", "--base", "main"]
    assert create[create.index("--title") + 1].startswith("Promote staging to v1.2.3")
    body = Path(create[create.index("--body-file") + 1])
    assert "**staging**" in (gh.bodies()[2] or "")
    # Without --body-out the body was a temporary file: the checkout is left clean.
    assert not body.exists() and not (work / body).exists()
    assert git(work, "status", "--porcelain", "--untracked-files=all") == ""
    assert gh.tokens() == [True, True, True]  # gh reads the token from its environment
    # Step outputs and the job summary, written by conveyor (no `tee`, no shell in the YAML).
    written = _outputs(outputs)
    assert written["branch"] == "promote/staging"
    assert written["changed"] == "true"
    assert written["pull_request_url"] == PR_URL
    assert PR_URL in summary.read_text()
    # The token is never printed: only its base64 form, and only in the mask command.
    assert secret not in result.stdout + result.stderr
    assert "::add-mask::" in result.stdout
    # ... and never stored in the checkout's git config.
    assert "extraheader" not in git(work, "config", "--list")


def test_rollback_updates_the_open_pr_against_the_base(work, origin, tmp_path):
    # The rollback PR once lacked --base (a second copy of the PR upsert had drifted): one
    # module now opens both, so the rollback's lookup and PR name the base branch too.
    _live(work, "dev", "v1.0.0", tmp_path)
    _live(work, "dev", "v2.0.0", tmp_path)
    gh = GhStub(tmp_path / "gh", {"pr list": PR_URL})
    result = _conveyor(
        work, {**gh.env(), **IDENTITY}, "rollback", "--env", "dev", "--to", "",
        "--pull-request", "--body-out", str(tmp_path / "body.md"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"pull_request_url={PR_URL}" in result.stdout.splitlines()
    # No token in the environment: gh's own login is asked first, before any ref moves.
    auth, listing, edit = gh.calls()
    assert auth == ["auth", "status"]
    assert listing[:6] == ["pr", "list", "--head", "promote/dev", "--base", "main"]
    assert edit[:3] == ["pr", "edit", PR_URL]
    assert edit[edit.index("--title") + 1].startswith("Roll back dev to v1.0.0")
    assert edit[edit.index("--body-file") + 1] == str(tmp_path / "body.md")
    # A person's own run keeps their identity (no bot outside Actions).
    assert git(origin, "log", "-1", "--format=%an", "promote/dev") == "promoter"


def test_a_failed_gh_call_leaves_the_pushed_branch_for_a_rerun(work, origin, tmp_path):
    _live(work, "dev", "v1.0.0", tmp_path)
    release = write_record(tmp_path / "v2.json", record("v2.0.0"))
    gh = GhStub(tmp_path / "gh", {"pr list": {"exit": 1, "stderr": "HTTP 401: Bad credentials"}})
    env = {**gh.env(), **IDENTITY}
    args = ("promote", "--env", "dev", "--record", str(release), "--pull-request")
    result = _conveyor(work, env, *args)
    assert result.returncode == 2
    # One line says what was pushed, one why the PR call failed.
    assert result.stderr.strip().splitlines()[-1:] == [
        "error: gh pr list failed: HTTP 401: Bad credentials"
    ]
    assert "promote/dev pushed to origin" in result.stderr
    assert "branch=promote/dev" in result.stdout  # the outputs came before the gh call
    tip = git(origin, "rev-parse", "promote/dev")
    # The re-run finds the release pending and opens its PR.
    gh.answer({"pr list": "", "pr create": PR_URL})
    rerun = _conveyor(work, env, *args)
    assert rerun.returncode == 0, rerun.stderr
    assert "changed=false" in rerun.stdout
    assert f"pull_request_url={PR_URL}" in rerun.stdout
    assert git(origin, "rev-parse", "promote/dev") == tip
    assert gh.calls()[-1][:2] == ["pr", "create"]


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("--version", "v9.9.9"), 1, "no environment runs release 'v9.9.9': promote it to the "
         "first environment from its release run"),
        (("--from-environment", "staging"), 1,
         "deploy/environments/staging/release.json: nothing runs in staging yet"),
        (("--record", "", "--version", ""), 2,
         "promote needs --record, --version (a release tag) or --from-environment"),
        (("--version", "v1.0.0", "--pull-request", "--no-push"), 2,
         "--pull-request needs the branch pushed: drop --no-push"),
        (("--from-environment", "../../policies"), 2,
         "unknown environment '../../policies' (policies/promotion.yaml has: dev, staging, prod)"),
    ],
)  # fmt: skip
def test_a_record_that_cannot_be_found_is_one_line_and_nothing_moves(
    work, origin, tmp_path, args, code, expected
):
    _live(work, "dev", "v1.0.0", tmp_path)
    gh = GhStub(tmp_path / "gh")
    before = git(origin, "for-each-ref")
    result = _conveyor(work, {**gh.env(GITHUB_ACTIONS="true"), **IDENTITY}, "promote", "--env",
                       "staging", *args)  # fmt: skip
    assert result.returncode == code
    assert result.stderr.strip() == f"error: {expected}"
    # On Actions the same line is an annotation the run's summary shows.
    assert f"::error::{expected}" in result.stdout
    assert git(origin, "for-each-ref") == before
    assert gh.calls() == []
