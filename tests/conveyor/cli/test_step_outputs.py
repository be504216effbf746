"""What the composite actions did in shell, done by the CLI: the gate's `passed` output and its
annotation (exit 1 failed, 2 could not run), and when the report may comment on a pull request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.github import can_comment_from_env
from tests.conveyor.gate.test_gate import METRICS, SLICES, _write_metrics, repo  # noqa: F401 - the fixture


def _gate(repo: Path, output: Path, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env |= {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output)}
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "gate", "--root", str(repo), "--params",
         str(repo / "params.yaml"), "--out", str(repo / "out"), "--github-output", *args],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


def test_the_gate_step_is_one_command(repo, tmp_path):  # noqa: F811
    output = tmp_path / "output"
    # An empty --baseline-ref (the action's input left empty) means gates.baseline_ref.
    passed = _gate(repo, output, "--baseline-ref", "")
    assert passed.returncode == 0, passed.stderr
    assert output.read_text() == "passed=true\n"
    assert "::error" not in passed.stdout

    _write_metrics(repo, {**METRICS, "model": {"wape": 0.47, "bias": 0.01}}, SLICES)
    output.unlink()
    failed = _gate(repo, output, "--baseline-ref", "HEAD")
    assert failed.returncode == 1
    assert output.read_text() == "passed=false\n"
    assert (
        f"::error file={repo / 'params.yaml'}::metric gate failed: see the table above and "
        f"{repo / 'out' / 'gate.md'}"
    ) in failed.stdout

    output.unlink()
    broken = _gate(repo, output, "--baseline-ref", "does-not-exist")
    assert broken.returncode == 2
    assert output.read_text() == "passed=false\n"  # never empty: the gate did not pass
    assert broken.stdout.strip().splitlines()[-1].startswith("::error::baseline ref")
    assert len(broken.stderr.strip().splitlines()) == 1


def _event(tmp_path: Path, event: dict) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GITHUB_EVENT_NAME": "pull_request", "EVENT": {"pull_request": {"number": 3}}}, True),
        # a fork's run gets no token: summary only
        ({"GITHUB_EVENT_NAME": "pull_request", "EVENT": {"pull_request": {"number": 3}},
          "GITHUB_TOKEN": ""}, False),
        ({"GITHUB_EVENT_NAME": "push", "EVENT": {"ref": "refs/heads/main"}}, False),
        ({"GITHUB_EVENT_NAME": "pull_request", "EVENT": "not an object"}, False),
    ],
)  # fmt: skip
def test_report_comments_only_with_a_token_on_a_pull_request(monkeypatch, tmp_path, env, expected):
    for key in [k for k in os.environ if k.startswith("GITHUB_") or k == "GH_TOKEN"]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("GITHUB_TOKEN", env.get("GITHUB_TOKEN", "-".join(["t", "1"])))
    monkeypatch.setenv("GITHUB_EVENT_NAME", env["GITHUB_EVENT_NAME"])
    monkeypatch.setenv("GITHUB_EVENT_PATH", _event(tmp_path, env["EVENT"]))
    assert can_comment_from_env(None) is expected
