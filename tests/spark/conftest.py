"""One Spark session for the tests of a process (local[2], few shuffle partitions, no UI), as
one `conveyor` command starts one; and the example model's fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from conveyor.compute.params import SparkSettings
from conveyor.compute.session import spark_session
from forecast.generate import generate_sales
from forecast.params import PipelineParams
from tests.model_fixtures import repo_params  # noqa: F401  (pytest finds fixtures by name)

# The default data of 2 of its 10 clubs (131,520 rows): every item, category and three years,
# within the contract's distribution bands, at a fifth of the size (GX's time grows with it).
CLUBS = 2


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = spark_session(
        SparkSettings(master="local[2]", conf={"spark.sql.shuffle.partitions": 2}), "tests"
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sales(repo_params: PipelineParams) -> pl.DataFrame:  # noqa: F811
    """The default data set's generator, with fewer clubs."""
    synthetic = repo_params.data.synthetic.model_copy(update={"n_clubs": CLUBS})
    return generate_sales(synthetic, repo_params.data.holidays_country)
