"""`conveyor report`: one markdown document for the PR comment and the job summary.

Gate verdict first (headline, then table), then the data contracts, the metrics and params diffs
against the baseline (from DVC), and links to the plots rendered as PNG beside the report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conveyor.config import read_text
from conveyor.gate import GateResult
from conveyor.report import gate_table
from conveyor.report.escape import code
from conveyor.tools import failure_reason, python_tool, run

MARKER = "<!-- conveyor:report -->"  # finds our comment again, so one PR has one comment
COMMENT_LIMIT = 65_536  # GitHub's maximum comment body, in characters
TRUNCATION_NOTE = (
    "\n\n---\n_Report truncated to fit a GitHub comment: {omitted:,} characters omitted. "
    "The full report is in the workflow's artifacts._\n"
)


def dvc_diff(kind: str, baseline_commit: str, root: Path) -> str:
    """`dvc metrics diff` or `dvc params diff` against the baseline, as a markdown table.

    Read as JSON and rendered here, not taken as DVC's own markdown: metric names (slices) and
    param values come from the data and must be escaped like every other value in the comment.
    """
    command = [*python_tool("dvc"), kind, "diff", baseline_commit, "--json"]
    result = run(command, cwd=root, timeout=300)
    if result.returncode != 0:
        return f"_`dvc {kind} diff` failed: {code(failure_reason(result))}_\n"
    try:
        changes = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        return f"_`dvc {kind} diff` printed no JSON: {code(result.stdout[:200])}_\n"
    return diff_table(kind, changes if isinstance(changes, dict) else {})


def diff_table(kind: str, changes: dict[str, Any]) -> str:
    """DVC's ``{file: {name: {old, new, diff}}}`` as a table, every name and value in code."""
    rows = [
        (path, name, entry)
        for path, entries in sorted(changes.items())
        if isinstance(entries, dict)
        for name, entry in sorted(entries.items())
        if isinstance(entry, dict)
    ]
    if not rows:
        return "_No changes._\n"
    what = "Metric" if kind == "metrics" else "Param"
    lines = [f"| Path | {what} | baseline | workspace | change |", "|---|---|---|---|---|"]
    for path, name, entry in rows:
        cells = [path, name, *(_value(entry.get(k)) for k in ("old", "new", "diff"))]
        lines.append("| " + " | ".join(code(c, cell=True) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)


def build(
    gate: GateResult,
    data_reports: Sequence[Path],
    diffs: dict[str, str],
    images: Sequence[tuple[str, Path]],
    report_dir: Path,
) -> str:
    """The whole report, fitted under GitHub's comment limit."""
    parts = [MARKER, "## conveyor report", "", gate_table.markdown(gate)]
    if data_reports:
        parts += ["## Data contracts", ""]
        # Unreadable or not UTF-8: a usage error naming the file, never a traceback.
        parts += [read_text(path) for path in data_reports]
    short = gate.baseline_commit[:12]
    for title, table in diffs.items():
        parts += [f"## {title} (vs {code(gate.baseline_ref)}, {code(short)})", "", table]
    if images:
        parts += ["## Plots", ""]
        parts += [f"- [{code(title)}]({_relative(path, report_dir)})" for title, path in images]
        parts += ["", "_PNG files travel with the report as a workflow artifact; no image host._"]
    return fit("\n".join(parts) + "\n")


def fit(text: str, limit: int = COMMENT_LIMIT) -> str:
    """``text`` cut at a line boundary, with a note, when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    room = limit - len(TRUNCATION_NOTE.format(omitted=len(text))) - 16
    cut = text.rfind("\n", 0, room)
    cut = cut if cut > 0 else room
    return text[:cut] + TRUNCATION_NOTE.format(omitted=len(text) - cut)


def _relative(path: Path, start: Path) -> str:
    # Percent-encoded: a space or parenthesis in a folder name cannot end the link early.
    return quote(Path(os.path.relpath(path.resolve(), start.resolve())).as_posix())
