"""The model's HTTP service (BentoML): validated rows in, one prediction per row out.

Which model: $MODEL_TAG, else the tag in models/bentoml_model.json (the register stage's output).
Metrics beside BentoML's own on /metrics are conveyor's, the ones deploy/monitoring's alert rules
and dashboard read (conveyor_predictions, _prediction_value, _rows_per_request,
_validation_failures: conveyor.serve.metrics).
Imports stay light: `bentoml build` imports this module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
from pydantic import BaseModel, ConfigDict, Field

from conveyor.serve.endpoint_labels import bound_endpoint_labels
from conveyor.serve.metrics import service_metrics
from skeleton.model import SEGMENTS

TAG_FILE = Path(os.environ.get("MODEL_TAG_FILE", "models/bentoml_model.json"))
Segment = Literal[SEGMENTS]  # type: ignore[valid-type]
# Upper bounds of the prediction histogram: set them to span your model's outputs.
PREDICTION_BUCKETS = (-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0)


class Row(BaseModel):
    """One row to predict: the model's raw inputs."""

    model_config = ConfigDict(extra="forbid")
    segment: Segment
    x1: Annotated[float, Field(allow_inf_nan=False)]
    x2: Annotated[float, Field(allow_inf_nan=False)]
    x3: Annotated[float, Field(allow_inf_nan=False)]


def model_tag() -> str:
    """The model to serve: $MODEL_TAG, else the pipeline's register output."""
    return os.environ.get("MODEL_TAG") or json.loads(TAG_FILE.read_text(encoding="utf-8"))["tag"]


# BentoML's request metrics are labelled by path: only the routes and probes, any other "other".
bound_endpoint_labels()


@bentoml.service(traffic={"timeout": 10})
class SkeletonService:
    """Predictions of the registered model."""

    def __init__(self) -> None:
        stored = bentoml.models.get(model_tag())
        self.model: dict[str, Any] = json.loads(Path(stored.path_of("model.json")).read_text())
        self.version = str(stored.tag)
        # Increment metrics.validation_failures where your model refuses a row.
        self.metrics = service_metrics(PREDICTION_BUCKETS, "The model's prediction per row")

    @bentoml.api
    def skeleton(
        self, rows: Annotated[list[Row], Field(min_length=1, max_length=10000)]
    ) -> dict[str, Any]:
        """One prediction per row, in order, and the model version."""
        import polars as pl

        from skeleton.model import features, predict

        frame = features(pl.DataFrame([row.model_dump() for row in rows]).with_row_index("id"), 0.0)
        predictions = predict(self.model, frame).tolist()
        self.metrics.rows_per_request.observe(len(rows))
        self.metrics.predictions.inc(len(predictions))
        for value in predictions:
            self.metrics.prediction_value.observe(value)
        return {"predictions": predictions, "model_version": self.version}
