"""The service's Prometheus metrics, beside BentoML's built-in ones on /metrics: conveyor's
model-agnostic ones (conveyor.serve.metrics, read by deploy/monitoring) with this model's
buckets, and the adaptive batcher's own histogram."""

from __future__ import annotations

from functools import cache
from typing import Any

from conveyor.serve.metrics import ServiceMetrics, service_metrics

# Units sold per item, club and day: spans slow movers to the busiest grocery lines.
PREDICTION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
REQUESTS_PER_CALL_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


def metrics() -> ServiceMetrics:
    """conveyor's service metrics with this model's buckets (created once per process)."""
    return service_metrics(PREDICTION_BUCKETS, "Predicted units sold per row")


@cache
def requests_per_model_call() -> Any:
    """The adaptive batcher's histogram: how many requests shared one model call."""
    import bentoml

    return bentoml.metrics.Histogram(
        name="forecast_requests_per_model_call",
        documentation="Requests whose rows shared one model call (adaptive batching)",
        buckets=REQUESTS_PER_CALL_BUCKETS,
    )
