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
import operator
from functools import reduce
from typing import Any

import numpy as np
import polars as pl

from conveyor.errors import DataError
from conveyor.monitor.frames import Located, named_counts
from conveyor.monitor.window import EdgesFor, Values, Window, with_shares
from conveyor.spark_read import read_spark_files

__all__ = ["AGGREGATES_PER_JOB", "SparkWindow", "open_spark_window"]

# Bernoulli sampling draws about fraction x count values: this many standard deviations above
# the limit, so that fewer than the limit come back about once in a billion runs (and then the
# sample is only a little smaller, still uniform).
MARGIN_SD = 6.0
# Aggregates in one Spark job. Past about this many the generated code of the aggregation
# outgrows what Spark compiles (spark.sql.codegen.hugeMethodLimit) and it runs interpreted: 162
# count_if in one job took ~10x 18 of them. A Parquet job reads only its own columns, so more
# jobs read no more data.
AGGREGATES_PER_JOB = 40


def open_spark_window(spark: Any, window: Located) -> SparkWindow:
    """The window of ``files`` on Spark: a CSV file is parsed once and kept (each figure is a
    job of its own); Parquet is read again per job, one column at a time, from the files, and
    its rows are counted from the files' footers (no job)."""
    import pyarrow.parquet as pq
    from pyspark.errors import PySparkException
    from pyspark.sql.pandas.types import to_arrow_schema

    origin, files, csv = window.origin, window.files, window.path.suffix.lower() == ".csv"
    try:
        # The footers first: a file that is not Parquet is this one line, not a failed Spark
        # task's error log.
        footers = None if csv else sum(pq.read_metadata(f).num_rows for f in files)
    except (OSError, ValueError) as exc:
        raise DataError(f"{origin}: cannot read ({str(exc).splitlines()[0]})") from None
    frame = read_spark_files(spark, files, origin, csv=csv)
    if csv:
        frame = frame.persist()  # spills to disk when it does not fit in memory
    try:
        arrow = to_arrow_schema(frame.schema, timezone="UTC")
        rows = int(frame.count()) if footers is None else footers
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

    def _number(self, name: str) -> Any:
        from pyspark.sql import functions as sf

        return sf.col(f"`{name}`").cast("double")

    def values(
        self, names: list[str], limit: int, seed: int, edges: EdgesFor | None = None
    ) -> dict[str, Values]:
        values = self._values(names, limit, seed)
        return values if edges is None else with_shares(values, edges, self._shares)

    def _values(self, names: list[str], limit: int, seed: int) -> dict[str, Values]:
        from pyspark.sql import functions as sf

        if self.rows <= limit:  # every value of every column: one job, no counting first
            table = self.frame.select(*[self._number(n).alias(n) for n in names]).toArrow()
            return {n: self._whole(_present(table.column(n))) for n in names}
        counted = self.frame.agg(*[sf.count_if(self._present(n)) for n in names]).first()
        counts = dict(zip(names, (int(c) for c in counted or []), strict=True))
        result = {}
        for name in (n for n in names if counts[n] <= limit):  # few values: brought whole
            kept = self.frame.filter(self._present(name)).select(self._number(name).alias(name))
            result[name] = self._whole(_numbers(kept, name))
        sampled = [n for n in names if counts[n] > limit]
        if sampled:
            result |= self._sampled({n: counts[n] for n in sampled}, limit, seed)
        return {n: result[n] for n in names}

    def _whole(self, values: np.ndarray) -> Values:
        return Values(values, len(values), self._missing(len(values)))

    def _sampled(self, counts: dict[str, int], limit: int, seed: int) -> dict[str, Values]:
        """Seeded samples of ``limit`` values of each column, in one job: a uniform number per
        row, and a column's value kept where it is present and that number is below the
        column's fraction (Bernoulli), so only about ``limit`` values per column come back."""
        from pyspark.sql import functions as sf

        draw = sf.rand(seed)
        frame = self.frame.withColumn("__draw", draw)
        wanted_values = limit + MARGIN_SD * math.sqrt(limit)
        keep = {
            n: self._present(n) & (sf.col("__draw") < min(1.0, wanted_values / count))
            for n, count in counts.items()
        }
        wanted = frame.filter(reduce(operator.or_, keep.values()))
        table = wanted.select(
            *[sf.when(k, self._number(n)).alias(n) for n, k in keep.items()]
        ).toArrow()
        result = {}
        rng = np.random.default_rng(seed)
        for name, count in counts.items():
            column = table.column(name)
            # Sorted first: the cut does not depend on the order Spark's partitions came in.
            drawn = np.sort(column.drop_null().to_numpy())
            if len(drawn) > limit:
                drawn = drawn[np.sort(rng.choice(len(drawn), size=limit, replace=False))]
            result[name] = Values(drawn, count, self._missing(count))
        return result

    def _shares(self, edges: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per column, the share of its non-missing values in each bin of its inner edges."""
        from pyspark.sql import functions as sf

        result = {}
        for names in _groups(edges, AGGREGATES_PER_JOB):
            # One pass per group: each column's non-missing count and its count below each edge
            # (null is counted by no count_if; NaN is above every number in Spark).
            aggregates = []
            for name in names:
                number = self._number(name)
                aggregates.append(sf.count_if(self._present(name)))
                aggregates += [sf.count_if(number < float(e)) for e in edges[name]]
            row = list(self.frame.agg(*aggregates).first() or [])
            for name in names:
                inner = edges[name]
                count, below = int(row[0]), [int(c) for c in row[1 : len(inner) + 1]]
                del row[: len(inner) + 1]
                result[name] = np.diff(np.array([0, *below, count])) / max(count, 1)
        return result

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


def _groups(edges: dict[str, np.ndarray], size: int) -> list[list[str]]:
    """The columns of ``edges`` in groups of at most ``size`` aggregates (a column's count and
    one per edge), a column never split; a column with more edges than that gets a group alone."""
    groups: list[list[str]] = []
    used = size
    for name, inner in edges.items():
        needed = len(inner) + 1
        if used + needed > size:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += needed
    return groups


def _polars(frame: Any) -> pl.DataFrame:
    """A small Spark result as a polars frame (through Arrow)."""
    return pl.DataFrame(pl.from_arrow(frame.toArrow()))


def _numbers(frame: Any, name: str) -> np.ndarray:
    """The one float column of ``frame`` as a numpy array."""
    return np.asarray(frame.toArrow().column(name).to_numpy(), dtype=np.float64)


def _present(column: Any) -> np.ndarray:
    """The values of an Arrow float column that are there: not null, nor NaN."""
    values = np.asarray(column.drop_null().to_numpy(), dtype=np.float64)
    return values[~np.isnan(values)]
