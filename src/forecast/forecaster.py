"""The served model: a bundle of the booster, the recent sales history and the feature knobs.

A forecast request names (club, item, date, price, promo) for days after the history ends, up to
the horizon; lags and rolling statistics come from the bundled history, exactly as in training
(the definitions of `build_features`). Requests the model cannot answer honestly are refused
with a reason: unknown club/item pairs (policy: reject), dates outside the forecast window,
duplicate rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl

from conveyor.hashing import file_md5
from forecast.features import (
    PRICE_MEMORY,
    feature_columns,
    holiday_features,
    sorted_by_keys,
    with_series_id,
)
from forecast.model import Encoder, load_booster, predict_matrix
from forecast.params import FeatureParams
from forecast.schema import KEYS, SERIES_KEYS, TARGET

MODEL_FILE, HISTORY_FILE, SETTINGS_FILE = "model.txt", "history.parquet", "serving.json"
BUNDLE_FILES = (MODEL_FILE, HISTORY_FILE, SETTINGS_FILE)
REQUEST_COLUMNS = ("club_id", "item_id", "date", "price", "promo")
# A model version the register stage derived from the bundle's content (bundle_digest()).
CONTENT_VERSION = re.compile(r"^[0-9a-f]{20}$")


class RequestError(ValueError):
    """A request the model cannot answer; the message says which field and why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # a short label for the validation-failure metric


def history_days(params: FeatureParams) -> int:
    """Days of sales the bundle keeps: enough for the longest lag or window at the horizon."""
    longest_window = params.horizon_days + max(params.rolling_windows)
    return max(*params.lags, longest_window, PRICE_MEMORY) + 7


def write_bundle(
    target: Path,
    model: Path,
    raw: Path,
    params: FeatureParams,
    country: str,
    max_data_age_days: int | None = None,
) -> None:
    """Write model, recent history and settings into ``target`` (a model-store directory);
    ``max_data_age_days``: how old its data may grow before the model-age alert fires (the
    service exposes it, so the limit reviewed in params.yaml travels with the model)."""
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
    if max_data_age_days is not None:
        settings["max_data_age_days"] = max_data_age_days
    (target / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


class BundleError(ValueError):
    """A stored bundle that must not be loaded: a file is missing, or not the one registered."""


def bundle_digest(folder: Path) -> str:
    """The content hash the register stage names a model version with (forecast.register): MD5
    over each bundle file's name and MD5, in name order, cut to 20 hex digits."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(BUNDLE_FILES):
        digest.update(name.encode() + file_md5(folder / name).encode())
    return digest.hexdigest()[:20]


def check_bundle(folder: Path, version: str | None) -> None:
    """BundleError unless every bundle file is there and, for a version the register stage
    derived from the content, the files still hash to it.

    Checked before LightGBM reads the model: a truncated model file can abort the whole process
    inside LightGBM's parser (std::terminate from its worker threads), not raise an error.
    """
    missing = [name for name in BUNDLE_FILES if not (folder / name).is_file()]
    if missing:
        raise BundleError(f"missing {', '.join(missing)} in {folder}")
    if version and CONTENT_VERSION.match(version):
        found = bundle_digest(folder)
        if found != version:
            raise BundleError(
                f"the files in {folder} hash to {found}, not to the version {version}: "
                "corrupt or modified after registration"
            )


@dataclass(frozen=True)
class Model:
    """A bundle's booster, its encoder and its settings: what every series shares, read once
    (a batch forecasts its series part by part with one Model)."""

    booster: lgb.Booster
    encoder: Encoder
    params: FeatureParams
    country: str
    history_end: dt.date
    max_data_age_days: int | None  # the model-age alert's limit, when the bundle has one

    @property
    def window(self) -> tuple[dt.date, dt.date]:
        """The first and last day a forecast can be asked for."""
        first = self.history_end + dt.timedelta(days=1)
        return first, self.history_end + dt.timedelta(days=self.params.horizon_days)

    @classmethod
    def read(cls, bundle: Path) -> Model:
        """The model and settings of a bundle written by :func:`write_bundle`."""
        settings = json.loads((bundle / SETTINGS_FILE).read_text(encoding="utf-8"))
        booster = load_booster(bundle / MODEL_FILE)
        return cls(
            booster=booster,
            encoder=Encoder.for_booster(booster),
            params=FeatureParams.model_validate(settings["features"]),
            country=settings["holidays_country"],
            history_end=dt.date.fromisoformat(settings["history_end"]),
            max_data_age_days=settings.get("max_data_age_days"),
        )


@dataclass(frozen=True)
class Forecaster:
    """Everything needed to answer forecast requests, loaded once per worker.

    At load, every feature that depends only on the history (lags, rolling statistics, calendar,
    holidays) is computed for each series and each day of the forecast window, by training's
    definitions (`build_features`), for those rows only. A request then costs a join and the
    price ratio, whose reference price may include prices of earlier days in the same request,
    as in training.
    """

    model: Model
    window_table: pl.DataFrame  # one row per series and window day: history-based features

    @classmethod
    def load(cls, bundle: Path) -> Forecaster:
        """Load a bundle written by :func:`write_bundle`: every series of its history."""
        return cls.for_history(Model.read(bundle), pl.read_parquet(bundle / HISTORY_FILE))

    @classmethod
    def for_history(cls, model: Model, history: pl.DataFrame) -> Forecaster:
        """``model`` for the series of ``history`` (all of the bundle's, or a part of them)."""
        table = _window_table(history, model.params, model.country, model.history_end)
        return cls(model=model, window_table=table)

    @property
    def booster(self) -> lgb.Booster:
        return self.model.booster

    @property
    def encoder(self) -> Encoder:
        return self.model.encoder

    @property
    def params(self) -> FeatureParams:
        return self.model.params

    @property
    def history_end(self) -> dt.date:
        return self.model.history_end

    @property
    def max_data_age_days(self) -> int | None:
        return self.model.max_data_age_days

    # For requests with one day per series, which need no join: a dictionary lookup into the
    # window rows encoded once (price, promo and price ratio left empty), three columns filled
    # in. Built on first use (the service's warm-up): a batch, always several days per series,
    # never pays for them.
    @functools.cached_property
    def row_index(self) -> dict[tuple[str, str, dt.date], int]:
        return {key: n for n, key in enumerate(self.window_table.select(KEYS).iter_rows())}

    @functools.cached_property
    def encoded(self) -> np.ndarray:
        empty = pl.lit(None, pl.Float64)
        return self.encoder.matrix(
            self.window_table.with_columns(price=empty, promo=empty, price_ratio=empty)
        )

    @functools.cached_property
    def history_price_max(self) -> np.ndarray:
        return self.window_table["_history_price_max"].to_numpy()

    @property
    def window(self) -> tuple[dt.date, dt.date]:
        """The first and last day a forecast can be asked for."""
        return self.model.window

    @property
    def series(self) -> pl.DataFrame:
        """The (club_id, item_id) pairs the model can forecast."""
        return self.window_table.select(SERIES_KEYS).unique(maintain_order=True)

    def predict(self, requests: pl.DataFrame) -> np.ndarray:
        """Unit forecasts, one per request row, in request order; RequestError when refused."""
        return predict_matrix(self.booster, self.inputs(requests))

    def inputs(self, requests: pl.DataFrame) -> np.ndarray:
        """The model's input matrix for the request rows; RequestError when refused."""
        if requests.height > 1 and requests.select(SERIES_KEYS).n_unique() < requests.height:
            return self._joined_inputs(requests)  # several days of one series
        keys = list(zip(*(requests[k].to_list() for k in KEYS), strict=True))
        found = [self.row_index.get(key) for key in keys]
        if None in found or len({key[:2] for key in keys}) < len(keys):
            return self._joined_inputs(requests)  # refusals, or several days of one series
        matrix = self.encoded[found]  # a copy: fancy indexing
        price = requests["price"].to_numpy()
        columns = self.encoder.columns
        matrix[:, columns.index("price")] = price
        matrix[:, columns.index("promo")] = requests["promo"].to_numpy()
        matrix[:, columns.index("price_ratio")] = price / self.history_price_max[found]
        return matrix

    def window_inputs(self, price: pl.Series, promo: pl.Series) -> np.ndarray:
        """The model's input matrix for every window row (the window table's order) at these
        prices and promotions: what :meth:`inputs` makes of those rows as requests, without
        joining them back to the table they come from (the batch's millions of rows)."""
        rows = self.window_table.with_columns(price.alias("price"), promo.alias("promo"))
        earlier = _earlier_price(rows.select(*KEYS, "price"))  # the rows are in key order
        reference = pl.max_horizontal("_history_price_max", earlier)
        return self.encoder.matrix(
            rows.with_columns((pl.col("price") / reference).alias("price_ratio"))
        )

    def _joined_inputs(self, requests: pl.DataFrame) -> np.ndarray:
        """The general path: any rows, checked, joined to the window table."""
        self._check(requests)
        rows = requests.select(REQUEST_COLUMNS).join(
            self.window_table, on=list(KEYS), how="left", maintain_order="left"
        )
        reference = pl.col("_history_price_max")
        if rows.height > rows.select(SERIES_KEYS).n_unique():
            # Several days of one series: earlier requested prices count, as in training.
            reference = pl.max_horizontal(reference, pl.col("_request_price_max"))
            rows = rows.join(_earlier_price_max(requests), on=list(KEYS), how="left")
        rows = rows.with_columns((pl.col("price") / reference).alias("price_ratio"))
        return self.encoder.matrix(rows)

    def _check(self, requests: pl.DataFrame) -> None:
        unknown = (
            requests.select(SERIES_KEYS)
            .unique(maintain_order=True)
            .join(self.series, on=list(SERIES_KEYS), how="anti")
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
        first = self.window_table.head(1).select(*SERIES_KEYS, "date")
        self.predict(first.with_columns(price=pl.lit(1.0), promo=pl.lit(0, pl.Int8)))


def _window_table(
    history: pl.DataFrame, params: FeatureParams, country: str, history_end: dt.date
) -> pl.DataFrame:
    """History-based features of every series for every day of the forecast window: what
    `build_features` makes of those rows (tests/forecast/test_window_features.py holds them
    equal), read from a series x day array of the history instead of computed for every
    history day and thrown away (a bundle keeps 371 days per series to forecast 28)."""
    days = [history_end + dt.timedelta(days=d) for d in range(1, params.horizon_days + 1)]
    sales = with_series_id(history if sorted_by_keys(history) else history.sort(KEYS))
    number = sales["_series"].to_numpy()
    series = _series_table(sales, number)
    first_day = sales["date"].min()
    span = (history_end - first_day).days + 1
    # units by series and day (NaN: no row that day), and the inclusive prefix sums the rolling
    # statistics read: value, count and square, each with a zero column in front.
    units = np.full((series.height, span), np.nan)
    row = number - 1
    # days since the first day, as integers (a date is its day number since 1970)
    column = (sales["date"].cast(pl.Int32) - sales["date"].cast(pl.Int32).min()).to_numpy()
    units[row, column] = sales[TARGET].cast(pl.Float64).to_numpy()
    # The reference price of a window day: the largest price of the PRICE_MEMORY days before it,
    # from the history alone, i.e. the largest from that day on (a running maximum from the end;
    # fmax skips the days without a price).
    prices = np.full((series.height, span), np.nan)
    prices[row, column] = sales["price"].cast(pl.Float64).to_numpy()
    later_max = np.fmax.accumulate(prices[:, ::-1], axis=1)[:, ::-1]
    columns: dict[str, np.ndarray] = {}
    index = np.arange(1, params.horizon_days + 1) + span - 1  # the window days' columns
    last = index - params.horizon_days  # the last day a window's sales statistics may read
    for lag in params.lags:
        at = index - lag
        values = np.full((series.height, len(days)), np.nan)
        inside = at >= 0
        values[:, inside] = units[:, at[inside]]
        columns[f"lag_{lag}"] = values
    since = index - PRICE_MEMORY
    price_max = np.full((series.height, len(days)), np.nan)
    inside = since <= span - 1  # a window day further out than PRICE_MEMORY has no such price
    price_max[:, inside] = later_max[:, np.maximum(since[inside], 0)]
    columns["_history_price_max"] = price_max
    # the series' largest daily sales in the history, on each of its rows (the batch's
    # history_max; NaN, then null, for a series that never reported a sale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN series: NaN is the answer
        peak = np.nanmax(units, axis=1, keepdims=True)
    columns["_history_max"] = np.broadcast_to(peak, (series.height, len(days)))
    columns |= _rolling_statistics(units, last, params.rolling_windows)
    # A row dated before the series' first day plus the shortest lag has no history (training
    # drops it too): the same rows are left out here.
    first = (series["_first"] - first_day).dt.total_days().to_numpy()
    kept = (index[None, :] - first[:, None]) >= min(params.lags)
    flat = {name: values[kept] for name, values in columns.items()}
    rows_of, days_of = np.nonzero(kept)
    date = pl.col("date")
    features = (
        series.select(*SERIES_KEYS, "region", "category")[rows_of]
        .with_columns(pl.Series("date", np.array(days, dtype="datetime64[D]")[days_of]))
        .with_columns(pl.col("date").cast(pl.Date))
        .with_columns(
            date.dt.weekday().alias("day_of_week"),
            date.dt.day().alias("day_of_month"),
            date.dt.ordinal_day().alias("day_of_year"),
            date.dt.month().alias("month"),
            *(pl.Series(name, values, nan_to_null=True) for name, values in flat.items()),
        )
        .join(
            holiday_features(pl.DataFrame({"date": [first_day, days[-1]]}), country),
            on="date",
            how="left",
            maintain_order="left",
        )
    )
    ordered = [c for c in feature_columns(params) if c not in (*KEYS, "price", "promo")]
    ordered.remove("price_ratio")
    return features.select(*KEYS, *ordered, "_history_price_max", "_history_max")


def _rolling_statistics(
    units: np.ndarray, last: np.ndarray, windows: list[int]
) -> dict[str, np.ndarray]:
    """Rolling mean and standard deviation of each window of ``units`` (series x day, NaN: no
    sale reported) ending on the days ``last``, from prefix sums of value, count and square.

    The sums start on the first day a window reads (the longest window before the first of
    ``last``), not on the history's first: they are of whole units, exact in float64 from any
    start, and a third of the columns (91 + 28 of 371 days) is summed."""
    start = max(int(last[0]) - max(windows) + 1, 0)
    recent = units[:, start:]
    known = ~np.isnan(recent)
    filled = np.where(known, recent, 0.0)
    prefix = {}
    for name, part in (("sum", filled), ("count", known), ("sq", np.square(filled))):
        prefix[name] = np.zeros((len(units), recent.shape[1] + 1))
        np.cumsum(part, axis=1, out=prefix[name][:, 1:])
    columns = {}
    for w in windows:
        lo = np.maximum(last - w + 1, 0) - start

        def total(name: str, lo: np.ndarray = lo) -> np.ndarray:
            return prefix[name][:, last - start + 1] - prefix[name][:, lo]

        count, summed, squares = total("count"), total("sum"), total("sq")
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"rolling_mean_{w}"] = np.where(count >= 1, summed / count, np.nan)
            variance = (count * squares - summed * summed) / (count * (count - 1))
            columns[f"rolling_std_{w}"] = np.where(
                count >= 2, np.sqrt(np.maximum(variance, 0.0)), np.nan
            )
    return columns


def _series_table(sales: pl.DataFrame, number: np.ndarray) -> pl.DataFrame:
    """One row per series of key-sorted ``sales`` (``number``: their series ids from 1): its
    keys and first date from its first row, its latest labels from its last (a gather at the
    series' edges, not a group-by over every row)."""
    starts = np.flatnonzero(np.diff(number, prepend=0))
    ends = np.append(starts[1:], len(number)) - 1
    return pl.concat(
        [
            sales[starts].select(*SERIES_KEYS, pl.col("date").alias("_first")),
            sales[ends].select("region", "category"),
        ],
        how="horizontal",
    )


def _earlier_price_max(requests: pl.DataFrame) -> pl.DataFrame:
    """For each requested row, the largest price requested for the same series on one of the
    PRICE_MEMORY days before it (null when there is none): a rolling maximum over the window
    [date - PRICE_MEMORY days, date) of each series, one pass instead of a join of every
    requested day with every other one of its series (28 x 28 rows per series in a batch)."""
    ordered = requests.select(*KEYS, "price").sort(KEYS)
    return ordered.with_columns(_earlier_price(ordered)).select(*KEYS, "_request_price_max")


def _earlier_price(rows: pl.DataFrame) -> pl.Series:
    """Per row of key-sorted ``rows`` (keys and price): the largest price of the same series on
    one of the PRICE_MEMORY days before it, null when there is none."""
    return rows.select(
        pl.col("price")
        .rolling_max_by("date", window_size=f"{PRICE_MEMORY}d", closed="left")
        .over(SERIES_KEYS)
        .alias("_request_price_max")
    ).to_series()
