"""The Prometheus metrics every model's service exposes beside BentoML's own, under names that
do not depend on the model: deploy/monitoring's alert rules and dashboard read these.

``conveyor_predictions_total`` (rows answered), ``conveyor_prediction_value`` (histogram of the
model's output: units sold, a probability, a score; the buckets are the model's),
``conveyor_rows_per_request`` (histogram) and ``conveyor_validation_failures_total{reason}``
(requests the model's own checks refused). BentoML is imported when the metrics are created, in
a worker, never at import (`bentoml build` imports the service).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["PREFIX", "ServiceMetrics", "service_metrics"]

PREFIX = "conveyor"
ROWS_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
# A probability or a score within 0..1 (a classifier's output).
PROBABILITY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class ServiceMetrics:
    """Counters and histograms a service updates per request."""

    predictions: Any
    prediction_value: Any
    rows_per_request: Any
    validation_failures: Any


@cache
def service_metrics(
    prediction_buckets: tuple[float, ...] = PROBABILITY_BUCKETS,
    prediction_help: str = "The model's output value per row",
) -> ServiceMetrics:
    """Create the metrics once per process (bentoml.metrics handles multiprocess mode);
    ``prediction_buckets`` are upper bounds that span the model's outputs."""
    import bentoml

    if list(prediction_buckets) != sorted(set(prediction_buckets)) or not prediction_buckets:
        raise ValueError(f"prediction buckets must increase strictly: {prediction_buckets}")
    return ServiceMetrics(
        predictions=bentoml.metrics.Counter(
            name=f"{PREFIX}_predictions", documentation="Predictions served (rows)"
        ),
        prediction_value=bentoml.metrics.Histogram(
            name=f"{PREFIX}_prediction_value",
            documentation=prediction_help,
            buckets=prediction_buckets,
        ),
        rows_per_request=bentoml.metrics.Histogram(
            name=f"{PREFIX}_rows_per_request",
            documentation="Rows in one prediction request",
            buckets=ROWS_BUCKETS,
        ),
        validation_failures=bentoml.metrics.Counter(
            name=f"{PREFIX}_validation_failures",
            documentation="Requests refused by the model's own checks, by reason",
            labelnames=["reason"],
        ),
    )
