"""Delta tables as data sets: a folder holding `_delta_log/` is read as the table's current
version, never as the Parquet files below it (those include every file an overwrite, a delete
or a compaction has since removed).

delta-rs (the `deltalake` package, ``conveyor[delta]``) reads the log: which files make the
current version, the table's schema, each file's partition values. Both engines then read those
Parquet files themselves, so a Delta table is checked by the same readers as a folder of Parquet.
delta-rs's own scanners are not used: a process that scanned with them aborts at exit now and then
("terminate called without an active exception", shared/TOOLCHAIN.md); reading its log does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from conveyor.errors import DataError, UserError

__all__ = [
    "LOG_FOLDER",
    "DeltaFeatureError",
    "DeltaLog",
    "DeltaSnapshot",
    "delta_snapshot",
    "is_delta_table",
    "read_delta_log",
]

LOG_FOLDER = "_delta_log"
# Reader features a table may use and still be read as its Parquet files: the others change
# what a file's rows mean (deletion vectors hide rows, column mapping renames columns, type
# widening leaves old files with narrower types), which only a Delta reader applies.
_PLAIN_READER_FEATURES = frozenset({"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"})


class DeltaFeatureError(UserError):
    """The table uses a feature that only a Delta reader applies (deletion vectors, column
    mapping): a usage error here, where a session with Delta's own reader may still read it."""


@dataclass(frozen=True)
class DeltaLog:
    """What the log of a Delta table says of one version: its files (as the log names them,
    relative to the table's location unless absolute), its schema (arrow, partition columns
    included) and the columns whose values live in the folder names, not the files."""

    location: str
    version: int
    files: list[str]
    schema: Any  # pyarrow.Schema
    partition_columns: list[str]
    # Each file's partition values as the log records them (typed), by its path in ``files``.
    partition_values: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class DeltaSnapshot:
    """One version of a Delta table on this machine: its Parquet files as absolute paths."""

    root: Path
    version: int
    files: list[Path]
    schema: Any  # pyarrow.Schema
    partition_columns: list[str]


def is_delta_table(path: Path) -> bool:
    """Whether ``path`` is the folder of a Delta table."""
    return (path / LOG_FOLDER).is_dir()


def read_delta_log(location: str) -> DeltaLog:
    """The current version of the Delta table at ``location`` (a path, or a URL delta-rs reaches
    with the credentials of the environment: s3://, gs://, abfss://). A DataError (exit 2) naming
    the table when its log cannot be read or it uses a feature that reading its files would get
    wrong."""
    from conveyor.extras import MissingExtraError, install_hint, missing

    if missing("delta"):
        raise MissingExtraError(
            f"{location}: a Delta table: reading it needs conveyor[delta]: {install_hint('delta')}"
        )
    import pyarrow as pa
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    try:
        table = DeltaTable(location)
        _require_plain(location, table)
        schema = pa.schema(table.schema().to_arrow())
        partitions = list(table.metadata().partition_columns)
        actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
        version = table.version()
    except (DeltaError, OSError, ValueError) as exc:
        reason = _first_line(exc)
        if len(reason) > 300:  # delta-rs prints some errors as whole debug structures
            reason = reason[:300] + " ..."
        raise DataError(f"{location}: not a readable Delta table: {reason}") from None
    values = {
        unquote(str(action["path"])): {name: action.get(f"partition.{name}") for name in partitions}
        for action in actions
    }
    files = sorted(values)
    for relative in files:
        _require_in_its_folders(location, relative, partitions)
    return DeltaLog(location, version, files, schema, partitions, values)


def delta_snapshot(path: Path) -> DeltaSnapshot:
    """The current version of the Delta table in the folder ``path`` (see read_delta_log)."""
    log = read_delta_log(str(path))
    files = [path / relative for relative in log.files]
    return DeltaSnapshot(path, log.version, files, log.schema, log.partition_columns)


def _require_plain(location: str, table: Any) -> None:
    protocol = table.protocol()
    features = set(protocol.reader_features or [])
    mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    if mapping != "none":
        features.add("columnMapping")
    unplain = sorted(features - _PLAIN_READER_FEATURES)
    if unplain:
        raise DeltaFeatureError(
            f"{location}: the Delta table uses {', '.join(unplain)}: reading its Parquet files "
            "would get rows or columns wrong; read it on a Spark session with Delta "
            "(delta-spark, Databricks), or rewrite it without (ALTER TABLE ... DROP FEATURE)"
        )


def _require_in_its_folders(location: str, relative: str, partitions: list[str]) -> None:
    """A file of the table must sit below its folder, in the folders its partition values name
    (`club_id=7/...`): the readers take the values from the folder names, as Spark and pyarrow
    discover partitions."""
    if relative.startswith("/") or "://" in relative:
        raise DataError(
            f"{location}: the Delta table's file {relative} is outside its folder (a shallow "
            "clone): not supported"
        )
    folders = {part.split("=", 1)[0] for part in relative.split("/")[:-1]}
    for name in partitions:
        if name not in folders:
            raise DataError(
                f"{location}: the Delta table's file {relative} is not in a folder {name}=...: "
                "its partition values cannot be read from the folder names"
            )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
