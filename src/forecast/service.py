"""The demand-forecast HTTP service (BentoML): validated input, never a 5xx for a bad request.

Request: ``{"rows": [{"club_id", "item_id", "date", "price", "promo"}, ...]}`` for days after the
model's sales history ends, up to the forecast horizon. Response: one prediction per row, in
order, and the model version. Lags and rolling features come from the history bundled with the
model (see forecast.forecaster), so clients send only what they plan: price and promotion.

Which model: $CONVEYOR_MODEL_TAG, else the tag in models/bentoml_model.json (written by the
pipeline's register stage); see model_tag(). A model that is missing or cannot be loaded does not
crash the server: it logs one line starting with ``model unavailable:``, /readyz answers 503 (so
no traffic is routed to it), /livez still answers, and /forecast answers 503 with the reason.
Imports stay light: `bentoml build` imports this module (BentoML #3580).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import bentoml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError
from starlette.responses import JSONResponse

from forecast.params import ModelStoreParams
from forecast.request_guard import RequestGuard
from forecast.service_logs import (
    RequestReasons,
    quiet_lightgbm,
    quiet_refusals,
    report_unavailable,
)

if TYPE_CHECKING:
    import numpy as np

MAX_ROWS = int(os.environ.get("CONVEYOR_MAX_ROWS", "10000"))
# Rows one model call may carry when concurrent requests are batched (see forecast.batching).
BATCH_MAX_ROWS = int(os.environ.get("CONVEYOR_BATCH_MAX_ROWS", "4096"))
INLINE_ROWS = 64
GC_THRESHOLDS = (20_000, 50, 50)  # Python's defaults: (700, 10, 10)
TAG_FILE = Path(os.environ.get("CONVEYOR_MODEL_TAG_FILE", "models/bentoml_model.json"))
# The name register saves under (params.yaml model_store.model_name, its default here): only the
# fallback when neither CONVEYOR_MODEL_TAG nor the tag file names the registered model.
MODEL_NAME = ModelStoreParams().model_name
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Larger than any valid request (MAX_ROWS rows of at most ~250 bytes, ids of 64 characters
# included); a bigger body is refused from its headers alone.
MAX_BODY_BYTES = int(os.environ.get("CONVEYOR_MAX_BODY_BYTES", str(MAX_ROWS * 400 + 4096)))
# BentoML's traffic timeout: an answer not started by then is a 504 (a server error).
TRAFFIC_TIMEOUT_SECONDS = 30
# Seconds a client has to send its whole body (a stalled one gets a 408, see
# forecast.request_guard); capped below the traffic timeout in effect (body_seconds()).
BODY_SECONDS_TEXT = os.environ.get("CONVEYOR_BODY_TIMEOUT_SECONDS", "10")


def _positive_seconds(name: str, text: str) -> float:
    """``text`` as a positive, finite number of seconds; ValueError naming ``name`` otherwise
    (at import: a misconfigured server stops at start, not on its first request)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"{name}={text!r}: must be a positive number of seconds")
    return value


BODY_SECONDS = _positive_seconds("CONVEYOR_BODY_TIMEOUT_SECONDS", BODY_SECONDS_TEXT)

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]


def model_tag() -> str:
    """The model to serve: $CONVEYOR_MODEL_TAG, else the tag the pipeline registered last, else
    the latest MODEL_NAME (inside a built Bento, the one model packaged with it).
    ValueError when the tag file cannot be read."""
    if os.environ.get("CONVEYOR_MODEL_TAG"):
        return os.environ["CONVEYOR_MODEL_TAG"]
    if TAG_FILE.is_file():
        try:
            tag = json.loads(TAG_FILE.read_text(encoding="utf-8"))["tag"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{TAG_FILE}: not a JSON object with a model tag ({type(error).__name__}: "
                f"{error}); re-run the pipeline's register stage or set CONVEYOR_MODEL_TAG"
            ) from None
        if not isinstance(tag, str):
            raise ValueError(f"{TAG_FILE}: the tag is not a string")
        return tag
    return f"{MODEL_NAME}:latest"


def find_model() -> tuple[str, str | None]:
    """The tag to serve and, when it cannot be served, why (one line).

    Only what is cheap is checked here, at import: the tag and its presence in the model store.
    A model declared on the service but absent would stop `bentoml serve` in its main process
    before any worker starts; undeclared, the workers start, report it and stay unready.
    """
    try:
        tag = model_tag()
    except ValueError as error:
        return f"{MODEL_NAME}:latest", str(error)
    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        return tag, (
            f"{tag} is not in the model store {_store_path()}: register it (make pipeline) or "
            "set CONVEYOR_MODEL_TAG to a stored tag"
        )
    except (ValueError, OSError, bentoml.exceptions.BentoMLException) as error:
        return tag, f"{tag} cannot be read from the model store {_store_path()}: {error}"
    return str(stored.tag), None


def _store_path() -> str:
    """Where BentoML looks for models (inside a served Bento, the Bento's own models/ folder)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(getattr(BentoMLContainer.model_store.get(), "_path", "(unknown)"))


MODEL_TAG, MODEL_PROBLEM = find_model()


def body_seconds() -> float:
    """The guard's deadline for a request body: $CONVEYOR_BODY_TIMEOUT_SECONDS (10), at most half
    the traffic timeout in effect (the decorator's, or BentoML configuration's), so a stalled
    client gets its 408 well before the 504. Called when a worker builds its app."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    services = BentoMLContainer.config.services.get() or {}
    traffic = (services.get(SERVICE_NAME) or {}).get("traffic") or {}
    timeout = float(traffic.get("timeout") or TRAFFIC_TIMEOUT_SECONDS)
    return min(BODY_SECONDS, timeout / 2)


def _iso_date_text(value: object) -> object:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


class Row(BaseModel):
    """One day of one item in one club to forecast."""

    # Strict: a value must already have its JSON type. `true`, `"3.5"` or `1.0` are refused where
    # a number, a string or an integer is expected (lax mode would convert them); a JSON integer
    # is still a number for the price.
    model_config = ConfigDict(extra="forbid", strict=True)

    club_id: Identifier
    item_id: Identifier
    # Exactly "YYYY-MM-DD" (a JSON string, checked first), then read as a date: the only field
    # where a string becomes another type. Pydantic alone would also take datetimes and Unix
    # timestamps.
    date: Annotated[dt.date, BeforeValidator(_iso_date_text), Field(strict=False)]
    # ge, not gt: BentoML publishes OpenAPI 3.0, where a numeric exclusiveMinimum is invalid.
    price: Annotated[float, Field(ge=0.01, le=1_000_000, allow_inf_nan=False)]
    promo: Annotated[int, Field(ge=0, le=1)]  # 0 or 1; `true` and `1.0` are not integers here


class Prediction(BaseModel):
    """The forecast for one requested row."""

    club_id: str
    item_id: str
    date: dt.date
    units: float


class ForecastResponse(BaseModel):
    """Predictions in request order, and which model made them."""

    model_version: str
    predictions: list[Prediction]


def rejected(error: Exception, reason: str) -> ValidationError:
    """A request the model cannot answer (unknown series, date outside the window), as the same
    400 body as a schema error: `{"error": ..., "detail": [{"loc": ["rows"], "msg": ...}]}`.
    (BentoML 1.4 renders its own InvalidArgument as a one-element list instead.)"""
    message = str(error).removeprefix("rows: ")
    detail = PydanticCustomError(reason, "{message}", {"message": message})
    return ValidationError.from_exception_data("Input", [{"type": detail, "loc": ("rows",)}])


# The service is named after its model, as the Bento is (bentofile.yaml name; tests/forecast/
# test_names.py holds every copy of the name to it).
SERVICE_NAME = MODEL_NAME


@bentoml.service(name=SERVICE_NAME, traffic={"timeout": TRAFFIC_TIMEOUT_SECONDS}, workers=2)
class DemandForecaster:
    """Serves the forecaster bundle stored in the BentoML model store."""

    if MODEL_PROBLEM is None:  # declared, so `bentoml build` packages it with the Bento
        bundle = bentoml.models.BentoModel(MODEL_TAG)

    @bentoml.on_shutdown
    def _flush_inference_log(self) -> None:
        """A rollout or restart must not lose the rows still buffered for the inference log."""
        if self.unavailable is None:
            self.inference_log.close()

    def __init__(self) -> None:
        quiet_refusals()
        self.unavailable = MODEL_PROBLEM or self._load()
        if self.unavailable is not None:
            # Every worker finds the same files; the first one speaks for all.
            if bentoml.server_context.worker_index in (None, 1):
                report_unavailable(self.unavailable)
            return
        self._start()

    def _load(self) -> str | None:
        """Load and warm up the model; why it cannot be served, or None."""
        from forecast.forecaster import BundleError, Forecaster, check_bundle

        quiet_lightgbm()
        where = _store_path()
        try:
            where = self.bundle.path
            check_bundle(Path(where), self.bundle.tag.version)
            self.forecaster = Forecaster.load(Path(where))
            self.forecaster.warm_up()
        except BundleError as error:
            return f"{MODEL_TAG}: {error}"
        except Exception as error:  # whatever the files hold: the reason is logged, not raised
            return (
                f"{MODEL_TAG} at {where} cannot be loaded (corrupt or incomplete model files): "
                f"{type(error).__name__}: {error}"
            )
        return None

    def _start(self) -> None:
        from conveyor.serve.inference_log import InferenceLogger
        from forecast.batching import AdaptiveBatcher
        from forecast.model import predict_matrix
        from forecast.service_metrics import metrics, requests_per_model_call

        self.version = str(self.bundle.tag)
        self.metrics = metrics()
        batches = requests_per_model_call()
        # Sampled request/prediction log for drift monitoring; off unless configured (see
        # conveyor.serve.inference_log: CONVEYOR_INFERENCE_LOG_DIR and _SAMPLE).
        self.inference_log = InferenceLogger.from_env()
        booster = self.forecaster.booster
        self.batcher = AdaptiveBatcher(
            lambda matrix: predict_matrix(booster, matrix),
            max_rows=BATCH_MAX_ROWS,
            on_batch=lambda requests, _: batches.observe(requests),
        )
        # Garbage-collection pauses were the latency tail (p99 ~270 ms at concurrency 32, ~55 ms
        # without them): the long-lived objects loaded above leave the collector's view, and
        # collections run less often (the request path makes few reference cycles).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    async def __is_ready__(self) -> bool:
        """/readyz: 503 while the model is unavailable, so no traffic is routed here."""
        return self.unavailable is None

    @bentoml.api(route="/forecast")
    async def forecast(
        self, rows: Annotated[list[Row], Field(min_length=1, max_length=MAX_ROWS)]
    ) -> ForecastResponse:
        """Forecast units sold for each row."""
        if self.unavailable is not None:
            # BentoML sends a Response returned by an API as is: the reason, without a traceback.
            return JSONResponse(  # type: ignore[return-value]
                {"error": f"model unavailable: {self.unavailable}"}, status_code=503
            )
        from forecast.forecaster import RequestError  # loaded with the model: costs nothing here

        self.metrics.rows_per_request.observe(len(rows))
        try:
            # Small requests are checked and encoded on the event loop (a thread hop would cost
            # more than the work); big ones in a thread, so other requests keep flowing.
            if len(rows) <= INLINE_ROWS:
                matrix = self._inputs(rows)
            else:
                matrix = await asyncio.to_thread(self._inputs, rows)
        except RequestError as error:
            self.metrics.validation_failures.labels(reason=error.reason).inc()
            raise rejected(error, error.reason) from None
        units = await self.batcher.predict(matrix)
        self.metrics.predictions.inc(len(units))
        for value in units:
            self.metrics.prediction_value.observe(float(value))
        if self.inference_log.enabled:
            self.inference_log.log([row.model_dump() for row in rows], units, self.version)
        return ForecastResponse(
            model_version=self.version,
            predictions=[
                Prediction(
                    club_id=r.club_id, item_id=r.item_id, date=r.date, units=round(float(u), 3)
                )
                for r, u in zip(rows, units, strict=True)
            ],
        )

    def _inputs(self, rows: list[Row]) -> np.ndarray:
        """The model's input matrix for the rows; RequestError when the model must refuse."""
        import polars as pl

        frame = pl.DataFrame([row.model_dump() for row in rows]).with_columns(
            pl.col("promo").cast(pl.Int8), pl.col("price").cast(pl.Float64)
        )
        return self.forecaster.inputs(frame)


# Outermost of ours (added first): the reason of a refusal, by the guard or the handler, is kept
# for the request's one log line.
DemandForecaster.add_asgi_middleware(RequestReasons)
# Before a body is parsed: JSON content type only, and no body larger than a valid request.
DemandForecaster.add_asgi_middleware(
    RequestGuard,
    paths=("/forecast",),
    max_bytes=MAX_BODY_BYTES,
    hint=f"send at most {MAX_ROWS} rows per request",
    body_seconds=body_seconds,
)
