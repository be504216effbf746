"""The `prepare` stage on Spark (`compute.engine: spark`): Spark spreads the series, polars builds
their features with forecast.features.build_features, the one definition of them.

Raw sales already in key order (ingest writes them so) are not shuffled: the driver cuts the
files' row groups into tasks of consecutive rows, sized as Spark's scan sizes its partitions
(``spark.sql.files.*``), Spark runs one task per Python worker slot, and each worker reads its
row groups itself (polars, from the file: 10M rows handed from Spark's own scan to Python as
Arrow took longer than the whole local stage) and builds every series that starts and ends in
its task, in chunks of about ``CHUNK_ROWS`` rows, each written as a Parquet part. The first and
last series of a task may continue in the next: the worker sets their raw rows aside and the
driver builds them. The workers check the order as they read, the driver that the tasks do not
overlap; raw sales in any other order are read and typed by the workers the same way and
handed to Spark, which range-partitions them by series (its shuffle and sort), so every series
is whole in one partition, and back to the workers. Either way the driver joins the
parts, in key order, into the one file the later stages read. The features are the local
engine's by construction: the same function builds them (a series' features do not depend on
the other series: tests/forecast).

Why not Spark's own window functions: the first version built the features with them (lags and
rolling statistics as range frames over the day number, running sums for the means and
deviations); that was a second definition of every feature to keep equal to the first, and 1.8x
slower at 10M rows on 2 cores (benchmarks/spark_scale.py; the figures in benchmarks/README.md).
The price: the workers need this package and polars (on a cluster, the job's Python environment;
README "Past one machine"), and they read the raw files and write the parts at the driver's paths
(a local master, or a path every node shares).
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import polars as pl

from conveyor.errors import DataError, UserError
from conveyor.files import atomic_path, parents_made
from conveyor.stored_data import parquet_files
from forecast.features import (
    build_features,
    delta_schema,
    parquet_read_errors,
    scan_files,
    sorted_by_keys,
    typed_sales,
)
from forecast.params import FeatureParams
from forecast.schema import KEYS, RAW_SCHEMA, SERIES_KEYS

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Row, SparkSession

# Rows a worker builds at once: enough that polars' per-call cost vanishes (about 1,000 calls at
# 10M rows with Arrow's default batch), few enough to bound a worker's memory (~1 GB at 500k).
CHUNK_ROWS = 500_000
# Rows per Arrow batch on the way to the workers (raw sales out of key order, which Spark reads
# and regroups), for this stage's job only: Spark's default (10,000) costs 2-3 s more at 10M rows.
ARROW_BATCH_ROWS = 100_000
PART_SCHEMA = (
    "partition int, chunk int, kind string, path string, rows bigint, "
    "first_club string, first_item string"
)
# What a part row stands for: a file of features or of edge rows, rows out of key order, or raw
# sales the worker refused (its one-line error in `path`).
FEATURES, EDGE, UNSORTED, REFUSED = "features", "edge", "unsorted", "refused"
PARTITION = "_partition"  # an edge row's task
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
    files, schema = parquet_files(raw_path), delta_schema(raw_path)
    with parents_made(out):
        staging = Path(tempfile.mkdtemp(prefix=".features-", dir=out.parent))
        try:
            with _arrow_batch_rows(spark, ARROW_BATCH_ROWS):
                parts = None
                build = Build(staging, str(raw_path), params, country, chunk_rows)
                if not _clubs_overlap(files):  # else the files cannot be in key order
                    parts = _in_file_order(spark, Reads(files, schema), build)
                if parts is None:  # not in key order: Spark regroups the series
                    shutil.rmtree(staging)
                    staging.mkdir(mode=0o700)
                    parts = _regrouped(spark, Reads(files, schema), build)
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


class Build(NamedTuple):
    """What the workers build and where they write it."""

    staging: Path
    origin: str  # the raw sales' path, as errors name it
    params: FeatureParams
    country: str
    chunk_rows: int


class Slice(NamedTuple):
    """A row group of a Parquet file: ``rows`` rows from row ``offset``."""

    file: str
    offset: int
    rows: int


class Reads(NamedTuple):
    """The raw sales' files, and the Delta log's schema to read them in (None: Parquet files)."""

    files: list[Path]
    schema: pl.Schema | None


def _regrouped(spark: SparkSession, reads: Reads, build: Build) -> list[Part]:
    """Features of raw sales in any order: the workers read and type the files' row groups (the
    tasks of _in_file_order) and hand them to Spark, which range-partitions them by series,
    sorted, so every series is whole in one partition and the partitions follow each other in
    key order. Read as the local engine reads them (not by Spark's own Parquet reader, which
    lists a folder, reads a Delta table's grown schema and nanosecond dates otherwise)."""
    tasks = _tasks(reads.files, *_split_sizes(spark))
    reader = RawReader(tasks, reads.schema, build.origin)
    numbers = spark.range(len(tasks), numPartitions=max(len(tasks), 1))
    raw = numbers.mapInArrow(reader, _raw_ddl())
    ordered = raw.repartitionByRange(*SERIES_KEYS).sortWithinPartitions(*KEYS)
    builder = PartBuilder(build, schema=None, tasks=None)
    written = _accepted(ordered.mapInArrow(builder, PART_SCHEMA).collect())
    return [
        Part(Path(row.path), row.rows)
        for row in sorted(written, key=lambda row: (row.partition, row.chunk))
    ]


def _in_file_order(spark: SparkSession, reads: Reads, build: Build) -> list[Part] | None:
    """Features of raw sales already in key order (as ingest writes them), without a shuffle;
    None when they are not.

    The files' row groups, in order, are cut into tasks of consecutive rows (_tasks), one Spark
    task each. Each worker reads its row groups and builds the series that start and end inside
    its task and keeps aside, as raw rows, the first and the last (either may continue in another
    task); the driver joins those edges and builds them. Workers check their rows are in strict
    key order without a null key, and stop at the first row out of order; the driver checks that
    the tasks' key ranges do not overlap, once the workers are done: files each in key order
    whose ranges overlap without their footers showing it are built twice. Then Spark regroups.
    """
    if scan_files(reads.files, reads.schema).collect_schema()["date"] != pl.Date:
        return None  # dates as text: their order is only known once each worker types them
    tasks = _tasks(reads.files, *_split_sizes(spark))
    builder = PartBuilder(build, reads.schema, tasks)
    # One row per task, one task per partition: Spark places them on its workers' slots.
    numbers = spark.range(len(tasks), numPartitions=max(len(tasks), 1))
    written = _accepted(numbers.mapInArrow(builder, PART_SCHEMA).collect())
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
    edge_sales = typed_sales(edge_rows.sort(KEYS), build.origin)
    features = build_features(edge_sales, build.params, build.country)
    for number, series in enumerate(features.partition_by(SERIES_KEYS, maintain_order=True)):
        path = build.staging / f"edge-{number:05d}.parquet"
        series.write_parquet(path, compression=PART_CODEC)
        parts.append((series.select(SERIES_KEYS).row(0), Part(path, series.height)))
    if not parts:  # no series has a row with history: the table is empty, with its columns
        path = build.staging / "edge-empty.parquet"
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


def _tasks(files: list[Path], max_bytes: int, open_cost: int, least: int) -> list[list[Slice]]:
    """The files' row groups, in order, as tasks of consecutive row groups, cut as Spark's scan
    cuts files into partitions (FilePartition): splits of a file of ``limit`` bytes each, packed
    while a partition's bytes, plus ``open_cost`` per split, stay within ``limit``; a row group
    goes with the split that holds its middle byte, so it is never cut. ``limit`` is
    min(``max_bytes``, max(``open_cost``, all bytes / ``least``)): spark.sql.files.*
    maxPartitionBytes, openCostInBytes, minPartitionNum (or the cores). Unlike Spark, splits
    stay in file order (Spark packs the largest first) and no task is empty."""
    sizes = [file.stat().st_size for file in files]
    total = sum(size + open_cost for size in sizes)
    limit = max(min(max_bytes, max(open_cost, total // max(least, 1))), 1)
    tasks: list[list[Slice]] = []
    task: list[Slice] = []
    used = 0
    for file, size in zip(files, sizes, strict=True):
        groups = _row_groups(file)
        for start in range(0, size, limit):
            length = min(limit, size - start)
            if used and used + length > limit:
                tasks.append(task)
                task, used = [], 0
            task += [piece for piece, middle in groups if start <= middle < start + length]
            used += length + open_cost
    return [task for task in [*tasks, task] if task]


def _row_groups(file: Path) -> list[tuple[Slice, int]]:
    """Each row group of the Parquet ``file`` with rows, and the offset of its middle byte."""
    import pyarrow.parquet as pq

    metadata, offset = pq.read_metadata(file), 0
    groups = []
    for number in range(metadata.num_row_groups):
        group = metadata.row_group(number)
        first = group.column(0)
        start = first.data_page_offset
        if first.has_dictionary_page and 0 < first.dictionary_page_offset < start:
            start = first.dictionary_page_offset
        size = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        if group.num_rows:
            groups.append((Slice(str(file), offset, group.num_rows), start + size // 2))
        offset += group.num_rows
    return groups


def _split_sizes(spark: SparkSession) -> tuple[int, int, int]:
    """The session's settings for cutting files into tasks, as _tasks takes them."""
    least = spark.conf.get("spark.sql.files.minPartitionNum", None)
    if not least:
        try:
            least = str(spark.sparkContext.defaultParallelism)
        except Exception:  # Spark Connect: no SparkContext here (PySparkNotImplementedError)
            least = spark.conf.get("spark.default.parallelism", None) or "1"
    return (
        spark_bytes(spark.conf.get("spark.sql.files.maxPartitionBytes")),
        spark_bytes(spark.conf.get("spark.sql.files.openCostInBytes")),
        int(least),
    )


# Spark's size suffixes (JavaUtils.byteStringAs): powers of 1,024; a bare number is bytes.
_POWERS = {"": 0, "b": 0, "k": 1, "kb": 1, "m": 2, "mb": 2, "g": 3, "gb": 3, "t": 4, "tb": 4}
_POWERS |= {"p": 5, "pb": 5}


def spark_bytes(text: str | None) -> int:
    """A Spark size setting (``134217728b``, ``64m``, ``2000``) in bytes (Spark has refused a
    malformed one when the session read its settings)."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", (text or "").lower())
    if match is None or match[2] not in _POWERS:
        raise UserError(f"compute.spark.conf: cannot read {text!r} as a size in bytes (e.g. 64m)")
    return int(match[1]) * 1024 ** _POWERS[match[2]]


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


# Spark's names for the raw schema's types, as the workers hand the raw sales to Spark.
_SPARK_TYPES = {pl.Date: "date", pl.String: "string", pl.Float64: "double", pl.Int8: "tinyint"}
_SPARK_TYPES |= {pl.Int64: "bigint"}
REFUSAL = "_refused"  # a worker's one-line error, in a row of its own, its other columns null


def _raw_ddl() -> str:
    """The raw sales' Spark schema, as RawReader hands them on, and the REFUSAL column."""
    columns = [f"{name} {_SPARK_TYPES[type(dtype)]}" for name, dtype in RAW_SCHEMA.items()]
    return ", ".join([*columns, f"{REFUSAL} string"])


class RawReader:
    """The function each Spark task runs to read raw sales (through ``mapInArrow``): task
    numbers in, the raw sales of each task's row groups out, typed as conform_raw types them.
    A worker that cannot read or type them hands on one row instead, its error in REFUSAL."""

    def __init__(self, tasks: list[list[Slice]], schema: pl.Schema | None, origin: str) -> None:
        self.tasks, self.schema, self.origin = tasks, schema, origin

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        target = _raw_arrow_schema()
        try:
            for batch in batches:
                for number in batch.column(0).to_pylist():
                    for frame in _read_slices(self.tasks[number], self.schema, self.origin):
                        # Repeated keys are found once Spark has sorted them (PartBuilder), as
                        # the local engine finds them: the first in key order.
                        typed = typed_sales(frame, self.origin, once=False)
                        typed = typed.with_columns(pl.lit(None, pl.String).alias(REFUSAL))
                        yield from typed.to_arrow().cast(target).to_batches()
        except UserError as error:
            yield pa.RecordBatch.from_pylist([{REFUSAL: str(error)}], schema=target)


def _raw_arrow_schema() -> pa.Schema:
    import pyarrow as pa

    arrow = {pl.Date: pa.date32(), pl.String: pa.string(), pl.Float64: pa.float64()}
    arrow |= {pl.Int8: pa.int8(), pl.Int64: pa.int64()}
    fields = [(name, arrow[type(dtype)]) for name, dtype in RAW_SCHEMA.items()]
    return pa.schema([*fields, (REFUSAL, pa.string())])


def _read_slices(
    slices: list[Slice], schema: pl.Schema | None, origin: str
) -> Iterator[pl.DataFrame]:
    """The raw columns of a task's row groups, one frame each, read as the local engine reads
    the files (scan_files), series keys as text (the order conform_raw gives them)."""
    for piece in slices:
        scan = scan_files([Path(piece.file)], schema).select(list(RAW_SCHEMA))
        with parquet_read_errors(origin):
            frame = scan.slice(piece.offset, piece.rows).collect()
        yield frame.with_columns(pl.col(SERIES_KEYS).cast(pl.String))


def _without_refusals(batches: Iterator[pa.RecordBatch]) -> Iterator[pl.DataFrame]:
    """RawReader's batches as frames of raw sales; a DataError at a worker's refusal."""
    for batch in batches:
        frame = pl.DataFrame(batch)
        refusals = frame.get_column(REFUSAL).drop_nulls()
        if len(refusals):
            raise DataError(refusals[0])
        yield frame.drop(REFUSAL)


class PartBuilder:
    """The function each Spark task runs (through ``mapInArrow``), one row out per Parquet file
    it wrote. Pickled to the workers with its parameters.

    With ``tasks``, its rows in are task numbers: the worker reads the row groups of each task
    (in ``schema``, a Delta log's, when not None); the first and the last series go to an edge
    file as raw rows (the driver builds them), and rows out of key order stop the task with one
    UNSORTED row. Without, its rows in are the partition's raw sales (RawReader's), every series
    whole and in key order (Spark regrouped them).
    """

    def __init__(
        self, build: Build, schema: pl.Schema | None, tasks: list[list[Slice]] | None
    ) -> None:
        self.build, self.schema, self.tasks = build, schema, tasks
        self.edges = tasks is not None

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        # The attempt in the names: a retried task never overwrites a file another attempt may
        # still be writing; the driver keeps the files of the attempt Spark reports.
        attempt = context.attemptNumber() if context else 0
        if self.tasks is None:
            partition = context.partitionId() if context else 0
            yield from self._built(partition, attempt, batches)
            return
        for batch in batches:
            for number in batch.column(0).to_pylist():
                read = _read_slices(self.tasks[number], self.schema, self.build.origin)
                yield from self._built(number, attempt, read)

    def _built(
        self, task: int, attempt: int, frames: Iterator[pa.RecordBatch] | Iterator[pl.DataFrame]
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        self._task = (task, attempt)
        chunk_rows = self.build.chunk_rows
        try:
            if self.edges:
                rows = self._written(whole_series(_in_key_order(frames), chunk_rows))
            else:  # RawReader's rows, regrouped
                rows = self._written(whole_series(_without_refusals(frames), chunk_rows))
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
            build = self.build
            features = build_features(typed_sales(chunk, build.origin), build.params, build.country)
            path = self._path("part", number)
            features.write_parquet(path, compression=PART_CODEC)
            first_series = chunk.select(SERIES_KEYS).row(0)
            rows.append(self._row(number, FEATURES, path, features.height, first_series))
        return rows

    def _path(self, kind: str, number: int) -> Path:
        task, attempt = self._task
        return self.build.staging / f"{kind}-{task:05d}-{number:05d}-{attempt}.parquet"

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
