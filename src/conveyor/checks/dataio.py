"""Read a data set for checking: Parquet or CSV into pandas, types as the file holds them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from conveyor.checks.contract import Contract
from conveyor.errors import DataError
from conveyor.files import require_regular

__all__ = ["read_frame"]


def read_frame(path: Path, contract: Contract | None) -> pd.DataFrame:
    """The data at ``path``; a missing or unreadable file is a DataError (usage error, exit 2)."""
    require_regular(path, "", DataError)  # a FIFO would block the read for ever
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
            return _parse_dates(pd.read_csv(path), contract)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    raise DataError(f"{path}: unsupported file type {suffix!r} (use .parquet or .csv)")


def _read_folder(folder: Path) -> pd.DataFrame:
    """Every Parquet file below ``folder`` as one table (a partitioned output such as
    `name=value/part-0.parquet`): the columns the files hold, partition names not added."""
    import pyarrow.dataset as ds

    files = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
    if not files:
        raise DataError(f"{folder}: a folder with no .parquet file below it")
    try:
        table = ds.dataset([str(f) for f in files], format="parquet").to_table()
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}: cannot read: {str(exc).splitlines()[0]}") from None
    return table.to_pandas(date_as_object=False)


def _parse_dates(frame: pd.DataFrame, contract: Contract | None) -> pd.DataFrame:
    # CSV has no date type: parse the contract's date columns; leave unparseable ones as text,
    # so the type rule reports them. Without a contract (profiling), nothing is guessed.
    if contract is None:
        return frame
    for name, column in contract.columns.items():
        if column.type == "date" and name in frame:
            try:
                frame[name] = pd.to_datetime(frame[name], format="ISO8601")
            except (ValueError, TypeError):
                continue
    return frame
