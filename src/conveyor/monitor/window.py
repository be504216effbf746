"""What the drift check asks of a window, on either engine (params.yaml `compute.engine`): its
schema and row count, and per column a few figures that use every row (counts, bin shares,
per-key medians) or a seeded sample of at most ``monitoring.sample_rows`` values. Each engine
answers with small results only: the statistics themselves (stats.py) never see a whole column."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

__all__ = ["EdgesFor", "Values", "Window", "with_shares"]

# The inner bin edges for a column, from its name and its sample (None: no bins for it).
EdgesFor = Callable[[str, np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class Values:
    """The non-missing values of one numeric column: a seeded uniform sample of at most the
    limit (every value when there are no more), how many there are, and the share of rows where
    the value is missing (null or NaN); when bins were asked for, their inner edges and the share
    of every non-missing value in each bin (bin k holds edges[k-1] <= v < edges[k], as
    stats.binned_shares)."""

    sample: np.ndarray
    count: int
    missing: float
    edges: np.ndarray | None = None
    shares: np.ndarray | None = None


class Window(ABC):
    """A data set compared by the drift check: its origin (role and path), schema (polars types,
    whatever the engine) and row count."""

    def __init__(self, origin: str, schema: dict[str, pl.DataType], rows: int) -> None:
        self.origin = origin
        self.schema = schema
        self.rows = rows

    # The numeric columns are asked for together (Spark answers each question in one job for
    # all of them; the local engine reads each column once and is done with it).
    @abstractmethod
    def values(
        self, names: list[str], limit: int, seed: int, edges: EdgesFor | None = None
    ) -> dict[str, Values]:
        """Each numeric column of ``names`` as float64 values (see Values), with the bin shares
        over the inner edges ``edges`` picks for each column that has values."""

    @abstractmethod
    def counts(self, name: str) -> tuple[dict[str, int], float]:
        """Category counts keyed by text (1, 1.0 and True are all "1", so codes match whatever
        their type on either side) and the share of missing values."""

    @abstractmethod
    def key_medians(self, column: str, key: str) -> pl.DataFrame:
        """Per value of ``key`` (as text, non-null) the median of the finite values of
        ``column``: columns ``key`` and ``median``, one row per key."""

    @abstractmethod
    def pairs(self, first: str, second: str) -> pl.DataFrame:
        """The two columns on the rows where neither is null (live performance)."""


def with_shares(
    values: dict[str, Values],
    edges: EdgesFor,
    shares: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
) -> dict[str, Values]:
    """``values`` with the bin shares ``shares`` counts for the edges ``edges`` picks (for an
    engine that counts every column's bins in one pass after sampling)."""
    chosen = {n: e for n, v in values.items() if v.count and (e := edges(n, v.sample)) is not None}
    counted = shares(chosen) if chosen else {}
    return {n: replace(v, edges=chosen.get(n), shares=counted.get(n)) for n, v in values.items()}
