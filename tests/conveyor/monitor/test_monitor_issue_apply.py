"""`conveyor monitor issue --apply`: the drift issue opened, updated or closed through `gh` by
conveyor (no `case` in the workflow). GitHub cannot run here: a recording `gh` stands in on PATH
(tests/gh_stub.py) and every call it receives is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conveyor.monitor.test_monitor_issue import CLEAR, DRIFTED
from tests.gh_stub import GhStub

CONVEYOR = Path(sys.executable).parent / "conveyor"
ISSUE_URL = "https://github.com/acme/conveyor/issues/51"


def _apply(tmp_path: Path, drift: dict, open_issues: list[dict], answers: dict | None = None):
    (tmp_path / "drift.json").write_text(json.dumps(drift))
    gh = GhStub(tmp_path / "gh", {"issue list": open_issues, **(answers or {})})
    out = tmp_path / "out"
    result = subprocess.run(
        [str(CONVEYOR), "monitor", "issue", "--drift", str(tmp_path / "drift.json"), "--out",
         str(out), "--run-url", "https://example.invalid/run/1", "--apply"],
        env=gh.env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result, gh.calls(), out


LIST = ["issue", "list", "--label", "drift", "--state", "open", "--limit", "100", "--json",
        "number,state"]  # fmt: skip


def test_drift_and_no_issue_opens_one_with_its_label(tmp_path):
    result, calls, out = _apply(tmp_path, DRIFTED, [], {"issue create": ISSUE_URL})
    assert result.returncode == 0, result.stderr
    body = str(out / "issue.md")
    assert calls == [
        LIST,
        ["label", "create", "drift", "--color", "D93F0B", "--force", "--description",
         "Production data drifted from the training data (conveyor monitor)"],
        ["issue", "create", "--label", "drift", "--title",
         "Production drift: the model's inputs no longer match its training data",
         "--body-file", body],
    ]  # fmt: skip
    assert f"drift issue opened: {ISSUE_URL}" in result.stdout
    assert "promo" in Path(body).read_text()


def test_drift_with_issues_open_updates_the_oldest_and_closes_duplicates(tmp_path):
    opened = [{"number": 40, "state": "OPEN"}, {"number": 12, "state": "OPEN"}]
    result, calls, out = _apply(tmp_path, DRIFTED, opened)
    assert result.returncode == 0, result.stderr
    assert calls[1][:3] == ["issue", "edit", "12"]
    assert calls[1][-2:] == ["--body-file", str(out / "issue.md")]
    assert calls[2] == ["issue", "close", "40", "--comment",
                        "Duplicate of #12: conveyor keeps one drift issue."]  # fmt: skip
    assert len(calls) == 3


def test_drift_cleared_comments_then_closes(tmp_path):
    result, calls, out = _apply(tmp_path, CLEAR, [{"number": 12, "state": "OPEN"}])
    assert result.returncode == 0, result.stderr
    assert calls[1:] == [
        ["issue", "comment", "12", "--body-file", str(out / "issue.md")],
        ["issue", "close", "12"],
    ]
    assert "Drift cleared" in (out / "issue.md").read_text()


def test_no_drift_and_no_issue_calls_nothing_but_the_list(tmp_path):
    result, calls, _ = _apply(tmp_path, CLEAR, [])
    assert result.returncode == 0, result.stderr
    assert calls == [LIST]
    assert "drift issue: nothing to do" in result.stdout


@pytest.mark.parametrize(
    ("drift", "answers", "expected"),
    [
        ({"drifted": "yes"}, {}, "not a drift.json (no boolean 'drifted' key)"),
        (DRIFTED, {"issue list": {"exit": 1, "stderr": "HTTP 403: Resource not accessible"}},
         "gh issue list failed: HTTP 403: Resource not accessible"),
    ],
)  # fmt: skip
def test_bad_input_or_a_refused_call_is_one_line(tmp_path, drift, answers, expected):
    result, calls, _ = _apply(tmp_path, drift, [], answers)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    # A bad drift.json is refused before GitHub is asked anything.
    assert calls == ([] if drift is not DRIFTED else [LIST])
