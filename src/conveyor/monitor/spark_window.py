"""A window on Spark (`compute.engine: spark`): each figure of the drift check is an aggregation
that runs where the data is, and only small results reach this process (counts, per-key medians,
a sample of at most ``monitoring.sample_rows`` values per column), so a window larger than this
machine's memory can be compared.

Against the local engine (frames.LocalWindow): counts, missing shares and per-key medians are
exact (Spark's ``median`` is the exact percentile, interpolated as polars' is). A column with at
most ``sample_rows`` values is brought whole, so KS, Wasserstein and the PSI bins are the local
ones; a longer one is sampled by Spark (seeded Bernoulli, then cut to the limit here), which is
uniform too but not the local sample: its figures differ by sampling error (~1/sqrt(n))."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from conveyor.errors import DataError
from conveyor.monitor.frames import named_counts
from conveyor.monitor.stats import binned_shares
from conveyor.monitor.window import Values, Window
from conveyor.spark_read import read_spark_files

__all__ = ["SparkWindow", "open_spark_window"]

# Bernoulli sampling draws about fraction x count values: this many standard deviations above
# the limit, so that fewer than the limit come back about once in a billion runs (and then the
# sample is only a little smaller, still uniform).
MARGIN_SD = 6.0


def open_spark_window(spark: Any, origin: str, files: list[Path], csv: bool) -> SparkWindow:
    """The window of ``files`` on Spark: a CSV file is parsed once and kept (each figure is a
    job of its own); Parquet is read again per job, one column at a time, from the files, and
    its rows are counted from the files' footers (no job)."""
    import pyarrow.parquet as pq
    from pyspark.errors import PySparkException
    from pyspark.sql.pandas.types import to_arrow_schema

    frame = read_spark_files(spark, files, origin, csv=csv)
    if csv:
        frame = frame.persist()  # spills to disk when it does not fit in memory
    try:
        arrow = to_arrow_schema(frame.schema, timezone="UTC")
        footers = (pq.read_metadata(f).num_rows for f in files)
        rows = int(frame.count()) if csv else sum(footers)
    except (PySparkException, OSError, ValueError) as exc:
        raise DataError(f"{origin}: cannot read ({str(exc).splitlines()[0]})") from None
    schema = dict(pl.from_arrow(arrow.empty_table()).schema)  # type: ignore[union-attr]
    return SparkWindow(origin, frame, schema, rows)


class SparkWindow(Window):
    """A window read by Spark: a lazy Spark DataFrame."""

    def __init__(self, origin: str, frame: Any, schema: dict[str, pl.DataType], rows: int) -> None:
        super().__init__(origin, schema, rows)
        self.frame = frame

    def _present(self, name: str) -> Any:
        """True where the value is there: not null, nor NaN in a float column."""
        from pyspark.sql import functions as sf

        column = sf.col(f"`{name}`")
        present = column.isNotNull()
        return present & ~sf.isnan(column) if self.schema[name].is_float() else present

    def values(self, name: str, limit: int, seed: int) -> Values:
        from pyspark.sql import functions as sf

        number = sf.col(f"`{name}`").cast("double").alias(name)
        present = self.frame.filter(self._present(name)).select(number)
        # At most ``limit`` values: brought whole (one job, no count first) and binned here.
        if self.rows <= limit or (count := int(present.count())) <= limit:
            values = _numbers(present, name)
            shares = partial(binned_shares, values)
            return Values(values, len(values), self._missing(len(values)), shares)

        fraction = min(1.0, (limit + MARGIN_SD * math.sqrt(limit)) / count)
        drawn = np.sort(_numbers(present.sample(fraction=fraction, seed=seed), name))
        # Sorted first: the cut does not depend on the order Spark's partitions came in.
        if len(drawn) > limit:
            rng = np.random.default_rng(seed)
            drawn = drawn[np.sort(rng.choice(len(drawn), size=limit, replace=False))]

        def shares(edges: np.ndarray) -> np.ndarray:
            # Bin k holds edges[k-1] <= v < edges[k] (numpy's searchsorted side="right"): from
            # the counts below each edge, in one pass over every value.
            value = sf.col(f"`{name}`")
            below = present.agg(*[sf.count_if(value < float(e)) for e in edges]).first()
            cumulative = np.array([0, *(int(c) for c in below or []), count])
            return np.diff(cumulative) / count

        return Values(drawn, count, self._missing(count), shares)

    def _missing(self, present: int) -> float:
        return (self.rows - present) / self.rows if self.rows else 0.0

    def counts(self, name: str) -> tuple[dict[str, int], float]:
        from pyspark.sql import functions as sf

        # One job: counts per distinct value, missing ones included, named here by the local
        # engine's rule (frames.named_counts).
        grouped = _polars(self.frame.groupBy(sf.col(f"`{name}`").alias(name)).count())
        return named_counts(grouped[name], grouped["count"], self.rows)

    def key_medians(self, column: str, key: str) -> pl.DataFrame:
        from pyspark.sql import functions as sf

        number = sf.col(f"`{column}`").cast("double")
        finite = number.isNotNull() & ~sf.isnan(number) & (sf.abs(number) != float("inf"))
        medians = (
            self.frame.select(sf.col(f"`{key}`").cast("string").alias(key), number.alias(column))
            .filter(sf.col(f"`{key}`").isNotNull() & finite)
            .groupBy(key)
            .agg(sf.median(column).alias("median"))
        )
        return _polars(medians)

    def pairs(self, first: str, second: str) -> pl.DataFrame:
        from pyspark.sql import functions as sf

        both = sf.col(f"`{first}`").isNotNull() & sf.col(f"`{second}`").isNotNull()
        return _polars(self.frame.filter(both).select(f"`{first}`", f"`{second}`"))


def _polars(frame: Any) -> pl.DataFrame:
    """A small Spark result as a polars frame (through Arrow)."""
    return pl.DataFrame(pl.from_arrow(frame.toArrow()))


def _numbers(frame: Any, name: str) -> np.ndarray:
    """The one float column of ``frame`` as a numpy array."""
    return np.asarray(frame.toArrow().column(name).to_numpy(), dtype=np.float64)
