"""`conveyor report`: the pull request's markdown document, for its comment and the job summary.

Gate verdict first (headline, then table: read from the gate.json `conveyor gate` wrote, never
evaluated again), then the data contracts, the metrics and params diffs against the gate's
baseline (from DVC), and links to the plots rendered as PNG beside the report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conveyor import gate
from conveyor.config import read_text
from conveyor.errors import UserError
from conveyor.files import atomic_path, require_writable_dir, require_writable_file
from conveyor.gate import GateResult, resolve_ref
from conveyor.report import gate_table, plots
from conveyor.report.comment import COMMENT_LIMIT, MARKER
from conveyor.report.escape import code
from conveyor.tools import failure_reason, python_tool, run

__all__ = ["build", "diff_table", "fit", "read_inputs", "write"]

TRUNCATION_NOTE = (
    "\n\n---\n_Report truncated to fit a GitHub comment: {omitted:,} characters omitted. "
    "The full report is in the workflow's artifacts._\n"
)


@dataclass(frozen=True)
class Inputs:
    """What the report is made of: the gate verdict, the data-contract verdicts (markdown), and
    the repository whose DVC diffs and plots it shows."""

    gate: GateResult
    data_reports: list[Path]
    root: Path


def read_inputs(gate_file: Path, baseline_ref: str | None, data_dir: Path, root: Path) -> Inputs:
    """Every input, read and checked before anything is drawn or written. ``baseline_ref``, when
    given, must be the ref the gate ran against: a report never shows another baseline's gate."""
    asked = resolve_ref(baseline_ref, cwd=root) if baseline_ref else None
    result = gate.load_result(gate_file)
    if asked is not None and asked != result.baseline_commit:
        raise UserError(
            f"{gate_file}: the gate ran against {result.baseline_ref!r} "
            f"({result.baseline_commit[:12]}), not --baseline-ref {baseline_ref!r} "
            f"({asked[:12]}): run `conveyor gate --baseline-ref {baseline_ref}` first"
        )
    if data_dir.exists() and not data_dir.is_dir():
        raise UserError(f"--data-reports {data_dir}: not a folder")
    data_reports = sorted(data_dir.glob("*.md")) if data_dir.is_dir() else []
    for path in data_reports:
        read_text(path)  # an unreadable verdict is refused before any plot is drawn
    return Inputs(result, data_reports, root)


def write(inputs: Inputs, out: Path, plots_dir: Path) -> tuple[str, int]:
    """Render the plots into ``plots_dir`` and the report into ``out``: (body, plots drawn)."""
    require_writable_file(out)
    require_writable_dir(plots_dir, "--plots-dir")
    baseline, root = inputs.gate.baseline_commit, inputs.root
    diffs = {"Params diff": dvc_diff("params", baseline, root)}
    if inputs.gate.champion is None:
        # Against a champion, its commit's metrics were measured on another data window: the
        # side-by-side section (same data) replaces them.
        diffs = {"Metrics diff": dvc_diff("metrics", baseline, root), **diffs}
    dvc_yaml = root / "dvc.yaml"
    specs = plots.plot_specs(dvc_yaml) if dvc_yaml.is_file() else []
    images = plots.render(specs, root, plots_dir)
    body = build(inputs.gate, inputs.data_reports, diffs, images, out.parent)
    with atomic_path(out) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return body, len(images)


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
    if gate.champion is not None:
        parts += [gate_table.champion_markdown(gate)]
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
