"""The drift verdict as markdown (worst columns first) and as terminal lines."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from conveyor.monitor.config import METRIC_LABELS
from conveyor.monitor.drift import DriftResult
from conveyor.monitor.stats import ColumnDrift
from conveyor.report.escape import code, one_line

__all__ = ["markdown", "terminal"]


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _metric(performance: dict[str, object]) -> str:
    return METRIC_LABELS[str(performance["metric"])]


def _comparison(p: dict[str, object]) -> str:
    """``0.812 < 0.840`` style: the live value, the side of the limit it must stay on, the limit."""
    side = "≥" if p["higher_is_better"] else "≤"
    return f"{p['live']:.3f} (must stay {side} {p['limit']:.3f})"


HEADER = (
    "| column | kind | verdict | PSI | KS D | Wasserstein (sd) | within key | unseen | missing "
    "| why |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _within(c: ColumnDrift) -> str:
    if c.key is None:
        return "-"
    shift = "not measured" if c.key_shift is None else f"{c.key_shift:+.1%}"
    return f"{shift} ({code(c.key, cell=True)})"


def _row(c: ColumnDrift) -> str:
    verdict = "**drift**" if c.drifted else "ok"
    why = code("; ".join(c.reasons), cell=True) or "-"
    return (
        f"| {code(c.column, cell=True)} | {c.kind} | {verdict} | {_num(c.psi)} | {_num(c.ks)} | "
        f"{_num(c.wasserstein)} | {_within(c)} | {_pct(c.unseen_share)} | "
        f"{_pct(c.null_share[0])} → {_pct(c.null_share[1])} | {why} |"
    )


def headline(result: DriftResult, quote_name: Callable[[object], str] = one_line) -> str:
    """One line: the verdict and what drifted; column names through ``quote_name`` (plain for the
    terminal, ``code`` for markdown)."""
    rows = f"{result.current['rows']:,} current vs {result.reference['rows']:,} reference rows"
    if not result.drifted:
        return f"No drift: every monitored column within its threshold ({rows})."
    parts = []
    if result.drifted_columns:
        parts.append("features " + ", ".join(map(quote_name, result.drifted_columns)))
    if result.prediction is not None and result.prediction.drifted:
        parts.append("predictions")
    if result.performance is not None and result.performance["degraded"]:
        parts.append(f"live {_metric(result.performance)}")
    return f"Drift: {'; '.join(parts)} ({rows})."


def markdown(result: DriftResult, plots: dict[str, str] | None = None) -> str:
    """The report: verdict, a table of columns worst first, predictions, performance, method."""
    lines = [
        "## Drift report",
        "",
        headline(result, code),
        "",
        f"Reference: {code(result.reference['path'])} · current: {code(result.current['path'])}",
        "",
        HEADER,
        *(_row(c) for c in result.columns),
    ]
    if result.prediction is not None:
        lines += [
            "",
            "### Predictions",
            "",
            HEADER,
            _row(result.prediction),
        ]
    if result.performance is not None:
        p = result.performance
        state = "**degraded**" if p["degraded"] else "ok"
        lines += [
            "",
            "### Live performance",
            "",
            f"{_metric(p)} on {p['rows']:,} rows with actuals: {p['live']:.3f} vs evaluated "
            f"{p['evaluated']:.3f} (ratio {p['ratio']:.2f}, limit {p['limit']:.3f}): {state}",
        ]
    if result.notes:
        lines += ["", *(f"- {code(note)}" for note in result.notes)]
    if plots:
        lines += ["", "### Distributions", ""]
        lines += [f"![{code(name)}]({quote(path)})" for name, path in plots.items()]
    t = result.params.thresholds
    lines += [
        "",
        f"Thresholds (params.yaml `monitoring.thresholds`): PSI > {t.psi:g}, KS D > {t.ks:g}, "
        f"unseen share > {t.unseen_share:g}, missing share +{t.null_share_increase:g}, "
        f"prediction KS D > {t.prediction_ks:g}, live metric {t.metric_ratio:g} x worse than "
        "evaluated (above for an error or loss, below for accuracy or AUC), "
        f"median shift within a key > {t.key_shift:.0%}. KS D (and, for `monitoring.within` "
        "columns, the shift within their key) gates numeric columns, PSI categorical ones; the "
        "other figures are for reading.",
        "",
    ]
    return "\n".join(lines)


def terminal(result: DriftResult) -> str:
    """Drifted columns one per line, worst first, then the headline."""
    lines = []
    drifted = [c for c in result.columns if c.drifted]
    if result.prediction is not None and result.prediction.drifted:
        drifted.append(result.prediction)
    for c in drifted:
        lines.append(one_line(f"DRIFT {c.column}: {'; '.join(c.reasons)}"))
    if result.performance is not None and result.performance["degraded"]:
        p = result.performance
        lines.append(f"DRIFT live {_metric(p)} {_comparison(p)}; evaluated {p['evaluated']:.3f}")
    lines += [one_line(f"note: {note}") for note in result.notes]
    lines.append(headline(result))
    return "\n".join(lines)
