"""The `monitoring:` section of params.yaml: which columns to compare and the drift thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from conveyor.config import Count, Number, Strict, load_model

Kind = Literal["numeric", "categorical"]


class Thresholds(Strict):
    """Limits beyond which a column counts as drifted (each is an effect size, not a p-value:
    with millions of rows every p-value is tiny)."""

    psi: Number = Field(0.25, gt=0, description="categorical: population stability index")
    ks: Number = Field(0.2, gt=0, le=1, description="numeric: Kolmogorov-Smirnov statistic D")
    unseen_share: Number = Field(0.01, ge=0, le=1, description="share of never-seen categories")
    null_share_increase: Number = Field(0.05, ge=0, le=1, description="more missing than reference")
    prediction_ks: Number = Field(0.2, gt=0, le=1, description="prediction drift: KS statistic D")
    wape_ratio: Number = Field(1.25, ge=1, description="live WAPE / evaluated WAPE at most this")
    key_shift: Number = Field(
        0.1, gt=0, description="numeric within a key: typical relative change of per-key medians"
    )


class MonitoringParams(Strict):
    """Everything `conveyor monitor drift` reads from params.yaml."""

    features: dict[str, Kind] = Field(min_length=1)
    # numeric feature -> the key column its values are compared within (e.g. price: item_id),
    # besides the pooled KS (see conveyor/monitor/keyed.py)
    within: dict[str, str] = Field(default_factory=dict)
    prediction: str = "prediction"  # the model's output column (compared when both sides have it)
    actual: str | None = None  # the observed target, when the current window carries it
    evaluated_wape: str | None = Field(
        None, pattern=r"^[^:]+:[^:]+$", description="FILE:dotted.key of the model's test WAPE"
    )
    thresholds: Thresholds = Thresholds()
    min_rows: Count = Field(100, ge=1)  # a smaller window cannot support a verdict either way
    sample_rows: Count = Field(200_000, ge=1)  # KS / Wasserstein sample per side (seeded)
    seed: Count = 0
    bins: Count = Field(10, ge=2, le=100)  # quantile bins of the reference for numeric PSI

    @model_validator(mode="after")
    def _distinct_roles(self) -> MonitoringParams:
        for role, column in (("prediction", self.prediction), ("actual", self.actual)):
            if column in self.features:
                raise ValueError(f"{role} column {column!r} is also listed under features")
        for column, key in self.within.items():
            if self.features.get(column) != "numeric":
                raise ValueError(f"within: {column!r} is not a numeric column under features")
            if key == column:
                raise ValueError(f"within: {column!r} cannot be compared within itself")
        if self.actual is not None and self.evaluated_wape is None:
            raise ValueError("actual needs evaluated_wape (FILE:key of the model's test WAPE)")
        return self


def load_monitoring(params: Path) -> MonitoringParams:
    """The `monitoring:` section of ``params``, validated (errors name file, line and key)."""
    return load_model(params, MonitoringParams, section="monitoring")
