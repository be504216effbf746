"""Read a data set for checking: Parquet, CSV or a Delta table into pandas, or as a Spark DataFrame
(`compute.engine: spark`), types as the files hold them. A data set is a local path or a URL
(conveyor.stored_data: Parquet or a Delta table on object storage)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.delta_table import DeltaFeatureError, DeltaSnapshot, delta_snapshot, is_delta_table
from conveyor.errors import DataError
from conveyor.files import require_regular
from conveyor.spark_read import read_spark_delta, read_spark_files
from conveyor.stored_data import (
    Location,
    delta_log_at,
    filesystem,
    footer,
    has_delta_log,
    listed_delta,
    listed_parquet,
    parquet_files,
)

if TYPE_CHECKING:  # pandas and pydantic load only for the readers (not for `data manifest`)
    import pandas as pd

    from conveyor.checks.contract import Contract

__all__ = [
    "CSV_HEAD_BYTES",
    "SchemaConflict",
    "mixed_schema",
    "read_frame",
    "read_spark",
    "require_readable",
    "schema_conflict",
]

# Bytes of a CSV file read to check that it is text with a header row.
CSV_HEAD_BYTES = 64 * 1024


def read_frame(path: Location, contract: Contract | None) -> pd.DataFrame:
    """The data at ``path``; a missing or unreadable file is a DataError (usage error, exit 2)."""
    if isinstance(path, str):
        return _read_url(path)
    require_regular(path, "", DataError)  # a FIFO would block the read for ever
    if path.is_dir() and is_delta_table(path):
        return _read_delta(delta_snapshot(path))
    if path.is_dir():
        return _read_folder(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            # Dates as datetime64, not Python objects: typed, compact, comparable.
            return pq.read_table(path).to_pandas(date_as_object=False)
        if suffix == ".csv":
            import pandas as pd

            return _parse_dates(pd.read_csv(path), contract)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    raise DataError(f"{path}: unsupported file type {suffix!r} (use .parquet or .csv)")


def require_readable(path: Location, csv: bool = True) -> None:
    """A DataError (exit 2) naming ``path`` when it cannot be the data set a contract checks:
    missing, a FIFO or device, a type other than Parquet or CSV (Parquet only without ``csv``),
    a folder with no Parquet file, a Parquet file whose footer does not read, a CSV file that is
    empty or not UTF-8 text at its start. Cheap (footers and the first 64 KB), so a command
    checking several data sets refuses a bad one before validating any; the full read stays the
    final word."""
    if isinstance(path, str):
        _require_readable_url(path)
        return
    require_regular(path, "", DataError)
    if not (path.is_dir() or path.is_file()):
        raise DataError(f"{path}: no such data file")
    if path.is_dir() and is_delta_table(path):
        _require_delta_footers(path)
        return
    files = parquet_files(path)
    suffix = path.suffix.lower()
    kinds = (".parquet", ".csv") if csv else (".parquet",)
    if path.is_file() and suffix not in kinds:
        named = " or ".join(kinds)
        raise DataError(f"{path}: unsupported file type {suffix!r} (use {named})")
    try:
        if suffix == ".csv":
            _require_csv_text(path)
            return
        import pyarrow.parquet as pq

        for file in files:
            pq.read_metadata(file)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None


def _require_csv_text(path: Path) -> None:
    with path.open("rb") as file:
        head = file.read(CSV_HEAD_BYTES)
    if not head.strip():
        raise ValueError("an empty file (no header row)")
    if b"\x00" in head:
        raise ValueError("binary content (NUL bytes), not CSV text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) < CSV_HEAD_BYTES or exc.start < len(head) - 3:
            raise  # not a character merely cut at the end of the chunk read


@dataclass(frozen=True)
class SchemaConflict:
    """Two files of one data set that disagree on a column: its type, or whether it exists."""

    column: str
    observed: str
    rows: int  # of every file, from their footers


def mixed_schema(path: Location) -> SchemaConflict | None:
    """The first column whose type (or presence) differs between the Parquet files of the folder
    ``path``, read from their footers only; None for a file, or files that agree. Either engine
    would read such files wrongly (one file's schema for all: values cast, or a column of nulls)
    or stop with a stack trace; the contract reports it instead."""
    if isinstance(path, str):
        return _mixed_schema_url(path)
    if not path.is_dir() or is_delta_table(path):
        return None  # a Delta table has one schema, in its log: older files lack newer columns
    import pyarrow.parquet as pq

    files = parquet_files(path)
    if len(files) < 2:
        return None  # one file has one schema; none is the reader's error to report
    try:
        metadata = [(f, pq.read_metadata(f)) for f in files]
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    rows = sum(m.num_rows for _, m in metadata)
    schemas = [(str(f.relative_to(path)), m.schema.to_arrow_schema()) for f, m in metadata]
    return schema_conflict(schemas, rows)


def schema_conflict(schemas: Sequence[tuple[str, Any]], rows: int) -> SchemaConflict | None:
    """The first column whose type (or presence) differs between the first of the named arrow
    schemas (one per file, in the order given) and another; ``rows`` is the files' total."""
    if not schemas:
        return None
    first_name, first = schemas[0]
    for other_name, other in schemas[1:]:
        for name in dict.fromkeys([*first.names, *other.names]):
            one = first.field(name).type if name in first.names else None
            two = other.field(name).type if name in other.names else None
            if one == two:
                continue
            observed = f"{_typed(one)} in {first_name}, {_typed(two)} in {other_name}"
            return SchemaConflict(name, observed, rows)
    return None


def _typed(arrow_type: object) -> str:
    return "missing" if arrow_type is None else str(arrow_type)


def _read_folder(folder: Path) -> pd.DataFrame:
    """Every Parquet file below ``folder`` as one table (a partitioned output such as
    `name=value/part-0.parquet`): the columns the files hold, partition names not added."""
    files = [str(f) for f in parquet_files(folder)]
    return _read_files(str(folder), files, None, str(folder))


def _read_delta(snapshot: DeltaSnapshot) -> pd.DataFrame:
    """The table's current version, in its schema (see _read_files)."""
    root, files = str(snapshot.root), [str(f) for f in snapshot.files]
    return _read_files(root, files, None, root, snapshot.schema, snapshot.partition_columns)


def _read_files(
    origin: str,
    files: list[str],
    fs: Any,
    base: str,
    schema: Any = None,
    partitions: Sequence[str] = (),
) -> pd.DataFrame:
    """Parquet files as one table; with a Delta table's ``schema``, in it: partition columns
    from the folder names below ``base``, typed as the log declares them, an empty text value
    null (as Delta reads `region=`), a column added after a file was written null there."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    if not files and schema is not None:
        return schema.empty_table().to_pandas(date_as_object=False)
    fields = [schema.field(name) for name in partitions]
    try:
        table = ds.dataset(
            files,
            schema=schema,
            format="parquet",
            filesystem=fs,
            partitioning=ds.partitioning(pa.schema(fields), flavor="hive") if fields else None,
            partition_base_dir=base,
        ).to_table()
    except Exception as exc:  # I/O, credentials: the cloud SDK's errors are not all OSErrors
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{origin}: cannot read: {reason}") from None
    for field in fields:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table[field.name]
            empty = pc.equal(column, "")
            table = table.set_column(
                table.schema.get_field_index(field.name),
                field.name,
                pc.if_else(empty, pa.scalar(None, field.type), column),
            )
    return table.to_pandas(date_as_object=False)


def _parse_dates(frame: pd.DataFrame, contract: Contract | None) -> pd.DataFrame:
    # CSV has no date type: parse the contract's date columns; leave unparseable ones as text,
    # so the type rule reports them. Without a contract (profiling), nothing is guessed.
    import pandas as pd

    if contract is None:
        return frame
    for name, column in contract.columns.items():
        if column.type == "date" and name in frame:
            try:
                frame[name] = pd.to_datetime(frame[name], format="ISO8601")
            except (ValueError, TypeError):
                continue
    return frame


def read_spark(spark: Any, path: Location, contract: Contract | None) -> Any:
    """The data at ``path`` as a Spark DataFrame: a Parquet file, a folder of them (every file
    below it, partition folder names not added, as ``read_frame`` reads it), a Delta table or a
    CSV file. A URL goes to Spark as it is: its filesystem is the cluster's (s3a://, abfss://,
    gs:// with their connectors)."""
    if isinstance(path, str):
        return _read_spark_url(spark, path)
    require_regular(path, "", DataError)
    if not (path.is_dir() or path.is_file()):
        raise DataError(f"{path}: no such data file or folder")
    if path.is_dir() and is_delta_table(path):
        return _nan_as_missing(read_spark_delta(spark, path, str(path))).persist()
    suffix = "" if path.is_dir() else path.suffix.lower()
    if suffix not in ("", ".parquet", ".csv"):
        raise DataError(f"{path}: unsupported file type {suffix!r} (use .parquet or .csv)")
    parquet_files(path)  # a folder holds some
    # Every rule is a Spark job of its own: read the files once, keep them (spilling to disk
    # when they do not fit in memory).
    frame = _nan_as_missing(read_spark_files(spark, [path], str(path), csv=suffix == ".csv"))
    # Numbers typed as pandas types them (inferred); the contract's date columns parsed,
    # unparseable ones left as text for the type rule to report.
    return _spark_dates(frame, contract).persist() if suffix == ".csv" else frame.persist()


def _require_delta_footers(path: Path) -> None:
    """The footers of the Delta table's current files read. A table only Delta's own reader
    reads (deletion vectors) is left to it: a Spark session may have one."""
    import pyarrow.parquet as pq

    try:
        snapshot = delta_snapshot(path)
    except DeltaFeatureError:
        return
    for file in snapshot.files:
        try:
            pq.read_metadata(file)
        except (OSError, ValueError) as exc:
            raise DataError(f"{file}: cannot read: {str(exc).splitlines()[0]}") from None


def _require_readable_url(url: str) -> None:
    """The URL lists as a Parquet file, a folder of them or a Delta table's current files, and
    every footer reads (a table only Delta's own reader reads is left to it)."""
    fs, root = filesystem(url)
    try:
        log = delta_log_at(fs, root, url)
    except DeltaFeatureError:
        return
    if log is not None and not log.files:
        return  # an empty table: the contract's row rule says what that means
    listed = listed_parquet(fs, root, url) if log is None else listed_delta(fs, root, url, log)
    for relative, file, _ in listed:
        footer(fs, file, url if file == root else f"{url}: {relative}")


def _mixed_schema_url(url: str) -> SchemaConflict | None:
    fs, root = filesystem(url)
    if has_delta_log(fs, root):
        return None
    files = listed_parquet(fs, root, url)
    metadata = [(relative, footer(fs, file, f"{url}: {relative}")) for relative, file, _ in files]
    rows = sum(m.num_rows for _, m in metadata)
    return schema_conflict([(r, m.schema.to_arrow_schema()) for r, m in metadata], rows)


def _read_url(url: str) -> pd.DataFrame:
    """A Parquet file, folder or Delta table at a URL, read through its fsspec filesystem."""
    fs, root = filesystem(url)
    log = delta_log_at(fs, root, url)
    base = root.rstrip("/")
    if log is None:
        return _read_files(url, [f for _, f, _ in listed_parquet(fs, root, url)], fs, base)
    files = [f"{base}/{relative}" for relative in log.files]
    return _read_files(url, files, fs, base, log.schema, log.partition_columns)


def _read_spark_url(spark: Any, url: str) -> Any:
    """A Parquet file, folder or Delta table at a URL, read by Spark's own filesystems."""
    fs, root = filesystem(url)  # the listing is fsspec's: Spark's must reach the same place
    if has_delta_log(fs, root):
        frame = read_spark_delta(spark, url, url)
    else:
        listed_parquet(fs, root, url)  # one line for a missing or empty location
        frame = read_spark_files(spark, [url], url)
    return _nan_as_missing(frame).persist()


def _nan_as_missing(frame: Any) -> Any:
    """Float NaN as null: the local engine's pandas frame holds a missing float as NaN, so GX
    counts a NaN as missing there (not_null fails, range and mean skip it); Spark keeps NaN a
    value (not_null passes, range fails, the mean is NaN). As null, both engines agree."""
    from pyspark.sql import functions as sf
    from pyspark.sql.types import DoubleType, FloatType

    types = {f.name: f.dataType for f in frame.schema.fields}
    floats = [name for name, kind in types.items() if isinstance(kind, DoubleType | FloatType)]
    if not floats:
        return frame
    # The column's own type for the null, so a float32 column stays float32 for the type rule.
    missing = {name: sf.nanvl(_named(name), sf.lit(None).cast(types[name])) for name in floats}
    return frame.select(
        *(missing[c].alias(c) if c in missing else _named(c) for c in frame.columns)
    )


def _named(name: str) -> Any:
    """The column called ``name`` (quoted: a dot in a name is not a struct field)."""
    from pyspark.sql import functions as sf

    return sf.col("`" + name.replace("`", "``") + "`")


def _spark_dates(frame: Any, contract: Contract | None) -> Any:
    from pyspark.sql import functions as sf
    from pyspark.sql.types import StringType

    if contract is None:
        return frame
    for name, column in contract.columns.items():
        if column.type != "date" or name not in frame.columns:
            continue
        if not isinstance(frame.schema[name].dataType, StringType):
            continue  # already read as a date or timestamp
        parsed = sf.to_date(sf.col(name), "yyyy-MM-dd")
        # Only when every value parses: as for pandas, one bad value leaves the column text.
        unparsed = frame.filter(sf.col(name).isNotNull() & parsed.isNull()).limit(1).count()
        if not unparsed:
            frame = frame.withColumn(name, parsed)
    return frame
