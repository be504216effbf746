"""The gate verdict as a table: plain text for the terminal, markdown for pull requests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conveyor.files import atomic_path, require_writable_file, write_json
from conveyor.gate import FAIL, NO_BASELINE, VERDICT_FILE, Check, GateResult
from conveyor.report.escape import code, one_line

__all__ = ["champion_markdown", "markdown", "require_writable", "text", "write"]

HEADERS = ("metric", "baseline", "current", "delta", "limit", "verdict")
ICONS = {"pass": "✅", FAIL: "❌", NO_BASELINE: "⚪"}


def headline(result: GateResult, quote: Callable[[object], str] = one_line) -> str:
    """One line: the verdict, what was compared, and the first failure if any. ``quote`` shows a
    name from the metrics or the params (plain for the terminal, ``code`` for markdown)."""
    base = f"baseline {quote(result.baseline_ref)} ({result.baseline_commit[:12]})"
    unbased = sum(c.verdict == NO_BASELINE for c in result.checks)
    note = f"; {unbased} without a baseline (bounds only)" if unbased else ""
    if result.passed:
        return f"Metric gate passed: {len(result.checks)} checks against {base}{note}"
    first = result.failures[0]
    return (
        f"Metric gate FAILED: {len(result.failures)} of {len(result.checks)} checks against "
        f"{base}{note}; first: {quote(first.metric)}: {quote(first.reason)}"
    )


def _row(check: Check) -> tuple[str, ...]:
    delta = check.delta
    return (
        one_line(check.metric),
        _number(check.baseline),
        _number(check.current),
        "" if delta is None else f"{delta:+.4g}",
        one_line(check.limit),
        check.verdict if check.verdict != FAIL else f"FAIL: {one_line(check.reason)}",
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def text(result: GateResult) -> str:
    """An aligned table, failures first, then the headline."""
    rows = [HEADERS] + [_row(c) for c in _ordered(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join([*lines, headline(result)])


def markdown(result: GateResult, max_rows: int = 200) -> str:
    """Headline, then the table (failures first), truncated with a note past ``max_rows``."""
    icon = "✅" if result.passed else "❌"
    parts = [
        f"### {icon} {headline(result, code)}",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    ordered = _ordered(result)
    for check in ordered[:max_rows]:
        # Metric names carry slice names (data) and limits and reasons may quote params: code.
        _, baseline, current, delta, _, _ = _row(check)
        verdict = f"{ICONS[check.verdict]} {check.verdict}"
        if check.verdict == FAIL:
            verdict = f"{ICONS[FAIL]} FAIL: {code(check.reason, cell=True)}"
        cells = [code(check.metric, cell=True), baseline, current, delta]
        cells += [code(check.limit, cell=True), verdict]
        parts.append("| " + " | ".join(cells) + " |")
    if len(ordered) > max_rows:
        parts.append(f"\n_{len(ordered) - max_rows} more checks in `gate.json`._")
    if any(c.verdict == NO_BASELINE for c in result.checks):
        parts.append(
            "\n_⚪ no baseline: the metric does not exist at the baseline ref (a new repository or "
            "a new metric), so only its absolute bounds were checked._"
        )
    return "\n".join(parts) + "\n"


def champion_markdown(result: GateResult, max_rows: int = 200) -> str:
    """The champion and the challenger side by side, every metric beside a gated one (overall
    and per slice), both scored on the same holdout; empty without a champion."""
    champion = result.champion
    if champion is None:
        return ""
    parts = [
        f"## Champion vs challenger (same data, {code(champion.env)})",
        "",
        f"Champion: release {code(champion.version)} ({code(champion.commit[:12])}), live in "
        f"{code(champion.env)} at {code(champion.source[:12])}, its model scored again on this "
        "branch's holdout. Challenger: this branch's model.",
        "",
        "| metric | champion | challenger | change |",
        "|---|---|---|---|",
    ]
    for row in champion.rows[:max_rows]:
        both = row.champion is not None and row.challenger is not None
        change = f"{row.challenger - row.champion:+.4g}" if both else ""  # type: ignore[operator]
        cells = [code(row.metric, cell=True), _number(row.champion), _number(row.challenger)]
        parts.append("| " + " | ".join([*cells, change]) + " |")
    if len(champion.rows) > max_rows:
        parts.append(f"\n_{len(champion.rows) - max_rows} more metrics in `gate.json`._")
    return "\n".join(parts) + "\n"


def _ordered(result: GateResult) -> list[Check]:
    rank = {FAIL: 0, NO_BASELINE: 1}
    return sorted(result.checks, key=lambda c: rank.get(c.verdict, 2))


def require_writable(out: Path) -> None:
    """A usage error unless both files of :func:`write` can be written in ``out``."""
    for name in (VERDICT_FILE, "gate.md"):
        require_writable_file(out / name)


def write(result: GateResult, out: Path) -> None:
    """The verdict `conveyor report` and a release read (gate.json), and its table (gate.md)."""
    write_json(out / VERDICT_FILE, result.to_json())
    with atomic_path(out / "gate.md") as tmp:
        tmp.write_text(markdown(result), encoding="utf-8")
