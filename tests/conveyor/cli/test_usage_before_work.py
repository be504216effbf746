"""Usage errors that were found only after the work (a pushed branch, a written gate.json or issue
body) or hung on a FIFO: a bad $GITHUB_* target, gh missing, contradictory or malformed options.
Each is refused with one line, exit 2, before anything is written or any ref moves. Real git (a
bare remote on disk); a recording `gh` (tests/gh_stub.py) where one must be present."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conveyor.monitor.test_monitor_issue import DRIFTED
from tests.conveyor.promotion.test_promote_hostile_values import _live_in_dev, _state
from tests.gh_stub import GhStub
from tests.promotion_repos import IDENTITY, REPO, git

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"
PR_URL = "https://github.com/acme/conveyor/pull/7"


def _no_gh_path(tmp_path: Path) -> str:
    """A PATH with git and nothing else: no `gh` whatever the machine has installed."""
    folder = tmp_path / "bin-without-gh"
    folder.mkdir(exist_ok=True)
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True, check=True)
    (folder / "git").symlink_to(real_git.stdout.strip())
    return str(folder)


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GIT_")) and k not in ("GH_TOKEN", "GITHUB_TOKEN")
    }
    # A timeout, not a hang, is how a command blocked on a FIFO fails here.
    return subprocess.run(
        [str(CONVEYOR), *args], cwd=cwd, env={**base, **IDENTITY, **env},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def _bad_target(tmp_path: Path, kind: str) -> Path:
    if kind == "a folder":
        return tmp_path
    fifo = tmp_path / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    return fifo


# --- 10: $GITHUB_OUTPUT / $GITHUB_ENV / $GITHUB_PATH / $GITHUB_STEP_SUMMARY --------------------


@pytest.mark.parametrize("kind", ["a folder", "a FIFO"])
def test_promote_with_a_bad_github_output_pushes_nothing(tmp_path, origin, work, kind):
    good = _live_in_dev(work, tmp_path)
    target = _bad_target(tmp_path, kind)
    before = _state(tmp_path, work, origin)
    result = _run(
        work, "promote", "--env", "staging", "--record", str(good), "--no-commit-check",
        "--github-output", GITHUB_OUTPUT=str(target),
    )  # fmt: skip
    _refused(result, "$GITHUB_OUTPUT")
    assert result.stdout == ""
    assert _state(tmp_path, work, origin) == before  # no promote/staging, here or on origin


@pytest.mark.parametrize("kind", ["a folder", "a FIFO"])
def test_gate_with_a_bad_github_output_writes_no_verdict(tmp_path, kind):
    target = _bad_target(tmp_path, kind)
    out = tmp_path / "gate"
    result = _run(
        REPO, "gate", "--params", str(REPO / "params.yaml"), "--root", str(REPO), "--out",
        str(out), "--github-output", GITHUB_OUTPUT=str(target),
    )  # fmt: skip
    _refused(result, "$GITHUB_OUTPUT")
    assert not out.exists()


# A command that writes step outputs and needs nothing else: `release name`.
RELEASE_NAME = (
    "release",
    "name",
    "--tag",
    "v1.0.0",
    "--registry",
    "ghcr.io",
    "--image-name",
    "a/b",
)


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (
            (*RELEASE_NAME, "--github-output"),
            "GITHUB_OUTPUT",
        ),
        (
            ("release", "name", "--tag", "v1.0.0", "--registry", "ghcr.io", "--image-name", "a/b"),
            "GITHUB_STEP_SUMMARY",
        ),
        (("doctor", "--github-env"), "GITHUB_PATH"),
        (("doctor", "--github-env"), "GITHUB_ENV"),
    ],
)
def test_a_fifo_target_is_refused_not_waited_on(tmp_path, command, variable):
    fifo = _bad_target(tmp_path, "a FIFO")
    others = {v: str(tmp_path / v.lower()) for v in ("GITHUB_ENV", "GITHUB_PATH") if v != variable}
    result = _run(tmp_path, *command, GITHUB_ACTIONS="true", **{variable: str(fifo)}, **others)
    _refused(result, f"${variable}", "named pipe")
    assert result.stdout.strip() == "" or result.stdout.startswith("::error")
    assert not any((tmp_path / v.lower()).exists() for v in others)  # nothing half exported


def test_a_target_that_can_be_created_is_written(tmp_path):
    def name(output: Path) -> subprocess.CompletedProcess[str]:
        return _run(
            tmp_path, "release", "name", "--tag", "v1.0.0", "--registry", "ghcr.io",
            "--image-name", "Acme/Model", "--github-output", GITHUB_OUTPUT=str(output),
        )  # fmt: skip

    missing_folder = tmp_path / "new" / "output"
    _refused(name(missing_folder), "$GITHUB_OUTPUT", "no folder")
    assert not (tmp_path / "new").exists()
    output = tmp_path / "output"  # not there yet: the first step of the job creates it
    result = name(output)
    assert result.returncode == 0, result.stderr
    assert output.read_text() == "version=v1.0.0\nimage=ghcr.io/acme/model\n"


# --- 11, 19: promote --pull-request ----------------------------------------------------------


def test_pull_request_without_gh_moves_no_ref(tmp_path, origin, work):
    good = _live_in_dev(work, tmp_path)
    path = _no_gh_path(tmp_path)
    before = _state(tmp_path, work, origin)
    result = _run(
        work, "promote", "--env", "staging", "--record", str(good), "--no-commit-check",
        "--pull-request", PATH=path,
    )  # fmt: skip
    _refused(result, "--pull-request", "gh")
    assert _state(tmp_path, work, origin) == before


def test_pull_request_body_is_not_left_in_the_checkout(tmp_path, origin, work):
    good = _live_in_dev(work, tmp_path)
    gh = GhStub(tmp_path / "gh", {"pr list": "", "pr create": PR_URL})
    result = subprocess.run(
        [str(CONVEYOR), "promote", "--env", "staging", "--record", str(good),
         "--no-commit-check", "--pull-request"],
        cwd=work, env={**gh.env(), **IDENTITY}, capture_output=True, text=True, check=False,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"pull_request_url={PR_URL}" in result.stdout
    body_file = Path(gh.calls()[-1][gh.calls()[-1].index("--body-file") + 1])
    assert not body_file.is_relative_to(work)
    assert not body_file.exists()  # a temporary file, removed after gh read it
    assert "**staging**" in (gh.bodies()[-1] or "")  # ... that held the body when gh read it
    assert git(work, "status", "--porcelain", "--untracked-files=all") == ""


# --- 15: promote's record selection -----------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ("--version", "v1.0.0"),
        ("--from-environment", "dev"),
    ],
)
def test_two_ways_to_name_the_record_are_refused(tmp_path, origin, work, extra):
    good = _live_in_dev(work, tmp_path)
    before = _state(tmp_path, work, origin)
    result = _run(work, "promote", "--env", "staging", "--record", str(good), *extra)
    _refused(result, "--record and", extra[0], "mutually exclusive")
    assert _state(tmp_path, work, origin) == before


def test_a_malformed_version_is_a_usage_error_and_empty_is_not_given(tmp_path, origin, work):
    good = _live_in_dev(work, tmp_path)
    before = _state(tmp_path, work, origin)
    _refused(_run(work, "promote", "--env", "staging", "--version", "v1.0.0 "), "--version")
    assert _state(tmp_path, work, origin) == before
    # A workflow passes every input: an empty --version beside --record is "not given".
    result = _run(
        work, "promote", "--env", "staging", "--record", str(good), "--version", "",
        "--from-environment", "", "--no-commit-check", "--no-push",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


# --- 16: release name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "image_name", "option"),
    [
        ("ghcr.io/../evil", "acme/model", "--registry"),
        ("ghcr.io/acme", "model", "--registry"),
        ("user@ghcr.io", "acme/model", "--registry"),
        ("", "acme/model", "--registry"),
        ("ghcr.io", "acme/f:latest@sha", "--image-name"),
        ("ghcr.io", "acme/../model", "--image-name"),
        ("ghcr.io", "acme//model", "--image-name"),
        ("ghcr.io", "", "--image-name"),
    ],
)
def test_release_name_refuses_what_is_no_image_name(tmp_path, registry, image_name, option):
    output = tmp_path / "output"
    result = _run(
        tmp_path, "release", "name", "--tag", "v1.0.0", "--registry", registry, "--image-name",
        image_name, "--github-output", GITHUB_OUTPUT=str(output),
    )  # fmt: skip
    _refused(result, option)
    assert not output.exists()


def test_release_name_build_metadata_is_refused_with_the_reason(tmp_path):
    result = _run(
        tmp_path, "release", "name", "--tag", "v1.0.0-rc.1+build", "--registry", "ghcr.io",
        "--image-name", "acme/model",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # not a release tag: a failed check
    assert "build metadata" in result.stderr and "image tag" in result.stderr
    ok = _run(
        tmp_path, "release", "name", "--tag", "v1.0.0-rc.1", "--registry", "registry:5000",
        "--image-name", "Acme/my_model.v2",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["version=v1.0.0-rc.1", "image=registry:5000/acme/my_model.v2"]


# --- 18: doctor --require -----------------------------------------------------------------------


def test_doctor_says_what_a_required_path_is(tmp_path):
    (tmp_path / "dvc.yaml").mkdir()
    os.mkfifo(tmp_path / "params.yaml")
    (tmp_path / "zero").symlink_to("/dev/zero")
    result = _run(tmp_path, "doctor", "--root", str(tmp_path), "--require",
                  "dvc.yaml params.yaml:gates zero")  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = {line.split()[2]: line for line in result.stdout.splitlines() if " file " in line}
    assert "is a folder, not a file" in lines["dvc.yaml"]
    assert "named pipe (FIFO), not a file" in lines["params.yaml:gates"]
    # A link out of the checkout (here to a character device) is refused for leading outside.
    assert "leads outside the repository" in lines["zero"]
    assert "missing" not in result.stdout


@pytest.mark.parametrize("require", ["", "  ", "params.yaml:", ":gates"])
def test_doctor_refuses_a_requirement_that_checks_nothing(tmp_path, require):
    env_file = tmp_path / "env"
    result = _run(
        tmp_path, "doctor", "--root", str(tmp_path), "--require", require, "--github-env",
        GITHUB_ENV=str(env_file), GITHUB_PATH=str(tmp_path / "path"),
    )  # fmt: skip
    _refused(result, "--require")
    assert not env_file.exists()  # refused before the environment is exported


# --- 13: monitor issue --apply ------------------------------------------------------------------


@pytest.mark.parametrize("listed", [False, True])
def test_monitor_issue_apply_without_gh_writes_and_announces_nothing(tmp_path, listed):
    (tmp_path / "drift.json").write_text(json.dumps(DRIFTED))
    (tmp_path / "open.json").write_text(json.dumps([{"number": 12, "state": "OPEN"}]))
    out = tmp_path / "out"
    extra = ["--open-issue-json", str(tmp_path / "open.json")] if listed else []
    result = _run(
        tmp_path, "monitor", "issue", "--drift", str(tmp_path / "drift.json"), "--out", str(out),
        *extra, "--apply", PATH=_no_gh_path(tmp_path),
    )  # fmt: skip
    _refused(result, "--apply", "gh")
    assert result.stdout == ""
    assert not out.exists() or not any(out.iterdir())


def test_without_apply_no_gh_is_needed(tmp_path):
    (tmp_path / "drift.json").write_text(json.dumps(DRIFTED))
    result = _run(
        tmp_path, "monitor", "issue", "--drift", str(tmp_path / "drift.json"), "--out",
        str(tmp_path / "out"), PATH=_no_gh_path(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "action=open" in result.stdout
