"""Batch forecasts (`python -m forecast batch`, the dvc.yaml `batch` stage): every club x item for
each day of the horizon, with the registered model, checked by the `forecasts` contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from forecast.forecaster import Forecaster
from forecast.schema import KEYS
from tests.forecasts_contract import sized_forecasts_contract
from tests.paths import REPO
from tests.serving import register_model, train_small_model

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

CONVEYOR = Path(sys.executable).parent / "conveyor"


@pytest.fixture(scope="module")
def registered(tmp_path_factory, small_sales, small_params) -> dict[str, object]:
    """The small model trained and registered in a BentoML home of its own."""
    inputs = train_small_model(tmp_path_factory.mktemp("batch"), small_sales, small_params)
    home = tmp_path_factory.mktemp("bentoml-home")
    tag = register_model(inputs, small_params, home)
    return {**inputs, "home": home, "tag": tag, "tag_file": inputs["work"] / "bentoml_model.json"}


def _batch(registered: dict, out: Path, *extra: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [
            sys.executable, "-m", "forecast", "batch",
            "--tag-file", str(registered["tag_file"]),
            "--model", str(registered["model"]),
            "--raw", str(registered["raw"]),
            "--out", str(out), *extra,
        ],
        cwd=REPO,
        env={**os.environ, "BENTOML_HOME": str(registered["home"]), **(env or {})},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def batch(registered, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("forecasts") / "forecasts"
    cache = {"CONVEYOR_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    result = _batch(registered, out, env=cache)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("batch: 1,008 forecasts with ")
    # 1,008 rows: LightGBM predicts them sooner than the trees compile
    assert (
        result.stderr
        == "batch: predicted with LightGBM (too few rows to repay compiling the trees)\n"
    )
    return out


def _read(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.rglob("*.parquet"))).sort(KEYS)


def _stored_forecaster(registered: dict) -> Forecaster:
    name, version = str(registered["tag"]).split(":")
    return Forecaster.load(Path(registered["home"]) / "models" / name / version)


def test_every_series_and_day_once_with_the_registered_model(registered, batch) -> None:
    table = _read(batch)
    forecaster = _stored_forecaster(registered)
    first, last = forecaster.window
    assert table.height == forecaster.series.height * 28 == 3 * 12 * 28
    assert not table.select(KEYS).is_duplicated().any()
    assert (table["date"].min(), table["date"].max()) == (first, last)
    assert set(table["model_tag"]) == {registered["tag"]}
    # One partition per forecast day, each holding that day only.
    parts = sorted(p.name for p in batch.iterdir())
    assert parts[0] == f"forecast_date={first.isoformat()}" and len(parts) == 28
    # The forecasts are what the stored (registered) model answers for the same rows.
    expected = forecaster.predict(table.select(*KEYS, "price", "promo"))
    assert table["forecast"].to_list() == pytest.approx(expected.tolist(), rel=1e-9)
    assert (table["forecast"] >= 0).all()
    assert (table["promo"] == 0).all()  # no plan: off promotion, at the regular price


def test_the_image_path_from_the_model_store_gives_the_same_batch(registered, batch, tmp_path):
    """What the CronJob runs: $CONVEYOR_MODEL_TAG from the store instead of pipeline outputs."""
    out = tmp_path / "from-store"
    result = _batch(registered, out, env={"CONVEYOR_MODEL_TAG": str(registered["tag"])})
    assert result.returncode == 0, result.stderr
    assert _read(out).equals(_read(batch))


def _fake_bento(registered: dict, folder: Path, *tags: str) -> Path:
    """An unpacked Bento's layout (bento.yaml naming the models, models/NAME/VERSION/) holding
    the registered model: what `conveyor build bento` unpacks and the image carries."""
    services = [{"name": "demand_forecaster", "models": [{"tag": t} for t in tags]}]
    folder.mkdir(parents=True)
    (folder / "bento.yaml").write_text(yaml.safe_dump({"services": services}))
    name, version = str(registered["tag"]).split(":")
    shutil.copytree(Path(registered["home"]) / "models" / name / version,
                    folder / "models" / name / version)  # fmt: skip
    return folder


def _without_inputs(registered: dict, tmp_path: Path) -> dict:
    """No pipeline outputs, no params.yaml, an empty model store: only the Bento can answer."""
    return {**registered, "tag_file": tmp_path / "none.json", "model": tmp_path / "none.txt",
            "raw": tmp_path / "none.parquet", "home": tmp_path / "empty-home"}  # fmt: skip


def test_in_the_image_the_bentos_own_model_forecasts_without_params(registered, batch, tmp_path):
    """What the CronJob runs: $BENTO_PATH (the image sets it) names the Bento whose model is
    the released one; no params.yaml, no pipeline outputs and no model store are needed."""
    bento = _fake_bento(registered, tmp_path / "bento", str(registered["tag"]))
    bare = _without_inputs(registered, tmp_path)
    out = tmp_path / "from-bento"
    env = {**os.environ, "BENTO_PATH": str(bento), "BENTOML_HOME": str(bare["home"])}
    result = subprocess.run(
        [sys.executable, "-m", "forecast", "batch", "--out", str(out)],  # cwd: no params.yaml
        cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"batch: 1,008 forecasts with {registered['tag']} -> ")
    assert _read(out).equals(_read(batch))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not a bento", "no bento.yaml: not an unpacked Bento"),
        ("two models", "holds 2 models"),
        ("tag not packaged", "is not in the Bento at"),
        ("model edited", "not to the version"),
    ],
)
def test_a_bento_that_cannot_forecast_is_one_line_exit_2(registered, tmp_path, case, message):
    tag = str(registered["tag"])
    env = {}
    if case == "not a bento":
        bento = tmp_path / "empty"
        bento.mkdir()
    elif case == "two models":
        bento = _fake_bento(registered, tmp_path / "bento", tag, "other:0123456789abcdef0123")
    else:
        bento = _fake_bento(registered, tmp_path / "bento", tag)
        if case == "tag not packaged":
            env["CONVEYOR_MODEL_TAG"] = "other:0123456789abcdef0123"
        else:
            model = bento / "models" / tag.replace(":", "/") / "model.txt"
            model.write_text(model.read_text() + "\n")
    result = _batch(_without_inputs(registered, tmp_path), tmp_path / "out", "--bento", str(bento),
                    env=env)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_plan_sets_promotions_and_prices_of_the_rows_it_names(registered, batch, tmp_path):
    table = _read(batch)
    club, item = table.row(0)[:2]
    series = table.filter((pl.col("club_id") == club) & (pl.col("item_id") == item))
    plan = series.select(*KEYS, "price", pl.lit(1, pl.Int8).alias("promo"))
    plan = plan.with_columns(pl.col("price") * 0.8)
    plan.write_parquet(tmp_path / "plan.parquet")
    out = tmp_path / "planned"
    result = _batch(registered, out, "--plan", str(tmp_path / "plan.parquet"))
    assert result.returncode == 0, result.stderr
    planned = _read(out)
    named = pl.col("club_id").eq(club) & pl.col("item_id").eq(item)
    assert planned.filter(~named).equals(table.filter(~named))
    changed = planned.filter(named)
    assert (changed["promo"] == 1).all()
    assert changed["price"].to_list() == pytest.approx((series["price"] * 0.8).to_list())
    # A 20% discount on promotion sells more than the regular price off promotion.
    assert changed["forecast"].sum() > series["forecast"].sum()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other version", "run the register stage again"),
        ("unknown plan row", "is not a series and day of the forecast window"),
        ("plan without promo", "the plan has no column(s) promo"),
        ("negative plan price", "price must be > 0"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    registered, batch, tmp_path, case, message
) -> None:
    registered = dict(registered)
    extra: list[str] = []
    table = _read(batch)
    if case == "other version":
        name = str(registered["tag"]).split(":")[0]
        registered["tag_file"] = tmp_path / "tag.json"
        registered["tag_file"].write_text(json.dumps({"tag": f"{name}:0123456789abcdef0123"}))
    else:
        plan = table.head(3).select(*KEYS, "price", "promo")
        if case == "unknown plan row":
            plan = plan.with_columns(pl.lit("club_999").alias("club_id"))
        elif case == "plan without promo":
            plan = plan.drop("promo")
        else:
            plan = plan.with_columns(pl.lit(-1.0).alias("price"))
        plan.write_parquet(tmp_path / "plan.parquet")
        extra = ["--plan", str(tmp_path / "plan.parquet")]
    out = tmp_path / "out"
    shutil.copytree(batch, out)  # an earlier batch: left as it was
    result = _batch(registered, out, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert _read(out).equals(table)


def _contract(tmp_path: Path, clubs: int, items: int, days: int) -> Path:
    """policies/data/forecasts.yaml counting the small data's batch."""
    spec = yaml.safe_load((REPO / "policies/data/forecasts.yaml").read_text())
    contract = sized_forecasts_contract(spec, clubs, items, days)
    path = tmp_path / "forecasts.yaml"
    path.write_text(yaml.safe_dump(contract))
    return path


def _check(contract: Path, data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONVEYOR), "check", "data", str(contract), str(data), "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_the_contract_passes_the_batch_and_fails_a_corrupted_one(batch, tmp_path) -> None:
    contract = _contract(tmp_path, 3, 12, 28)
    good = _check(contract, batch, tmp_path / "good")
    assert good.returncode == 0, good.stdout + good.stderr
    # Corrupt a copy: one series missing, one forecast negative, one 10x its best day.
    table = _read(batch)
    club, item = table.row(0)[:2]
    corrupt = table.filter(~(pl.col("club_id").eq(club) & pl.col("item_id").eq(item)))
    corrupt = corrupt.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(-1.0)
        .otherwise(pl.col("forecast"))
        .alias("forecast"),
        pl.when(pl.int_range(pl.len()) == 7)
        .then(10.0)
        .otherwise(pl.col("forecast_to_history_max"))
        .alias("forecast_to_history_max"),
    )
    bad = tmp_path / "bad"
    for (day,), part in corrupt.group_by("date"):
        (bad / f"forecast_date={day}").mkdir(parents=True)
        part.write_parquet(bad / f"forecast_date={day}" / "part-0.parquet")
    result = _check(contract, bad, tmp_path / "verdict")
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads((tmp_path / "verdict" / "forecasts.json").read_text())
    failed = {rule["id"] for rule in verdict["rules"] if not rule["passed"]}
    assert {"table.rows", "forecast.range", "forecast_to_history_max.range"} <= failed, failed
    assert verdict["rows"] == table.height - 28


def test_a_missing_series_hidden_by_another_series_extra_days_fails_the_contract(
    batch, tmp_path
) -> None:
    """The row count and the unique key hold, yet one series is gone: another series got 28
    days past the horizon in its place. The count of distinct days catches it."""
    import datetime as dt

    contract = _contract(tmp_path, 3, 12, 28)
    table = _read(batch)
    first, second = (
        table.select("club_id", "item_id").unique().sort(["club_id", "item_id"]).rows()[:2]
    )
    kept = table.filter(~(pl.col("club_id").eq(first[0]) & pl.col("item_id").eq(first[1])))
    later = kept.filter(pl.col("club_id").eq(second[0]) & pl.col("item_id").eq(second[1]))
    swapped = pl.concat([kept, later.with_columns(pl.col("date") + dt.timedelta(days=28))])
    assert swapped.height == table.height
    assert swapped.select("club_id", "item_id", "date").is_unique().all()
    bad = tmp_path / "bad"
    bad.mkdir()
    swapped.write_parquet(bad / "part-0.parquet")
    result = _check(contract, bad, tmp_path / "verdict")
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = json.loads((tmp_path / "verdict" / "forecasts.json").read_text())
    failed = {rule["id"] for rule in verdict["rules"] if not rule["passed"]}
    assert failed == {"date.distinct"}, failed


def test_a_history_read_in_parts_gives_the_same_batch_plan_included(
    registered, batch, tmp_path, monkeypatch
) -> None:
    """A large history is forecast a few clubs at a time (memory stays bounded): parts of 500
    history rows (several per club) give the batch of one part, a plan across clubs included."""
    from forecast import batch as batching

    bento = _fake_bento(registered, tmp_path / "bento", str(registered["tag"]))
    table = _read(batch)
    clubs = table["club_id"].unique().sort()
    plan = table.filter(
        pl.col("club_id").is_in([clubs[0], clubs[-1]]) & (pl.col("item_id") < "item_0004")
    ).select(*KEYS, (pl.col("price") * 0.9).alias("price"), pl.lit(1, pl.Int8).alias("promo"))
    plan.write_parquet(tmp_path / "plan.parquet")
    outs = {}
    for name, rows in (("whole", 10_000_000), ("parts", 500)):
        monkeypatch.setattr(batching, "PART_ROWS", rows)
        out = tmp_path / name
        none = tmp_path / "none"  # no pipeline outputs: the Bento's model
        done, _ = batching.run(None, out, none, none, none, tmp_path / "plan.parquet", bento)
        assert done == table.height
        outs[name] = out
    assert _read(outs["parts"]).equals(_read(outs["whole"]))
    day = sorted(outs["parts"].iterdir())[0]
    assert len(list(day.glob("part-*.parquet"))) == len(clubs)  # one part per club here
    assert _read(outs["parts"]).filter(pl.col("promo") == 1).height == plan.height


def test_a_history_not_sorted_by_club_is_refused(registered, tmp_path) -> None:
    from conveyor.errors import UserError
    from forecast.batch import history_parts

    history = pl.read_parquet(registered["raw"]).sample(fraction=1.0, shuffle=True, seed=1)
    history.write_parquet(tmp_path / "history.parquet")
    with pytest.raises(UserError, match="not sorted by club"):
        list(history_parts(tmp_path / "history.parquet", rows=100))


def test_the_compiled_trees_predict_as_lightgbm_and_are_compiled_once(registered, tmp_path):
    """lleaves' machine code gives LightGBM's forecasts within 1e-9 (missing values and an
    unseen club's NaN code included, on one thread and on two), and a second run loads the
    object the first one kept instead of compiling again."""
    import numpy as np

    from forecast.compiled import compile_model
    from forecast.model import predict_matrix

    forecaster = _stored_forecaster(registered)
    rows = forecaster.window_table.select(
        *KEYS, pl.lit(9.5).alias("price"), pl.lit(1).alias("promo")
    )
    matrix = forecaster.inputs(rows)
    matrix[::7, forecaster.encoder.columns.index("club_id")] = np.nan  # a club the model never saw
    matrix[::5, forecaster.encoder.columns.index("lag_28")] = np.nan  # no sales that day
    large = np.tile(matrix, (12_000 // len(matrix) + 1, 1))  # LightGBM: past 10k rows, 2 threads
    model = Path(registered["model"])
    first, second = compile_model(model, tmp_path), compile_model(model, tmp_path)
    assert not isinstance(first, str) and not isinstance(second, str), (first, second)
    assert (first.source, second.source) == ("compiled", "cached")
    assert [p.suffix for p in tmp_path.iterdir()] == [".o"]  # the object, no staging file left
    for rows_in in (matrix, large):
        expected = predict_matrix(forecaster.booster, rows_in)
        for trees, threads in ((first, 1), (second, 2)):
            found = np.clip(trees.predict(rows_in, threads), 0, None)
            np.testing.assert_allclose(found, expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    ("lleaves", "said"),
    [
        (True, "batch: predicted with the trees compiled by lleaves (compiled)\n"),
        (False, "batch: predicted with LightGBM (lleaves is not installed)\n"),
    ],
)
def test_compiled_trees_or_lightgbm_forecast_the_same_batch(
    registered, batch, tmp_path, monkeypatch, capsys, lleaves, said
) -> None:
    """A batch large enough to repay compiling the trees (here: any) forecasts with them, and
    an environment without lleaves with LightGBM's own predict: the same forecasts within 1e-9
    as the small batch's LightGBM ones, and one line saying which predicted."""
    from forecast import batch as batching

    monkeypatch.setattr(batching, "COMPILE_FROM_ROWS", 0)
    monkeypatch.setenv("CONVEYOR_CACHE_DIR", str(tmp_path / "cache"))
    if not lleaves:
        monkeypatch.setitem(sys.modules, "lleaves", None)  # `import lleaves` raises ImportError
    bento = _fake_bento(registered, tmp_path / "bento", str(registered["tag"]))
    none = tmp_path / "none"
    done, _ = batching.run(None, tmp_path / "out", none, none, none, None, bento)
    assert done == _read(batch).height
    assert capsys.readouterr().err == said
    found, small = _read(tmp_path / "out"), _read(batch)
    assert found.drop("forecast", "forecast_to_history_max").equals(
        small.drop("forecast", "forecast_to_history_max")
    )
    assert found["forecast"].to_list() == pytest.approx(small["forecast"].to_list(), rel=1e-9)
