"""The example model's fixtures: small, fast versions of the real params and data (never mocks).

Only the folders whose tests use them import them (their conftest.py), so a test of conveyor alone
never imports the example model.
"""

from __future__ import annotations

import polars as pl
import pytest

from forecast.generate import generate_sales
from forecast.params import PipelineParams, SyntheticParams, load_params
from tests.paths import REPO

SMALL = {"n_clubs": 3, "n_items": 12, "n_days": 480, "seed": 7}


@pytest.fixture(scope="session")
def repo_params() -> PipelineParams:
    """The repository's own params.yaml, validated."""
    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def small_params(repo_params: PipelineParams) -> PipelineParams:
    """The repository's params with a small synthetic data set and a quick model."""
    synthetic = repo_params.data.synthetic.model_copy(update=SMALL)
    return repo_params.model_copy(
        update={
            "data": repo_params.data.model_copy(update={"synthetic": synthetic}),
            # One thread: on a busy 2-core machine LightGBM's OpenMP threads spin against each
            # other (a 0.6 s training took 45 s under load); the model is too small to gain.
            "train": repo_params.train.model_copy(update={"num_boost_round": 60, "num_threads": 1}),
        }
    )


@pytest.fixture(scope="session")
def small_sales(small_params: PipelineParams) -> pl.DataFrame:
    """Generated raw sales for 3 clubs x 12 items x 480 days."""
    return generate_sales(small_params.data.synthetic, small_params.data.holidays_country)


@pytest.fixture(scope="session")
def default_sales(repo_params: PipelineParams) -> pl.DataFrame:
    """The pipeline's default data set (what `make pipeline` generates)."""
    return generate_sales(repo_params.data.synthetic, repo_params.data.holidays_country)


@pytest.fixture
def synthetic_params() -> SyntheticParams:
    """Generator knobs for a small data set."""
    return SyntheticParams(**SMALL)
