"""The `batch` stage: forecast every club x item for each day of the horizon after the history
ends, with the model the register stage stored, into Parquet partitioned by forecast day.

Replenishment plans from these forecasts, not from one HTTP row at a time. Each series is priced
at its regular price (the highest of its last PRICE_MEMORY days, so the price ratio is 1) and
off promotion, unless a plan (Parquet: club_id, item_id, date, price, promo) says otherwise for a
row. The model is loaded exactly as the service loads it (the bundle's files are checked against
the version the register stage derived from them), so the forecasts are the released model's.
In the service image (a Kubernetes CronJob, deploy/base/cronjob.yaml) that model is the Bento's
own: BentoML's Dockerfile sets $BENTO_PATH, and the Bento's bento.yaml names the model packaged
with it, so the image a promotion pins by digest decides which model forecasts.

Each row carries the series' largest daily sales in the bundled history (``history_max``) and the
ratio of the forecast to it, so the output's data contract can bound the forecast against what
the series has ever sold.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeGuard

import numpy as np
import polars as pl

from conveyor.errors import DataError, UserError
from conveyor.files import read_json
from forecast.compiled import CompiledTrees, compile_model
from forecast.forecaster import (
    HISTORY_FILE,
    MODEL_FILE,
    BundleError,
    Forecaster,
    Model,
    bundle_digest,
    check_bundle,
    write_bundle,
)
from forecast.model import predict_matrix
from forecast.params import PipelineParams
from forecast.schema import KEYS

# History rows per part of a batch (about 10,800 series of 371 days): each part's window table,
# model inputs and forecasts fit in a few hundred MB, whatever the number of clubs.
PART_ROWS = 4_000_000
# History rows from which compiling the trees (10-30 s, once per model and machine: it is kept)
# repays itself in a faster predict; a smaller batch always predicts with LightGBM.
# About 750,000 forecasts: LightGBM predicts them in ~6 s on 2 cores, the compiled trees in ~1 s.
COMPILE_FROM_ROWS = 10_000_000
PLAN_COLUMNS = {"club_id": pl.String, "item_id": pl.String, "date": pl.Date}
OUTPUT_COLUMNS = [
    "club_id",
    "item_id",
    "date",
    "price",
    "promo",
    "forecast",
    "history_max",
    "forecast_to_history_max",
    "model_tag",
]


def _tag(tag_file: Path) -> str:
    tag = read_json(tag_file, "the registered model's tag").get("tag")
    if not isinstance(tag, str) or ":" not in tag:
        raise UserError(f"{tag_file}: no model tag 'name:version': run the register stage first")
    return tag


def pipeline_bundle(
    tag_file: Path, model: Path, raw: Path, params: PipelineParams, folder: Path
) -> str:
    """Write into ``folder`` the bundle the register stage stored, from the pipeline's own
    outputs (no model store needed: a CI runner that restored `register` from DVC's run-cache
    has none); its content must hash to the registered version. The registered tag."""
    tag = _tag(tag_file)
    for path, what in ((model, "--model"), (raw, "--raw")):
        if not path.is_file():
            raise UserError(f"{what} {path}: no such file: run the pipeline first")
    write_bundle(
        folder,
        model,
        raw,
        params.features,
        params.data.holidays_country,
        params.monitoring.max_model_age_days,
    )
    version = tag.partition(":")[2]
    found = bundle_digest(folder)
    if found != version:
        raise UserError(
            f"{model} and {raw} make model version {found}, but {tag_file} names {tag}: "
            "run the register stage again (dvc repro register)"
        )
    return tag


def stored_bundle(tag: str) -> tuple[str, Path]:
    """Model ``tag``'s checked folder in the BentoML store (in the image: the Bento's own
    model); its full tag."""
    import bentoml  # heavy: imported only by the stage that needs it

    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise UserError(f"model {tag} is not in the BentoML model store") from None
    except (ValueError, bentoml.exceptions.BentoMLException) as error:
        raise UserError(f"model {tag}: {error}") from None
    folder = Path(stored.path)
    try:
        check_bundle(folder, stored.tag.version)
    except BundleError as error:
        raise UserError(f"model {stored.tag}: {error}") from None
    return str(stored.tag), folder


def bento_bundle(bento: Path) -> tuple[str, Path]:
    """The model packaged in the Bento unpacked at ``bento`` (its bento.yaml names it; one
    model, or $CONVEYOR_MODEL_TAG among several), its files checked; its tag and folder."""
    import yaml

    from conveyor.build import models_in_bento

    if not (bento / "bento.yaml").is_file():
        raise UserError(f"{bento}: no bento.yaml: not an unpacked Bento (--bento, $BENTO_PATH)")
    try:
        packaged = models_in_bento(bento)
    except (OSError, yaml.YAMLError, AttributeError, TypeError, KeyError) as error:
        raise UserError(f"{bento}/bento.yaml: cannot read its models ({error})") from None
    wanted = os.environ.get("CONVEYOR_MODEL_TAG")
    if wanted:
        if wanted not in packaged:
            raise UserError(f"CONVEYOR_MODEL_TAG={wanted} is not in the Bento at {bento}")
        packaged = [wanted]
    if len(packaged) != 1:
        raise UserError(
            f"the Bento at {bento} holds {len(packaged)} models ({', '.join(packaged) or 'none'}):"
            " set CONVEYOR_MODEL_TAG to the one to forecast with"
        )
    tag = packaged[0]
    name, _, version = tag.partition(":")
    folder = bento / "models" / name / version
    try:
        check_bundle(folder, version)
    except BundleError as error:
        raise UserError(f"model {tag}: {error}") from None
    return tag, folder


def requests(forecaster: Forecaster, plan: pl.DataFrame | None) -> pl.DataFrame:
    """Every series for every day of the window, at its regular price and off promotion,
    with the plan's price and promo where it names the row."""
    rows = forecaster.window_table.select(
        *KEYS,
        pl.col("_history_price_max").alias("price"),
        pl.lit(0, pl.Int8).alias("promo"),
    )
    if plan is None:
        return rows
    first, last = forecaster.window
    unknown = plan.join(rows, on=list(KEYS), how="anti")
    if unknown.height:
        club, item, day = unknown.row(0)[:3]
        raise DataError(
            f"plan: row {club}/{item}/{day} is not a series and day of the forecast window "
            f"({first} .. {last})"
        )
    planned = plan.select(*KEYS, pl.col("price").alias("_price"), pl.col("promo").alias("_promo"))
    # in the window table's order: the batch's inputs and output are read along it
    return rows.join(planned, on=list(KEYS), how="left", maintain_order="left").select(
        *KEYS,
        pl.coalesce("_price", "price").alias("price"),
        pl.coalesce(pl.col("_promo").cast(pl.Int8), "promo").alias("promo"),
    )


def read_plan(path: Path) -> pl.DataFrame:
    """The plan's rows, checked: the key columns, a positive price, promo 0 or 1, no duplicate."""
    try:
        plan = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise DataError(f"{path}: cannot read the plan: {str(error).splitlines()[0]}") from None
    missing = [c for c in (*PLAN_COLUMNS, "price", "promo") if c not in plan.columns]
    if missing:
        raise DataError(f"{path}: the plan has no column(s) {', '.join(missing)}")
    plan = plan.select(*KEYS, "price", "promo")
    try:
        plan = plan.cast({**PLAN_COLUMNS, "price": pl.Float64, "promo": pl.Int8})
    except pl.exceptions.PolarsError as error:
        raise DataError(f"{path}: {str(error).splitlines()[0]}") from None
    if plan.select(KEYS).is_duplicated().any():
        raise DataError(f"{path}: the plan names a club, item and day more than once")
    bad = plan.filter(~(pl.col("price") > 0) | ~pl.col("promo").is_in([0, 1]))
    if bad.height:
        raise DataError(f"{path}: price must be > 0 and promo 0 or 1 (row {bad.row(0)})")
    return plan


def forecast(
    forecaster: Forecaster, plan: pl.DataFrame | None, tag: str, history: pl.DataFrame
) -> pl.DataFrame:
    """The forecast table of ``history``'s series: one row per series and window day."""
    rows = requests(forecaster, plan)
    return output_table(forecaster, rows, forecaster.predict(rows), tag)


def output_table(
    forecaster: Forecaster, rows: pl.DataFrame, forecasts: np.ndarray, tag: str
) -> pl.DataFrame:
    """The request ``rows`` (:func:`requests`: the window table's rows, in its order) with their
    ``forecasts``, the series' peak in the history and the model's tag: the output columns."""
    return (
        rows.with_columns(
            pl.Series("forecast", forecasts),
            forecaster.window_table["_history_max"].alias("history_max"),
        )
        .with_columns(
            # A series that never sold has no scale: its ratio is the forecast over one unit.
            (pl.col("forecast") / pl.max_horizontal("history_max", pl.lit(1.0))).alias(
                "forecast_to_history_max"
            ),
            pl.lit(tag).alias("model_tag"),
        )
        .select(OUTPUT_COLUMNS)
    )


def history_parts(path: Path, rows: int | None = None) -> Iterator[pl.DataFrame]:
    """The bundle's history, whole clubs at a time, about ``rows`` (PART_ROWS) rows each:
    write_bundle sorts it by club, item and date, so a club ends where the next begins and
    memory stays bounded however many clubs there are (polars reads only the row groups of
    each slice). A club met again after its end is a UserError."""
    unsorted = UserError(f"{path}: the history is not sorted by club (write_bundle sorts it)")
    size = rows or PART_ROWS
    history = pl.scan_parquet(path)
    total = history.select(pl.len()).collect().item()
    done: set[str] = set()
    carry = pl.DataFrame()
    for offset in range(0, total, size):
        part = history.slice(offset, size).collect()
        part = pl.concat([carry, part]) if carry.height else part
        last = part["club_id"][-1]
        ends = offset + size >= total
        carry = part.filter(pl.col("club_id") == last) if not ends else pl.DataFrame()
        complete = part if ends else part.filter(pl.col("club_id") != last)
        clubs = set(complete["club_id"].unique().to_list())
        if clubs & done or (not ends and last in clubs):
            raise unsorted
        done |= clubs
        if complete.height:
            yield complete


class PartitionWriter:
    """``out/forecast_date=YYYY-MM-DD/part-N.parquet``, one file per part and day, built in a
    folder beside ``out`` and swapped in whole by :meth:`commit` (no reader sees half a batch;
    an error leaves ``out`` as it was)."""

    def __init__(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        self.parts = 0
        self.rows = 0

    def write(self, table: pl.DataFrame) -> None:
        for (day,), rows in table.sort(KEYS).group_by("date", maintain_order=True):
            folder = self.staging / f"forecast_date={day.isoformat()}"
            folder.mkdir(exist_ok=True)
            rows.write_parquet(folder / f"part-{self.parts}.parquet")
        self.parts += 1
        self.rows += table.height

    def commit(self) -> int:
        if self.out.exists():
            shutil.rmtree(self.out)
        self.staging.rename(self.out)
        return self.rows

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def write_partitions(table: pl.DataFrame, out: Path) -> int:
    """``table`` as ``out``'s partitions, replacing ``out`` whole."""
    writer = PartitionWriter(out)
    try:
        writer.write(table)
        return writer.commit()
    finally:
        writer.discard()


def needs_params(bento: Path | None) -> bool:
    """Whether the model comes from the pipeline's outputs (hence params.yaml), not from a
    Bento or the model store (which carry the settings they were built with)."""
    return bento is None and not os.environ.get("CONVEYOR_MODEL_TAG")


def run(
    params: PipelineParams | None,
    out: Path,
    tag_file: Path,
    model: Path,
    raw: Path,
    plan_path: Path | None = None,
    bento: Path | None = None,
) -> tuple[int, str]:
    """Forecast the registered model's window into ``out``; (rows, model tag). The model is
    the Bento's at ``bento`` (the service image, as a CronJob), else $CONVEYOR_MODEL_TAG from
    the BentoML store, else rebuilt from the pipeline's outputs and checked against
    ``tag_file`` (only this last one reads ``params``)."""
    plan = read_plan(plan_path) if plan_path is not None else None
    with tempfile.TemporaryDirectory(prefix="forecast-batch-") as work:
        if bento is not None:
            tag, bundle = bento_bundle(bento)
        elif os.environ.get("CONVEYOR_MODEL_TAG"):
            tag, bundle = stored_bundle(os.environ["CONVEYOR_MODEL_TAG"])
        else:
            if params is None:
                raise UserError("the pipeline's model needs params.yaml (--params)")
            bundle = Path(work)
            tag = pipeline_bundle(tag_file, model, raw, params, bundle)
        model = Model.read(bundle)
        writer = PartitionWriter(out)
        # One thread predicts (the trees compiled first, forecast.compiled) while this one
        # makes the next part's inputs: on two cores both stay busy, and at most two parts'
        # inputs are held at once.
        predictor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-predict")
        try:
            compiling = predictor.submit(_compiled_if_worth_it, bundle)

            def predict(matrix: np.ndarray) -> np.ndarray:
                trees = compiling.result()
                if not _usable(trees):
                    return predict_matrix(model.booster, matrix)
                # non-negative, as predict_matrix makes LightGBM's
                return np.clip(trees.predict(matrix, threads=os.cpu_count() or 1), 0, None)

            pending: deque[tuple[pl.DataFrame, Future[np.ndarray], Forecaster]] = deque()
            planned: set[str] = set()
            for history in history_parts(bundle / HISTORY_FILE):
                clubs = history["club_id"].unique().to_list()
                part_plan = None if plan is None else plan.filter(pl.col("club_id").is_in(clubs))
                forecaster = Forecaster.for_history(model, history)
                part = requests(forecaster, part_plan)
                inputs = forecaster.window_inputs(part["price"], part["promo"])
                pending.append((part, predictor.submit(predict, inputs), forecaster))
                planned |= set(clubs)
                while len(pending) > 1:
                    _write(writer, pending.popleft(), tag)
            while pending:
                _write(writer, pending.popleft(), tag)
            if plan is not None:
                _no_unknown_clubs(plan, planned, model)
            _say_predictor(compiling.result())
            rows = writer.commit()
        finally:
            predictor.shutdown(cancel_futures=True)
            writer.discard()
    return rows, tag


def _compiled_if_worth_it(bundle: Path) -> CompiledTrees | str:
    """The bundle's trees compiled for a batch large enough to repay it; for a smaller one the
    reason LightGBM predicts, whether or not a compiled copy is kept (a batch's forecasts
    depend on its bundle alone, not on what a cache holds)."""
    history_rows = pl.scan_parquet(bundle / HISTORY_FILE).select(pl.len()).collect().item()
    if history_rows < COMPILE_FROM_ROWS:
        return "too few rows to repay compiling the trees"
    return compile_model(bundle / MODEL_FILE)


def _usable(trees: CompiledTrees | str) -> TypeGuard[CompiledTrees]:
    return isinstance(trees, CompiledTrees)


def _write(
    writer: PartitionWriter, done: tuple[pl.DataFrame, Future[np.ndarray], Forecaster], tag: str
) -> None:
    rows, forecasts, forecaster = done
    writer.write(output_table(forecaster, rows, forecasts.result(), tag))


def _say_predictor(trees: CompiledTrees | str) -> None:
    """One line on stderr: which predicted (the same forecasts within 1e-12), and why not the
    compiled trees when LightGBM did."""
    if _usable(trees):
        print(
            f"batch: predicted with the trees compiled by lleaves ({trees.source})", file=sys.stderr
        )
    else:
        print(f"batch: predicted with LightGBM ({trees})", file=sys.stderr)


def _no_unknown_clubs(plan: pl.DataFrame, clubs: set[str], model: Model) -> None:
    """A plan row of a club the history does not have: the same refusal as any unknown row."""
    unknown = plan.filter(~pl.col("club_id").is_in(list(clubs)))
    if unknown.height:
        club, item, day = unknown.row(0)[:3]
        first, last = model.window
        raise DataError(
            f"plan: row {club}/{item}/{day} is not a series and day of the forecast window "
            f"({first} .. {last})"
        )
