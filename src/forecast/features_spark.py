"""The `prepare` stage on Spark (`compute.engine: spark`): Spark spreads the series, polars builds
their features with forecast.features.build_features, the one definition of them.

Raw sales already in key order (ingest writes them so) are not shuffled: Spark's scan cuts the
files into partitions of consecutive rows, each reaches a Python worker as Arrow batches, and the
worker builds every series that starts and ends inside its partition, in chunks of about
``CHUNK_ROWS`` rows, each written as a Parquet part. The first and last series of a partition
may continue in the next: the worker sets their raw rows aside and the driver builds them. The
workers check the order as they read, the driver that the partitions do not overlap; raw sales
in any other order are range-partitioned by series first (Spark's shuffle and sort), so every
series is whole in one partition. Either way the driver joins the parts, in key order, into the
one file the later stages read. The features are the local engine's by construction: the same
function builds them (a series' features do not depend on the other series: tests/forecast).

Why not Spark's own window functions: the first version built the features with them (lags and
rolling statistics as range frames over the day number, running sums for the means and
deviations); that was a second definition of every feature to keep equal to the first, and 1.8x
slower at 10M rows on 2 cores (benchmarks/spark_scale.py; the figures in benchmarks/README.md).
The price: the workers need this package and polars (on a cluster, the job's Python environment;
README "Past one machine"), and the workers write the parts where the driver reads them (a local
master, or a path every node shares).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import polars as pl

from conveyor.delta_table import is_delta_table
from conveyor.errors import DataError, UserError
from conveyor.files import atomic_path, parents_made
from conveyor.stored_data import parquet_files
from forecast.features import build_features, sorted_by_keys, typed_sales
from forecast.params import FeatureParams
from forecast.schema import KEYS, RAW_SCHEMA, SERIES_KEYS

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, Row, SparkSession

# Rows a worker builds at once: enough that polars' per-call cost vanishes (about 1,000 calls at
# 10M rows with Arrow's default batch), few enough to bound a worker's memory (~1 GB at 500k).
CHUNK_ROWS = 500_000
# Rows per Arrow batch on the way to the workers, for this stage's job only: Spark's default
# (10,000) costs 2-3 s more at 10M rows.
ARROW_BATCH_ROWS = 100_000
PART_SCHEMA = (
    "partition int, chunk int, kind string, path string, rows bigint, "
    "first_club string, first_item string"
)
# What a part row stands for: a file of features or of edge rows, rows out of key order, or raw
# sales the worker refused (its one-line error in `path`).
FEATURES, EDGE, UNSORTED, REFUSED = "features", "edge", "unsorted", "refused"
PARTITION = "_partition"  # an edge row's Spark partition
# Staged files are read once, by the join, on this machine: a fast codec over a small one.
PART_CODEC = "lz4"


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
    # A Delta table: the files of its current version (the folder also holds removed ones).
    files = parquet_files(raw_path)
    sources = files if is_delta_table(raw_path) else [raw_path]
    raw = _raw_columns(spark.read.parquet(*(str(source) for source in sources)))
    with parents_made(out):
        staging = Path(tempfile.mkdtemp(prefix=".features-", dir=out.parent))
        try:
            with _arrow_batch_rows(spark, ARROW_BATCH_ROWS):
                parts = None
                if not _clubs_overlap(files):  # else the files cannot be in key order
                    parts = _in_file_order(raw, staging, str(raw_path), params, country, chunk_rows)
                if parts is None:  # not in key order: Spark regroups the series first
                    shutil.rmtree(staging)
                    staging.mkdir(mode=0o700)
                    parts = _regrouped(raw, staging, str(raw_path), params, country, chunk_rows)
            if not parts:  # forecast.features.run refuses raw sales without rows first
                raise DataError(f"{raw_path}: Spark built no Parquet part")
            with atomic_path(out) as target:
                _join([part.path for part in parts], target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return sum(part.rows for part in parts)


class Part(NamedTuple):
    """A Parquet file of features, in staging."""

    path: Path
    rows: int


def _regrouped(
    raw: DataFrame, staging: Path, origin: str, params: FeatureParams, country: str, chunk_rows: int
) -> list[Part]:
    """Features of raw sales in any order: Spark range-partitions them by series, sorted, so
    every series is whole in one partition and the partitions follow each other in key order."""
    ordered = raw.repartitionByRange(*SERIES_KEYS).sortWithinPartitions(*KEYS)
    build = PartBuilder(staging, origin, params, country, chunk_rows, edges=False)
    written = _accepted(ordered.mapInArrow(build, PART_SCHEMA).collect())
    return [
        Part(Path(row.path), row.rows)
        for row in sorted(written, key=lambda row: (row.partition, row.chunk))
    ]


def _in_file_order(
    raw: DataFrame, staging: Path, origin: str, params: FeatureParams, country: str, chunk_rows: int
) -> list[Part] | None:
    """Features of raw sales already in key order (as ingest writes them), without a shuffle;
    None when they are not.

    Spark's scan splits the files into partitions of consecutive rows. Each worker builds the
    series that start and end inside its partition and keeps aside, as raw rows, the first and
    the last (either may continue in another partition); the driver joins those edges and builds
    them. Workers check their rows are in strict key order without a null key, and stop at the
    first row out of order; the driver checks that the partitions' key ranges do not overlap,
    once the workers are done: files each in key order whose ranges overlap (one file per day,
    say) are built twice. Then Spark regroups.
    """
    from pyspark.sql.types import DateType

    if not isinstance(raw.schema["date"].dataType, DateType):
        return None  # dates as text: their order is only known once each worker types them
    build = PartBuilder(staging, origin, params, country, chunk_rows, edges=True)
    written = _accepted(raw.mapInArrow(build, PART_SCHEMA).collect())
    if any(row.kind == UNSORTED for row in written):
        return None
    edges = [Path(row.path) for row in written if row.kind == EDGE]
    if not edges:
        return []
    edge_rows = pl.read_parquet(edges)
    if not _ranges_apart(edge_rows):
        return None
    parts = [
        ((row.first_club, row.first_item), Part(Path(row.path), row.rows))
        for row in written
        if row.kind == FEATURES
    ]
    # The edge series, joined across partitions: few (two per partition), built here.
    features = build_features(typed_sales(edge_rows.sort(KEYS), origin), params, country)
    for number, series in enumerate(features.partition_by(SERIES_KEYS, maintain_order=True)):
        path = staging / f"edge-{number:05d}.parquet"
        series.write_parquet(path, compression=PART_CODEC)
        parts.append((series.select(SERIES_KEYS).row(0), Part(path, series.height)))
    if not parts:  # no series has a row with history: the table is empty, with its columns
        path = staging / "edge-empty.parquet"
        features.write_parquet(path, compression=PART_CODEC)
        parts.append((("", ""), Part(path, 0)))
    # Parts hold disjoint runs of series: in the order of their first series, they are in
    # key order (text keys without nulls: Python orders them as polars does, by code point).
    return [part for _, part in sorted(parts, key=lambda pair: pair[0])]


def _accepted(written: list[Row]) -> list[Row]:
    """The workers' rows, unless one refused its raw sales: then its one-line error, the first
    partition's, as the local engine gives it (raised here, a task that failed would print
    Spark's error log and a Java stack trace above it)."""
    refused = sorted((row.partition, row.path) for row in written if row.kind == REFUSED)
    if refused:
        raise DataError(refused[0][1])
    return written


def _clubs_overlap(files: list[Path]) -> bool:
    """Whether two files' club_id ranges overlap, from their footers' statistics (one file per
    day holds every club): their rows cannot then be in key order, and Spark regroups them
    without a build in file order first. False when unknown (no statistics, ids not text)."""
    import pyarrow.parquet as pq

    spans = []
    for file in files:
        metadata = pq.read_metadata(file)
        names = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
        if "club_id" not in names or metadata.num_rows == 0:
            return False
        column = names.index("club_id")
        stats = [
            metadata.row_group(g).column(column).statistics for g in range(metadata.num_row_groups)
        ]
        if not all(s is not None and s.has_min_max and isinstance(s.min, str) for s in stats):
            return False
        spans.append((min(s.min for s in stats), max(s.max for s in stats)))
    spans.sort()
    reach = None  # the largest club_id of the files so far
    for low, high in spans:
        if reach is not None and low < reach:  # touching (a club cut between files) is fine
            return True
        reach = high if reach is None else max(reach, high)
    return False


def _ranges_apart(edges: pl.DataFrame) -> bool:
    """The partitions' key ranges (each from its first to its last row, both edge rows) do not
    overlap: the files' rows, partition after partition, are in strict key order."""
    ends = (
        edges.sort(PARTITION, *KEYS)
        .group_by(PARTITION, maintain_order=True)
        .agg(pl.struct(KEYS).first().alias("first"), pl.struct(KEYS).last().alias("last"))
    )
    spans = sorted(
        (tuple(first.values()), tuple(last.values()))
        for first, last in ends.select("first", "last").rows()
    )
    return all(before[1] < after[0] for before, after in itertools.pairwise(spans))


def _raw_columns(raw: DataFrame) -> DataFrame:
    """The raw schema's columns only (another column is not shuffled, and a dot in its name is
    no struct field to resolve), the series keys as text: the order conform_raw gives them."""
    from pyspark.sql import functions as sf

    def column(name: str) -> Column:
        picked = sf.col(f"`{name}`")
        return picked.cast("string").alias(name) if name in SERIES_KEYS else picked

    return raw.select(*(column(name) for name in RAW_SCHEMA))


class PartBuilder:
    """The function each Spark task runs (through ``mapInArrow``): its partition's rows in, one
    row per Parquet file written out. Pickled to the workers with its parameters.

    With ``edges``, the rows are the scan's, in file order: the first and the last series go to
    an edge file as raw rows (the driver builds them), and rows out of key order stop the task
    with one UNSORTED row. Without, every series is whole and in key order (Spark regrouped them).
    """

    def __init__(
        self,
        staging: Path,
        origin: str,
        params: FeatureParams,
        country: str,
        chunk_rows: int,
        edges: bool,
    ) -> None:
        self.staging, self.origin, self.chunk_rows = staging, origin, chunk_rows
        self.params, self.country, self.edges = params, country, edges

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        from pyspark import TaskContext

        context = TaskContext.get()
        # The attempt in the names: a retried task never overwrites a file another attempt may
        # still be writing; the driver keeps the files of the attempt Spark reports.
        self._task = (context.partitionId(), context.attemptNumber()) if context else (0, 0)
        try:
            if self.edges:
                rows = self._written(whole_series(_in_key_order(batches), self.chunk_rows))
            else:
                rows = self._written(whole_series(batches, self.chunk_rows))
        except _OutOfOrderError:
            rows = [self._row(0, UNSORTED, "", 0)]  # the driver lets Spark regroup
        except UserError as error:  # a value that cannot be typed: the driver says so
            rows = [self._row(0, REFUSED, str(error), 0)]
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=_part_schema())

    def _written(self, chunks: Iterator[pl.DataFrame]) -> list[dict[str, object]]:
        """Build and write each chunk (with edges, the partition's first and last series go
        aside: a chunk is known to be the last only once the next one is not)."""
        rows: list[dict[str, object]] = []
        held, number = None, 0
        for number, chunk in enumerate(chunks):
            if held is not None:
                rows += self._write(number - 1, held, first=number == 1, last=False)
            held = chunk
        if held is not None:
            rows += self._write(number, held, first=number == 0, last=True)
        return rows

    def _write(
        self, number: int, chunk: pl.DataFrame, first: bool, last: bool
    ) -> list[dict[str, object]]:
        rows = []
        if self.edges:
            chunk, edge = _split_edges(chunk, first, last)
            if edge.height:
                path = self._path("edge", number)
                partition = pl.lit(self._task[0], pl.Int32).alias(PARTITION)
                edge.with_columns(partition).write_parquet(path, compression=PART_CODEC)
                rows.append(self._row(number, EDGE, path, edge.height))
        if chunk.height:
            # Typed as the local engine types the whole file (a chunk is never empty); a value
            # that cannot be typed is its one-line error (a REFUSED row, see _accepted).
            features = build_features(typed_sales(chunk, self.origin), self.params, self.country)
            path = self._path("part", number)
            features.write_parquet(path, compression=PART_CODEC)
            first_series = chunk.select(SERIES_KEYS).row(0)
            rows.append(self._row(number, FEATURES, path, features.height, first_series))
        return rows

    def _path(self, kind: str, number: int) -> Path:
        partition, attempt = self._task
        return self.staging / f"{kind}-{partition:05d}-{number:05d}-{attempt}.parquet"

    def _row(
        self,
        number: int,
        kind: str,
        path: Path | str,
        rows: int,
        first_series: tuple[object, ...] = (None, None),
    ) -> dict[str, object]:
        club, item = first_series
        return {
            "partition": self._task[0],
            "chunk": number,
            "kind": kind,
            "path": str(path),
            "rows": rows,
            "first_club": club,
            "first_item": item,
        }


def _part_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("partition", pa.int32()),
            ("chunk", pa.int32()),
            ("kind", pa.string()),
            ("path", pa.string()),
            ("rows", pa.int64()),
            ("first_club", pa.string()),
            ("first_item", pa.string()),
        ]
    )


class _OutOfOrderError(Exception):
    """A partition's rows are not in strict key order, or a key is null."""


def _in_key_order(batches: Iterator[pa.RecordBatch]) -> Iterator[pl.DataFrame]:
    """The batches as frames, while their rows are in strict (club, item, date) order with no
    null key, across batches too; _OutOfOrderError at the first that is not."""
    last: tuple[object, ...] | None = None
    for batch in batches:
        frame = pl.DataFrame(batch)
        if frame.height == 0:
            continue
        keys = frame.select(KEYS)
        if keys.null_count().sum_horizontal().item() or not sorted_by_keys(keys):
            raise _OutOfOrderError
        if last is not None and not last < keys.row(0):
            raise _OutOfOrderError
        last = keys.row(-1)
        yield frame


def _split_edges(chunk: pl.DataFrame, first: bool, last: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The chunk's inner series, and its rows of the partition's first series (when ``first``)
    and last series (when ``last``): those may continue in another partition."""
    head = _first_series_end(chunk) if first else 0
    tail = max(_last_series_start(chunk), head) if last else chunk.height
    return chunk.slice(head, tail - head), pl.concat([chunk.head(head), chunk.slice(tail)])


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
    # The series is a run at the end: its first row is the first that matches.
    return int(table.select(_same_series(table, -1).arg_max()).item())


def _first_series_end(table: pl.DataFrame) -> int:
    """The row after the table's first series (rows are in series order)."""
    other = table.select(_same_series(table, 0).not_().arg_true().first()).item()
    return table.height if other is None else int(other)


def _same_series(table: pl.DataFrame, row: int) -> pl.Expr:
    """True on the rows of the series of row ``row``."""
    keys = table.select(SERIES_KEYS).row(row)
    # eq_missing: a null key is a series of its own, as in the local engine's grouping.
    return pl.all_horizontal(
        pl.col(k).eq_missing(pl.lit(v, dtype=table.schema[k]))
        for k, v in zip(SERIES_KEYS, keys, strict=True)
    )


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
