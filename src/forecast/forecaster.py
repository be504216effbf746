"""The served model: a bundle of the booster, the recent sales history and the feature knobs.

A forecast request names (club, item, date, price, promo) for days after the history ends, up to
the horizon; lags and rolling statistics come from the bundled history, exactly as in training
(the same `build_features`). Requests the model cannot answer honestly are refused with a reason:
unknown club/item pairs (policy: reject), dates outside the forecast window, duplicate rows.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl

from forecast.features import PRICE_MEMORY, build_features
from forecast.model import load_booster, predict
from forecast.params import FeatureParams
from forecast.schema import KEYS, RAW_SCHEMA, SERIES_KEYS, TARGET

MODEL_FILE, HISTORY_FILE, SETTINGS_FILE = "model.txt", "history.parquet", "serving.json"
REQUEST_COLUMNS = ("club_id", "item_id", "date", "price", "promo")


class RequestError(ValueError):
    """A request the model cannot answer; the message says which field and why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # a short label for the validation-failure metric


def history_days(params: FeatureParams) -> int:
    """Days of sales the bundle keeps: enough for the longest lag or window at the horizon."""
    longest_window = params.horizon_days + max(params.rolling_windows)
    return max(*params.lags, longest_window, PRICE_MEMORY) + 7


def write_bundle(target: Path, model: Path, raw: Path, params: FeatureParams, country: str) -> None:
    """Write model, recent history and settings into ``target`` (a model-store directory)."""
    sales = pl.read_parquet(raw)
    last = sales["date"].max()
    start = last - dt.timedelta(days=history_days(params) - 1)
    sales.filter(pl.col("date") >= start).sort(KEYS).write_parquet(target / HISTORY_FILE)
    shutil.copyfile(model, target / MODEL_FILE)
    settings = {
        "features": params.model_dump(),
        "holidays_country": country,
        "history_end": last.isoformat(),
    }
    (target / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Forecaster:
    """Everything needed to answer forecast requests, loaded once per worker."""

    booster: lgb.Booster
    history: dict[tuple[str, str], pl.DataFrame]
    params: FeatureParams
    country: str
    history_end: dt.date

    @classmethod
    def load(cls, bundle: Path) -> Forecaster:
        """Load a bundle written by :func:`write_bundle`."""
        settings = json.loads((bundle / SETTINGS_FILE).read_text(encoding="utf-8"))
        history = pl.read_parquet(bundle / HISTORY_FILE)
        by_series = history.partition_by(list(SERIES_KEYS), as_dict=True, maintain_order=True)
        return cls(
            booster=load_booster(bundle / MODEL_FILE),
            history={(str(k[0]), str(k[1])): frame for k, frame in by_series.items()},
            params=FeatureParams.model_validate(settings["features"]),
            country=settings["holidays_country"],
            history_end=dt.date.fromisoformat(settings["history_end"]),
        )

    @property
    def window(self) -> tuple[dt.date, dt.date]:
        """The first and last day a forecast can be asked for."""
        first = self.history_end + dt.timedelta(days=1)
        return first, self.history_end + dt.timedelta(days=self.params.horizon_days)

    def predict(self, requests: pl.DataFrame) -> np.ndarray:
        """Unit forecasts, one per request row, in request order; RequestError when refused."""
        self._check(requests)
        series = requests.select(SERIES_KEYS).unique(maintain_order=True).iter_rows()
        history = pl.concat([self.history[(club, item)] for club, item in series])
        labels = history.group_by(SERIES_KEYS).agg(pl.col("region", "category").last())
        future = (
            requests.join(labels, on=list(SERIES_KEYS), how="left")
            .with_columns(pl.lit(None, dtype=pl.Int64).alias(TARGET))
            .select(list(RAW_SCHEMA))
            .cast(RAW_SCHEMA)
        )
        features = build_features(pl.concat([history, future]), self.params, self.country)
        wanted = features.join(requests.select(KEYS), on=list(KEYS), how="semi")
        ordered = requests.select(KEYS).join(
            wanted, on=list(KEYS), how="left", maintain_order="left"
        )
        return predict(self.booster, ordered)

    def _check(self, requests: pl.DataFrame) -> None:
        unknown = (
            requests.select(SERIES_KEYS)
            .unique(maintain_order=True)
            .filter(
                ~pl.struct(SERIES_KEYS).map_elements(
                    lambda key: (key["club_id"], key["item_id"]) in self.history,
                    return_dtype=pl.Boolean,
                )
            )
        )
        if unknown.height:
            pairs = ", ".join(f"{c}/{i}" for c, i in unknown.head(5).iter_rows())
            raise RequestError(
                f"rows: unknown club/item {pairs}: this model has no sales history for them "
                "(policy: reject)",
                "unknown_series",
            )
        first, last = self.window
        outside = requests.filter((pl.col("date") < first) | (pl.col("date") > last))
        if outside.height:
            raise RequestError(
                f"rows: date {outside['date'][0]} is outside the forecast window {first} .. {last} "
                f"(history ends {self.history_end}, horizon {self.params.horizon_days} days)",
                "date_outside_window",
            )
        if requests.select(KEYS).is_duplicated().any():
            raise RequestError(
                "rows: the same club, item and date appear more than once", "duplicate_rows"
            )

    def warm_up(self) -> None:
        """Answer one request at load time, so the first client does not pay for cold caches."""
        club, item = next(iter(self.history))
        last = self.history[(club, item)].tail(1)
        self.predict(
            last.select(*SERIES_KEYS, "price", "promo")
            .with_columns(pl.lit(self.window[0]).alias("date"))
            .select(REQUEST_COLUMNS)
        )
