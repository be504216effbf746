"""`conveyor monitor drift`: compare a current window with the training reference, column by
column, plus prediction drift and (when actuals are present) the live metric of
`monitoring.performance` against the evaluated one.

Memory: windows are scanned lazily and read one column at a time (params.yaml `compute.engine`
local), or each figure is a Spark aggregation and only small results come back (`spark`: see
spark_window.py). PSI, category shares and missing shares use every row; KS and Wasserstein use a
seeded uniform sample without replacement of at most ``monitoring.sample_rows`` non-missing
values per side, whose sampling error (~1/sqrt(n)) is far below any useful threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from conveyor.errors import DataError
from conveyor.monitor import keyed, stats
from conveyor.monitor.config import MonitoringParams
from conveyor.monitor.frames import locate, open_window
from conveyor.monitor.performance import live as live_performance
from conveyor.monitor.window import Window

__all__ = ["DriftResult", "run"]

PLOT_BINS = 40
# How each engine draws the KS / Wasserstein sample (spark_window.py: Bernoulli, then cut).
_SAMPLERS = {
    "local": "numpy default_rng",
    "spark": "Spark's Bernoulli sample, cut to size by numpy default_rng",
}
TOP_CATEGORIES = 15


@dataclass
class DriftResult:
    """Every column's verdict (worst first), prediction drift, live performance, and notes."""

    reference: dict[str, object]
    current: dict[str, object]
    columns: list[stats.ColumnDrift]
    prediction: stats.ColumnDrift | None
    performance: dict[str, object] | None
    params: MonitoringParams
    notes: list[str] = field(default_factory=list)
    engine: str = "local"  # params.yaml compute.engine: who drew the sample

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted feature columns, worst first."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def drifted(self) -> bool:
        """True when a feature, the predictions or live performance is beyond its threshold."""
        return bool(
            self.drifted_columns
            or (self.prediction is not None and self.prediction.drifted)
            or (self.performance is not None and self.performance["degraded"])
        )

    def to_json(self) -> dict[str, object]:
        """The machine verdict written to drift.json (plot data left out)."""

        def column(c: stats.ColumnDrift) -> dict[str, object]:
            data = asdict(c)
            data.pop("plot")
            data["null_share"] = {"reference": c.null_share[0], "current": c.null_share[1]}
            return data

        return {
            "drifted": self.drifted,
            "drifted_columns": self.drifted_columns,
            "reference": self.reference,
            "current": self.current,
            "columns": [column(c) for c in self.columns],
            "prediction": column(self.prediction) if self.prediction else None,
            "performance": self.performance,
            "thresholds": self.params.thresholds.model_dump(),
            "method": {
                "numeric": "Kolmogorov-Smirnov D (scipy.stats.ks_2samp) gates; Wasserstein "
                "distance / reference std (scipy.stats.wasserstein_distance) and PSI over "
                f"{self.params.bins} reference-quantile bins (numpy) are reported",
                "within": "numeric columns of monitoring.within also gate on the typical "
                "relative change of their per-key medians (exp of the median log-ratio - 1)",
                "categorical": "PSI over categories (scipy.special.rel_entr, empty shares "
                f"floored at {stats.EPSILON:g}) and the share of never-seen categories",
                "sampling": "KS and Wasserstein on a seeded uniform sample without replacement "
                f"({_SAMPLERS[self.engine]}({self.params.seed})) of at most "
                f"{self.params.sample_rows:,} values per side; every other figure uses all rows",
            },
            "notes": self.notes,
        }


def run(
    reference: Path,
    current: Path,
    params: MonitoringParams,
    root: Path = Path(),
    last_days: int | None = None,
    spark: Callable[[], Any] | None = None,
) -> DriftResult:
    """Compare ``current`` (its newest ``last_days`` days, for a partitioned log) with
    ``reference``; on Spark when ``spark`` is given (it starts the session, once both windows'
    files are found: a missing window is reported before a JVM starts). Usage problems raise
    DataError/ConfigError."""
    ref_files = locate(reference, "reference")
    cur_files = locate(current, "current", last_days)
    ref: Window
    cur: Window
    if spark is None:
        ref, cur = open_window(ref_files), open_window(cur_files)
    else:
        from conveyor.monitor.spark_window import open_spark_window

        session = spark()
        ref, cur = open_spark_window(session, ref_files), open_spark_window(session, cur_files)
    for window in (ref, cur):
        if window.rows == 0:
            raise DataError(f"{window.origin}: the window is empty (0 rows): nothing to compare")
        if window.rows < params.min_rows:
            raise DataError(
                f"{window.origin}: {window.rows} row{'s' if window.rows != 1 else ''}, fewer than "
                f"monitoring.min_rows={params.min_rows}: too few to tell drift from noise"
            )
    _check_schemas(ref, cur, params)
    notes: list[str] = []
    numeric = [name for name, kind in params.features.items() if kind == "numeric"]
    pooled = _numeric(numeric, ref, cur, params, params.thresholds.ks, "feature")
    for name, key in params.within.items():
        _within(pooled[name], ref, cur, key, params.thresholds.key_shift)
    columns = [
        pooled[name] if name in pooled else _categorical(name, ref, cur, params)
        for name in params.features
    ]
    columns.sort(key=lambda c: (not c.drifted, -c.severity, c.column))
    prediction = _prediction(ref, cur, params, notes)
    performance = live_performance(cur, params, root, notes)
    return DriftResult(
        {"path": str(reference), "rows": ref.rows},
        {"path": str(current), "rows": cur.rows},
        columns,
        prediction,
        performance,
        params,
        notes,
        "local" if spark is None else "spark",
    )


def _family(dtype: pl.DataType) -> str:
    if dtype == pl.Null:
        return "null"  # all values missing: fits any schema, and the missing-share rule fires
    if dtype == pl.Boolean or dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "string"
    if dtype.is_temporal():
        return "temporal"
    return str(dtype)


def _check_schemas(ref: Window, cur: Window, params: MonitoringParams) -> None:
    """Every monitored column exists on both sides with compatible types, or a one-line error."""
    for window in (ref, cur):
        missing = [name for name in params.features if name not in window.schema]
        if missing:
            raise DataError(
                f"{window.origin}: missing monitored column(s) {', '.join(missing)} "
                f"(params.yaml monitoring.features; it has: {', '.join(window.schema)})"
            )
        absent = sorted({key for key in params.within.values() if key not in window.schema})
        if absent:
            raise DataError(
                f"{window.origin}: missing key column(s) {', '.join(absent)} "
                f"(params.yaml monitoring.within; it has: {', '.join(window.schema)})"
            )
    problems = []
    for name, kind in params.features.items():
        a, b = _family(ref.schema[name]), _family(cur.schema[name])
        if kind == "numeric":
            bad = [
                f"{side} is {dtype}"
                for side, fam, dtype in (
                    ("reference", a, ref.schema[name]),
                    ("current", b, cur.schema[name]),
                )
                if fam not in ("integer", "float", "null")
            ]
            if bad:
                problems.append(f"{name} is numeric in monitoring.features but {', '.join(bad)}")
        elif "null" not in (a, b) and a != b and {a, b} != {"integer", "float"}:
            problems.append(
                f"{name} is {ref.schema[name]} in reference, {cur.schema[name]} in current"
            )
    if problems:
        raise DataError(f"reference and current have different schemas: {'; '.join(problems)}")


def _numeric(
    names: list[str], ref: Window, cur: Window, params: MonitoringParams, limit: float, role: str
) -> dict[str, stats.ColumnDrift]:
    """The numeric columns ``names``, judged by KS against ``limit`` (and missing shares)."""
    # Bin edges from the reference sample (its quantiles are exact to ~1/sqrt(n)); PSI counts
    # every value of both sides in those bins.
    ref_values = ref.values(
        names,
        params.sample_rows,
        params.seed,
        edges=lambda _, sample: stats.quantile_edges(sample, params.bins),
    )
    cur_values = cur.values(
        names, params.sample_rows, params.seed, edges=lambda name, _: ref_values[name].edges
    )
    results = {}
    for name in names:
        ours, theirs = ref_values[name], cur_values[name]
        result = stats.numeric(name, ours.sample, theirs.sample, limit, role)
        if ours.shares is not None and theirs.shares is not None:
            result.psi = stats.psi(ours.shares, theirs.shares)
            result.plot = _histograms(ours.sample, theirs.sample)
        limit_missing = params.thresholds.null_share_increase
        stats.judge_missing(result, ours.missing, theirs.missing, limit_missing)
        results[name] = result
    return results


def _categorical(
    name: str, ref: Window, cur: Window, params: MonitoringParams
) -> stats.ColumnDrift:
    limits = params.thresholds
    ref_counts, ref_missing = ref.counts(name)
    cur_counts, cur_missing = cur.counts(name)
    result = stats.categorical(name, ref_counts, cur_counts, limits.psi, limits.unseen_share)
    stats.judge_missing(result, ref_missing, cur_missing, limits.null_share_increase)
    result.plot = _shares(ref_counts, cur_counts)
    return result


def _within(result: stats.ColumnDrift, ref: Window, cur: Window, key: str, limit: float) -> None:
    """Judge the column's typical change within ``key`` (monitoring.within)."""
    shift = keyed.median_shift(ref, cur, result.column, key)
    result.key = key
    if shift is None:
        return  # no key with positive values on both sides: the pooled figures decide
    result.key_shift = shift.shift
    result.judge(
        f"median shift within {key}",
        abs(shift.shift),
        limit,
        f"the typical {key} is {shift.shift:+.0%} against training ({shift.keys} keys)",
    )


def _prediction(
    ref: Window, cur: Window, params: MonitoringParams, notes: list[str]
) -> stats.ColumnDrift | None:
    column = params.prediction
    absent = [w.origin for w in (ref, cur) if column not in w.schema]
    if absent:
        notes.append(
            f"prediction drift not measured: no {column!r} column in {' or '.join(absent)}"
        )
        return None
    if all(_family(w.schema[column]) in ("integer", "float", "null") for w in (ref, cur)):
        limit = params.thresholds.prediction_ks
        return _numeric([column], ref, cur, params, limit, "prediction")[column]
    # Predicted labels (a classifier's classes): compared as categories, by PSI.
    result = _categorical(column, ref, cur, params)
    result.role = "prediction"
    return result


def _histograms(reference: np.ndarray, current: np.ndarray) -> dict[str, object]:
    """Densities of both sides on shared bins spanning the central 99% of both (for the plot)."""
    low = float(min(np.quantile(reference, 0.005), np.quantile(current, 0.005)))
    high = float(max(np.quantile(reference, 0.995), np.quantile(current, 0.995)))
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, PLOT_BINS + 1)
    ref_density = np.histogram(reference, edges, density=True)[0]
    cur_density = np.histogram(current, edges, density=True)[0]
    return {
        "edges": edges.tolist(),
        "reference": ref_density.tolist(),
        "current": cur_density.tolist(),
    }


def _shares(reference: dict[str, int], current: dict[str, int]) -> dict[str, object]:
    """Shares of the most frequent categories of either side (for the plot)."""
    ref_total, cur_total = max(sum(reference.values()), 1), max(sum(current.values()), 1)
    both = {
        n: max(reference.get(n, 0) / ref_total, current.get(n, 0) / cur_total)
        for n in set(reference) | set(current)
    }
    names = sorted(both, key=lambda n: (-both[n], n))[:TOP_CATEGORIES]
    return {
        "categories": names,
        "reference": [reference.get(n, 0) / ref_total for n in names],
        "current": [current.get(n, 0) / cur_total for n in names],
    }
