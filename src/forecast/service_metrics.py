"""The service's Prometheus metrics, beside BentoML's built-in ones on /metrics: conveyor's
model-agnostic ones (conveyor.serve.metrics, read by deploy/monitoring) with this model's
buckets, and the adaptive batcher's own histogram."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

# Units sold per item, club and day: spans slow movers to the busiest grocery lines.
PREDICTION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
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

    from conveyor.serve.metrics import service_metrics

    shared = service_metrics(PREDICTION_BUCKETS, "Predicted units sold per row")
    return ServiceMetrics(
        predictions=shared.predictions,
        prediction_value=shared.prediction_value,
        rows_per_request=shared.rows_per_request,
        validation_failures=shared.validation_failures,
        requests_per_model_call=bentoml.metrics.Histogram(
            name="forecast_requests_per_model_call",
            documentation="Requests whose rows shared one model call (adaptive batching)",
            buckets=REQUESTS_PER_CALL_BUCKETS,
        ),
    )
