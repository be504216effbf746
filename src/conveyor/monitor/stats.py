"""Drift statistics for one column, from scipy: PSI (``scipy.special.rel_entr``) for categories and
reference-quantile bins, Kolmogorov-Smirnov D (``scipy.stats.ks_2samp``) and Wasserstein distance
(``scipy.stats.wasserstein_distance``) for numbers. Thresholds apply to effect sizes, never to
p-values, which are ~0 for any difference once windows hold millions of rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "EPSILON",
    "ColumnDrift",
    "binned_psi",
    "binned_shares",
    "categorical",
    "judge_missing",
    "numeric",
    "psi",
    "quantile_edges",
]

# Share given to a bin or category that one side never has: keeps PSI finite (log of 0) while
# still making a category that appears from nowhere count heavily.
EPSILON = 1e-4
UNSEEN_SHOWN = 5  # new categories named in the report


@dataclass
class ColumnDrift:
    """The verdict for one column, with the figures behind it."""

    column: str
    kind: str  # numeric | categorical
    role: str  # feature | prediction
    drifted: bool = False
    severity: float = 0.0  # largest statistic / threshold: > 1 means drifted; sorts the report
    reasons: list[str] = field(default_factory=list)
    null_share: tuple[float, float] = (0.0, 0.0)  # reference, current
    psi: float | None = None
    ks: float | None = None
    ks_pvalue: float | None = None
    wasserstein: float | None = None  # in reference standard deviations
    unseen_share: float | None = None
    key_shift: float | None = None  # typical relative change within monitoring.within's key
    key: str | None = None
    unseen: list[str] = field(default_factory=list)
    plot: dict[str, object] = field(default_factory=dict)  # what plots.py draws

    def judge(self, name: str, value: float | None, limit: float, reason: str) -> None:
        """Record ``value`` against ``limit``: beyond it, the column has drifted for ``reason``."""
        if value is None:
            return
        ratio = value / limit if limit > 0 else (float("inf") if value > 0 else 0.0)
        self.severity = max(self.severity, ratio)
        if value > limit:
            self.drifted = True
            self.reasons.append(f"{name} {value:.3g} > {limit:g}: {reason}")


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins:
    sum((c - r) * ln(c / r)), i.e. KL(c||r) + KL(r||c), with empty bins floored at EPSILON."""
    from scipy import special  # scipy.stats and .special load in ~2 s: only when comparing

    r = np.maximum(reference, EPSILON)
    c = np.maximum(current, EPSILON)
    return float(np.sum(special.rel_entr(c, r) + special.rel_entr(r, c)))


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (duplicates merged, so a discrete column gets
    fewer, wider bins); the outer bins are open-ended."""
    levels = np.linspace(0, 1, bins + 1)[1:-1]
    # inverted_cdf: edges are observed values, so integer codes are not split between them.
    return np.unique(np.quantile(reference, levels, method="inverted_cdf"))


def binned_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin defined by inner ``edges`` (len(edges) + 1 bins)."""
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def numeric(
    column: str, reference: np.ndarray, current: np.ndarray, ks_limit: float, role: str = "feature"
) -> ColumnDrift:
    """KS D (gates) and Wasserstein distance (reported) of two samples of non-missing values."""
    result = ColumnDrift(column, "numeric", role)
    if len(reference) == 0 or len(current) == 0:
        return result  # no values to compare: the missing-share rule decides
    from scipy import stats

    test = stats.ks_2samp(reference, current, method="asymp")
    result.ks, result.ks_pvalue = float(test.statistic), float(test.pvalue)
    spread = float(np.std(reference))
    distance = float(stats.wasserstein_distance(reference, current))
    result.wasserstein = distance / spread if spread > 0 else (0.0 if distance == 0 else None)
    result.judge("KS D", result.ks, ks_limit, "the distributions differ")
    return result


def binned_psi(reference: np.ndarray, current: np.ndarray, edges: np.ndarray) -> float:
    """PSI of two value arrays over the bins that inner ``edges`` define."""
    return psi(binned_shares(reference, edges), binned_shares(current, edges))


def categorical(
    column: str,
    reference: dict[str, int],
    current: dict[str, int],
    psi_limit: float,
    unseen_limit: float,
) -> ColumnDrift:
    """PSI over categories and the share of current rows whose category the reference never has."""
    result = ColumnDrift(column, "categorical", "feature")
    ref_total, cur_total = sum(reference.values()), sum(current.values())
    if ref_total == 0 or cur_total == 0:
        return result
    names = sorted(set(reference) | set(current))
    ref_shares = np.array([reference.get(n, 0) / ref_total for n in names])
    cur_shares = np.array([current.get(n, 0) / cur_total for n in names])
    result.psi = psi(ref_shares, cur_shares)
    # Most frequent first, ties by name: the same list whatever order the counts came in.
    new = sorted((n for n in current if n not in reference), key=lambda n: (-current[n], n))
    result.unseen_share = sum(current[n] for n in new) / cur_total
    result.unseen = new[:UNSEEN_SHOWN]
    result.judge("PSI", result.psi, psi_limit, "category shares moved")
    if new:
        shown = ", ".join(result.unseen) + (" ..." if len(new) > UNSEEN_SHOWN else "")
        result.judge(
            "unseen share",
            result.unseen_share,
            unseen_limit,
            f"{len(new)} categor{'y' if len(new) == 1 else 'ies'} never seen in training ({shown})",
        )
    return result


def judge_missing(result: ColumnDrift, reference: float, current: float, limit: float) -> None:
    """Flag a column whose share of missing values grew by more than ``limit``."""
    result.null_share = (reference, current)
    what = "every value is missing" if current == 1 else "more values are missing than in training"
    result.judge("missing share increase", current - reference, limit, what)
