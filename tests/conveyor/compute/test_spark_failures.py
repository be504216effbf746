"""A Spark job that fails is one line: a Python worker's own error when Spark quotes one (the
data error the local engine gives, or the missing package with what to install), else Spark's
first line. Real pyspark exception types, raised here: no Spark session needed."""

from __future__ import annotations

import pytest
from pyspark.errors import PythonException

from conveyor.compute.session import spark_failures
from conveyor.errors import UserError

WORKER = "An exception was thrown from the Python worker. Please see the stack trace below.\n"


def _quoted(*last_lines: str) -> str:
    """A worker traceback as Spark quotes it in the exception's message."""
    frames = '  File "/x/worker.py", line 1, in main\n    raise\n'
    return WORKER + "Traceback (most recent call last):\n" + frames + "\n".join(last_lines)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            _quoted("conveyor.errors.DataError: raw.parquet: column 'price' has type String"),
            "raw.parquet: column 'price' has type String",
        ),
        (
            _quoted("ModuleNotFoundError: No module named 'forecast'"),
            "prepare: a Spark worker failed: ModuleNotFoundError: No module named 'forecast' "
            "(the Spark workers' Python lacks a package",
        ),
        (
            _quoted("ZeroDivisionError: division by zero", "", "JVM stacktrace:", "at x.y(Z)"),
            "prepare: a Spark worker failed: ZeroDivisionError: division by zero (Spark's log",
        ),
        (
            "[TASK_FAILED] Job aborted.\nat org.apache.spark",
            "prepare: Spark stopped: [TASK_FAILED]",
        ),
    ],
)
def test_a_failed_spark_job_is_one_line_naming_the_workers_error(message, expected) -> None:
    with pytest.raises(UserError) as raised, spark_failures("prepare"):
        raise PythonException(message)
    assert str(raised.value).startswith(expected)
    assert "\n" not in str(raised.value)
    assert raised.value.exit_code == 2
