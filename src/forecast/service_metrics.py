"""The service's own Prometheus metrics, beside BentoML's built-in ones on /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

# Units sold per item, club and day: spans slow movers to the busiest grocery lines.
PREDICTION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
ROWS_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000)
REQUESTS_PER_CALL_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class ServiceMetrics:
    """Counters and histograms the service updates per request."""

    predictions: Any
    prediction_value: Any
    rows_per_request: Any
    validation_failures: Any
    requests_per_model_call: Any


@cache
def metrics() -> ServiceMetrics:
    """Create the metrics once per process (bentoml.metrics handles multiprocess mode)."""
    import bentoml

    return ServiceMetrics(
        predictions=bentoml.metrics.Counter(
            name="forecast_predictions", documentation="Predictions served (rows)"
        ),
        prediction_value=bentoml.metrics.Histogram(
            name="forecast_prediction_units",
            documentation="Predicted units sold per row",
            buckets=PREDICTION_BUCKETS,
        ),
        rows_per_request=bentoml.metrics.Histogram(
            name="forecast_rows_per_request",
            documentation="Rows in one forecast request",
            buckets=ROWS_BUCKETS,
        ),
        validation_failures=bentoml.metrics.Counter(
            name="forecast_validation_failures",
            documentation="Requests refused by the model's own checks, by reason",
            labelnames=["reason"],
        ),
        requests_per_model_call=bentoml.metrics.Histogram(
            name="forecast_requests_per_model_call",
            documentation="Requests whose rows shared one model call (adaptive batching)",
            buckets=REQUESTS_PER_CALL_BUCKETS,
        ),
    )
