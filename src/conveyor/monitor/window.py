"""What the drift check asks of a window, on either engine (params.yaml `compute.engine`): its
schema and row count, and per column a few figures that use every row (counts, bin shares,
per-key medians) or a seeded sample of at most ``monitoring.sample_rows`` values. Each engine
answers with small results only: the statistics themselves (stats.py) never see a whole column."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["Values", "Window"]


@dataclass(frozen=True)
class Values:
    """The non-missing values of one numeric column: a seeded uniform sample of at most the
    limit (every value when there are no more), how many there are, the share of rows where the
    value is missing (null or NaN), and their shares over bins (every value counted)."""

    sample: np.ndarray
    count: int
    missing: float
    shares: Callable[[np.ndarray], np.ndarray]  # inner bin edges -> share per bin (stats.py's)


class Window(ABC):
    """A data set compared by the drift check: its origin (role and path), schema (polars types,
    whatever the engine) and row count."""

    def __init__(self, origin: str, schema: dict[str, pl.DataType], rows: int) -> None:
        self.origin = origin
        self.schema = schema
        self.rows = rows

    @abstractmethod
    def values(self, name: str, limit: int, seed: int) -> Values:
        """The numeric column ``name`` as float64 values (see Values)."""

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
