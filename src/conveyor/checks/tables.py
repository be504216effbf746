"""A data set as the checks see it, on either engine: its columns, its text columns, its row
count, a renamed copy, and a few rows picked by value. Great Expectations runs the rules
themselves on the native frame (a pandas or a Spark DataFrame); these are the few things the
checks ask of the data around them, each written once per engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import pandas as pd

__all__ = ["PandasTable", "SparkTable", "Table", "table_of"]


class Table(ABC):
    """One data set, in memory (pandas) or on Spark."""

    engine: str  # the GX data source kind: "pandas" or "spark"

    def __init__(self, native: Any) -> None:
        self.native = native

    @property
    @abstractmethod
    def columns(self) -> list[str]:
        """The column names, in order."""

    @abstractmethod
    def is_text(self, column: str) -> bool:
        """True when ``column`` holds text (the PII guard looks into text columns)."""

    @abstractmethod
    def row_count(self) -> int:
        """How many rows."""

    @abstractmethod
    def renamed(self, names: dict[str, str]) -> Table:
        """A copy with the columns of ``names`` renamed."""

    @abstractmethod
    def rows_where(
        self, column: str, values: list[Any] | None, columns: list[str], limit: int
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` rows (``columns`` only) whose ``column`` is one of ``values``, or
        null when ``values`` is None."""


class PandasTable(Table):
    """A pandas DataFrame (the local engine)."""

    engine = "pandas"

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.native.columns]

    def is_text(self, column: str) -> bool:
        series = self.native[column]
        return bool(pd.api.types.is_string_dtype(series) or series.dtype == object)

    def row_count(self) -> int:
        return len(self.native)

    def renamed(self, names: dict[str, str]) -> PandasTable:
        return PandasTable(self.native.rename(columns=names))

    def rows_where(
        self, column: str, values: list[Any] | None, columns: list[str], limit: int
    ) -> list[dict[str, Any]]:
        series = self.native[column]
        mask = series.isna() if values is None else series.isin(values)
        rows: list[dict[str, Any]] = (
            self.native.loc[mask, columns].head(limit).to_dict(orient="records")
        )
        return rows


class SparkTable(Table):
    """A Spark DataFrame (`compute.engine: spark`): nothing is collected but counts and the
    few rows asked for."""

    engine = "spark"

    def __init__(self, native: Any) -> None:
        super().__init__(native)
        self._count: int | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.native.columns)

    def is_text(self, column: str) -> bool:
        from pyspark.sql.types import StringType

        return isinstance(self.native.schema[column].dataType, StringType)

    def row_count(self) -> int:
        if self._count is None:
            self._count = int(self.native.count())
        return self._count

    def renamed(self, names: dict[str, str]) -> SparkTable:
        return SparkTable(self.native.withColumnsRenamed(names)) if names else self

    def rows_where(
        self, column: str, values: list[Any] | None, columns: list[str], limit: int
    ) -> list[dict[str, Any]]:
        from pyspark.sql import functions as sf

        field = sf.col(f"`{column}`")
        condition = field.isNull() if values is None else field.isin(values)
        picked = self.native.filter(condition).select(*[sf.col(f"`{c}`") for c in columns])
        return [row.asDict() for row in picked.limit(limit).collect()]


def table_of(frame: Any) -> Table:
    """The Table of a pandas or Spark DataFrame (a Table is returned as it is)."""
    if isinstance(frame, Table):
        return frame
    if isinstance(frame, pd.DataFrame):
        return PandasTable(frame)
    if type(frame).__module__.startswith("pyspark."):
        return SparkTable(frame)
    raise TypeError(f"not a data frame conveyor can check: {type(frame).__name__}")
