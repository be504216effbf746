"""Decide what happens to the single `drift`-labelled GitHub issue, and write its body.

open: drift and no open issue · update: drift and an open issue · close: no drift, an open
issue · none: no drift, no issue. The workflow makes the API call; this module decides and writes
``issue.json`` ({"action", "title", "body_file", "number", "labels"}) and ``issue.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from conveyor.config import format_validation_error
from conveyor.errors import DataError
from conveyor.files import atomic_path, require_regular, write_json
from conveyor.monitor.config import METRIC_LABELS, Metric
from conveyor.report.escape import code

__all__ = [
    "LABEL",
    "MARKER",
    "SOP",
    "TITLE",
    "Decision",
    "apply",
    "body",
    "decide",
    "read_drift",
    "write",
]

LABEL = "drift"
TITLE = "Production drift: the model's inputs no longer match its training data"
MARKER = "<!-- conveyor:drift-issue -->"  # lets a person (or a script) recognise our issue
MAX_BODY = 60_000  # GitHub caps issue bodies at 65,536 characters
SOP = "docs/sop/drift.md"


@dataclass(frozen=True)
class Decision:
    """What to do with the drift issue."""

    action: str  # open | update | close | none
    number: int | None
    duplicates: list[int]


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file; missing or malformed: a one-line DataError."""
    require_regular(path, what, DataError)  # a FIFO would block the read for ever
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} {path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{what} {path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise DataError(f"{what} {path}: nested too deeply to read as JSON") from None


def open_issue_numbers(document: Any, origin: str) -> list[int]:
    """Issue numbers from `gh issue list --label drift --state open --json number` (a list), a
    single issue object (`--jq '.[0] // {}'`), or null, [] or {} for none."""
    if document is None or document == {}:
        return []
    items = document if isinstance(document, list) else [document]
    numbers = []
    for item in items:
        number = item.get("number") if isinstance(item, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise DataError(
                f"{origin}: expected issues with a positive integer 'number', got {item!r:.80}"
            )
        state = item.get("state", "open")
        if not isinstance(state, str):
            raise DataError(
                f"{origin}: issue {number}: 'state' must be a string, got {state!r:.40}"
            )
        if state.lower() == "open":
            numbers.append(number)
    return sorted(set(numbers))


def decide(drifted: bool, open_numbers: list[int]) -> Decision:
    """One issue, never one per run: the oldest open one is kept, later duplicates are listed."""
    number = open_numbers[0] if open_numbers else None
    duplicates = open_numbers[1:]
    if drifted:
        return Decision("update" if number else "open", number, duplicates)
    return Decision("close" if number else "none", number, duplicates)


class _Shape(BaseModel):
    # Only the keys the issue reads are checked (drift.json carries more); those must have the
    # types `monitor drift` writes, so a hand-made or stale file is one line, not a traceback.
    model_config = ConfigDict(extra="ignore", strict=True)


class _Window(_Shape):
    path: str | None = None
    rows: int = 0


class _Column(_Shape):
    column: str
    drifted: bool = False
    reasons: list[str] | None = None


class _Performance(_Shape):
    degraded: bool = False
    metric: Metric | None = None
    higher_is_better: bool = False
    live: float | None = None
    limit: float | None = None
    ratio: float | None = None
    evaluated: float | None = None

    @model_validator(mode="after")
    def _figures(self) -> _Performance:
        figures = (self.metric, self.live, self.limit, self.ratio, self.evaluated)
        if self.degraded and None in figures:
            raise ValueError("degraded needs metric, live, limit, ratio and evaluated")
        return self


class _Drift(_Shape):
    drifted: bool
    drifted_columns: list[str] | None = None
    current: _Window | None = None
    reference: _Window | None = None
    columns: list[_Column] | None = None
    prediction: _Column | None = None
    performance: _Performance | None = None


def read_drift(path: Path) -> dict[str, Any]:
    """drift.json as `monitor drift` writes it; anything else is a one-line DataError."""
    return _drift_document(path)


def _drift_document(path: Path) -> dict[str, Any]:
    document = read_json(path, "drift report")
    if not isinstance(document, dict) or not isinstance(document.get("drifted"), bool):
        raise DataError(f"drift report {path}: not a drift.json (no boolean 'drifted' key)")
    try:
        _Drift.model_validate(document)
    except ValidationError as exc:
        raise DataError(f"drift report {format_validation_error(path, exc)}") from None
    return document


def _rows(columns: list[dict[str, Any]]) -> list[str]:
    lines = ["| column | why |", "|---|---|"]
    for column in columns:
        # Column names and the unseen categories in the reasons come from the data: code spans.
        reasons = code("; ".join(column.get("reasons") or []), cell=True)
        lines.append(f"| {code(column.get('column'), cell=True)} | {reasons} |")
    return lines


def sop_link(environ: Mapping[str, str]) -> str:
    """The SOP as a link that works in an issue (relative links do not resolve there): on
    GitHub Actions, the file on the default branch; elsewhere, its path."""
    server, repository = environ.get("GITHUB_SERVER_URL"), environ.get("GITHUB_REPOSITORY")
    if server and repository:
        return f"{server.rstrip('/')}/{repository}/blob/HEAD/{SOP}"
    return SOP


def body(drift: dict[str, Any], decision: Decision, run_url: str | None, sop: str = SOP) -> str:
    """The issue body (open/update) or the closing comment (close/none), as markdown."""
    current, reference = drift.get("current") or {}, drift.get("reference") or {}
    window = (
        f"current window {code(current.get('path'))} ({current.get('rows', 0):,} rows) vs "
        f"reference {code(reference.get('path'))} ({reference.get('rows', 0):,} rows)"
    )
    run = f"\n\nWorkflow run with the full report and plots: {run_url}" if run_url else ""
    if not drift["drifted"]:
        return (
            f"{MARKER}\nDrift cleared: every monitored column is within its threshold on the "
            f"{window}.{run}\n"
        )
    columns = [c for c in drift.get("columns") or [] if c.get("drifted")]
    prediction = drift.get("prediction") or {}
    if prediction.get("drifted"):
        columns.append(prediction)
    lines = [
        MARKER,
        f"The scheduled drift check found drift on the {window}.",
        "",
    ]
    if columns:
        lines += ["**Drifted, worst first:**", "", *_rows(columns), ""]
    performance = drift.get("performance") or {}
    if performance.get("degraded"):
        p = performance
        below = "fell below" if p["higher_is_better"] else "exceeds"
        lines += [
            f"**Live {METRIC_LABELS[p['metric']]}** {p['live']:.3f} {below} its limit "
            f"{p['limit']:.3f} ({p['ratio']:.2f} x the evaluated {p['evaluated']:.3f}).",
            "",
        ]
    lines += [
        f"What to do: follow [{SOP}]({sop}) — investigate, retrain (`dvc exp run`, then a pull "
        "request), promote, or accept the change and update the reference.",
        "",
        "Reproduce locally: "
        + code(
            f"conveyor monitor drift --reference {reference.get('path')} "
            f"--current {current.get('path')} --out reports/monitor"
        )
        + ".",
    ]
    if decision.action == "update":
        lines += [
            "",
            "_Every scheduled run updates this issue while drift lasts, and closes it when drift "
            "clears._",
        ]
    text = "\n".join(lines) + run + "\n"
    if len(text) > MAX_BODY:
        text = text[: MAX_BODY - 80] + "\n\n… (cut to fit GitHub's limit: see the workflow run)\n"
    return text


def write(drift_path: Path, open_issues: Path | None, out: Path, run_url: str | None) -> Decision:
    """Decide and write ``out/issue.json`` and ``out/issue.md``; inputs are checked first."""
    drift = _drift_document(drift_path)
    numbers: list[int] = []
    if open_issues is not None:
        numbers = open_issue_numbers(read_json(open_issues, "open issues"), str(open_issues))
    decision = decide(drift["drifted"], numbers)
    body_file = out / "issue.md"
    with atomic_path(body_file) as tmp:
        tmp.write_text(body(drift, decision, run_url, sop_link(os.environ)), encoding="utf-8")
    write_json(
        out / "issue.json",
        {
            "action": decision.action,
            "title": TITLE,
            "body_file": str(body_file),
            "number": decision.number,
            "duplicates": decision.duplicates,
            "labels": [LABEL],
            "drifted_columns": drift.get("drifted_columns") or [],
        },
    )
    return decision


LABEL_COLOR = "D93F0B"
LABEL_DESCRIPTION = "Production data drifted from the training data (conveyor monitor)"


def apply(decision: Decision, body_file: Path) -> str:
    """Carry the decision out on GitHub (gh): open, update or close the one drift issue, and
    close later duplicates; return a line saying what was done."""
    from conveyor import github

    if decision.action == "open":
        # The label may not exist yet in a new repository (no-op when it does).
        github.ensure_label(LABEL, LABEL_COLOR, LABEL_DESCRIPTION)
        done = f"drift issue opened: {github.create_issue(LABEL, TITLE, body_file)}"
    elif decision.action == "update" and decision.number:
        github.edit_issue(decision.number, TITLE, body_file)
        done = f"drift issue #{decision.number} updated"
    elif decision.action == "close" and decision.number:
        github.close_issue(decision.number, comment_file=body_file)
        done = f"drift issue #{decision.number} closed: drift cleared"
    else:
        done = "drift issue: nothing to do"
    # One issue only: later duplicates (opened by hand, or by a race) are closed.
    for duplicate in decision.duplicates:
        github.close_issue(
            duplicate,
            comment=f"Duplicate of #{decision.number}: conveyor keeps one drift issue.",
        )
    return done
