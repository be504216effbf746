"""The schema of params.yaml for the forecasting pipeline, validated before any stage does work."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from conveyor.config import Strict, load_model

DEFAULT_PARAMS = Path("params.yaml")


class SourceParams(Strict):
    """Where raw sales come from: the built-in generator, a file, or a DuckDB query."""

    kind: Literal["synthetic", "file", "duckdb"] = "synthetic"
    path: Path | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _needs_its_argument(self) -> SourceParams:
        if self.kind == "file" and self.path is None:
            raise ValueError("kind 'file' needs 'path' (a .parquet or .csv file)")
        if self.kind == "duckdb" and not self.query:
            raise ValueError("kind 'duckdb' needs 'query' (SQL returning the raw sales columns)")
        return self


class SyntheticParams(Strict):
    """Knobs of the deterministic wholesale-club sales generator."""

    seed: int = 42
    # The chain itself (club sizes and price levels, item demand, prices and elasticities) is
    # drawn from this seed when set, the days (promotions, demand noise, stock-outs) from
    # `seed`: another `seed` with the same catalogue_seed is a later window of the same chain.
    catalogue_seed: int | None = None
    n_clubs: PositiveInt = 10
    n_items: PositiveInt = 60
    start_date: dt.date = dt.date(2023, 1, 1)
    n_days: int = Field(1096, ge=60)
    promo_rate: float = Field(0.08, ge=0, le=1)
    stockout_rate: float = Field(0.01, ge=0, le=1)


class DataParams(Strict):
    """Raw data: its source, the generator's knobs, and the holiday calendar."""

    source: SourceParams = SourceParams()
    synthetic: SyntheticParams = SyntheticParams()
    holidays_country: str = Field("US", min_length=2, max_length=3)
    # The last day of sales the pipeline reads: `latest` (all the source holds) or a date. The
    # retraining workflow moves it forward (`conveyor retrain window`), so the commit records
    # which window a model was trained on and `dvc params diff` shows the move.
    end_date: dt.date | Literal["latest"] = "latest"


class FeatureParams(Strict):
    """Forecast horizon and the history-based features computed for it."""

    horizon_days: PositiveInt = 28
    lags: list[PositiveInt] = Field(default_factory=lambda: [28, 35, 42, 364], min_length=1)
    rolling_windows: list[int] = Field(default_factory=lambda: [7, 28, 91], min_length=1)

    @model_validator(mode="after")
    def _no_lag_inside_horizon(self) -> FeatureParams:
        short = [lag for lag in self.lags if lag < self.horizon_days]
        if short:
            raise ValueError(
                f"lags {short} are shorter than horizon_days={self.horizon_days}: "
                "they would use sales that are unknown when the forecast is made"
            )
        if any(window < 2 for window in self.rolling_windows):
            raise ValueError("rolling_windows must each be at least 2 days")
        return self


class SampleParams(Strict):
    """Train on a seeded, stratified sample of whole series when all rows do not fit one machine."""

    max_rows: int = Field(0, ge=0)  # the training rows budget; 0 = every row
    seed: int = 42
    # Series attributes (constant within a club x item): each stratum keeps its share of rows.
    stratify: list[str] = Field(default_factory=lambda: ["item_id"])


class TrainParams(Strict):
    """LightGBM hyper-parameters (see the README for why LightGBM)."""

    objective: Literal["tweedie", "poisson", "regression", "regression_l1"] = "tweedie"
    tweedie_variance_power: float = Field(1.2, gt=1, lt=2)
    num_boost_round: PositiveInt = 300
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(63, ge=2)
    min_data_in_leaf: PositiveInt = 100
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    seed: int = 42
    num_threads: int = Field(0, ge=0)
    sample: SampleParams = SampleParams()


class EvaluateParams(Strict):
    """Time-based holdout and the columns whose values define metric slices."""

    holdout_days: PositiveInt = 28
    slices: list[str] = Field(default_factory=lambda: ["region", "category"])


class ModelStoreParams(Strict):
    """Name under which the trained model is saved to the BentoML model store."""

    model_name: str = Field("demand_forecaster", pattern=r"^[a-z0-9][a-z0-9_.-]*$")


class ModelAgeParams(BaseModel):
    """The one key of conveyor's `monitoring:` section the model carries: how old its data may
    grow before the model-age alert fires (the rest of the section is conveyor's to validate)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_model_age_days: PositiveInt = 21


class PipelineParams(Strict):
    """Everything the forecasting stages read from params.yaml."""

    # Other top-level sections (gates, monitoring, ...) belong to conveyor, not to the model.
    model_config = ConfigDict(extra="ignore", frozen=True)

    data: DataParams
    features: FeatureParams
    train: TrainParams
    evaluate: EvaluateParams
    model_store: ModelStoreParams = ModelStoreParams()
    monitoring: ModelAgeParams = ModelAgeParams()

    @model_validator(mode="after")
    def _model_age_within_horizon(self) -> PipelineParams:
        age = self.monitoring.max_model_age_days
        if age > self.features.horizon_days:
            raise ValueError(
                f"monitoring.max_model_age_days={age} exceeds features.horizon_days="
                f"{self.features.horizon_days}: the service refuses every date after the horizon, "
                "so the alert would fire only after the model stopped answering"
            )
        return self

    @model_validator(mode="after")
    def _holdout_within_horizon(self) -> PipelineParams:
        if self.evaluate.holdout_days > self.features.horizon_days:
            raise ValueError(
                f"evaluate.holdout_days={self.evaluate.holdout_days} exceeds "
                f"features.horizon_days={self.features.horizon_days}: holdout days past the "
                "horizon would be scored with features built from holdout sales"
            )
        return self


def load_params(path: Path = DEFAULT_PARAMS) -> PipelineParams:
    """Read and validate the pipeline's params file; raises ConfigError naming file and key."""
    return load_model(path, PipelineParams)
