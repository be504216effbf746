"""train.sample: training on a seeded, stratified sample of whole series."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from forecast import evaluate, train
from forecast.__main__ import main
from forecast.features import build_features
from forecast.holdout import holdout_start
from forecast.params import PipelineParams
from forecast.sample import ROWS, choose_series, series_table
from forecast.schema import SERIES_KEYS
from tests.paths import REPO

STRATA = ["region", "category"]


@pytest.fixture(scope="module")
def features(tmp_path_factory, small_sales, small_params) -> Path:
    """3 clubs x 12 items: 3 regions x 6 categories = 18 strata of 2 series each."""
    path = tmp_path_factory.mktemp("sample") / "features.parquet"
    build_features(small_sales, small_params.features, "US").write_parquet(path)
    return path


@pytest.fixture(scope="module")
def before(features, small_params) -> pl.DataFrame:
    """Every training row (before the holdout), with keys and strata."""
    frame = pl.read_parquet(features)
    return frame.filter(pl.col("date") < holdout_start(frame, small_params.evaluate.holdout_days))


def _params(base: PipelineParams, **sample: object) -> PipelineParams:
    update = base.train.sample.model_copy(update=sample)
    return base.model_copy(update={"train": base.train.model_copy(update={"sample": update})})


def _sampled(features: Path, params: PipelineParams) -> pl.DataFrame:
    """Training rows per series, as the train stage reads them."""
    return train.training_rows(features, params).group_by(SERIES_KEYS).len().sort(SERIES_KEYS)


def _chosen(before: pl.DataFrame, **sample: object) -> pl.DataFrame:
    from forecast.params import SampleParams

    chosen = choose_series(series_table(before.lazy(), STRATA), SampleParams(**sample))
    assert chosen is not None
    return chosen.sort(SERIES_KEYS)


def test_sample_keeps_whole_series_and_every_stratum(features, before, small_params):
    full = before.group_by(SERIES_KEYS).len().sort(SERIES_KEYS)
    budget = before.height // 2
    sampled = _sampled(features, _params(small_params, max_rows=budget, stratify=STRATA))
    # Every sampled series has all its training days; half the rows is half the series.
    assert sampled.join(full, on=SERIES_KEYS, how="left")["len_right"].to_list() == (
        sampled["len"].to_list()
    )
    assert 0 < sampled["len"].sum() <= budget and sampled.height == full.height // 2
    # Stratified: each of the 18 strata keeps one of its two series (a plain random half would not).
    strata = before.select(*SERIES_KEYS, *STRATA).unique()
    per_stratum = sampled.join(strata, on=SERIES_KEYS).group_by(STRATA).len()
    assert per_stratum.height == strata.select(STRATA).n_unique() == 18
    assert set(per_stratum["len"]) == {1}


@pytest.mark.parametrize("share", [0.05, 0.3, 0.77])
def test_sample_respects_max_rows_and_nests(before, share):
    rows = before.group_by(SERIES_KEYS).len()
    budget = int(before.height * share)
    chosen = _chosen(before, max_rows=budget, seed=3, stratify=STRATA)
    taken = rows.join(chosen, on=SERIES_KEYS, how="semi")["len"].sum()
    # The longest prefix within the budget: one more series would not have fitted.
    assert budget - rows["len"].max() < taken <= budget
    # A larger budget (same seed) keeps every series of the smaller one and adds some.
    larger = _chosen(before, max_rows=(budget + before.height) // 2, seed=3, stratify=STRATA)
    assert larger.height > chosen.height
    assert chosen.join(larger, on=SERIES_KEYS, how="anti").is_empty()


def test_stratified_by_item_every_item_stays(before):
    # The README's advice: with item_id as the stratum, a budget of one series per item (here
    # a third of the rows: 12 of 36 series) keeps every item the model has a category for.
    rows = before.group_by(SERIES_KEYS).len()["len"].max()
    for seed in range(5):
        chosen = _chosen(before, max_rows=12 * rows, seed=seed, stratify=["item_id"])
        assert chosen.height == chosen["item_id"].n_unique() == before["item_id"].n_unique()


def test_sample_is_deterministic_per_seed(before):
    budget = before.height // 3
    first = _chosen(before, max_rows=budget, seed=1, stratify=STRATA)
    assert first.equals(_chosen(before, max_rows=budget, seed=1, stratify=STRATA))
    # Input row order does not matter: the series table is key-sorted before the draw.
    assert first.equals(_chosen(before.reverse(), max_rows=budget, seed=1, stratify=STRATA))
    assert not first.equals(_chosen(before, max_rows=budget, seed=2, stratify=STRATA))


def test_no_sample_when_everything_fits(features, before, small_params, tmp_path):
    table = series_table(before.lazy(), STRATA)
    assert table[ROWS].sum() == before.height
    for budget in (0, before.height):
        assert choose_series(table, _params(small_params, max_rows=budget).train.sample) is None
    # Byte for byte the model of every row: what max_rows 0 (params.yaml's default) trains.
    models = []
    for budget in (0, before.height):
        model = tmp_path / f"model_{budget}.txt"
        rows = train.run(
            features, _params(small_params, max_rows=budget), model, tmp_path / "i.csv"
        )
        assert rows == before.height
        models.append(model.read_bytes())
    assert models[0] == models[1]


def test_holdout_keeps_every_series(features, before, small_params, tmp_path):
    params = _params(small_params, max_rows=before.height // 4)
    model = tmp_path / "model.txt"
    rows = train.run(features, params, model, tmp_path / "importance.csv")
    assert rows <= before.height // 4
    metrics = evaluate.run(
        features, model, params.evaluate, tmp_path / "m.json", tmp_path / "s.json", tmp_path
    )
    frame = pl.read_parquet(features)
    series = frame.select(SERIES_KEYS).n_unique()
    assert metrics["rows"] == series * params.evaluate.holdout_days
    assert metrics["holdout"]["start"] == str(holdout_start(frame, params.evaluate.holdout_days))
    regions = json.loads((tmp_path / "s.json").read_text())["region"]
    assert sum(r["rows"] for r in regions.values()) == metrics["rows"]


def _params_file(tmp_path: Path, sample: dict[str, object]) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"]["sample"].update(sample)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ({"max_rows": -1}, "train.sample.max_rows: Input should be greater than or equal to 0"),
        ({"stratify": ["region", "aisle"]}, "train.sample.stratify: no column 'aisle'"),
        ({"max_rows": 1000, "stratify": ["promo"]}, "'promo' varies within a series"),
        ({"max_rows": 10}, "train.sample.max_rows=10 is less than the first sampled series'"),
    ],
)
def test_bad_sample_params_exit_2_with_one_line(features, tmp_path, capsys, sample, expected):
    params = _params_file(tmp_path, sample)
    out = tmp_path / "model.txt"
    argv = ["--params", str(params), "train", "--features", str(features), "--model", str(out)]
    assert main([*argv, "--importance", str(tmp_path / "i.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train: ") and err.count("\n") == 1, err
    assert expected in err
    assert not out.exists()
