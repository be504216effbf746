"""params.yaml `data.end_date`: `ingest` reads the sales up to that day (the retraining window)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml

from tests.champion_repos import FIRST_END, SHAPE
from tests.promotion_repos import REPO


def _ingest(tmp_path: Path, end_date: object) -> subprocess.CompletedProcess[str]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["synthetic"].update(SHAPE)
    params["data"]["end_date"] = end_date
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    command = [sys.executable, "-m", "forecast", "--params", str(tmp_path / "params.yaml")]
    command += ["ingest", "--out", str(tmp_path / "sales.parquet")]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_window_ends_on_end_date_and_latest_reads_everything(tmp_path):
    assert _ingest(tmp_path, "latest").returncode == 0
    everything = pl.read_parquet(tmp_path / "sales.parquet")
    result = _ingest(tmp_path, FIRST_END)
    assert result.returncode == 0, result.stderr
    window = pl.read_parquet(tmp_path / "sales.parquet")
    assert window["date"].max() == dt.date(2024, 3, 27) < everything["date"].max()
    # The same rows up to that day: a window, not other data.
    assert window.equals(everything.filter(pl.col("date") <= dt.date(2024, 3, 27)))


def test_a_window_before_the_data_or_not_a_date_is_exit_2_and_writes_nothing(tmp_path):
    for value, said in (
        ("2001-01-01", "no sales on or before it"),
        ("yesterday", "data.end_date"),
    ):
        result = _ingest(tmp_path, value)
        assert result.returncode == 2, result.stderr
        assert said in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "sales.parquet").exists()
