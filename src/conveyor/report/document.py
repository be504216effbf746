"""`conveyor report`: one markdown document for the PR comment and the job summary.

Gate verdict first (headline, then table), then the data contracts, the metrics and params diffs
against the baseline (from DVC), and links to the plots rendered as PNG beside the report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from conveyor.gate import GateResult
from conveyor.report import gate_table
from conveyor.tools import failure_reason, python_tool, run

MARKER = "<!-- conveyor:report -->"  # finds our comment again, so one PR has one comment
COMMENT_LIMIT = 65_536  # GitHub's maximum comment body, in characters
TRUNCATION_NOTE = (
    "\n\n---\n_Report truncated to fit a GitHub comment: {omitted:,} characters omitted. "
    "The full report is in the workflow's artifacts._\n"
)


def dvc_diff(kind: str, baseline_commit: str, root: Path) -> str:
    """`dvc metrics diff` or `dvc params diff` against the baseline, as a markdown table."""
    command = [*python_tool("dvc"), kind, "diff", baseline_commit, "--md"]
    result = run(command, cwd=root, timeout=300)
    if result.returncode != 0:
        return f"_`dvc {kind} diff` failed: {failure_reason(result)}_\n"
    table = result.stdout.strip()
    # DVC prints a bare header when nothing changed.
    return table + "\n" if len(table.splitlines()) > 2 else "_No changes._\n"


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
        parts += [path.read_text(encoding="utf-8") for path in data_reports]
    short = gate.baseline_commit[:12]
    for title, table in diffs.items():
        parts += [f"## {title} (vs {gate.baseline_ref}, {short})", "", table]
    if images:
        parts += ["## Plots", ""]
        parts += [f"- [{title}]({_relative(path, report_dir)})" for title, path in images]
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
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
