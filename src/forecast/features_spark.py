"""The `prepare` stage on Spark (`compute.engine: spark`): Spark spreads the series, polars builds
their features with forecast.features.build_features, the one definition of them.

Spark reads the raw sales and range-partitions them by series (club, item), so every series is
whole in one partition and the partitions follow each other in key order. Each partition reaches
a Python worker as Arrow batches, in (club, item, date) order; the worker gathers whole series
into chunks of about ``CHUNK_ROWS`` rows, builds each chunk's features and writes them as a
Parquet part (a series' features do not depend on the other series: tests/forecast holds it).
The driver then joins the parts, in order, into the one file the later stages read. The features
are the local engine's by construction: the same function builds them.

Why not Spark's own window functions: the first version built the features with them (lags and
rolling statistics as range frames over the day number, running sums for the means and
deviations); that was a second definition of every feature to keep equal to the first, and 1.8x
slower at 10M rows on 2 cores (benchmarks/spark_scale.py; the figures in benchmarks/README.md).
The price: the workers need this package and polars (on a cluster, the job's Python environment;
README "Past one machine"), and the workers write the parts where the driver reads them (a local
master, or a path every node shares).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from conveyor.errors import DataError
from conveyor.files import atomic_path
from forecast.features import build_features
from forecast.params import FeatureParams
from forecast.schema import KEYS, RAW_SCHEMA, SERIES_KEYS, conform_raw

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

# Rows a worker builds at once: enough that polars' per-call cost vanishes (about 1,000 calls at
# 10M rows with Arrow's default batch), few enough to bound a worker's memory (~1 GB at 500k).
CHUNK_ROWS = 500_000
# Rows per Arrow batch on the way to the workers, for this stage's job only: Spark's default
# (10,000) costs 2-3 s more at 10M rows.
ARROW_BATCH_ROWS = 100_000
PART_SCHEMA = "partition int, chunk int, path string, rows bigint"


def run_spark(
    spark: SparkSession,
    raw_path: Path,
    params: FeatureParams,
    country: str,
    out: Path,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Read raw sales with Spark, write the feature table to the one file ``out``; return its
    row count."""
    raw = _raw_columns(spark.read.parquet(str(raw_path)))
    ordered = raw.repartitionByRange(*SERIES_KEYS).sortWithinPartitions(*KEYS)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".features-", dir=out.parent))
    try:
        build = PartBuilder(staging, str(raw_path), params, country, chunk_rows)
        with _arrow_batch_rows(spark, ARROW_BATCH_ROWS):
            written = ordered.mapInArrow(build, PART_SCHEMA).collect()
        if not written:  # forecast.features.run refuses raw sales without rows first
            raise DataError(f"{raw_path}: Spark built no Parquet part")
        parts = [Path(row.path) for row in sorted(written, key=lambda r: (r.partition, r.chunk))]
        with atomic_path(out) as target:
            _join(parts, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sum(row.rows for row in written)


def _raw_columns(raw: DataFrame) -> DataFrame:
    """The raw schema's columns only (another column is not shuffled, and a dot in its name is
    no struct field to resolve), the series keys as text: the order conform_raw gives them."""
    from pyspark.sql import functions as sf

    def column(name: str) -> Column:
        picked = sf.col(f"`{name}`")
        return picked.cast("string").alias(name) if name in SERIES_KEYS else picked

    return raw.select(*(column(name) for name in RAW_SCHEMA))


class PartBuilder:
    """The function each Spark task runs (through ``mapInArrow``): whole series in, one row per
    Parquet part written out. Pickled to the workers with its parameters."""

    def __init__(
        self, staging: Path, origin: str, params: FeatureParams, country: str, chunk_rows: int
    ) -> None:
        self.staging, self.origin, self.chunk_rows = staging, origin, chunk_rows
        self.params, self.country = params, country

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context else 0
        attempt = context.attemptNumber() if context else 0
        rows = []
        for number, chunk in enumerate(whole_series(batches, self.chunk_rows)):
            # Typed as the local engine types the whole file (a chunk is never empty); a value
            # that cannot be typed is its one-line error (conveyor.compute.spark_failures).
            raw = conform_raw(chunk, self.origin)
            features = build_features(raw, self.params, self.country)
            # The attempt in the name: a retried task never overwrites a part another attempt
            # may still be writing; the driver keeps the parts of the attempt Spark reports.
            path = self.staging / f"part-{partition:05d}-{number:05d}-{attempt}.parquet"
            features.write_parquet(path, statistics=True)
            row = {"partition": partition, "chunk": number, "path": str(path)}
            rows.append({**row, "rows": features.height})
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=_part_schema())


def _part_schema() -> pa.Schema:
    import pyarrow as pa

    fields = [("partition", pa.int32()), ("chunk", pa.int32())]
    return pa.schema([*fields, ("path", pa.string()), ("rows", pa.int64())])


def whole_series(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Key-ordered batches as frames of whole series: once ``chunk_rows`` rows are pending, all
    but the last series go out; the last, maybe cut between batches, waits for the rest."""
    pending: list[pl.DataFrame] = []
    rows = 0
    for batch in batches:
        frame = pl.DataFrame(batch)
        pending.append(frame)
        rows += frame.height
        if rows < chunk_rows:
            continue
        table = pl.concat(pending, rechunk=False)
        start = _last_series_start(table)
        if start == 0:
            continue  # one series so far: keep gathering
        yield table.head(start)
        pending, rows = [table.slice(start)], table.height - start
    if rows:
        yield pl.concat(pending, rechunk=False)


def _last_series_start(table: pl.DataFrame) -> int:
    """The row where the table's last series begins (rows are in series order)."""
    last = table.select(SERIES_KEYS).row(-1)
    # eq_missing: a null key is a series of its own, as in the local engine's grouping.
    same = pl.all_horizontal(
        pl.col(k).eq_missing(pl.lit(v, dtype=table.schema[k]))
        for k, v in zip(SERIES_KEYS, last, strict=True)
    )
    # The series is a run at the end: its first row is the first that matches.
    return int(table.select(same.arg_max()).item())


@contextmanager
def _arrow_batch_rows(spark: SparkSession, rows: int) -> Iterator[None]:
    """Spark's Arrow batch size set for the jobs of this block, then put back as it was."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key, None)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _join(parts: list[Path], target: Path) -> None:
    """The parts, in order, as one Parquet file: polars streams them (memory holds a few row
    groups, not the table)."""
    pl.scan_parquet(parts).sink_parquet(target, statistics=True)
