"""The `monitoring:` section of params.yaml: which columns to compare, the drift thresholds, and
which metric measures live performance when the current window carries actuals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic import Strict as PydanticStrict

from conveyor.config import Count, Number, Strict, load_model

__all__ = ["METRIC_LABELS", "Metric", "MonitoringParams", "Performance", "load_monitoring"]

Kind = Literal["numeric", "categorical"]
# Live performance metrics (conveyor/monitor/performance.py): regression, then binary
# classification. Lower is better for wape, mae, rmse and log_loss; higher for accuracy and auc.
Metric = Literal["wape", "mae", "rmse", "accuracy", "log_loss", "auc"]
# How reports and the drift issue name each metric.
METRIC_LABELS: dict[str, str] = {
    "wape": "WAPE",
    "mae": "MAE",
    "rmse": "RMSE",
    "accuracy": "accuracy",
    "log_loss": "log loss",
    "auc": "AUC",
}
Label = Annotated[str, PydanticStrict()] | Annotated[int, PydanticStrict()]


class Thresholds(Strict):
    """Limits beyond which a column counts as drifted (each is an effect size, not a p-value:
    with millions of rows every p-value is tiny)."""

    psi: Number = Field(0.25, gt=0, description="categorical: population stability index")
    ks: Number = Field(0.2, gt=0, le=1, description="numeric: Kolmogorov-Smirnov statistic D")
    unseen_share: Number = Field(0.01, ge=0, le=1, description="share of never-seen categories")
    null_share_increase: Number = Field(0.05, ge=0, le=1, description="more missing than reference")
    prediction_ks: Number = Field(0.2, gt=0, le=1, description="prediction drift: KS statistic D")
    metric_ratio: Number = Field(
        1.25,
        ge=1,
        description="live metric at most this x the evaluated one (lower-is-better metrics), "
        "at least the evaluated one / this (accuracy, auc)",
    )
    key_shift: Number = Field(
        0.1, gt=0, description="numeric within a key: typical relative change of per-key medians"
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "wape_ratio" in data:
            raise ValueError("wape_ratio is now metric_ratio (it applies to any live metric)")
        return data


class Performance(Strict):
    """Live performance: which metric, and where the model's evaluated value of it is."""

    metric: Metric
    evaluated: str = Field(
        pattern=r"^[^:]+:[^:]+$",
        description="FILE:dotted.key of the same metric on the model's test set",
    )
    # Classification: the actual value that is the positive class (log_loss and auc read the
    # prediction column as the probability or score of this class).
    positive: Label = 1
    # accuracy from a score: a prediction >= threshold is the positive class (without it, the
    # prediction column holds labels, compared with the actual as they are).
    threshold: Number | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _threshold_for_accuracy(self) -> Performance:
        if self.threshold is not None and self.metric != "accuracy":
            raise ValueError(f"threshold applies to accuracy only, not to {self.metric}")
        return self


class MonitoringParams(Strict):
    """Everything `conveyor monitor drift` reads from params.yaml."""

    features: dict[str, Kind] = Field(min_length=1)
    # The windows compared when the command line names none (paths relative to the repository
    # root), so a workflow or a person need not repeat them.
    reference: str | None = Field(None, min_length=1)
    current: str | None = Field(None, min_length=1)
    # numeric feature -> the key column its values are compared within (e.g. price: item_id),
    # besides the pooled KS (see conveyor/monitor/keyed.py)
    within: dict[str, str] = Field(default_factory=dict)
    prediction: str = "prediction"  # the model's output column (compared when both sides have it)
    actual: str | None = None  # the observed target, when the current window carries it
    performance: Performance | None = None  # the live metric, needed with `actual`
    thresholds: Thresholds = Thresholds()
    min_rows: Count = Field(100, ge=1)  # a smaller window cannot support a verdict either way
    sample_rows: Count = Field(200_000, ge=1)  # KS / Wasserstein sample per side (seeded)
    seed: Count = 0
    bins: Count = Field(10, ge=2, le=100)  # quantile bins of the reference for numeric PSI
    # How old the live model's training data may grow (days after its last day) before the
    # model-age alert fires; the model carries it, the service exposes it (conveyor.serve.metrics).
    max_model_age_days: Count = Field(21, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "evaluated_wape" in data:
            raise ValueError(
                "evaluated_wape is now performance: {metric: wape, evaluated: FILE:key}"
            )
        return data

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
        if self.actual is not None and self.performance is None:
            raise ValueError(
                "actual needs performance: {metric: ..., evaluated: FILE:key} (the live metric "
                "and the model's evaluated value of it)"
            )
        if self.performance is not None and self.actual is None:
            raise ValueError("performance needs actual (the column of observed outcomes)")
        return self


def load_monitoring(params: Path) -> MonitoringParams:
    """The `monitoring:` section of ``params``, validated (errors name file, line and key)."""
    return load_model(params, MonitoringParams, section="monitoring")
