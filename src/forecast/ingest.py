"""The `ingest` stage: read raw sales from the configured source and write them as Parquet."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from conveyor.errors import DataError
from conveyor.files import atomic_path
from forecast.generate import generate_sales
from forecast.params import DataParams
from forecast.schema import KEYS, conform_raw


def load_source(params: DataParams) -> pl.DataFrame:
    """Raw sales from the source named in params.yaml (generator, Parquet/CSV file, or DuckDB),
    up to ``data.end_date``."""
    source = params.source
    if source.kind == "synthetic":
        sales = generate_sales(params.synthetic, params.holidays_country)
    elif source.kind == "file":
        sales = conform_raw(_read_file(source.path), str(source.path))
    else:
        sales = conform_raw(_run_query(source.query), "data.source.query")
    if params.end_date == "latest":
        return sales
    window = sales.filter(pl.col("date") <= params.end_date)
    if window.is_empty():
        raise DataError(f"data.end_date {params.end_date}: the source has no sales on or before it")
    return window


def _read_file(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"data.source.path: {path} does not exist (or is not a file)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix == ".csv":
            return pl.read_csv(path, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    raise DataError(f"data.source.path: {path} must end in .parquet or .csv")


def _run_query(query: str) -> pl.DataFrame:
    import duckdb  # only this source needs it

    try:
        return duckdb.sql(query).pl()
    except duckdb.Error as exc:
        raise DataError(f"data.source.query: DuckDB failed: {str(exc).splitlines()[0]}") from None


def run(params: DataParams, out: Path) -> int:
    """Write the raw sales, sorted by series and date, to ``out``; return the row count."""
    sales = load_source(params).sort(KEYS)
    with atomic_path(out) as tmp:
        sales.write_parquet(tmp, statistics=True)
    return sales.height
