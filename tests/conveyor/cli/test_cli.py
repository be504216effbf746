"""The `conveyor` entry point: help, version, doctor."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conveyor import __version__
from conveyor.cli import main
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration


def _conveyor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args], capture_output=True, text=True, check=False
    )


def test_help_lists_subcommands():
    result = _conveyor("--help")
    assert result.returncode == 0
    assert "doctor" in result.stdout


def test_version():
    result = _conveyor("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"conveyor {__version__}"
    assert __version__ == "0.1.0"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: conveyor" in capsys.readouterr().out


def test_doctor_reports_tools_and_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bento-home"))
    result = _conveyor("doctor", "--root", str(REPO))
    assert result.returncode == 0, result.stdout
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert lines["dvc"].startswith("ok ")
    assert "git version" in lines["git"]
    assert "(default)" in result.stdout and ".dvc-remote" in result.stdout
    assert str(tmp_path / "bento-home") in lines["bentoml"]


def test_doctor_fails_when_a_required_tool_is_missing(tmp_path):
    # An empty PATH: git cannot be found (dvc still can, beside the interpreter), so doctor fails.
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "doctor", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "!! git" in result.stdout and "MISSING" in result.stdout
    assert "ok dvc" in result.stdout


def test_tool_runner_turns_missing_programs_and_timeouts_into_failed_results(tmp_path):
    from conveyor.tools import failure_reason, run

    missing = run([str(tmp_path / "no-such-tool"), "--version"])
    assert missing.returncode == 127 and "no-such-tool" in failure_reason(missing)
    slow = run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)
    assert slow.returncode == 124 and "timed out" in failure_reason(slow)
    failed = run([sys.executable, "-c", "import sys; print('first'); sys.exit('the reason')"])
    assert failed.returncode == 1 and failure_reason(failed) == "the reason"


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            "ERROR: failed to get 'model.txt'\n\nHaving any troubles? Hit us up at x\n",
            "ERROR: failed",
        ),
        (
            "'dvc.lock' invalid\n\nnot a valid value, line 82\n  82 │ - path: m\n",
            "not a valid value",
        ),
        ("error: Failed to parse `uv.lock`\n  Caused by: values must be quoted\n", "Caused by"),
        ("", "the stdout line"),
    ],
)
def test_the_failure_reason_is_the_line_that_says_why(stderr, reason):
    from conveyor.tools import failure_reason

    result = subprocess.CompletedProcess(["t"], 1, stdout="the stdout line\n", stderr=stderr)
    assert failure_reason(result).startswith(reason)
