"""`python -m forecast STAGE` with an input data file that is missing, not Parquet, corrupt or
empty: one line naming the file, exit 2, nothing written; never the reader's traceback."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from forecast.__main__ import PARQUET_INPUTS, STAGES
from forecast.__main__ import main as forecast_main
from tests.paths import REPO


def _missing(folder: Path) -> Path:
    return folder / "no-such.parquet"


def _csv(folder: Path) -> Path:
    path = folder / "sales.csv"
    path.write_text("date,club_id\n2024-01-01,club_001\n", encoding="utf-8")
    return path


def _corrupt(folder: Path) -> Path:
    path = folder / "sales.parquet"
    path.write_bytes(b"not parquet at all")
    return path


def _empty_folder(folder: Path) -> Path:
    path = folder / "parts"
    path.mkdir()
    return path


BAD = {
    "missing": (_missing, "no such data file"),
    "CSV": (_csv, "unsupported file type '.csv' (use .parquet)"),
    "corrupt": (_corrupt, "cannot read"),
    "folder without Parquet": (_empty_folder, "a folder with no .parquet file"),
}
CASES = [(stage, option) for stage, options in PARQUET_INPUTS.items() for option in options]


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize(("stage", "option"), CASES)
def test_a_bad_input_file_is_one_line_and_writes_nothing(tmp_path, capsys, stage, option, bad):
    make, expected = BAD[bad]
    path = make(tmp_path)
    outputs = tmp_path / "outputs"
    args = [f"--{option}", str(path)]
    # Every other path of the stage into a folder that must stay empty.
    for other in STAGES[stage][1]:
        if other != option:
            args += [f"--{other}", str(outputs / other)]
    code = forecast_main(["--params", str(REPO / "params.yaml"), stage, *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: {stage}: {path}: ")
    assert expected in err
    assert not outputs.exists()


def test_prepare_with_no_rows_of_sales_is_one_line(tmp_path, capsys, small_sales):
    raw = tmp_path / "raw.parquet"
    small_sales.head(0).write_parquet(raw)
    out = tmp_path / "features" / "features.parquet"
    code = forecast_main(
        ["--params", str(REPO / "params.yaml"), "prepare", "--raw", str(raw), "--out", str(out)]
    )
    assert code == 2
    assert (
        capsys.readouterr().err
        == f"error: prepare: {raw}: no rows of sales to build features from\n"
    )
    assert not out.exists()
    assert pl.read_parquet(raw).is_empty()
