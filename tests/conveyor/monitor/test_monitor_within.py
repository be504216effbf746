"""Drift within a key (params.yaml `monitoring.within`): a chain-wide price rise is caught on every
seed, where the pooled KS misses it on some; an ordinary later window of the same chain is not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import yaml

from conveyor.cli import main
from conveyor.errors import ConfigError, DataError
from conveyor.monitor import drift
from conveyor.monitor.config import MonitoringParams, load_monitoring
from forecast.generate import generate_sales
from forecast.params import SyntheticParams
from tests.paths import REPO

# Real tools on real files: seconds per test (`make test-fast` leaves it out).
pytestmark = pytest.mark.integration

SHAPE = {"n_clubs": 10, "n_items": 60, "n_days": 120}
COLUMNS = ["club_id", "item_id", "date", "price", "promo"]
SEEDS = range(10)


def _last_days(frame: pl.DataFrame, days: int = 28) -> pl.DataFrame:
    return frame.filter(pl.col("date") > frame["date"].max() - dt.timedelta(days=days))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Path]]:
    """Per seed: the training window, an ordinary later window of the same chain (same
    catalogue, other daily draws) and that window with every price 30% higher."""
    folder = tmp_path_factory.mktemp("within")
    made = {}
    for seed in SEEDS:
        reference = generate_sales(SyntheticParams(seed=seed, **SHAPE))
        later = _last_days(
            generate_sales(SyntheticParams(seed=seed + 100, catalogue_seed=seed, **SHAPE))
        )
        paths = {name: folder / f"{seed}-{name}.parquet" for name in ("ref", "later", "up")}
        reference.select(COLUMNS).write_parquet(paths["ref"])
        later.select(COLUMNS).write_parquet(paths["later"])
        later.select(COLUMNS).with_columns(pl.col("price") * 1.3).write_parquet(paths["up"])
        made[seed] = paths
    return made


def _params(**changes: object) -> MonitoringParams:
    return load_monitoring(REPO / "params.yaml").model_copy(update=changes)


def test_a_price_rise_of_30_percent_is_flagged_on_every_seed(seeds) -> None:
    params = _params(actual=None, performance=None)
    for seed, paths in seeds.items():
        result = drift.run(paths["ref"], paths["up"], params)
        price = next(c for c in result.columns if c.column == "price")
        assert "price" in result.drifted_columns, (seed, price.reasons)
        assert price.key == "item_id"
        assert price.key_shift == pytest.approx(0.3, abs=0.02), seed
        assert any(r.startswith("median shift within item_id") for r in price.reasons), seed


def test_an_ordinary_later_window_is_not_flagged_on_any_seed(seeds) -> None:
    params = _params(actual=None, performance=None)
    for seed, paths in seeds.items():
        result = drift.run(paths["ref"], paths["later"], params)
        assert not result.drifted, (seed, [c.reasons for c in result.columns])
        price = next(c for c in result.columns if c.column == "price")
        assert abs(price.key_shift or 1) < 0.02, seed


def test_without_the_within_rule_the_pooled_ks_misses_the_rise_on_some_seeds(seeds) -> None:
    """Why the rule exists: the same windows, price compared only as a pooled distribution."""
    params = _params(actual=None, performance=None, within={})
    missed = [
        seed
        for seed, paths in seeds.items()
        if "price" not in drift.run(paths["ref"], paths["up"], params).drifted_columns
    ]
    assert missed, "the pooled KS alone caught every seed: the within rule is not needed here"


def test_the_report_shows_the_shift_within_the_key(seeds, tmp_path, capsys) -> None:
    paths = seeds[0]
    params_file = tmp_path / "params.yaml"
    document = yaml.safe_load((REPO / "params.yaml").read_text())
    document["monitoring"].pop("actual")
    document["monitoring"].pop("performance")
    params_file.write_text(yaml.safe_dump(document))
    code = main(
        [
            "monitor", "drift", "--reference", str(paths["ref"]), "--current", str(paths["up"]),
            "--out", str(tmp_path / "out"), "--params", str(params_file),
        ]
    )  # fmt: skip
    assert code == 1
    out = capsys.readouterr().out
    assert "DRIFT price: " in out and "median shift within item_id" in out
    report = (tmp_path / "out" / "drift.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| `price`"))
    assert "+30." in row and "`item_id`" in row


@pytest.mark.parametrize(
    ("within", "message"),
    [
        ({"club_id": "item_id"}, "'club_id' is not a numeric column under features"),
        ({"units": "item_id"}, "'units' is not a numeric column under features"),
        ({"price": "price"}, "cannot be compared within itself"),
    ],
)
def test_a_bad_within_is_a_config_error(tmp_path, within, message) -> None:
    document = yaml.safe_load((REPO / "params.yaml").read_text())
    document["monitoring"]["within"] = within
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=message):
        load_monitoring(params_file)


def test_a_window_without_the_key_column_is_a_usage_error(seeds, tmp_path, capsys) -> None:
    current = pl.read_parquet(seeds[0]["later"]).with_columns(pl.col("item_id").alias("sku"))
    params = _params(
        actual=None, performance=None, features={"price": "numeric"}, within={"price": "sku"}
    )
    current.drop("item_id").write_parquet(tmp_path / "c.parquet")
    with pytest.raises(DataError, match=r"missing key column\(s\) sku") as raised:
        drift.run(seeds[0]["ref"], tmp_path / "c.parquet", params)
    assert "monitoring.within" in str(raised.value)
