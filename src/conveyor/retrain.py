"""Retraining: move the data window forward in params.yaml, then publish what the gate against
the champion decided, as one pull request or as a note that the champion stays.

The window is one key of params.yaml (``data.end_date``): written as a date, so the commit
records which data the challenger saw and `dvc params diff` shows the move. Whether new data
came is read after `dvc repro` from a value the pipeline writes (``metrics/metrics.json:
holdout.end``), compared with the same value on the base commit: a source with nothing new
leaves it where it was, whatever the params say. Three outcomes:

- ``no-new-data``: the window did not move; nothing to compare, no pull request;
- ``champion-wins``: the gate against the champion failed; no pull request, the figures go to
  the job summary and the drift issue;
- ``pull-request``: the challenger passed; its commit goes to ``retrain/<date>`` (one branch
  per day, a re-run updates it) and one pull request, linked from the drift issue.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conveyor import git, github
from conveyor.config import read_text
from conveyor.errors import ConfigError, UserError
from conveyor.files import atomic_path, read_json
from conveyor.gate import GateResult
from conveyor.report import gate_table
from conveyor.report.escape import code

__all__ = [
    "BRANCH_PREFIX",
    "PULL_REQUEST",
    "branch_for",
    "close_superseded",
    "decide",
    "drift_issue",
    "move_window",
    "publish",
    "require_champion_verdict",
    "window_end",
]

NO_NEW_DATA, CHAMPION_WINS, PULL_REQUEST = "no-new-data", "champion-wins", "pull-request"
BRANCH_PREFIX = "retrain/"
# What branch_for names: a person's own retrain/<anything else> branch is never closed.
_DAY_BRANCH = re.compile(r"retrain/\d{4}-\d{2}-\d{2}")


def branch_for(day: dt.date) -> str:
    """The one retraining branch of ``day``."""
    return f"{BRANCH_PREFIX}{day.isoformat()}"


def _value_node(params: Path, text: str, key: str) -> yaml.ScalarNode:
    """The YAML node of dotted ``key`` in ``text``: a scalar, or a usage error naming it."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{params}: invalid YAML ({exc})") from None
    for part in key.split("."):
        if not isinstance(node, yaml.MappingNode):
            node = None
            break
        node = next((value for name, value in node.value if name.value == part), None)
        if node is None:
            break
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{params}: {key}: no such value (the data window's last day)")
    return node


def move_window(params: Path, key: str, to: dt.date) -> tuple[str, bool]:
    """Set ``key`` of ``params`` to ``to`` in place, comments and layout kept; return (the old
    value, whether it changed). A date after ``to`` is a usage error: a window never moves back."""
    text = read_text(params)
    node = _value_node(params, text, key)
    old = str(node.value)
    try:
        before = dt.date.fromisoformat(old)
    except ValueError:
        before = None  # `latest`, or any value that is not a date: the window becomes explicit
    if before is not None and before > to:
        raise UserError(f"{params}: {key} is {old}, after {to}: a window never moves back")
    if old == to.isoformat():
        return old, False
    start, end = node.start_mark.index, node.end_mark.index
    # Quoted: DVC refuses a YAML date in params ("Unsupported value of type 'date'").
    with atomic_path(params) as tmp:
        tmp.write_text(text[:start] + f'"{to.isoformat()}"' + text[end:], encoding="utf-8")
    return old, True


def window_end(spec: str, root: Path, commit: str | None = None) -> str | None:
    """The value at ``FILE:dotted.key`` (the working tree's, or as committed at ``commit``) as
    text; None when the file or the key is not there."""
    if ":" not in spec:
        raise UserError(f"--window {spec!r}: expected FILE:dotted.key")
    name, key = spec.split(":", 1)
    if commit is None:
        if not (root / name).is_file():
            return None
        data: Any = read_json(root / name, "window file")
    else:
        text = git.show_text(commit, name, root)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise UserError(f"{name} at {commit[:12]}: not JSON") from None
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return None if isinstance(data, dict | list) or data is None else str(data)


@dataclass(frozen=True)
class Outcome:
    """What a retraining run decided, and the markdown that says so."""

    kind: str
    window: str | None
    window_before: str | None
    summary: str
    pull_request: str = ""


def decide(result: GateResult, window: str | None, window_before: str | None) -> Outcome:
    """The outcome of a run whose gate verdict is ``result`` and whose data now ends on
    ``window`` (``window_before`` on the base commit)."""
    if window is None:
        raise UserError("--window: the pipeline wrote no such value: run `dvc repro` first")
    if window == window_before:
        text = (
            f"### ⚪ Retraining: no new data\n\nThe data still ends on {code(window)}, as on the "
            "base branch: nothing new to train on, so no pull request.\n"
        )
        return Outcome(NO_NEW_DATA, window, window_before, text)
    moved = f"data window {code(window_before or 'none')} → {code(window)}"
    if not result.passed:
        text = (
            f"### 🏆 Retraining: the champion stays\n\nThe challenger trained on the {moved} "
            "does not beat the champion on the same data, so no pull request.\n\n"
            f"{gate_table.markdown(result)}\n{gate_table.champion_markdown(result)}"
        )
        return Outcome(CHAMPION_WINS, window, window_before, text)
    text = (
        f"### ✅ Retraining: the challenger passes\n\nTrained on the {moved}; the gate against "
        f"the champion passed on the same data.\n\n{gate_table.champion_markdown(result)}"
    )
    return Outcome(PULL_REQUEST, window, window_before, text)


def commit_and_push(root: Path, branch: str, message: str, remote: str) -> str:
    """Commit the changes of tracked files on top of HEAD (params, lock, metrics: what
    `dvc repro` changed) and push them to ``branch`` with a lease on what the remote had: a
    re-run of the same day replaces its own commit, a branch someone else moved meanwhile is
    refused. Returns the commit."""
    expected = git.fetch_branch(root, remote, branch)
    # Tracked files only: a retrain changes what the pipeline already tracks, and a runner's
    # checkout holds other files (the toolkit's actions, a virtual environment) that must not
    # ride along.
    git.output(root, "add", "--update")
    git.output(root, "commit", "--quiet", "--no-verify", "-m", message)
    commit = git.output(root, "rev-parse", "HEAD").strip()
    pushed = git.push_with_lease(root, remote, commit, branch, expected)
    if pushed.returncode != 0:
        raise UserError(
            f"cannot push {branch} to {remote}: it moved while this ran, or the push was "
            f"refused ({' '.join(pushed.stderr.split())[-300:]})"
        )
    return commit


def close_superseded(branch: str, base_branch: str, url: str, window: str, root: Path) -> list[int]:
    """Close the open retraining pull requests of earlier days (still open when this one ran)
    with a link to ``url``: one retraining pull request stays open, the newest. Their
    branches are kept, so each closed one still shows what it proposed. Returns their numbers."""
    closed = []
    for pr in github.open_pull_requests(base_branch, root):
        head = str(pr.get("headRefName") or "")
        # Only an earlier day's: a run asked for an older day must not close a newer proposal.
        if _DAY_BRANCH.fullmatch(head) and head < branch:
            comment = f"Superseded by {url}: retrained on data to {window}."
            github.close_pull_request(int(pr["number"]), comment, root)
            closed.append(int(pr["number"]))
    return closed


def drift_issue(label: str, root: Path) -> int | None:
    """The open issue carrying ``label`` (the drift issue; the oldest, as the monitor keeps
    the oldest when it finds more), or None when none is open."""
    numbers: list[int] = []
    for issue in github.open_issues(label, root):
        number = issue.get("number")
        if not isinstance(number, int) or isinstance(number, bool):
            raise UserError(f"gh issue list --label {label}: an issue without a number")
        numbers.append(number)
    return min(numbers) if numbers else None


def require_champion_verdict(result: GateResult, path: Path) -> None:
    """Refuse a gate verdict (read from ``path``) that is not against the champion, nor against
    none (a first release): a verdict against a git ref compares metrics of another window."""
    if result.champion is None and result.baseline_commit != "none":
        raise UserError(
            f"--gate {path}: a verdict against {result.baseline_ref!r}, not against the "
            "champion: run `conveyor gate --champion ENV` (metrics of another window are not "
            "comparable)"
        )


def publish(
    outcome: Outcome,
    report: Path,
    root: Path,
    branch: str,
    base_branch: str,
    remote: str,
    issue: int | None,
) -> Outcome:
    """Open or update the pull request (``pull-request``), then tell the drift issue: the
    pull request's link, or why there is none. Returns the outcome with its pull request."""
    url = ""
    if outcome.kind == PULL_REQUEST:
        linked = f"\n\nRetraining run for #{issue} (drift).\n" if issue else ""
        message = f"retrain: data window to {outcome.window}"
        commit_and_push(root, branch, message, remote)
        with tempfile.TemporaryDirectory(prefix="conveyor-retrain-") as folder:
            body = Path(folder) / "body.md"
            body.write_text(read_text(report) + linked, encoding="utf-8")
            url = github.upsert_pull_request(branch, base_branch, message, body, root)
        close_superseded(branch, base_branch, url, outcome.window or "", root)
    if issue is not None:
        note = outcome.summary
        if url:
            note = f"Retrained on data to {code(outcome.window or '')}: {url}\n\n{note}"
        with tempfile.TemporaryDirectory(prefix="conveyor-retrain-") as folder:
            body = Path(folder) / "comment.md"
            body.write_text(note, encoding="utf-8")
            github.gh(["issue", "comment", str(issue), "--body-file", str(body)], root)
    return Outcome(outcome.kind, outcome.window, outcome.window_before, outcome.summary, url)
