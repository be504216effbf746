"""The `conveyor` command as a package: every command group is reachable with its help, through
both entry points; `conveyor report` shows the verdict `conveyor gate` wrote and never
evaluates the gate again; `scan --deps` runs pip-audit through the scan library."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.cli import build_parser, main
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# Every command group, as a person finds them in `conveyor --help` (written out, not read from
# the parser: a group that falls out of the package must fail here).
GROUPS = [
    "init",
    "doctor",
    "check",
    "data",
    "gate",
    "report",
    "build",
    "scan",
    "monitor",
    "retrain",
    "release",
    "promote",
    "rollback",
    "status",
    "verify",
    "template",
    "workflows",
]
IDENTITY = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@conveyor.invalid",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@conveyor.invalid",
}


def _run(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **IDENTITY, **(env or {})},
    )


def _listed(help_text: str) -> set[str]:
    """The subcommand names in a --help text's `{a,b,c}` choices or its indented command list."""
    names = set()
    for line in help_text.splitlines():
        words = line.split()
        if line.startswith("    ") and words and not words[0].startswith("-"):
            names.add(words[0])
    return names


@pytest.mark.parametrize(
    "command", [[BIN / "conveyor"], [sys.executable, "-m", "conveyor.cli"]], ids=["script", "-m"]
)
def test_help_lists_every_command_group(tmp_path: Path, command: list[object]) -> None:
    result = _run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(GROUPS) <= _listed(result.stdout), result.stdout


def test_each_group_and_subcommand_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    assert list(subparsers.choices) == GROUPS  # nothing more, in the order of the help
    for group, parser in subparsers.choices.items():
        assert main([group, "--help"]) == 0, group
        assert f"usage: conveyor {group}" in capsys.readouterr().out
        kinds = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for kind in kinds[0].choices if kinds else []:
            assert main([group, kind, "--help"]) == 0, (group, kind)
            assert f"usage: conveyor {group} {kind}" in capsys.readouterr().out


# --- report reads the gate's verdict ----------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository whose metric (0.5) passes its one gate rule (max 1)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "m.json").write_text('{"a": 0.5}\n', encoding="utf-8")
    rules = {"gates": {"rules": [{"metric": "m.json:a", "max": 1}]}}
    (root / "params.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    for args in (("init", "-q", "-b", "main"), ("add", "."), ("commit", "-qm", "metrics")):
        assert _run("git", *args, cwd=root).returncode == 0
    return root


def _head(root: Path) -> str:
    return _run("git", "rev-parse", "HEAD", cwd=root).stdout.strip()


def _failing_verdict(path: Path, baseline_commit: str, **override: object) -> Path:
    """A gate.json written by hand: one failed check that the project's metrics contradict."""
    check = {"metric": "m.json:a", "baseline": 0.5, "current": 9.0, "delta": 8.5}
    check |= {"limit": "<= 1", "verdict": "fail", "reason": "hand-written: above the maximum"}
    verdict: dict[str, object] = {"passed": False, "baseline_ref": "HEAD"}
    verdict |= {"baseline_commit": baseline_commit, "checks_total": 1, "checks_failed": 1}
    verdict |= {"checks_without_baseline": 0, "checks": [check], **override}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdict), encoding="utf-8")
    return path


def test_report_shows_the_written_verdict_without_running_the_gate(project: Path) -> None:
    verdict = _failing_verdict(project / "reports/gate/gate.json", _head(project))
    written = verdict.read_bytes()
    out = project / "out" / "report.md"
    result = _run(BIN / "conveyor", "report", "--out", out, "--baseline-ref", "HEAD", cwd=project)
    assert result.returncode == 0, result.stderr  # the report explains; the gate fails the job
    report = out.read_text(encoding="utf-8")
    assert "Metric gate FAILED" in report and "hand-written: above the maximum" in report
    assert "| 9 |" in report.replace("`", "")  # the verdict's value, not the metrics file's 0.5
    assert verdict.read_bytes() == written
    assert not (project / "reports/gate/gate.md").exists()  # the gate did not run
    # ...while the gate itself, run on the same project, passes: the failure came from the file.
    gate = _run(BIN / "conveyor", "gate", "--out", project / "fresh", cwd=project)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert json.loads((project / "fresh/gate.json").read_text(encoding="utf-8"))["passed"]


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_report_without_a_gate_verdict_names_conveyor_gate(project: Path) -> None:
    before = sorted(project.rglob("*"))
    result = _run(BIN / "conveyor", "report", "--out", project / "r.md", cwd=project)
    _refused(result, "reports/gate/gate.json", "run `conveyor gate` first")
    other = project / "elsewhere" / "gate.json"
    result = _run(BIN / "conveyor", "report", "--out", "r.md", "--gate", other, cwd=project)
    _refused(result, str(other), "conveyor gate")
    assert sorted(project.rglob("*")) == before  # nothing written


def test_report_refuses_a_verdict_of_another_baseline_or_one_that_contradicts_itself(
    project: Path,
) -> None:
    first = _head(project)
    (project / "m.json").write_text('{"a": 0.6}\n', encoding="utf-8")
    assert _run("git", "commit", "-qam", "newer", cwd=project).returncode == 0
    verdict = _failing_verdict(project / "gate.json", first)
    args = (BIN / "conveyor", "report", "--out", "r.md", "--gate", verdict)
    _refused(
        _run(*args, "--baseline-ref", "HEAD", cwd=project),
        first[:12],
        "run `conveyor gate --baseline-ref HEAD` first",
    )
    assert _run(*args, "--baseline-ref", first, cwd=project).returncode == 0  # the same commit
    _failing_verdict(verdict, first, passed=True)  # says passed, but a check failed
    _refused(_run(*args, cwd=project), "passed is True but its checks say False")
    _failing_verdict(verdict, first, checks=[{"metric": "m.json:a"}])
    _refused(_run(*args, cwd=project), "gate verdict", "checks.0.baseline")


# --- scan --deps ------------------------------------------------------------------------------


def test_scan_deps_failure_is_one_line_from_the_library(tmp_path: Path) -> None:
    """pip-audit runs through conveyor.scan.audit; when it cannot reach its advisory service
    (here: a proxy on a closed loopback port, nothing leaves the machine) the scan stops with
    exit 2 and pip-audit's own reason, not a verdict of findings."""
    (tmp_path / "README.md").write_text("hello\n", encoding="utf-8")
    dead = "http://127.0.0.1:9"
    proxy = dict.fromkeys(("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"), dead)
    result = _run(
        BIN / "conveyor", "scan", "--root", REPO, "--deps", "--uv", REPO / ".tools/bin/uv",
        "--out", tmp_path / "out", tmp_path / "README.md",
        cwd=tmp_path,
        # An empty cache: pip-audit cannot answer from advisories fetched by an earlier run.
        env={**proxy, "NO_PROXY": "", "no_proxy": "", "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    _refused(result, "pip-audit failed:", "127.0.0.1")
    assert (tmp_path / "out" / "requirements.lock.txt").is_file()  # uv export ran first
    assert not (tmp_path / "out" / "scan.json").exists()  # no verdict from a partial scan
