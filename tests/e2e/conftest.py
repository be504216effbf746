"""The example model's fixtures, for the tests of this folder."""

from tests.model_fixtures import (  # noqa: F401  (pytest finds fixtures by name)
    default_sales,
    repo_params,
    small_params,
    small_sales,
    synthetic_params,
)
