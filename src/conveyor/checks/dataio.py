"""Read a data set for checking: Parquet or CSV into pandas, types as the file holds them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from conveyor.checks.contract import Contract
from conveyor.errors import DataError
from conveyor.files import require_regular


def read_frame(path: Path, contract: Contract | None) -> pd.DataFrame:
    """The data at ``path``; a missing or unreadable file is a DataError (usage error, exit 2)."""
    require_regular(path, "", DataError)  # a FIFO would block the read for ever
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
