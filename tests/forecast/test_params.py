"""params.yaml validation: each user error is one line naming file, key and problem."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conveyor.errors import ConfigError
from forecast.params import load_params
from tests.paths import REPO


def _write_params(tmp_path: Path, edit: callable) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _set(path: str, value: object) -> callable:
    def edit(params: dict) -> None:
        *parents, leaf = path.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[leaf] = value

    return edit


def test_repository_params_are_valid(repo_params):
    assert repo_params.features.horizon_days >= repo_params.evaluate.holdout_days
    assert repo_params.data.source.kind == "synthetic"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _set("train.num_boost_round", "many"),
            "train.num_boost_round: Input should be a valid integer",
        ),
        (_set("train.num_boost_rounds", 10), "train.num_boost_rounds: unknown key"),
        (
            _set("data.synthetic.n_clubs", -3),
            "data.synthetic.n_clubs: Input should be greater than 0",
        ),
        (lambda p: p.pop("train"), "train: required key is missing"),
        (
            _set("data.source.kind", "ftp"),
            "data.source.kind: Input should be 'synthetic', 'file' or 'duckdb'",
        ),
        (_set("data.source.kind", "file"), "data.source: kind 'file' needs 'path'"),
        (_set("features.lags", [7, 28]), "lags [7] are shorter than horizon_days=28"),
        (
            _set("evaluate.holdout_days", 60),
            "evaluate.holdout_days=60 exceeds features.horizon_days=28",
        ),
        (
            _set("monitoring.max_model_age_days", 35),
            "monitoring.max_model_age_days=35 exceeds features.horizon_days=28",
        ),
        (
            _set("monitoring.max_model_age_days", 0),
            "monitoring.max_model_age_days: Input should be greater than 0",
        ),
    ],
)
def test_bad_params_name_the_key(tmp_path, edit, expected):
    path = _write_params(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    message = str(caught.value)
    assert re.match(rf"{re.escape(str(path))}(:\d+)?: ", message), message
    assert expected in message
    assert "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  num_boost_round: [1, 2\n")
    with pytest.raises(ConfigError, match=r"params.yaml: line \d+, column \d+: invalid YAML"):
        load_params(path)


def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match=r"params\.yaml: file not found"):
        load_params(tmp_path / "params.yaml")


def _file_source(path: str) -> callable:
    def edit(params: dict) -> None:
        params["data"]["source"] = {"kind": "file", "path": path}

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _set("data.synthetic.n_days", "long"),
            "data.synthetic.n_days: Input should be a valid integer",
        ),
        (
            _file_source("no/such/sales.parquet"),
            "data.source.path: no/such/sales.parquet does not exist",
        ),
        (_file_source("{no_price}"), "missing required column(s) price"),
    ],
)
def test_stage_prints_one_line_and_writes_nothing(tmp_path, small_sales, edit, expected):
    """The first stage stops on bad input with one line on stderr, no traceback, no output."""
    no_price = tmp_path / "no_price.parquet"
    small_sales.head(50).drop("price").write_parquet(no_price)
    params = _write_params(tmp_path, edit)
    params.write_text(params.read_text().replace("'{no_price}'", str(no_price)))
    out = tmp_path / "raw" / "sales.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "forecast", "--params", str(params), "ingest", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ingest: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_every_stage_option_says_what_it_names_and_its_default() -> None:
    from forecast.__main__ import STAGES, build_parser

    parser = build_parser()
    stages = next(a for a in parser._actions if a.dest == "stage").choices
    for name, (_, paths) in STAGES.items():
        helps = {a.dest.replace("_", "-"): a.help for a in stages[name]._actions}
        for option, default in paths.items():
            assert helps[option], f"{name} --{option} has no help"
            assert (f"default: {default}" if default else "optional") in helps[option]
