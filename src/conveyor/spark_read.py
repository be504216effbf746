"""Parquet and CSV files and Delta tables as a Spark DataFrame (`compute.engine: spark`): the one
reader the stages that run on Spark share (the contracts, drift), so each reads files the same
way."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conveyor.delta_table import DeltaLog, read_delta_log
from conveyor.errors import DataError

__all__ = ["read_spark_delta", "read_spark_files"]

# How Spark un-escapes a partition folder name: each %XX is the one character XX.
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def read_spark_files(
    spark: Any, paths: Sequence[Path | str], origin: str, csv: bool = False
) -> Any:
    """Parquet files or folders (every .parquet file below a folder, partition folder names not
    added) or one CSV file (header, numbers inferred) as one lazy Spark DataFrame, 8- and 16-bit
    integers widened to 32-bit. A file Spark cannot read is a DataError naming ``origin``."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    reader = spark.read.option("recursiveFileLookup", "true")
    names = [str(p) for p in paths]
    try:
        if csv:
            frame = reader.option("header", "true").option("inferSchema", "true").csv(names)
        else:
            frame = reader.option("pathGlobFilter", "*.parquet").parquet(*names)
    except (PySparkException, Py4JJavaError) as exc:  # a URL Spark has no filesystem for
        raise DataError(f"{origin}: cannot read: {_java_message(exc)}") from None
    return _small_integers_widened(frame)


def read_spark_delta(spark: Any, location: Path | str, origin: str) -> Any:
    """The Delta table at ``location`` (a folder, or a URL), its current version: by the
    session's Delta reader when it has one (delta-spark, Databricks: deletion vectors and column
    mapping applied), else as the Parquet files its log names (conveyor.delta_table), partition
    columns from the folder names typed as the log declares them."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException
    from pyspark.sql.pandas.types import from_arrow_schema

    try:
        return _small_integers_widened(spark.read.format("delta").load(str(location)))
    except (PySparkException, Py4JJavaError) as exc:
        # Spark 4 raises a missing source as a bare Java error: its class names the condition.
        if "[DATA_SOURCE_NOT_FOUND]" not in str(exc):
            raise DataError(f"{origin}: cannot read: {_java_message(exc)}") from None
    log = read_delta_log(str(location))
    schema = from_arrow_schema(log.schema, prefer_timestamp_ntz=True)
    if not log.files:
        return spark.createDataFrame([], schema)
    root = str(location).rstrip("/")
    # The declared schema types the partition columns (`007` stays text) and gives a column a
    # file lacks as null; basePath makes the folder names below the table its partitions.
    reader = spark.read.schema(schema).option("basePath", root)
    try:
        frame = reader.parquet(*(f"{root}/{relative}" for relative in log.files))
    except (PySparkException, Py4JJavaError) as exc:
        raise DataError(f"{origin}: cannot read: {_java_message(exc)}") from None
    frame = _partition_text_as_logged(frame, log)
    return _small_integers_widened(frame.select(*(f"`{n}`" for n in log.schema.names)))


def _partition_text_as_logged(frame: Any, log: DeltaLog) -> Any:
    """Text partition values as the log records them. Spark reads each %XX escape of a folder
    name as one character: a value written escaped as UTF-8 (`region=%C3%A9`, as delta-rs
    writes é) would come back as 'Ã©'. Where Spark's reading of a folder name differs from
    the log's value, the log's value replaces it."""
    import pyarrow as pa
    from pyspark.sql import functions as sf

    def is_text(name: str) -> bool:
        kind = log.schema.field(name).type
        return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))

    fixes: dict[str, dict[str, str]] = {n: {} for n in log.partition_columns if is_text(n)}
    for relative, values in log.partition_values.items():
        for folder in relative.split("/")[:-1]:
            name, _, escaped = folder.partition("=")
            value = values.get(name)
            if name in fixes and isinstance(value, str):
                as_spark = _ESCAPE.sub(lambda match: chr(int(match[1], 16)), escaped)
                if as_spark != value:
                    fixes[name][as_spark] = value
    for name, mapping in fixes.items():
        if mapping:
            column = sf.col(f"`{name}`")
            pairs = sf.create_map(*(sf.lit(each) for pair in mapping.items() for each in pair))
            frame = frame.withColumn(name, sf.coalesce(sf.try_element_at(pairs, column), column))
    return frame


def _java_message(exc: Exception) -> str:
    """The first line that says what went wrong (a Java error's first is "An error occurred
    while calling o39.load.")."""
    lines = [line.strip(": ") for line in str(exc).splitlines() if line.strip(": ")]
    useful = [line for line in lines if not line.startswith("An error occurred while calling")]
    return (useful or lines or [type(exc).__name__])[0]


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
