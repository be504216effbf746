"""Locate a reference or current window (a Parquet/CSV file or a folder of Parquet files), on
either engine, and the local engine's window: scanned lazily with polars and read one column at
a time, so a 10M-row window never sits in memory whole."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
import polars as pl

from conveyor.delta_table import is_delta_table
from conveyor.errors import DataError
from conveyor.monitor.stats import binned_shares
from conveyor.monitor.window import EdgesFor, Values, Window
from conveyor.stored_data import parquet_below, parquet_files

__all__ = [
    "LocalWindow",
    "Located",
    "locate",
    "missing_mask",
    "named_counts",
    "open_window",
    "sample_indices",
]

# A polars dtype as polars hands it out: an instance (pl.Int64()) or the class itself (pl.Int64).
DType: TypeAlias = "pl.DataType | type[pl.DataType]"

# Exceptions polars raises for unreadable, corrupt or inconsistent files.
_READ_ERRORS = (pl.exceptions.PolarsError, OSError, ValueError)


class LocalWindow(Window):
    """A window scanned lazily by polars (`compute.engine: local`)."""

    def __init__(
        self, origin: str, frame: pl.LazyFrame, schema: dict[str, pl.DataType], rows: int
    ) -> None:
        super().__init__(origin, schema, rows)
        self.frame = frame

    def column(self, name: str) -> pl.Series:
        """Every value of one column (a read of that column only)."""
        try:
            return self.frame.select(name).collect().to_series()
        except _READ_ERRORS as exc:
            raise DataError(
                f"{self.origin}: cannot read column {name!r} ({_first_line(exc)})"
            ) from None

    def values(
        self, names: list[str], limit: int, seed: int, edges: EdgesFor | None = None
    ) -> dict[str, Values]:
        result = {}
        for name in names:  # one column in memory at a time, read once: sample and bins
            values, missing = self._numbers(name)
            picked = sample_indices(len(values), limit, seed)
            sample = values if picked is None else values[picked]
            inner = edges(name, sample) if edges is not None and len(values) else None
            shares = None if inner is None else binned_shares(values, inner)
            result[name] = Values(sample, len(values), missing, inner, shares)
        return result

    def _numbers(self, name: str) -> tuple[np.ndarray, float]:
        """The column's non-missing values as float64, and the share of missing ones."""
        series = self.column(name)
        missing = missing_mask(series)
        values = series.cast(pl.Float64).to_numpy()[~missing] if len(series) else np.array([])
        return values, float(missing.mean()) if len(missing) else 0.0

    def counts(self, name: str) -> tuple[dict[str, int], float]:
        # Counted in the column's own type, then named: casting 10M values to text first would
        # cost more than the counting.
        counts = self.column(name).value_counts()
        return named_counts(counts[name], counts["count"], self.rows)

    def key_medians(self, column: str, key: str) -> pl.DataFrame:
        return (
            self.frame.select(pl.col(key).cast(pl.String), pl.col(column).cast(pl.Float64))
            .filter(pl.col(key).is_not_null() & pl.col(column).is_finite())
            .group_by(key)
            .agg(pl.col(column).median().alias("median"))
            .collect()
        )

    def pairs(self, first: str, second: str) -> pl.DataFrame:
        return self.frame.select(first, second).drop_nulls().collect()


LOG_DATE = re.compile(r"log_date=(\d{4}-\d{2}-\d{2})/")


def latest_days(files: list[Path], days: int) -> list[Path]:
    """The files of the last ``days`` dates among ``log_date=YYYY-MM-DD`` partitions (counted
    back from the newest partition, not from today: a late sync still sees a full window)."""
    dated = [(f, m.group(1)) for f in files if (m := LOG_DATE.search(f.as_posix()))]
    if not dated:
        return []
    newest = max(dt.date.fromisoformat(day) for _, day in dated)
    first = newest - dt.timedelta(days=days - 1)
    return [f for f, day in dated if dt.date.fromisoformat(day) >= first]


def _widest_schema(files: list[Path]) -> pl.Schema | None:
    """One schema for files whose numeric columns differ only in width (None: all the same,
    or unreadable metadata, which the read then reports)."""
    try:
        schemas = [pl.read_parquet_schema(f) for f in files]
    except _READ_ERRORS:
        return None
    if all(schema == schemas[0] for schema in schemas):
        return None
    merged: dict[str, DType] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            merged[name] = _wider(merged[name], dtype) if name in merged else dtype
    return pl.Schema(merged)


def _wider(a: DType, b: DType) -> DType:
    if a == b or not (a.is_numeric() and b.is_numeric()):
        return a  # not a width difference: the read reports the mismatch
    if a.is_integer() and b.is_integer():
        return pl.Int64 if a.is_signed_integer() or b.is_signed_integer() else pl.UInt64
    return pl.Float64


@dataclass(frozen=True)
class Located:
    """A window's files, found and checked (the same on both engines, and so are the errors)."""

    path: Path
    origin: str  # role and path, as every message names the window
    files: list[Path]


def locate(path: Path, role: str, last_days: int | None = None) -> Located:
    """The files of ``path``: a .parquet or .csv file, or a folder whose *.parquet files (any
    depth, e.g. the inference log's ``log_date=YYYY-MM-DD/`` partitions) form one data set;
    ``last_days`` keeps the partitions of the newest days only."""
    origin = f"{role} {path}"
    return Located(path, origin, _files(path, origin, last_days))


def open_window(window: Located) -> LocalWindow:
    """The located window, scanned lazily by polars (spark_window.py opens it on Spark)."""
    path, origin, files = window.path, window.origin, window.files
    if path.is_dir():
        # Partitions written by two versions of the service may differ in numeric width: read
        # them all as the widest type each column has.
        upcast = pl.ScanCastOptions(integer_cast="upcast", float_cast="upcast")
        frame = pl.scan_parquet(
            files, hive_partitioning=False, schema=_widest_schema(files), cast_options=upcast
        )
    elif path.suffix.lower() == ".parquet":
        frame = pl.scan_parquet(path)
    else:
        frame = pl.scan_csv(path, infer_schema_length=10_000)
    try:
        schema = dict(frame.collect_schema())
        rows = int(frame.select(pl.len()).collect().item())
    except _READ_ERRORS as exc:
        raise DataError(f"{origin}: cannot read ({_first_line(exc)})") from None
    return LocalWindow(origin, frame, schema, rows)


def _files(path: Path, origin: str, last_days: int | None) -> list[Path]:
    if path.is_dir():
        # A Delta table's current files; else every data file below (not `_temporary/`).
        files = parquet_files(path) if is_delta_table(path) else parquet_below(path)
        if last_days is not None:
            files = latest_days(files, last_days)
            if not files:
                raise DataError(f"{origin}: no log_date=YYYY-MM-DD partitions for --last-days")
        if not files:
            raise DataError(f"{origin}: no .parquet files in this folder (the window is empty)")
        return files
    if path.is_file() and path.suffix.lower() in (".parquet", ".csv"):
        return [path]
    if path.exists():
        raise DataError(
            f"{origin}: expected a .parquet or .csv file, or a folder of .parquet files"
        )
    raise DataError(f"{origin}: no such file or folder")


def named_counts(values: pl.Series, counts: pl.Series, rows: int) -> tuple[dict[str, int], float]:
    """Counts of distinct ``values`` (missing ones among them) as a table keyed by text, and the
    share of the ``rows`` whose value is missing: the one naming rule of both engines."""
    present = ~missing_mask(values)
    kept, counts = values.filter(pl.Series(present)), counts.filter(pl.Series(present))
    # The same code must get the same name on both sides: 1, 1.0 and True are all "1".
    if kept.dtype == pl.Boolean or (kept.dtype.is_float() and (kept == kept.round(0)).all()):
        kept = kept.cast(pl.Int64)
    table = dict(zip(kept.cast(pl.String).to_list(), counts.to_list(), strict=True))
    return table, (rows - sum(table.values())) / rows if rows else 0.0


def missing_mask(series: pl.Series) -> np.ndarray:
    """True where a value is missing: null, or NaN in a float column."""
    mask = series.is_null()
    if series.dtype.is_float():
        mask = mask | series.is_nan()
    return mask.to_numpy()


def sample_indices(rows: int, limit: int, seed: int) -> np.ndarray | None:
    """Sorted row positions of a seeded uniform sample without replacement, or None (all rows)
    when the window is no larger than ``limit``."""
    if rows <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
