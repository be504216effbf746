"""Parquet and CSV files as a Spark DataFrame (`compute.engine: spark`): the one reader the stages
that run on Spark share (the contracts, drift), so each reads files the same way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conveyor.errors import DataError

__all__ = ["read_spark_files"]


def read_spark_files(spark: Any, paths: Sequence[Path], origin: str, csv: bool = False) -> Any:
    """Parquet files or folders (every .parquet file below a folder, partition folder names not
    added) or one CSV file (header, numbers inferred) as one lazy Spark DataFrame, 8- and 16-bit
    integers widened to 32-bit. A file Spark cannot read is a DataError naming ``origin``."""
    from pyspark.errors import PySparkException

    reader = spark.read.option("recursiveFileLookup", "true")
    names = [str(p) for p in paths]
    try:
        if csv:
            frame = reader.option("header", "true").option("inferSchema", "true").csv(names)
        else:
            frame = reader.option("pathGlobFilter", "*.parquet").parquet(*names)
    except PySparkException as exc:
        raise DataError(f"{origin}: cannot read: {str(exc).splitlines()[0]}") from None
    return _small_integers_widened(frame)


def _small_integers_widened(frame: Any) -> Any:
    """8- and 16-bit integer columns as 32-bit: still integers for a type rule, and Spark's
    statistics (GX's mean and quantiles among them) refuse the small types that pandas and polars
    take."""
    from pyspark.sql import functions as sf
    from pyspark.sql.types import ByteType, IntegerType, ShortType

    small = [f.name for f in frame.schema.fields if isinstance(f.dataType, ByteType | ShortType)]
    if not small:
        return frame
    return frame.withColumns({name: sf.col(f"`{name}`").cast(IntegerType()) for name in small})
