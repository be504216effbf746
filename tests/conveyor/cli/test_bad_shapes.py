"""Inputs of the wrong shape, given to the real CLI: one line, exit 2, nothing written.

Each case is a file that parses (or nearly) but is not what the command reads: JSON or YAML
nested deeper than Python's recursion limit, a pip-audit report or drift.json with the wrong
inner types, option values the release record would refuse. And promotion from a linked git
worktree, where `.git` is a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.scan.audit import parse_report
from tests.paths import REPO
from tests.promotion_repos import IDENTITY, clone, git, make_remote

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "a" * 64


def conveyor(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m conveyor.cli ARGS` in ``cwd``, importing this checkout's package."""
    env = {
        **os.environ,
        **IDENTITY,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2 with one line on stderr that says ``words``; no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    """deep.yaml (5,000 nested lists under a key) and deep.json (100,000 nested arrays)."""
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ("gate", "--params", "deep.yaml"),
        ("check", "data", "deep.yaml", "x.csv"),
        ("release", "verify", "deep.json"),
    ],
)
def test_deeply_nested_files_are_a_usage_error(deep: Path, args: tuple[str, ...]) -> None:
    result = conveyor(*args, cwd=deep)
    assert_usage_error(result, args[-1] if args[0] != "check" else "deep.yaml", "nested too deeply")


def test_release_record_refuses_a_deeply_nested_build_json(deep: Path) -> None:
    git(deep, "init", "--quiet", "--initial-branch=main")
    (deep / "params.yaml").write_text("gates: {}\n")
    (deep / "reports" / "data").mkdir(parents=True)
    git(deep, "add", "params.yaml")
    git(deep, "commit", "--quiet", "-m", "params")
    result = conveyor(
        "release", "record", "--version", "v1", "--image", f"r.invalid/n@{DIGEST}",
        "--build-json", "deep.json", "--out", "release.json",
        cwd=deep,
    )  # fmt: skip
    assert_usage_error(result, "deep.json", "nested too deeply")
    assert not (deep / "release.json").exists()


@pytest.mark.parametrize(
    ("report", "where"),
    [
        ('{"dependencies":[5]}', "dependencies.0"),
        ('{"dependencies":[{"name":"x","vulns":"zz"}]}', "dependencies.0.vulns"),
        ('{"dependencies":[{"name":"x","version":"1","vulns":[{}]}]}', "dependencies.0.vulns.0.id"),
        ('{"dependencies":[{"name":"x","vulns":[{"id":"PYSEC-1"}]}]}', "version"),
    ],
)
def test_scan_refuses_a_pip_audit_report_of_another_shape(
    tmp_path: Path, report: str, where: str
) -> None:
    (tmp_path / "README.md").write_text("hello\n")
    (tmp_path / "audit.json").write_text(report)
    result = conveyor(
        "scan", "--root", ".", "--deps-report", "audit.json", "--out", "out", "README.md",
        cwd=tmp_path,
    )  # fmt: skip
    assert_usage_error(result, "audit.json", "not a pip-audit JSON report", where)
    assert not (tmp_path / "out").exists()


def test_the_pip_audit_shape_check_lets_real_reports_through(tmp_path: Path) -> None:
    """Skipped packages (no version) and keys not read (description, fixes) are pip-audit's
    real shape: still read, one finding per advisory."""
    report = tmp_path / "audit.json"
    report.write_text(
        '{"dependencies":[{"name":"torch","skip_reason":"not on PyPI"},'
        '{"name":"x","version":"1.0","vulns":[{"id":"PYSEC-9","fix_versions":["1.1"],'
        '"aliases":["CVE-1"],"description":"d"}]}],"fixes":[]}'
    )
    (finding,) = parse_report(report)
    assert (finding.policy_id, finding.resource) == ("PYSEC-9", "x==1.0")
    assert "CVE-1" in finding.title and "1.1" in finding.remedy


@pytest.mark.parametrize(
    ("drift", "issues", "words"),
    [
        ('{"drifted":true,"columns":5}', None, ("d.json", "columns")),
        ('{"drifted":false,"current":"x"}', None, ("d.json", "current")),
        ('{"drifted":true,"performance":{"degraded":true}}', None, ("d.json", "performance")),
        ('{"drifted":true}', '[{"number":3,"state":5}]', ("issues.json", "state")),
    ],
)
def test_monitor_issue_refuses_inputs_of_another_shape(
    tmp_path: Path, drift: str, issues: str | None, words: tuple[str, ...]
) -> None:
    (tmp_path / "d.json").write_text(drift)
    extra: list[str] = []
    if issues is not None:
        (tmp_path / "issues.json").write_text(issues)
        extra = ["--open-issue-json", "issues.json"]
    result = conveyor("monitor", "issue", "--drift", "d.json", *extra, "--out", "o", cwd=tmp_path)
    assert_usage_error(result, *words)
    assert not (tmp_path / "o" / "issue.json").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--version", "v1 bad"),
        ("--sbom-digest", "nothex"),
        ("--image", "ghcr.io/o/n@sha256:XYZ"),
        ("--image", "ghcr.io/o/n:latest"),
    ],
)
def test_release_record_refuses_bad_option_values_while_parsing(
    tmp_path: Path, option: str, value: str
) -> None:
    """Exit 2 before any work: tmp_path is no git checkout and has no build.json, so a check
    that ran later would name those instead."""
    options = {"--version": "v1", "--image": f"r.invalid/n@{DIGEST}", option: value}
    args = [part for pair in options.items() for part in pair]
    result = conveyor("release", "record", *args, "--data-dir", ".", cwd=tmp_path)
    assert_usage_error(result, option, repr(value))


def test_rollback_runs_in_a_linked_worktree(tmp_path: Path) -> None:
    """In `git worktree add` checkouts `.git` is a file: the fetched commit is read through
    git, not from .git/FETCH_HEAD. With no release history yet, rollback gets as far as saying
    so."""
    origin = make_remote(tmp_path)
    work = clone(origin, tmp_path / "work")
    linked = tmp_path / "linked"
    git(work, "worktree", "add", "--quiet", "--detach", str(linked))
    assert (linked / ".git").is_file()
    result = conveyor("rollback", "--env", "dev", "--no-push", cwd=linked)
    assert_usage_error(result, "dev has no release in its history")
